"""The payment schedule and `python -m starter payments ...`: what operators do with payments.

The schedule `payment-cycle` starts a `PaymentCycle` workflow on the claims
task queue at every calendar time (monthly by default: day 1 at 06:00 UTC;
CLAIMS_PAYMENT_CALENDAR). Temporal names each run `payment-cycle-<nominal
time>`, and the cycle takes that nominal time as its date and identity: its
batch is `PC-<date>`. `python -m starter setup` (or `payments setup`) creates
the schedule, or updates it to the configuration, keeping a pause in place.

    python -m starter payments setup        # create or update the schedule (idempotent)
    python -m starter payments trigger      # run a cycle now
    python -m starter payments pause --note "year-end freeze"
    python -m starter payments unpause
    python -m starter payments status       # calendar, paused, next and recent runs
    python -m starter payments batches      # past batches; `batches PC-...` lists one's lines
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client
from temporalio.client import Schedule
from temporalio.client import ScheduleActionExecutionStartWorkflow
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.client import ScheduleCalendarSpec
from temporalio.client import ScheduleDescription
from temporalio.client import ScheduleHandle
from temporalio.client import ScheduleOverlapPolicy
from temporalio.client import SchedulePolicy
from temporalio.client import ScheduleRange
from temporalio.client import ScheduleSpec
from temporalio.client import ScheduleState
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from activities.payments import PaymentLedger
from activities.store import ClaimStore
from starter.schedules import ensure_schedule
from starter.schedules import no_schedules
from starter.settings import DEFAULT_PAYMENT_CALENDAR
from starter.settings import Settings
from workflows.payment_cycle import PaymentCycleWorkflow
from workflows.payments_messages import DEFAULT_PAGE_SIZE
from workflows.payments_messages import DEFAULT_PAGES_PER_RUN
from workflows.payments_messages import BatchLine
from workflows.payments_messages import BatchSummary
from workflows.payments_messages import PaymentCycleInput

SCHEDULE_ID = "payment-cycle"
CYCLE_WORKFLOW_ID = "payment-cycle"
"""The schedule's action id: Temporal appends `-<nominal time>` to it for each run."""

CATCHUP_WINDOW = timedelta(days=3)
"""A cycle missed while Temporal was down still runs if it comes back within this time."""

SETUP_NOTE = "created or updated by `python -m starter setup` from CLAIMS_PAYMENT_*"

MONTHLY = ScheduleCalendarSpec(
    second=(ScheduleRange(0),),
    minute=(ScheduleRange(0),),
    hour=(ScheduleRange(6),),
    day_of_month=(ScheduleRange(1),),
    comment="monthly: day 1 at 06:00 UTC",
)


class PaymentsError(Exception):
    """A payments command could not be done (no schedule, unknown batch, no database)."""


def cycle_workflow_id(cycle_date: datetime) -> str:
    """The id the schedule gives the run of `cycle_date` (and a direct start should use)."""
    return f"{CYCLE_WORKFLOW_ID}-{cycle_date.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def describe_calendar(calendar: str) -> str:
    if calendar == DEFAULT_PAYMENT_CALENDAR:
        return "monthly: day 1 at 06:00 UTC"
    return f"cron '{calendar}' (UTC)"


def schedule_spec(calendar: str) -> ScheduleSpec:
    if calendar == DEFAULT_PAYMENT_CALENDAR:
        return ScheduleSpec(calendars=[MONTHLY], time_zone_name="UTC")
    return ScheduleSpec(cron_expressions=[calendar], time_zone_name="UTC")


def cycle_summary(min_days_approved: int) -> str:
    """The runs' static summary: one line in the UI's workflow list."""
    approved = (
        "approved claims"
        if min_days_approved == 0
        else f"claims approved at least {min_days_approved} days before"
    )
    return f"Payment cycle: pays {approved} not paid yet, mails each partner a remittance"


def cycle_details(calendar: str, min_days_approved: int) -> str:
    return (
        f"**Schedule:** {SCHEDULE_ID} ({describe_calendar(calendar)})  \n"
        f"**Pays:** every approved claim not paid yet, approved at least "
        f"{min_days_approved} days before the cycle's date  \n"
        "**Amounts:** the workshop tariffs of CLAIMS_TARIFFS; a claim without one is "
        "listed as not paid and waits  \n"
        "**Batch:** PC-<cycle date>; list batches with `python -m starter payments batches`"
    )


def payment_schedule(
    *, task_queue: str, calendar: str, min_days_approved: int, state: ScheduleState | None = None
) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            PaymentCycleWorkflow.run,
            PaymentCycleInput(min_days_approved=min_days_approved),
            id=CYCLE_WORKFLOW_ID,
            task_queue=task_queue,
            static_summary=cycle_summary(min_days_approved),
            static_details=cycle_details(calendar, min_days_approved),
        ),
        spec=schedule_spec(calendar),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ONE, catchup_window=CATCHUP_WINDOW
        ),
        state=state or ScheduleState(note=SETUP_NOTE),
    )


async def ensure_payment_schedule(
    client: Client, *, task_queue: str, calendar: str, min_days_approved: int
) -> str:
    """Create the schedule, or update it to this configuration; returns what was done.

    An update keeps the schedule's state: a paused schedule stays paused.
    """
    return await ensure_schedule(
        client,
        SCHEDULE_ID,
        lambda state: payment_schedule(
            task_queue=task_queue,
            calendar=calendar,
            min_days_approved=min_days_approved,
            state=state,
        ),
        summary="Workshop-claim payment cycle: pays approved claims in batches and "
        "mails each partner a remittance advice (README, 'Payment cycle')",
    )


async def setup_schedule(client: Client, settings: Settings) -> str:
    """`setup`'s line about the schedule, after creating or updating it."""
    try:
        done = await ensure_payment_schedule(
            client,
            task_queue=settings.task_queue,
            calendar=settings.payment_calendar,
            min_days_approved=settings.payment_min_days_approved,
        )
    except RPCError as err:
        if not no_schedules(err):
            raise
        return f"payment schedule {SCHEDULE_ID}: not created, this Temporal server has no schedules"
    return (
        f"payment schedule {SCHEDULE_ID}: {done} ({describe_calendar(settings.payment_calendar)}; "
        f"claims approved at least {settings.payment_min_days_approved} days before; "
        f"task queue {settings.task_queue})"
    )


async def start_payment_cycle(
    client: Client,
    *,
    task_queue: str,
    cycle_date: datetime,
    min_days_approved: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
    pages_per_run: int = DEFAULT_PAGES_PER_RUN,
) -> WorkflowHandle[PaymentCycleWorkflow, BatchSummary]:
    """Start the cycle of `cycle_date` as the schedule would (same id, same summary).

    Starting it again after it finished re-runs that cycle: it pays nobody twice.
    """
    return await client.start_workflow(
        PaymentCycleWorkflow.run,
        PaymentCycleInput(
            cycle_date=cycle_date,
            min_days_approved=min_days_approved,
            page_size=page_size,
            pages_per_run=pages_per_run,
        ),
        id=cycle_workflow_id(cycle_date),
        task_queue=task_queue,
        static_summary=cycle_summary(min_days_approved),
    )


def _started_ids(description: ScheduleDescription) -> set[str]:
    executions = [r.action for r in description.info.recent_actions]
    executions += list(description.info.running_actions)
    return {
        e.workflow_id for e in executions if isinstance(e, ScheduleActionExecutionStartWorkflow)
    }


async def trigger_cycle(client: Client, within: float = 5.0) -> str | None:
    """Run a cycle now; returns its workflow id once the schedule shows it (None if not yet)."""
    handle = client.get_schedule_handle(SCHEDULE_ID)
    before = _started_ids(await _describe(handle))
    await handle.trigger()
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        started = _started_ids(await handle.describe()) - before
        if started:
            return sorted(started)[-1]
        await asyncio.sleep(0.1)
    return None


async def _describe(handle: ScheduleHandle) -> ScheduleDescription:
    try:
        return await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise PaymentsError(
                f"there is no payment schedule {SCHEDULE_ID!r} on this namespace: "
                "create it with `python -m starter setup`"
            ) from None
        raise


def status_text(description: ScheduleDescription) -> str:
    schedule = description.schedule
    info = description.info
    calendars = [c.comment or str(c) for c in schedule.spec.calendars]
    lines = [
        f"schedule {description.id}: {'PAUSED' if schedule.state.paused else 'active'}"
        + (f" ({schedule.state.note})" if schedule.state.note else ""),
        f"calendar: {'; '.join(calendars) or 'none'}",
        "next runs: "
        + (
            ", ".join(f"{t.astimezone(UTC):%Y-%m-%d %H:%M} UTC" for t in info.next_action_times[:3])
            or "none"
        ),
    ]
    if isinstance(schedule.action, ScheduleActionStartWorkflow):
        lines.append(f"task queue: {schedule.action.task_queue}")
    lines.append(f"runs so far: {info.num_actions}")
    for result in info.recent_actions[-5:]:
        if isinstance(result.action, ScheduleActionExecutionStartWorkflow):
            lines.append(
                f"  {result.scheduled_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC  "
                f"{result.action.workflow_id}"
            )
    for running in info.running_actions:
        if isinstance(running, ScheduleActionExecutionStartWorkflow):
            lines.append(f"running now: {running.workflow_id}")
    return "\n".join(lines)


# --- batches ------------------------------------------------------------------------------


def _totals(totals: dict[str, str]) -> str:
    return ", ".join(f"{currency} {amount}" for currency, amount in totals.items()) or "-"


def batches_table(batches: list[BatchSummary]) -> str:
    header = f"{'BATCH':<20} {'CYCLE':<17} {'PAID':>5} {'NOT PAID':>8} {'REMITTED':>8}  TOTALS"
    rows = [header]
    for b in batches:
        state = "" if b.finished_at else "  (running or interrupted)"
        rows.append(
            f"{b.batch_id:<20} {b.cycle_date.astimezone(UTC):%Y-%m-%d %H:%M} {b.paid:>5} "
            f"{b.not_paid:>8} {b.remittances:>8}  {_totals(b.totals)}{state}"
        )
    rows.append(f"{len(batches)} batch{'es' if len(batches) != 1 else ''}")
    return "\n".join(rows)


def batch_text(summary: BatchSummary, lines: list[BatchLine]) -> str:
    out = [
        f"batch {summary.batch_id}: cycle {summary.cycle_date.astimezone(UTC):%Y-%m-%d %H:%M} UTC, "
        f"claims approved by {summary.approved_before.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        f"paid: {summary.paid} ({_totals(summary.totals)}); not paid: {summary.not_paid}; "
        f"remittances: {summary.remittances}",
        "",
        f"{'ENGAGEMENT':<24} {'PARTNER':<16} {'OUTCOME':<9} {'AMOUNT':>14}  REFERENCE / REASON",
    ]
    for line in lines:
        amount = f"{line.currency} {line.amount}" if line.amount else "-"
        note = line.reference if line.outcome == "paid" else line.reason
        out.append(
            f"{line.engagement_id:<24} {line.partner_id:<16} {line.outcome:<9} {amount:>14}  {note}"
        )
    return "\n".join(out)


async def list_batches(args: argparse.Namespace, settings: Settings) -> None:
    store = ClaimStore.from_url(settings.database_url)
    ledger = PaymentLedger(store.engine)
    try:
        if args.batch is None:
            batches = await ledger.list_batches(limit=args.limit)
            if args.json:
                adapter = TypeAdapter(list[BatchSummary])
                print(adapter.dump_json(batches, indent=2).decode())
            else:
                print(batches_table(batches))
            return
        summary = await ledger.summary(args.batch)
        if summary is None:
            raise PaymentsError(f"no payment batch {args.batch!r}")
        lines = await ledger.batch_lines(args.batch)
        if args.json:
            print(
                json.dumps(
                    {
                        "batch": summary.model_dump(mode="json"),
                        "lines": [line.model_dump(mode="json") for line in lines],
                    },
                    indent=2,
                )
            )
        else:
            print(batch_text(summary, lines))
    except SQLAlchemyError as err:
        raise PaymentsError(
            f"cannot read payment batches from CLAIMS_DATABASE_URL ({err.__class__.__name__}: "
            f"{str(err).splitlines()[0]}); has a worker migrated this database?"
        ) from None
    finally:
        await store.close()


# --- the command line -----------------------------------------------------------------------


def add_payment_commands(commands: Any) -> None:
    """Add `payments ...` to the command line's subcommands (an argparse subparsers object)."""
    payments: argparse.ArgumentParser = commands.add_parser(
        "payments",
        help="the payment cycle: set up, trigger or pause its schedule, list batches",
        description="Operate the payment cycle: the schedule 'payment-cycle' (configured by "
        "CLAIMS_PAYMENT_CALENDAR and CLAIMS_PAYMENT_MIN_DAYS_APPROVED) and its batches "
        "(read from CLAIMS_DATABASE_URL).",
    )
    sub = payments.add_subparsers(dest="payments_command", required=True, metavar="ACTION")
    sub.add_parser(
        "setup", help="create the schedule, or update it to the configuration (keeps a pause)"
    )
    sub.add_parser("trigger", help="run a payment cycle now (prints its workflow id)")
    for name, what in (("pause", "pause the schedule"), ("unpause", "resume the schedule")):
        action = sub.add_parser(name, help=what)
        action.add_argument("--note", help="why, shown with the schedule in the UI")
    sub.add_parser("status", help="the schedule: paused or not, calendar, next and recent runs")
    batches = sub.add_parser(
        "batches",
        help="list past payment batches, newest first, or one batch's lines",
        description="Without BATCH: the newest batches with their counts and totals. "
        "With BATCH: every line of that batch, paid (with its reference) or not (with the reason).",
    )
    batches.add_argument(
        "batch", nargs="?", metavar="BATCH", help="a batch id like PC-20261201T060000Z"
    )
    batches.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    batches.add_argument("--json", action="store_true", help="print JSON instead of text")


async def run_payment_command(
    args: argparse.Namespace, settings: Settings, connect: Callable[[], Awaitable[Client]]
) -> None:
    """Carry out `payments <action>`; `batches` reads the database and never connects."""
    action: str = args.payments_command
    if action == "batches":
        await list_batches(args, settings)
        return
    client = await connect()
    handle = client.get_schedule_handle(SCHEDULE_ID)
    if action == "setup":
        print(await setup_schedule(client, settings))
    elif action == "trigger":
        await _describe(handle)
        started = await trigger_cycle(client)
        print(
            f"payment cycle triggered: workflow {started}"
            if started
            else "payment cycle triggered (it starts once a running cycle has finished)"
        )
    elif action in ("pause", "unpause"):
        await _describe(handle)
        note = args.note or f"{action}d from the command line"
        if action == "pause":
            await handle.pause(note=note)
        else:
            await handle.unpause(note=note)
        print(f"payment schedule {SCHEDULE_ID} {action}d: {note}")
    elif action == "status":
        print(status_text(await _describe(handle)))
    else:  # pragma: no cover - argparse lets only known actions through
        raise AssertionError(f"unhandled payments action {action}")
