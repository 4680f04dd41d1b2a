"""Claim scenarios that leave a workflow in a named state, for the replay corpus.

`scripts/record_histories.py` runs each scenario against the time-skipping
server and saves its history in tests/histories/; tests/test_replay.py
replays the saved histories against the current workflow code on every run.
The messages are sent by the one claim driver, claims_testing's ClaimFactory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from claims_testing import ClaimFactory, VirtualClock
from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN, PARTNER_USER
from workflows.messages import Contact, Submit, SurveyKind, UpdateContacts

Scenario = Callable[[WorkflowEnvironment, ClaimsClient], Awaitable[str]]
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
    claims = _factory(env, client)
    eid = await _submitted(claims)
    await claims.request_info(eid, "Attendance list?")
    return eid


async def approved(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    claims = _factory(env, client)
    eid = await _submitted(claims)
    await claims.request_info(eid, "Attendance list?")
    await claims.comment(eid, "Twelve people.")
    await claims.respond_info(eid, "Twelve people.")
    await claims.submit(eid)
    await claims.approve(eid, note="Thanks.")
    return eid


async def paid(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    claims = _factory(env, client)
    eid = await _submitted(claims)
    await claims.approve(eid)
    await claims.pay(eid, reference="B-1:" + eid)
    await claims.result(eid)
    return eid


async def rejected(env: WorkflowEnvironment, client: ClaimsClient) -> str:
    claims = _factory(env, client)
    eid = await _submitted(claims)
    await claims.reject(eid)
    return eid


SCENARIOS: dict[str, Scenario] = {
    "in_progress": in_progress,
    "contact_changed": contact_changed,
    "reminded": reminded,
    "auto_rejected": auto_rejected,
    "submitted": submitted,
    "info_requested": info_requested,
    "approved": approved,
    "paid": paid,
    "rejected": rejected,
}
"""Every scenario of the corpus, by the name of its history file."""
