"""Shared machinery of the fault tests (tests/test_fault_*.py, docs/reliability.md).

Faults are made for real: `python worker.py` and the Temporal dev server run as
subprocesses in their own process groups (the harness in claims_testing.processes,
which the benchmark and the local stack use too), so that SIGKILL takes them down
as a crash would, and every process started there is killed on the way out of its
`with` block, whatever the test did. Claims are driven through the public
client exactly as a portal would, and the figures are read back from where the
truth lives: the mail sink (Message-IDs), the database and Temporal histories.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from typing import Any
from typing import TypeVar

import sqlalchemy as sa
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from activities.store import ClaimStore
from activities.store import mail_ledger
from devstack.mailcatcher import MailCatcher
from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_USER
from tests.builders import REVIEWER
from tests.builders import attach
from tests.builders import claim_input
from workflows.claim import WorkshopClaimWorkflow as Claim
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import ClaimInput
from workflows.messages import ClaimView
from workflows.messages import PaymentIssued
from workflows.messages import RequestInfo
from workflows.messages import RespondInfo
from workflows.messages import SendSurvey
from workflows.messages import Submit
from workflows.messages import SurveyCompleted

M = TypeVar("M")

# --- driving claims -----------------------------------------------------------------------


def retryable_update_error(err: BaseException) -> str | None:
    """Why an update may be sent again with the same update id, or None if it may not.

    - "not_ready": the server refused it before admitting it, because the claim's
      last workflow tasks failed or timed out (a worker died holding them, twice).
    - "timeout": the call ended without an answer (the server or worker was busy
      or gone); the update may or may not be admitted. Sent again with the same
      update id, the server finds the one it has instead of applying a second.
    - "unavailable": the frontend could not be reached at all.
    """
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return "timeout"
    if isinstance(err, RPCError):
        if err.status == RPCStatusCode.FAILED_PRECONDITION and "failed state" in err.message:
            return "not_ready"
        if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            return "timeout"
        if err.status == RPCStatusCode.UNAVAILABLE:
            return "unavailable"
    return None


class Portal:
    """The portal's side of the claims, as a careful portal backend would do it.

    Each update gets an id of its own (an idempotency key), and is sent again
    with that same id when the answer was "not ready" or no answer at all came
    (what a portal would show as HTTP 503, and retry). The Temporal server keeps
    updates by id, so a retry never applies an update twice. Every retry is
    counted for the report. Refusals (`WorkflowUpdateFailedError`) are raised.
    """

    def __init__(self, claims: ClaimsClient, *, patience: float = 150.0) -> None:
        self.claims = claims
        self.patience = patience
        self.retries: Counter[str] = Counter()
        # (wall-clock start, seconds taken) of every update that succeeded.
        self.updates: list[tuple[float, float]] = []

    async def update(
        self, eid: str, update: UpdateMethodMultiParam[[Claim, M], ClaimView], msg: M
    ) -> ClaimView:
        """Send the update `update` (a workflow method: `Claim.submit`) with `msg`."""
        update_id = f"portal-{uuid.uuid4()}"
        handle = self.claims.handle(eid)
        began = time.monotonic()
        started_at = time.time()
        wait = 0.5
        while True:
            try:
                view: ClaimView = await handle.execute_update(update, msg, id=update_id)
                self.updates.append((started_at, time.monotonic() - began))
                return view
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
                why = retryable_update_error(err)
                if why is None or time.monotonic() - began > self.patience:
                    raise
            self.retries[why] += 1
            await asyncio.sleep(wait)
            wait = min(wait * 2, 4.0)

    async def survey_completed(self, eid: str, msg: SurveyCompleted) -> None:
        """A signal: accepted by the server whatever state the workflow tasks are in."""
        await self.claims.survey_completed(eid, msg)

    async def payment_issued(self, eid: str, msg: PaymentIssued) -> None:
        await self.claims.payment_issued(eid, msg)


Pause = Callable[[], Awaitable[None]]
"""What a driver awaits between its steps."""


async def no_pause() -> None:
    """Drive without waiting between steps."""


def think_time(rng: random.Random, low: float, high: float) -> Pause:
    """A pause between a driver's steps, as people take: spreads work over a fault window."""

    async def pause() -> None:
        await asyncio.sleep(rng.uniform(low, high))

    return pause


async def complete_surveys_by_mail(portal: Portal, eid: str, pause: Pause = no_pause) -> ClaimView:
    """Send both surveys by e-mail and complete each through its current link version.

    The completion is the `survey_completed` signal a survey page sends once it
    has checked the link; the link version comes from the update's view, so no
    query (which needs a live worker) is made while workers are being killed.
    """
    view: ClaimView | None = None
    for kind in ("partner", "customer"):
        view = await portal.update(
            eid, Claim.send_survey, SendSurvey(kind=kind, actor=PARTNER_ADMIN)
        )
        proof = view.proof.partner_survey if kind == "partner" else view.proof.customer_survey
        await pause()
        await portal.survey_completed(
            eid,
            SurveyCompleted(
                kind=kind,
                link_version=proof.link_version,
                respondent_email=f"{kind}.respondent@example.com",
                answers={"q1": 5, "q2": "useful"},
            ),
        )
        await pause()
    assert view is not None
    return view


async def drive_to_submitted(portal: Portal, eid: str, pause: Pause = no_pause) -> ClaimView:
    """A started claim: both documents, both surveys by e-mail and completed, a comment, submit."""
    await portal.update(eid, Claim.attach_document, attach("results_and_recommendations"))
    await pause()
    await portal.update(eid, Claim.attach_document, attach("invoice", actor=PARTNER_USER))
    await pause()
    await complete_surveys_by_mail(portal, eid, pause)
    await portal.update(
        eid, Claim.add_comment, AddComment(text="Delivered on site.", actor=PARTNER_USER)
    )
    await pause()
    view = await portal.update(eid, Claim.submit, Submit(actor=PARTNER_ADMIN))
    assert view.status == "submitted", view.status
    return view


async def review_and_pay(
    portal: Portal, eid: str, *, ask_for_info: bool, pause: Pause = no_pause
) -> ClaimView:
    """A submitted claim: maybe a question and a resubmission, then approval and payment."""
    if ask_for_info:
        await portal.update(
            eid,
            Claim.request_info,
            RequestInfo(question="Please add the attendance list.", actor=REVIEWER),
        )
        await pause()
        await portal.update(eid, Claim.attach_document, attach("results_and_recommendations", "v2"))
        await pause()
        await portal.update(
            eid, Claim.respond_info, RespondInfo(text="Attached it.", actor=PARTNER_USER)
        )
        await pause()
        view = await portal.update(eid, Claim.submit, Submit(actor=PARTNER_USER))
        assert view.status == "submitted", view.status
        await pause()
    view = await portal.update(eid, Claim.approve, Approve(note="Well documented.", actor=REVIEWER))
    assert view.status == "approved", view.status
    await pause()
    await portal.payment_issued(
        eid,
        PaymentIssued(
            reference=f"PAY-{eid}", amount="1500.00", currency="EUR", paid_at=datetime.now(UTC)
        ),
    )
    return view


async def drive_to_paid(
    portal: Portal, eid: str, *, ask_for_info: bool, pause: Pause = no_pause
) -> None:
    """The whole life of a started claim, up to the payment signal."""
    await pause()
    await drive_to_submitted(portal, eid, pause)
    await review_and_pay(portal, eid, ask_for_info=ask_for_info, pause=pause)


def expected_mails(ask_for_info: bool) -> int:
    """Mails of `drive_to_paid` with two partner contacts and one customer contact:
    partner survey 2, customer survey 1, (question 2), approved 2, paid 2."""
    return 2 + 1 + (2 if ask_for_info else 0) + 2 + 2


async def start_claims(
    claims: ClaimsClient, inputs: Sequence[ClaimInput], *, at_once: int = 10
) -> None:
    """Start claims, `at_once` at a time, while a worker is up.

    Starting answers with the new claim's view, which is a query: on a busy machine
    it can time out although the claim started. Starting again is safe (the running
    claim is returned), so a timed-out start is sent again.
    """
    slots = asyncio.Semaphore(at_once)

    async def start(claim: ClaimInput) -> None:
        async with slots:
            for _ in range(3):
                try:
                    await claims.start_claim(claim)
                    return
                except RPCError as err:
                    if err.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                        raise
            await claims.start_claim(claim)

    await asyncio.gather(*(start(c) for c in inputs))


async def start_batch(
    claims: ClaimsClient, count: int, *, ask_every: int
) -> tuple[list[str], dict[str, bool]]:
    """Start `count` claims consented now (see `start_claims`); returns their engagement
    ids and, for each, whether the reviewer asks a question (every `ask_every`-th claim,
    the first included) before approving it."""
    inputs = [claim_input(datetime.now(UTC)) for _ in range(count)]
    await start_claims(claims, inputs)
    eids = [c.engagement_id for c in inputs]
    return eids, {eid: n % ask_every == 0 for n, eid in enumerate(eids)}


async def final_views(
    claims: ClaimsClient, eids: Sequence[str], within: float
) -> dict[str, ClaimView]:
    """Every claim's result, awaited together within one bound."""
    views = await asyncio.wait_for(
        asyncio.gather(*(claims.handle(eid).result() for eid in eids)), within
    )
    return dict(zip(eids, views, strict=True))


# --- what the mail sink saw ---------------------------------------------------------------


def record_arrivals(mailbox: MailCatcher) -> dict[str, float]:
    """From now on, note when (wall clock) each Message-ID first reached the sink.

    The sink's DATA hook is wrapped on the instance (aiosmtpd looks it up for each
    new connection), so the moment noted is that of the server's "250 accepted".
    """
    arrivals: dict[str, float] = {}
    sink = mailbox.sink
    accept = sink.handle_DATA
    parser = BytesHeaderParser()

    async def handle_data(server: Any, session: Any, envelope: Any) -> str:
        reply = await accept(server, session, envelope)
        mid = str(parser.parsebytes(envelope.content)["Message-ID"])
        arrivals.setdefault(mid, time.time())
        return reply

    setattr(sink, "handle_DATA", handle_data)  # noqa: B010 (an instance attribute, on purpose)
    return arrivals


async def ledger_times(store: ClaimStore) -> dict[str, float]:
    """When each Message-ID was written to the mail ledger (wall clock)."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.select(mail_ledger.c.message_id, mail_ledger.c.sent_at))
        return {row.message_id: row.sent_at.timestamp() for row in rows}


def percentiles(values: Sequence[float], *wanted: int) -> dict[str, float]:
    """`p50`, `p95`... and `max` of `values` (rounded to milliseconds), for reports."""
    ordered = sorted(values)
    if not ordered:
        return {}
    figures = {f"p{p}": ordered[min(len(ordered) - 1, len(ordered) * p // 100)] for p in wanted}
    figures["max"] = ordered[-1]
    return {name: round(value, 3) for name, value in figures.items()}


@dataclass(frozen=True)
class MailTally:
    """Mails at the sink, by Message-ID: how many, how many distinct, which repeated."""

    total: int
    unique: int
    repeated: dict[str, int]
    per_engagement: dict[str, int]
    """Distinct Message-IDs per engagement."""

    @property
    def duplicates(self) -> int:
        return self.total - self.unique


def tally(messages: Sequence[EmailMessage], eids: Sequence[str] | None = None) -> MailTally:
    wanted = set(eids) if eids is not None else None
    ids: Counter[str] = Counter()
    per: dict[str, set[str]] = {}
    for message in messages:
        eid = str(message["X-Claim-Engagement"])
        if wanted is not None and eid not in wanted:
            continue
        mid = str(message["Message-ID"])
        ids[mid] += 1
        per.setdefault(eid, set()).add(mid)
    return MailTally(
        total=sum(ids.values()),
        unique=len(ids),
        repeated={mid: n for mid, n in ids.items() if n > 1},
        per_engagement={eid: len(mids) for eid, mids in per.items()},
    )


# --- what Temporal histories say --------------------------------------------------------


@dataclass
class HistoryFigures:
    """Counted over the histories of a batch of claims."""

    activity_retries: int = 0
    """Activities that needed more than one attempt (the last attempt number, minus 1)."""
    retried_by_type: Counter[str] = field(default_factory=Counter)
    workflow_task_timeouts: int = 0
    """Workflow tasks a dead worker took and never finished."""
    workflow_task_failures: int = 0
    identities_before: Counter[str] = field(default_factory=Counter)
    identities_after: Counter[str] = field(default_factory=Counter)
    """Worker identities (pid@host) that started tasks before and after `split_at`."""


async def history_figures(
    handles: Sequence[WorkflowHandle[Any, Any]], split_at: datetime | None = None
) -> HistoryFigures:
    figures = HistoryFigures()
    for handle in handles:
        history = await handle.fetch_history()
        scheduled: dict[int, str] = {}
        for event in history.events:
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attributes = event.activity_task_scheduled_event_attributes
                scheduled[event.event_id] = attributes.activity_type.name
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started = event.activity_task_started_event_attributes
                if started.attempt > 1:
                    figures.activity_retries += started.attempt - 1
                    name = scheduled.get(started.scheduled_event_id, "?")
                    figures.retried_by_type[name] += started.attempt - 1
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                figures.workflow_task_timeouts += 1
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                figures.workflow_task_failures += 1
            identity = ""
            if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                identity = event.workflow_task_started_event_attributes.identity
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                identity = event.activity_task_started_event_attributes.identity
            if identity:
                moment = event.event_time.ToDatetime(tzinfo=UTC)
                if split_at is None or moment < split_at:
                    figures.identities_before[identity] += 1
                else:
                    figures.identities_after[identity] += 1
    return figures


async def workflow_task_trouble(handles: Sequence[WorkflowHandle[Any, Any]]) -> str:
    """For a failure message: claims whose workflow task is retrying, with its attempt
    and the last failure or timeout their histories show."""
    lines = []
    for handle in handles:
        description = await handle.describe()
        pending = description.raw_description.pending_workflow_task
        if pending.attempt <= 1:
            continue
        last = "none in history"
        history = await handle.fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                failed = event.workflow_task_failed_event_attributes
                last = f"failed: {failed.cause} {failed.failure.message[:200]}"
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                timed_out = event.workflow_task_timed_out_event_attributes
                last = f"timed out ({timed_out.timeout_type})"
        lines.append(f"{handle.id}: workflow task attempt {pending.attempt}, last {last}")
    return "\n".join(lines) or "no workflow task retrying"
