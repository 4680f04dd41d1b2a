"""No poison messages (issue 15): a notification whose mail can't be built is recorded on the
claim (`notification_failed`, with the reason), shown in the UI's current details, and the
claim's mail queue moves on. A real failure, through the real worker and SMTP server: an
address the e-mail rules take but no ASCII mail header can carry."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from claims_testing.data import PARTNER_CONTACTS
from devstack.mailcatcher import MailCatcher
from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN
from tests.builders import UNMAILABLE
from tests.builders import claim_input
from tests.helpers import recorded_event
from workflows.messages import SendSurvey
from workflows.operator_text import literal

pytestmark = [pytest.mark.timeout(90), pytest.mark.claims_server("shared")]


async def test_a_mail_that_cant_be_built_is_recorded_and_the_queue_moves_on(
    env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    claim = claim_input(await env.get_current_time(), customer_contact=UNMAILABLE)
    eid = (await claims.start_claim(claim)).view.engagement_id
    await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_ADMIN))
    await claims.send_survey(eid, SendSurvey(kind="partner", actor=PARTNER_ADMIN))

    # the mail after the poisoned one still goes out
    await mailbox.wait_for(count=len(PARTNER_CONTACTS), engagement_id=eid, kind="survey_invitation")
    view = await recorded_event(claims, eid, "notification_failed")
    [failed] = [entry for entry in view.history if entry.event == "notification_failed"]
    assert failed.detail["kind"] == "survey_invitation"
    assert failed.detail["survey_kind"] == "customer"
    assert failed.detail["error"] == "UnicodeEncodeError"
    assert "could not be built" in failed.detail["reason"]
    assert mailbox.find(to=UNMAILABLE.email) == []

    metadata = await claims.handle(eid).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    current = metadata.current_details
    assert "**Notification failed:** 1 not sent; last: customer survey invitation" in current
    assert "UnicodeEncodeError" in current
    assert "@" not in current  # no address in what operators read


def test_partner_supplied_text_is_shown_literally_in_the_ui_markdown() -> None:
    planted = "Cloud **now** [click](https://evil.example) <img src=x> `x` a_b | #1 !\nnext"
    shown = literal(planted)
    assert "\n" not in shown
    for index, char in enumerate(shown):
        if char in "*[]<>`_|#!":
            assert shown[index - 1] == "\\", (char, shown)
    assert shown.replace("\\", "") == " ".join(planted.split())


async def test_the_claims_page_in_the_temporal_ui_shows_partner_text_literally(
    dev_claims: ClaimsClient,
) -> None:
    workshop = "Cloud **free** [beer](https://evil.example) <b>now</b>"
    claim = claim_input(datetime.now(UTC), workshop=workshop)
    await dev_claims.start_claim(claim)
    description = await dev_claims.handle(claim.engagement_id).describe()
    details = await description.static_details()
    summary = await description.static_summary()
    assert details is not None
    assert summary is not None
    for text in (details, summary):
        assert literal(workshop) in text
        assert "[beer](" not in text
        assert "<b>" not in text
    await dev_claims.handle(claim.engagement_id).terminate("test over")
