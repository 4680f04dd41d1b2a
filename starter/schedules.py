"""Creating or updating the project's Temporal schedules, idempotently.

`python -m starter setup` (and the local stack) ensure each schedule the same
way: create it, or, when it exists, replace its action and calendar with the
configured ones while keeping what an operator set on it (a pause and its note).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio.client import Client
from temporalio.client import Schedule
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.client import ScheduleAlreadyRunningError
from temporalio.client import ScheduleIntervalSpec
from temporalio.client import ScheduleOverlapPolicy
from temporalio.client import SchedulePolicy
from temporalio.client import ScheduleSpec
from temporalio.client import ScheduleState
from temporalio.client import ScheduleUpdate
from temporalio.client import ScheduleUpdateInput
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from workflows.reconcile import ReconcileClaimsWorkflow
from workflows.reconcile_messages import ReconcileRequest

ScheduleFor = Callable[[ScheduleState | None], Schedule]
"""Builds the configured schedule; given a state, the schedule keeps that state."""


async def ensure_schedule(
    client: Client, schedule_id: str, schedule_for: ScheduleFor, *, summary: str
) -> str:
    """Create the schedule, or update it to `schedule_for`'s; returns "created" or
    "updated". An update keeps the schedule's state: a paused schedule stays paused."""
    try:
        await client.create_schedule(schedule_id, schedule_for(None), memo={"summary": summary})
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
        state = current.description.schedule.state
        return ScheduleUpdate(
            schedule=schedule_for(ScheduleState(note=state.note, paused=state.paused))
        )

    await client.get_schedule_handle(schedule_id).update(keep_state)
    return "updated"


def no_schedules(err: RPCError) -> bool:
    """The server has no schedules (the time-skipping test server)."""
    return err.status == RPCStatusCode.UNIMPLEMENTED


RECONCILE_SCHEDULE_ID = "claims-reconcile"
RECONCILE_EVERY = timedelta(hours=1)
RECONCILE_WORKFLOW_ID = "claims-reconcile"
"""The schedule's action id: Temporal appends `-<nominal time>` to it for each run."""


def reconcile_schedule(task_queue: str, state: ScheduleState | None = None) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileClaimsWorkflow.run,
            ReconcileRequest(),
            id=RECONCILE_WORKFLOW_ID,
            task_queue=task_queue,
            static_summary="Claims reconciliation: records claims terminated from outside "
            "as terminated in the read model",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=RECONCILE_EVERY)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=state or ScheduleState(note="created or updated by `python -m starter setup`"),
    )


async def setup_reconcile_schedule(client: Client, task_queue: str) -> str:
    """`setup`'s line about the reconciliation schedule, after creating or updating it."""
    try:
        done = await ensure_schedule(
            client,
            RECONCILE_SCHEDULE_ID,
            lambda state: reconcile_schedule(task_queue, state),
            summary="Hourly: claims terminated or timed out in Temporal are recorded as "
            "terminated in the read model (docs/operations.md)",
        )
    except RPCError as err:
        if not no_schedules(err):
            raise
        return f"schedule {RECONCILE_SCHEDULE_ID}: not created, this Temporal server has none"
    return f"schedule {RECONCILE_SCHEDULE_ID}: {done} (every hour; task queue {task_queue})"
