"""Changed versions of the claim workflow, to prove that replay catches a change
(unpatched) and lets a versioned one through (patched). Kept in their own module
because the workflow sandbox re-imports the module that defines a workflow."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.claim import ClaimRun, WorkshopClaimWorkflow
from workflows.messages import ClaimView


@workflow.defn(name="WorkshopClaim")
class UnpatchedChangeWorkflow(WorkshopClaimWorkflow):
    """The claim workflow with an unversioned change: a new timer before anything else."""

    @workflow.init
    def __init__(self, claim_input: ClaimRun) -> None:
        super().__init__(claim_input)

    @workflow.run
    async def run(self, claim_input: ClaimRun) -> ClaimView:
        await workflow.sleep(timedelta(seconds=1), summary="an unversioned change")
        return await super().run(claim_input)


@workflow.defn(name="WorkshopClaim")
class PatchedChangeWorkflow(WorkshopClaimWorkflow):
    """The same change made safely: only runs that start with this code take the timer."""

    @workflow.init
    def __init__(self, claim_input: ClaimRun) -> None:
        super().__init__(claim_input)

    @workflow.run
    async def run(self, claim_input: ClaimRun) -> ClaimView:
        if workflow.patched("settle-before-start"):
            await workflow.sleep(timedelta(seconds=1), summary="a versioned change")
        return await super().run(claim_input)
