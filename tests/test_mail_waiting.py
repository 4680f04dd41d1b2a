"""Mail that can't go out is in sight, and an operator can send a notification again.

While the mail server refuses, the claim says so (its view, the UI's current details,
`PendingNotifications`, `list --mail-waiting`) and says it no more once the mail went
out; after a contact fix, a reviewer or program admin sends the last notification of
a kind again, to the contacts as they are now.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.claim_activities import MAIL_RETRYING_SIGNAL
from claims_testing import ClaimFactory
from claims_testing import Mailbox
from claims_testing.data import PARTNER_ADMIN
from claims_testing.data import PROGRAM_ADMIN
from claims_testing.data import REVIEWER
from claims_testing.processes import poll_until
from starter.client import ClaimsClient
from starter.queries import claims_query
from tests.builders import CUSTOMER_CONTACT
from tests.builders import claim_input
from tests.helpers import refused
from tests.helpers import start_claim_now
from workflows.claim import WorkshopClaimWorkflow
from workflows.messages import Actor
from workflows.messages import Contact
from workflows.messages import MailRetrying
from workflows.messages import NotificationKind
from workflows.messages import RefusalType
from workflows.messages import ResendNotification
from workflows.messages import SendSurvey
from workflows.messages import UpdateContacts
from workflows.rules import note_mail_retrying
from workflows.rules import open_claim
from workflows.rules import pending_notifications
from workflows.search_attributes import PENDING_NOTIFICATIONS

WAIT = 60.0
"""Seconds for a mail attempt to fail (or succeed) and the claim to hear of it."""


async def test_a_refused_mail_is_shown_waiting_found_by_its_attribute_and_cleared_when_sent(
    dev_env: WorkflowEnvironment, dev_claims: ClaimsClient, mailbox: Mailbox
) -> None:
    eid = await start_claim_now(dev_env, dev_claims)
    handle = dev_claims.handle(eid)
    mailbox.defer([CUSTOMER_CONTACT.email])
    await dev_claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_ADMIN))

    async def waiting() -> bool:
        return (await dev_claims.get_claim(eid)).mail_waiting is not None

    await poll_until(waiting, within=WAIT, what="the claim saying its mail waits")
    view = await dev_claims.get_claim(eid)
    assert view.mail_waiting is not None
    assert view.mail_waiting.count == 1
    assert view.mail_waiting.attempts >= 1
    assert view.mail_waiting.last_error.startswith("MailDeferred: ")
    assert CUSTOMER_CONTACT.email not in view.mail_waiting.last_error  # no personal data
    metadata = await handle.query("__temporal_workflow_metadata")
    assert "**Mail:** 1 mail waiting, retrying since " in metadata.current_details
    query = claims_query(now=datetime.now(UTC), mail_waiting=True)
    query += f" AND WorkflowId = '{handle.id}'"

    async def listed() -> bool:
        return [c.engagement_id for c in await dev_claims.find_claims(query)] == [eid]

    await poll_until(listed, within=WAIT, what="the claim found by --mail-waiting")

    mailbox.undefer()
    await mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="survey_invitation", within=WAIT)

    async def flowing() -> bool:
        return not await waiting()

    await poll_until(flowing, within=WAIT, what="the claim saying its mail went out")
    described = await handle.describe()
    assert described.typed_search_attributes.get(PENDING_NOTIFICATIONS) == 0
    metadata = await handle.query("__temporal_workflow_metadata")
    assert "**Mail:**" not in metadata.current_details
    await handle.terminate("test over")


def test_a_report_about_mail_no_longer_at_the_head_of_the_queue_changes_nothing() -> None:
    claim = open_claim(claim_input(datetime.now(UTC)), datetime.now(UTC))
    stale = MailRetrying(key="gone.n1", attempt=3, since=datetime.now(UTC), error="X")
    assert not note_mail_retrying(claim, stale)
    assert claim.mail_waiting is None
    assert pending_notifications(claim) == 0


def test_the_activity_signals_the_workflow_by_its_signal_name() -> None:
    definition = WorkshopClaimWorkflow.mail_retrying.__temporal_signal_definition  # type: ignore[attr-defined]
    assert definition.name == MAIL_RETRYING_SIGNAL


async def test_an_operator_resends_the_question_to_the_fixed_partner_contacts(
    claim_factory: ClaimFactory, claims: ClaimsClient, mailbox: Mailbox
) -> None:
    eid = (await claim_factory("info_requested")).engagement_id
    await mailbox.wait_for(kind="info_requested", engagement_id=eid, count=2)
    fixed = Contact(name="Fiona Fixed", email="fiona@partner.example", locale="en")
    await claims.update_contacts(eid, UpdateContacts(partner_contacts=[fixed], actor=PARTNER_ADMIN))

    for operator in (REVIEWER, PROGRAM_ADMIN):
        await claims.resend_notification(
            eid, ResendNotification(kind="info_requested", actor=operator)
        )

    again = await mailbox.wait_for(to=fixed.email, kind="info_requested", count=2, within=WAIT)
    assert len(again) == 2
    history = (await claims.get_claim(eid)).history
    resent = [h for h in history if h.event == "notification_resent"]
    assert [h.actor for h in resent] == [REVIEWER, PROGRAM_ADMIN]
    assert all(h.detail["kind"] == "info_requested" for h in resent)


@pytest.mark.parametrize(
    ("kind", "actor", "refusal_type"),
    [
        pytest.param("info_requested", PARTNER_ADMIN, "NotAllowed", id="by-a-partner"),
        pytest.param("approved", REVIEWER, "WrongState", id="never-sent"),
        pytest.param("survey_invitation", REVIEWER, "InvalidInput", id="survey-invitation"),
    ],
)
async def test_a_resend_is_refused_for_a_partner_an_unsent_kind_or_a_survey_and_changes_nothing(
    claim_factory: ClaimFactory,
    claims: ClaimsClient,
    kind: NotificationKind,
    actor: Actor,
    refusal_type: RefusalType,
) -> None:
    eid = (await claim_factory("info_requested")).engagement_id
    before = await claims.get_claim(eid)

    msg = ResendNotification(kind=kind, actor=actor)
    refusal = await refused(claims.resend_notification(eid, msg), refusal_type)

    assert refusal.message
    assert await claims.get_claim(eid) == before
