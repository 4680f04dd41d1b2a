"""Claim scenarios that leave a workflow in a named state, for the replay corpus.

`scripts/record_histories.py` runs each scenario against the time-skipping
server and saves its history in tests/histories/; tests/test_history_corpus.py
replays the saved histories against the current workflow code on every run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN, PARTNER_USER, REVIEWER, attach, claim_input
from workflows.messages import (
    AddComment,
    Approve,
    Contact,
    PaymentIssued,
    Reject,
    RequestInfo,
    SendSurvey,
    Submit,
    SurveyKind,
    UpdateContacts,
)

Scenario = Callable[[WorkflowEnvironment, ClaimsClient], Awaitable[str]]
"""Runs a claim to a state and returns its engagement id."""


async def _start(env: WorkflowEnvironment, claims: ClaimsClient, days_ago: int = 0) -> str:
    claim = claim_input(await env.get_current_time() - timedelta(days=days_ago))
    await claims.start_claim(claim)
    return claim.engagement_id


async def _complete(claims: ClaimsClient, eid: str, kind: SurveyKind) -> None:
    await claims.send_survey(eid, SendSurvey(kind=kind, actor=PARTNER_ADMIN))
    token = claims.links.token_from_url(await claims.survey_link(eid, kind))
    await claims.complete_survey(token, "respondent@example.com", {"q1": 5, "q2": "good"})


async def _submitted(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    eid = await _start(env, claims)
    await claims.attach_document(eid, attach("results_and_recommendations"))
    await claims.attach_document(eid, attach("invoice", actor=PARTNER_USER))
    await _complete(claims, eid, "partner")
    await _complete(claims, eid, "customer")
    await claims.add_comment(eid, AddComment(text="Delivered on site.", actor=PARTNER_USER))
    await claims.submit(eid, Submit(actor=PARTNER_ADMIN))
    return eid


async def in_progress(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    eid = await _start(env, claims)
    await claims.attach_document(eid, attach("invoice"))
    await claims.send_survey(eid, SendSurvey(kind="partner", channel="direct", actor=PARTNER_USER))
    await claims.submit_signal(eid, Submit(actor=PARTNER_ADMIN))  # refused: recorded
    return eid


async def contact_changed(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    eid = await _start(env, claims)
    await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_ADMIN))
    new = Contact(name="Nina", email="nina@customer.example", locale="nl")
    await claims.update_contacts(eid, UpdateContacts(customer_contact=new, actor=PARTNER_ADMIN))
    await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_ADMIN))
    return eid


async def reminded(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    eid = await _start(env, claims, days_ago=50)
    await env.sleep(timedelta(days=35))  # the 30- and 7-day reminders go out
    return eid


async def auto_rejected(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    eid = await _start(env, claims, days_ago=85)
    await env.sleep(timedelta(days=6))
    await claims.handle(eid).result()
    return eid


async def submitted(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    return await _submitted(env, claims)


async def info_requested(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    eid = await _submitted(env, claims)
    await claims.request_info(eid, RequestInfo(question="Attendance list?", actor=REVIEWER))
    return eid


async def approved(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    eid = await _submitted(env, claims)
    await claims.request_info(eid, RequestInfo(question="Attendance list?", actor=REVIEWER))
    await claims.add_comment(eid, AddComment(text="Twelve people.", actor=PARTNER_ADMIN))
    await claims.submit(eid, Submit(actor=PARTNER_ADMIN))
    await claims.approve(eid, Approve(note="Thanks.", actor=REVIEWER))
    return eid


async def paid(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    eid = await _submitted(env, claims)
    await claims.approve(eid, Approve(actor=REVIEWER))
    paid_at = await env.get_current_time()
    await claims.payment_issued(
        eid,
        PaymentIssued(reference="B-1:" + eid, amount="1500.00", currency="EUR", paid_at=paid_at),
    )
    await claims.handle(eid).result()
    return eid


async def rejected(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    eid = await _submitted(env, claims)
    await claims.reject(eid, Reject(reason="Not eligible.", actor=REVIEWER))
    await claims.handle(eid).result()
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
