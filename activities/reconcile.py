"""Finding claims that were ended from outside, and recording it in the read model.

A claim terminated from the Temporal UI or the CLI (or one whose run timed out)
stops at once: its own code never runs again, so it can't say so. Visibility
knows, though. This activity lists the claim workflows that closed that way
recently and marks each one `terminated` in the read model (idempotently), so
the read model and everything built on it never show a dead claim as open.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client

from activities.store import ClaimStore
from workflows.ids import engagement_of
from workflows.reconcile_messages import Reconciled
from workflows.reconcile_messages import ReconcileRequest
from workflows.search_attributes import ENDED_FROM_OUTSIDE as ENDED_QUERY
from workflows.texts import ENDED_FROM_OUTSIDE


def ended_claims_query(closed_since: datetime) -> str:
    since = closed_since.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return f"WorkflowType = 'WorkshopClaim' AND {ENDED_QUERY} AND CloseTime >= '{since}'"


class ReconcileActivities:
    """Bound to the worker's Temporal client (for visibility) and the read model."""

    def __init__(self, client: Client, store: ClaimStore) -> None:
        self._client = client
        self._store = store

    @activity.defn(name="mark_claims_ended_from_outside")
    async def mark_claims_ended_from_outside(self, request: ReconcileRequest) -> Reconciled:
        closed_since = datetime.now(UTC) - timedelta(days=request.lookback_days)
        found = marked = 0
        async for execution in self._client.list_workflows(ended_claims_query(closed_since)):
            engagement_id = engagement_of(execution.id)
            if engagement_id is None:
                continue
            found += 1
            status = execution.status.name if execution.status else "TERMINATED"
            reason = ENDED_FROM_OUTSIDE.get(status, ENDED_FROM_OUTSIDE["TERMINATED"])
            at = execution.close_time or datetime.now(UTC)
            if await self._store.mark_ended_from_outside(engagement_id, at=at, reason=reason):
                marked += 1
            activity.heartbeat(found)
        return Reconciled(found=found, marked=marked)
