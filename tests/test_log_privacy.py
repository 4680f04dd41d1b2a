"""No log line carries personal data: a claim's contacts, their addresses and the actors
stay out of every line, also when a mail fails and the SDK logs the failed attempt."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from claims_testing.environment import Mailbox
from starter.client import ClaimsClient
from starter.telemetry import JsonLogFormatter
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_CONTACTS
from tests.helpers import deferred_survey_logged


def logged(record: logging.LogRecord) -> str:
    return JsonLogFormatter().format(record)


async def test_a_deferred_mail_is_retried_and_no_log_line_names_a_person(
    env: WorkflowEnvironment,
    claims: ClaimsClient,
    mailbox: Mailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await deferred_survey_logged(
        env,
        claims,
        mailbox,
        caplog,
        lambda r: "deferred" in r.getMessage() + str(r.exc_info),
        "the deferred send",
    )
    await env.sleep(timedelta(minutes=1))  # past the retry's backoff
    await mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="survey_invitation", within=60)

    personal = [CUSTOMER_CONTACT.name, CUSTOMER_CONTACT.email, PARTNER_ADMIN.user]
    personal += [c.name for c in PARTNER_CONTACTS] + [c.email for c in PARTNER_CONTACTS]
    # aiosmtpd's "mail.log" is the test's mail server talking, not the claims system.
    lines = [logged(record) for record in caplog.records if record.name != "mail.log"]
    assert lines, "nothing was logged"
    leaks = [(line, p) for line in lines for p in personal if p in line]
    assert leaks == []
