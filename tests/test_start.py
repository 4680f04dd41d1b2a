"""Starting claims: one per engagement, refused input, and plain-JSON callers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from starter.client import ClaimAlreadyFinished
from starter.client import ClaimNotFound
from starter.client import ClaimsClient
from starter.client import workflow_id
from tests.builders import REVIEWER
from tests.builders import claim_input
from tests.helpers import plain_json_client
from tests.helpers import refused


async def test_starting_a_running_engagement_again_returns_the_same_claim(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    claim = claim_input(await env.get_current_time())
    first = await claims.start_claim(claim)
    first_run = (await claims.handle(claim.engagement_id).describe()).run_id
    again = await claims.start_claim(claim)
    assert first.created
    assert not again.created
    assert again.view.history == first.view.history
    assert (await claims.handle(claim.engagement_id).describe()).run_id == first_run
    history = [h.event for h in (await claims.get_claim(claim.engagement_id)).history]
    assert history == ["claim_started"]


async def test_a_finished_claims_engagement_cannot_be_claimed_again(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    claim = claim_input(await env.get_current_time() - timedelta(days=100))
    await claims.start_claim(claim)
    await claims.handle(claim.engagement_id).result()
    with pytest.raises(ClaimAlreadyFinished) as finished:
        await claims.start_claim(claim)
    assert finished.value.view is not None
    assert finished.value.view.status == "auto_rejected"


async def test_a_reviewer_cannot_start_a_claim(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    claim = claim_input(await env.get_current_time(), actor=REVIEWER)
    await refused(claims.start_claim(claim), "NotAllowed")
    with pytest.raises(ClaimNotFound):
        await claims.get_claim(claim.engagement_id)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"engagement_id": "has space"}, "engagement_id"),
        ({"engagement_id": "x" * 65}, "engagement_id"),
        ({"consent_at": "2026-01-01T10:00:00"}, "consent_at"),
        ({"partner_contacts": []}, "partner_contacts"),
        ({"customer_contact": {"name": "C", "email": "not-an-address"}}, "customer_contact.email"),
        ({"customer_contact": {"name": "C", "email": "c@x.nl", "locale": "de"}}, "locale"),
    ],
    ids=["bad characters", "too long", "no time zone", "no contacts", "bad email", "bad locale"],
)
async def test_bad_start_input_is_refused_naming_the_field_and_starts_nothing(
    env: WorkflowEnvironment, claims: ClaimsClient, change: dict[str, object], field: str
) -> None:
    claim = claim_input(await env.get_current_time()).model_dump(mode="json") | change
    refusal = await refused(claims.start_claim(claim), "InvalidInput")
    assert field in refusal.message


async def test_plain_json_caller_with_dicts_and_iso_timestamps_drives_a_claim(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    raw = plain_json_client(claims.client)
    claim = claim_input(await env.get_current_time()).model_dump(mode="json")
    assert isinstance(claim["consent_at"], str)
    handle = await raw.start_workflow(
        "WorkshopClaim",
        claim,
        id=workflow_id(claim["engagement_id"]),
        task_queue=claims.task_queue,
    )
    actor = {"user": "anna", "role": "incentives_admin"}
    answer = await handle.execute_update("add_comment", {"text": "from a dict", "actor": actor})
    assert isinstance(answer, dict)
    assert answer["comments"] == []  # an update answers without its growing lists
    view = await handle.query("get_claim")
    assert view["comments"][0]["text"] == "from a dict"
    queried = await handle.query("get_claim")
    assert queried["status"] == "in_progress"
    assert queried["consent_at"].replace("Z", "+00:00")[:19] == claim["consent_at"][:19]
    await handle.signal("submit", {"actor": actor})
    queried = await handle.query("get_claim")
    assert queried["history"][-1]["event"] == "submit_refused"


async def test_malformed_start_from_a_foreign_client_fails_the_workflow_as_invalid_input(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    raw = plain_json_client(claims.client)
    claim = claim_input(await env.get_current_time()).model_dump(mode="json")
    claim["consent_at"] = "yesterday"
    handle = await raw.start_workflow(
        "WorkshopClaim", claim, id=workflow_id(claim["engagement_id"]), task_queue=claims.task_queue
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidInput"
    assert "consent_at" in cause.message
