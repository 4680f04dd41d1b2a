"""The 90-day window: durable timers auto-reject a claim not submitted in time."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.store import ClaimStore
from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import body_text
from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_CONTACTS
from tests.builders import attach
from tests.builders import claim_input
from tests.helpers import assert_stored
from tests.helpers import complete_proof
from tests.helpers import refused
from workflows.messages import AddComment
from workflows.messages import Submit
from workflows.rules import AUTO_REJECT_REASON

DAY = timedelta(days=1)


async def test_claim_not_submitted_in_90_days_is_rejected_mailed_and_ended(
    env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher, store: ClaimStore
) -> None:
    consent_at = await env.get_current_time()
    started = await claims.start_claim(claim_input(consent_at))
    eid = started.view.engagement_id
    await claims.attach_document(eid, attach("invoice"))

    await env.sleep(90 * DAY - timedelta(minutes=1))
    assert (await claims.get_claim(eid)).status == "in_progress"

    await env.sleep(timedelta(minutes=2))  # virtual time moves past the deadline
    final = await claims.handle(eid).result()
    assert final.status == "auto_rejected"
    assert final.status_reason == AUTO_REJECT_REASON
    assert final.decided_at is not None
    assert final.decided_at >= consent_at + 90 * DAY
    assert final.allowed_actions == []
    description = await claims.handle(eid).describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED

    mails = await mailbox.wait_for(count=2, kind="auto_rejected", engagement_id=eid)
    assert sorted(str(m["To"]) for m in mails) == sorted(
        f"{c.name} <{c.email}>" for c in PARTNER_CONTACTS
    )
    english = next(m for m in mails if "anna@" in str(m["To"]))
    assert "rejected automatically" in str(english["Subject"])
    assert "customer survey" in body_text(english)  # what was still missing
    await assert_stored(store, final)

    # The claim is over: any action is refused as past its deadline.
    await refused(
        claims.add_comment(eid, AddComment(text="too late", actor=PARTNER_ADMIN)), "DeadlinePassed"
    )


async def test_claim_started_on_day_89_is_rejected_a_day_later(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    now = await env.get_current_time()
    started = await claims.start_claim(claim_input(now - 89 * DAY))
    assert started.view.status == "in_progress"
    assert started.view.deadline_at == now + DAY

    await env.sleep(DAY - timedelta(minutes=1))
    assert (await claims.get_claim(started.view.engagement_id)).status == "in_progress"
    await env.sleep(timedelta(minutes=2))
    final = await claims.handle(started.view.engagement_id).result()
    assert final.status == "auto_rejected"
    assert final.decided_at is not None
    assert now + DAY <= final.decided_at < now + DAY + timedelta(minutes=1)
    # Its 1-day reminder fell at the moment it started, already past: none is sent.
    assert "reminder_sent" not in [h.event for h in final.history]


async def test_claim_started_after_its_deadline_is_rejected_at_once(
    env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    now = await env.get_current_time()
    claim = claim_input(now - 120 * DAY)
    await claims.start_claim(claim)
    final = await claims.handle(claim.engagement_id).result()
    assert final.status == "auto_rejected"
    assert final.decided_at is not None
    assert final.decided_at - now < timedelta(minutes=1)
    assert [h.event for h in final.history] == ["claim_started", "auto_rejected"]
    await mailbox.wait_for(count=2, kind="auto_rejected", engagement_id=claim.engagement_id)


async def test_submission_one_minute_before_the_deadline_stands(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    consent_at = await env.get_current_time()
    started = await claims.start_claim(claim_input(consent_at))
    eid = started.view.engagement_id
    await complete_proof(claims, eid)

    await env.sleep(started.view.deadline_at - await env.get_current_time() - timedelta(minutes=1))
    view = await claims.submit(eid, Submit(actor=PARTNER_ADMIN))
    assert view.status == "submitted"

    await env.sleep(timedelta(days=30))
    view = await claims.get_claim(eid)
    assert view.status == "submitted"
    assert "auto_rejected" not in [h.event for h in view.history]


async def test_partner_action_after_the_deadline_is_refused_as_deadline_passed(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    now = await env.get_current_time()
    claim = claim_input(now - 120 * DAY)
    await claims.start_claim(claim)
    await claims.handle(claim.engagement_id).result()
    refusal = await refused(
        claims.attach_document(claim.engagement_id, attach("invoice")), "DeadlinePassed"
    )
    assert refusal.cause.type == "DeadlinePassed"
