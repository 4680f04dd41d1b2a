"""ReconcileClaimsWorkflow: run by the schedule `claims-reconcile` (hourly).

One activity, which records in the read model the claims that were terminated
(or timed out) from outside; see activities/reconcile.py for why a claim can't
record that itself. A workflow on a schedule, rather than a cron job, so it
retries, shows in the UI with its result and needs no process of its own.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import ReconcileActivities
    from workflows.reconcile_messages import Reconciled
    from workflows.reconcile_messages import ReconcileRequest


@workflow.defn(name="ReconcileClaims")
class ReconcileClaimsWorkflow:
    @workflow.run
    async def run(self, request: ReconcileRequest) -> Reconciled:
        done = await workflow.execute_activity_method(
            ReconcileActivities.mark_claims_ended_from_outside,
            request,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
            summary="read model: mark claims ended from outside",
        )
        workflow.set_current_details(
            f"**Claims ended from outside** in the last {request.lookback_days} days: "
            f"{done.found}, newly recorded as terminated: {done.marked}"
        )
        return done
