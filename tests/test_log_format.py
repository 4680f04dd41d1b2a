"""The worker's log lines: with CLAIMS_LOG_FORMAT=json one JSON object a line, naming the
claim it was written for; a failed activity attempt one line, its traceback at debug level."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.testing import WorkflowEnvironment

from claims_testing.environment import Mailbox
from starter.client import ClaimsClient
from starter.client import workflow_id
from starter.telemetry import ACTIVITY_LOGGER
from starter.telemetry import ActivityAttemptLines
from starter.telemetry import JsonLogFormatter
from starter.telemetry import next_attempt
from tests.builders import CUSTOMER_CONTACT
from tests.helpers import deferred_survey_logged


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("claims.mail", logging.WARNING, __file__, 1, message, args, None)


async def test_a_line_written_in_an_activity_names_its_claim_workflow_run_and_activity() -> None:
    formatter = JsonLogFormatter()
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id=workflow_id("ENG-7"),
        workflow_run_id="run-1",
        activity_type="send_notification",
    )

    @activity.defn(name="send_notification")
    async def logs() -> str:
        return formatter.format(_record("mail server busy: %s", "421"))

    line = json.loads(await env.run(logs))

    assert line["message"] == "mail server busy: 421"
    assert line["level"] == "WARNING"
    assert line["logger"] == "claims.mail"
    assert line["engagement_id"] == "ENG-7"
    assert line["workflow_id"] == "workshop-claim-ENG-7"
    assert line["run_id"] == "run-1"
    assert line["activity"] == "send_notification"


def test_a_line_outside_any_claim_has_no_claim_fields_and_keeps_its_error() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("stopping")
        record.exc_info = sys.exc_info()
    line = json.loads(JsonLogFormatter().format(record))
    assert set(line) == {"time", "level", "logger", "message", "error"}
    assert "ValueError: boom" in line["error"]


@pytest.fixture
def attempt_lines() -> Iterator[None]:
    """The worker's filter on the SDK's activity logger, as configure_logging installs it."""
    attempt_filter = ActivityAttemptLines()
    logger = logging.getLogger(ACTIVITY_LOGGER)
    logger.addFilter(attempt_filter)
    yield
    logger.removeFilter(attempt_filter)


@pytest.mark.claims_server("dev")  # the time-skipping server doesn't tell the retry policy
@pytest.mark.usefixtures("attempt_lines")
async def test_a_failed_mail_attempt_is_one_warning_line_naming_attempt_error_and_next_try(
    env: WorkflowEnvironment,
    claims: ClaimsClient,
    mailbox: Mailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts = await deferred_survey_logged(
        env,
        claims,
        mailbox,
        caplog,
        lambda r: r.name == ACTIVITY_LOGGER and "failed on" in r.msg,
        "the failed attempt",
    )

    record = attempts[0]
    line = record.getMessage()
    assert record.levelno == logging.WARNING
    assert record.exc_info is None  # the traceback is for debug level only
    assert "\n" not in line
    assert line.startswith("activity send_notification failed on attempt 1: MailDeferred: ")
    assert line.endswith("; next attempt in about 5 s")  # MAIL_RETRY's first interval
    await mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="survey_invitation", within=60)


def test_the_next_attempt_follows_the_retry_policy_up_to_its_maximum_interval() -> None:
    policy = RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=6,
    )
    info = dataclasses.replace(ActivityEnvironment().info, retry_policy=policy)
    said = [next_attempt(dataclasses.replace(info, attempt=n), None) for n in range(1, 7)]
    assert said == [
        "next attempt in about 5 s",
        "next attempt in about 10 s",
        "next attempt in about 20 s",
        "next attempt in about 30 s",
        "next attempt in about 30 s",
        "no attempts left (at most 6)",
    ]
    final = ApplicationError("bad template", non_retryable=True)
    assert next_attempt(info, final) == "not retried (the error says so)"
