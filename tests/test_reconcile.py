"""A claim terminated in Temporal never runs again, so it can't say so: the client reads
it as `terminated`, and the hourly reconciliation records it in the read model.

On the dev server (visibility and schedules); the worker runs the reconciliation
beside the claims, as `python worker.py` does.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import ScheduleIntervalSpec
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from activities.reconcile import ReconcileActivities
from activities.reconcile import ended_claims_query
from activities.store import ClaimStore
from claims_testing.processes import poll_until
from starter.client import ClaimsClient
from starter.client import workflow_id
from starter.queries import claims_query
from starter.schedules import RECONCILE_SCHEDULE_ID
from starter.schedules import setup_reconcile_schedule
from tests.helpers import start_claim_now
from worker import create_worker
from workflows.reconcile import ReconcileClaimsWorkflow
from workflows.reconcile_messages import Reconciled
from workflows.reconcile_messages import ReconcileRequest

SETTLE = 30.0
"""Seconds visibility and the read model get to catch up (eventually consistent)."""


@pytest.fixture
async def claims(
    dev_env: WorkflowEnvironment,
    activities: ClaimActivities,
    store: ClaimStore,
    links: SurveyLinks,
    task_queue: str,
) -> AsyncIterator[ClaimsClient]:
    reconcile = ReconcileActivities(dev_env.client, store)
    async with create_worker(dev_env.client, task_queue, activities, reconcile=reconcile):
        yield ClaimsClient(dev_env.client, task_queue=task_queue, links=links)


async def reconcile_now(claims: ClaimsClient) -> Reconciled:
    return await claims.client.execute_workflow(
        ReconcileClaimsWorkflow.run,
        ReconcileRequest(),
        id=f"reconcile-test-{uuid.uuid4()}",
        task_queue=claims.task_queue,
    )


async def test_a_terminated_claim_reads_terminated_and_is_recorded_so_in_the_read_model(
    dev_env: WorkflowEnvironment, claims: ClaimsClient, store: ClaimStore
) -> None:
    eid = await start_claim_now(dev_env, claims)
    await poll_until(lambda: _stored(store, eid), within=SETTLE, what="the claim's row")
    await claims.handle(eid).terminate("a broken claim")

    view = await claims.get_claim(eid)
    assert (view.status, view.allowed_actions) == ("terminated", [])
    assert view.status_reason == "terminated by an operator in Temporal"

    async def listed_terminated() -> bool:
        """`list --status terminated` finds it, and says so (once visibility catches up)."""
        query = claims_query(now=view.consent_at, status="terminated")
        query += f" AND WorkflowId = '{workflow_id(eid)}'"
        return [c.status for c in await claims.find_claims(query)] == ["terminated"]

    await poll_until(listed_terminated, within=SETTLE, what="the claim listed as terminated")
    ended = ended_claims_query(view.consent_at - timedelta(minutes=1))
    assert [e.id async for e in claims.client.list_workflows(ended)].count(workflow_id(eid)) == 1
    first = await reconcile_now(claims)
    again = await reconcile_now(claims)

    assert first.marked == 1  # other tests' terminated claims have no row in this store
    assert again.marked == 0  # idempotent
    row = await store.claim_row(eid)
    assert row is not None
    assert row["status"] == "terminated"
    assert row["view"]["status_reason"] == "terminated by an operator in Temporal"
    events = await store.events(eid)
    assert events[-1]["event"] == "terminated"


async def test_setup_creates_the_hourly_reconciliation_schedule_once(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    schedule = dev_env.client.get_schedule_handle(RECONCILE_SCHEDULE_ID)
    with contextlib.suppress(RPCError):  # another test's `setup` on the shared server
        await schedule.delete()
    said = await setup_reconcile_schedule(dev_env.client, task_queue)
    try:
        assert (
            said
            == f"schedule {RECONCILE_SCHEDULE_ID}: created (every hour; task queue {task_queue})"
        )
        assert (await setup_reconcile_schedule(dev_env.client, task_queue)).startswith(
            f"schedule {RECONCILE_SCHEDULE_ID}: updated"
        )
        described = await dev_env.client.get_schedule_handle(RECONCILE_SCHEDULE_ID).describe()
        assert described.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(hours=1))]
    finally:
        await schedule.delete()


async def _stored(store: ClaimStore, eid: str) -> bool:
    return await store.claim_row(eid) is not None
