"""Submission as a signal: same rules as the update; a refusal is recorded, not raised."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN
from tests.builders import REVIEWER
from tests.builders import attach
from tests.helpers import complete_proof
from tests.helpers import start_claim_now
from workflows.messages import Submit

pytestmark = pytest.mark.claims_server("shared")


async def test_submit_signal_while_incomplete_is_recorded_and_changes_nothing_else(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    eid = await start_claim_now(env, claims)
    await claims.attach_document(eid, attach("invoice"))
    before = await claims.get_claim(eid)

    await claims.submit_signal(eid, Submit(actor=PARTNER_ADMIN))
    after = await claims.get_claim(eid)

    refusal = after.history[-1]
    assert refusal.event == "submit_refused"
    assert refusal.actor == PARTNER_ADMIN
    assert refusal.detail["type"] == "Incomplete"
    assert "missing" in refusal.detail["message"]
    assert refusal.detail["missing"] == [
        "results_and_recommendations",
        "partner_survey",
        "customer_survey",
    ]
    assert after.model_dump(exclude={"history"}) == before.model_dump(exclude={"history"})
    assert after.history[:-1] == before.history


async def test_submit_signal_by_a_reviewer_is_recorded_as_not_allowed(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    eid = await start_claim_now(env, claims)
    await claims.submit_signal(eid, Submit(actor=REVIEWER))
    view = await claims.get_claim(eid)
    assert view.status == "in_progress"
    assert view.history[-1].detail["type"] == "NotAllowed"


async def test_submit_signal_once_complete_submits_the_claim(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    eid = await start_claim_now(env, claims)
    await complete_proof(claims, eid)

    await claims.submit_signal(eid, Submit(actor=PARTNER_ADMIN))
    view = await claims.get_claim(eid)
    assert view.status == "submitted"
    assert view.history[-1].event == "submitted"
    assert view.submitted_at is not None
