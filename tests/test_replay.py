"""Replay: the histories of real runs replay against the current code, and a changed
workflow is caught (the check can fail, so it proves something)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN, REVIEWER, attach, claim_input
from tests.test_deadline import complete_proof
from workflows.claim import ClaimRun, WorkshopClaimWorkflow
from workflows.converter import claims_data_converter
from workflows.messages import (
    AddComment,
    Approve,
    ClaimView,
    PaymentIssued,
    RequestInfo,
    Submit,
)


async def recorded_histories(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> list[WorkflowHistory]:
    """Run a few claims to their ends (paid, rejected by the deadline, with refusals)."""
    now = await env.get_current_time()
    paid = claim_input(now)
    await claims.start_claim(paid)
    await complete_proof(claims, paid.engagement_id)
    await claims.add_comment(paid.engagement_id, AddComment(text="hi", actor=PARTNER_ADMIN))
    await claims.submit_signal(paid.engagement_id, Submit(actor=PARTNER_ADMIN))
    await claims.request_info(paid.engagement_id, RequestInfo(question="?", actor=REVIEWER))
    await claims.submit(paid.engagement_id, Submit(actor=PARTNER_ADMIN))
    await claims.approve(paid.engagement_id, Approve(actor=REVIEWER))
    await claims.payment_issued(
        paid.engagement_id,
        PaymentIssued(reference="P-1", amount="10.00", currency="EUR", paid_at=now),
    )
    expired = claim_input(now)
    await claims.start_claim(expired)
    await claims.attach_document(expired.engagement_id, attach("invoice"))
    await claims.submit_signal(expired.engagement_id, Submit(actor=PARTNER_ADMIN))
    await env.sleep(timedelta(days=91))
    histories = []
    for claim in (paid, expired):
        handle = claims.handle(claim.engagement_id)
        await handle.result()
        histories.append(await handle.fetch_history())
    return histories


@workflow.defn(name="WorkshopClaim")
class ChangedWorkshopClaimWorkflow(WorkshopClaimWorkflow):
    """The claim workflow with an unversioned change: a new timer before anything else."""

    @workflow.init
    def __init__(self, claim_input: ClaimRun) -> None:
        super().__init__(claim_input)

    @workflow.run
    async def run(self, claim_input: ClaimRun) -> ClaimView:
        await workflow.sleep(timedelta(seconds=1), summary="an unversioned change")
        return await super().run(claim_input)


async def test_recorded_histories_replay_against_the_current_workflow_and_fail_on_a_change(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    histories = await recorded_histories(env, claims)

    replayer = Replayer(workflows=[WorkshopClaimWorkflow], data_converter=claims_data_converter)
    for history in histories:
        await replayer.replay_workflow(history)

    changed = Replayer(
        workflows=[ChangedWorkshopClaimWorkflow], data_converter=claims_data_converter
    )
    for history in histories:
        with pytest.raises(NondeterminismError):
            await changed.replay_workflow(history)
