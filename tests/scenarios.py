"""Claim scenarios that leave a workflow in a named state, for the replay corpus.

`scripts/record_histories.py` runs each scenario against the time-skipping
server and saves its history in tests/histories/; tests/test_replay.py
replays the saved histories against the current workflow code on every run.
The messages are sent by the one claim driver, claims_testing's ClaimFactory.

A scenario added in a release is recorded from that release on (`SINCE`): the corpus
holds every scenario of its time for each release whose claims may still be running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import timedelta

from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment

from claims_testing import ClaimFactory
from claims_testing import VirtualClock
from starter.client import ClaimsClient
from starter.client import workflow_id
from starter.payments import start_payment_cycle
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_USER
from tests.builders import REVIEWER
from tests.builders import UNMAILABLE
from tests.helpers import continued_run
from tests.helpers import recorded_event
from tests.helpers import settled
from tests.helpers import start_continued_run
from workflows.claim import WorkshopClaimWorkflow
from workflows.messages import Contact
from workflows.messages import ResendNotification
from workflows.messages import Submit
from workflows.messages import SurveyKind
from workflows.messages import UpdateContacts
from workflows.payments_messages import PaymentHeld
from workflows.rules import DISPUTE_WINDOW
from workflows.rules import REPLY_WINDOW
from workflows.rules import REVIEW_CLOCK

Scenario = Callable[[WorkflowEnvironment, ClaimsClient], Awaitable[str]]
"""Runs a claim (or another workflow) to a state and returns the workflow's id."""
ClaimScenario = Callable[[WorkflowEnvironment, ClaimsClient], Awaitable[str]]
"""Runs a claim to a state and returns its engagement id."""
ANSWERS: dict[str, str | int | float] = {"q1": 5, "q2": "good"}


def _factory(env: WorkflowEnvironment, claims: ClaimsClient) -> ClaimFactory:
    return ClaimFactory(claims, VirtualClock(env))


async def _start(claims: ClaimFactory, days_ago: int = 0) -> str:
    consent_at = await claims.clock.now() - timedelta(days=days_ago)
    claim = await claims.new_claim(consent_at=consent_at)
    await claims.start(claim)
    return claim.engagement_id


async def _complete(claims: ClaimFactory, eid: str, kind: SurveyKind) -> None:
    await claims.send_survey(eid, kind)
    await claims.complete_survey(eid, kind, answers=ANSWERS)


async def _submitted(claims: ClaimFactory) -> str:
    eid = await _start(claims)
    await claims.attach(eid, "results_and_recommendations")
    await claims.attach(eid, "invoice", actor=PARTNER_USER)
    await _complete(claims, eid, "partner")
    await _complete(claims, eid, "customer")
    await claims.comment(eid, "Delivered on site.", actor=PARTNER_USER)
    await claims.submit(eid)
    return eid


async def _submitted_claim(
    env: WorkflowEnvironment, client: ClaimsClient
) -> tuple[ClaimFactory, str]:
    """A claim submitted with all its proof, and the factory that drives it on."""
    claims = _factory(env, client)
    return claims, await _submitted(claims)


async def _approve_and_pay(
    claims: ClaimFactory, eid: str, batch: str, held: PaymentHeld | None = None
) -> None:
    """Approve the claim, pay it in payment batch `batch`, and wait for its workflow's end;
    with `held`, a payment cycle holds it first (`payment_held`)."""
    await claims.approve(eid)
    if held is not None:
        await claims.client.handle(eid).signal(WorkshopClaimWorkflow.payment_held, held)
    await claims.pay(eid, reference=f"{batch}:{eid}")
    await claims.result(eid)


async def in_progress(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    claims = _factory(env, client)
    eid = await _start(claims)
    await claims.attach(eid, "invoice")
    await claims.send_survey(eid, "partner", channel="direct", actor=PARTNER_USER)
    await client.submit_signal(eid, Submit(actor=PARTNER_ADMIN))  # refused: recorded
    return eid


async def contact_changed(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    claims = _factory(env, client)
    eid = await _start(claims)
    await claims.send_survey(eid, "customer")
    new = Contact(name="Nina", email="nina@customer.example", locale="nl")
    await client.update_contacts(eid, UpdateContacts(customer_contact=new, actor=PARTNER_ADMIN))
    await claims.send_survey(eid, "customer")
    return eid


async def reminded(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    eid = await _start(_factory(env, client), days_ago=50)
    await env.sleep(timedelta(days=35))  # the 30- and 7-day reminders go out
    return eid


async def auto_rejected(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    claims = _factory(env, client)
    eid = await _start(claims, days_ago=85)
    await env.sleep(timedelta(days=6))
    await claims.result(eid)
    return eid


async def submitted(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    return await _submitted(_factory(env, client))


async def info_requested(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    claims, eid = await _submitted_claim(env, client)
    await claims.request_info(eid, "Attendance list?")
    return eid


async def approved(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    claims, eid = await _submitted_claim(env, client)
    await claims.request_info(eid, "Attendance list?")
    await claims.comment(eid, "Twelve people.")
    await claims.respond_info(eid, "Twelve people.")
    await claims.submit(eid)
    await claims.approve(eid, note="Thanks.")
    return eid


async def paid(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    claims, eid = await _submitted_claim(env, client)
    await _approve_and_pay(claims, eid, "B-1")
    return eid


async def rejected(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    claims, eid = await _submitted_claim(env, client)
    await claims.reject(eid)
    return eid


# --- added with the after-submission clocks ---------------------------------------------


async def cancelled(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    claims = _factory(env, client)
    eid = (await claims("in_progress", items=["invoice"])).engagement_id
    await claims.cancel(eid)
    return eid


async def answered(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    """A question answered with respond_info, the claim submitted again and approved."""
    claims, eid = await _submitted_claim(env, client)
    await claims.request_info(eid, "Attendance list?")
    await client.submit_signal(eid, Submit(actor=PARTNER_ADMIN))  # refused: no answer yet
    await claims.respond_info(eid, "Twelve people.")
    await claims.submit(eid)
    await claims.approve(eid)
    return eid


async def expired(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    claims, eid = await _submitted_claim(env, client)
    await claims.request_info(eid, "Attendance list?")
    await env.sleep(REPLY_WINDOW + timedelta(minutes=1))  # two reminders, then expired
    await claims.result(eid)
    return eid


async def disputed(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    """Rejected, disputed, escalated after 10 days waiting, approved and paid."""
    claims, eid = await _submitted_claim(env, client)
    await claims.reject(eid)
    await claims.dispute(eid)
    await env.sleep(REVIEW_CLOCK + timedelta(minutes=1))
    await _approve_and_pay(claims, eid, "B-2")
    return eid


async def rejected_final(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    """Escalated while waiting for review, rejected, not disputed in time."""
    claims, eid = await _submitted_claim(env, client)
    await env.sleep(REVIEW_CLOCK + timedelta(minutes=1))
    await claims.reject(eid)
    await env.sleep(DISPUTE_WINDOW + timedelta(minutes=1))
    await claims.result(eid)
    return eid


async def continued(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    """A run continued as new, with a reminder that fell due between the two runs."""
    eid = await start_continued_run(client, continued_run(await env.get_current_time()))
    await env.sleep(timedelta(days=2))
    return eid


async def payment_cycle(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    """A PaymentCycle run that pays one approved claim (its id, not an engagement's)."""
    claims = _factory(env, client)
    view = await claims("approved")
    cycle_date = (await env.get_current_time() + timedelta(seconds=1)).replace(microsecond=0)
    handle = await start_payment_cycle(
        env.client, task_queue=client.task_queue, cycle_date=cycle_date
    )
    with env.auto_time_skipping_disabled():
        await asyncio.wait_for(handle.result(), 60)
        await asyncio.wait_for(claims.result(view.engagement_id), 60)
    return handle.id


# --- added after the clocks, with the hardening (issues 15 and 19) ----------------------


async def operator_cancelled(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    """Cancelled from Temporal (the UI's "Request Cancellation"): the claim records, tells
    and stores it, then its run ends cancelled (the `operator-cancel` patch)."""
    claims = _factory(env, client)
    eid = (await claims("in_progress", items=["invoice"])).engagement_id
    handle = client.handle(eid)
    await handle.cancel()
    try:
        await handle.result()
    except WorkflowFailureError as failure:
        if not isinstance(failure.cause, CancelledError):
            raise
    else:
        raise AssertionError(f"{eid} ended without being cancelled")
    return eid


async def notification_failed(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    """A survey invitation no mail can carry, recorded and skipped; the next one is sent
    (the `notification-failed-recorded` patch)."""
    claims = _factory(env, client)
    claim = await claims.new_claim(customer_contact=UNMAILABLE)
    await claims.start(claim)
    eid = claim.engagement_id
    await claims.send_survey(eid, "customer")
    await recorded_event(client, eid, "notification_failed")
    await claims.send_survey(eid, "partner")
    await settled(client.handle(eid), within=60)  # the partner's invitation sent
    return eid


async def resent(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    """The program's question sent again by a reviewer (`resend_notification`)."""
    claims, eid = await _submitted_claim(env, client)
    await claims.request_info(eid, "Attendance list?")
    await client.resend_notification(eid, ResendNotification(kind="info_requested", actor=REVIEWER))
    await settled(client.handle(eid), within=60)  # the question mailed twice
    return eid


async def held_then_paid(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    """Approved, held by a payment cycle that could not pay it (`payment_held`), paid by
    the next."""
    claims, eid = await _submitted_claim(env, client)
    held = PaymentHeld(reason="no tariff for the workshop type", batch_id="PC-1")
    await _approve_and_pay(claims, eid, "PC-2", held)
    return eid


def _claim(scenario: ClaimScenario) -> Scenario:
    async def run(env: WorkflowEnvironment, client: ClaimsClient) -> str:
        return workflow_id(await scenario(env, client))

    return run


SCENARIOS: dict[str, Scenario] = {
    "in_progress": _claim(in_progress),
    "contact_changed": _claim(contact_changed),
    "reminded": _claim(reminded),
    "auto_rejected": _claim(auto_rejected),
    "submitted": _claim(submitted),
    "info_requested": _claim(info_requested),
    "approved": _claim(approved),
    "paid": _claim(paid),
    "rejected": _claim(rejected),
    "cancelled": _claim(cancelled),
    "answered": _claim(answered),
    "expired": _claim(expired),
    "disputed": _claim(disputed),
    "rejected_final": _claim(rejected_final),
    "continued": _claim(continued),
    "payment_cycle": payment_cycle,
    "operator_cancelled": _claim(operator_cancelled),
    "notification_failed": _claim(notification_failed),
    "resent": _claim(resent),
    "held_then_paid": _claim(held_then_paid),
}
"""Every scenario of the corpus, by the name of its history file."""

RELEASES: tuple[str, ...] = ("", "survey-update", "observability", "clocks")
"""The releases recorded in the corpus, oldest first ("": the first, `<scenario>.json`)."""
SINCE: dict[str, str] = dict.fromkeys(
    [
        "cancelled",
        "answered",
        "expired",
        "disputed",
        "rejected_final",
        "continued",
        "payment_cycle",
        "operator_cancelled",
        "notification_failed",
        "resent",
        "held_then_paid",
    ],
    "clocks",
)
"""The release a scenario was added in (not listed: the first)."""


def scenarios_of(release: str) -> list[str]:
    """The scenarios a release's corpus holds: those added in it or before."""
    position = RELEASES.index(release)
    return [name for name in SCENARIOS if RELEASES.index(SINCE.get(name, "")) <= position]
