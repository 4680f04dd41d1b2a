"""Changed versions of the claim workflow, to prove that replay catches a change
(unpatched) and lets a versioned one through (patched). Kept in their own module
because the workflow sandbox re-imports the module that defines a workflow. Each inherits
the claim workflow's `@workflow.init` constructor; the SDK wants `@workflow.run` on the
class itself."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.claim import ClaimRun
from workflows.claim import WorkshopClaimWorkflow
from workflows.messages import ClaimView


@workflow.defn(name="WorkshopClaim")
class UnpatchedChangeWorkflow(WorkshopClaimWorkflow):
    """The claim workflow with an unversioned change: a new timer before anything else."""

    @workflow.run
    async def run(self, claim_input: ClaimRun) -> ClaimView:
        await workflow.sleep(timedelta(seconds=1), summary="an unversioned change")
        return await super().run(claim_input)


@workflow.defn(name="WorkshopClaim")
class PatchedChangeWorkflow(WorkshopClaimWorkflow):
    """The same change made safely: only runs that start with this code take the timer."""

    @workflow.run
    async def run(self, claim_input: ClaimRun) -> ClaimView:
        if workflow.patched("settle-before-start"):
            await workflow.sleep(timedelta(seconds=1), summary="a versioned change")
        return await super().run(claim_input)
