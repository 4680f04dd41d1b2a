"""The claim workflow's activities: the only places where a claim touches the world.

Both are idempotent because Temporal retries them:
- `store_claim` upserts the read model keyed by claim and history sequence;
- `send_notification` sends each recipient's e-mail with a stable Message-ID,
  notes every accepted message in the store's mail ledger and heartbeats its
  progress, so a retry after a crash resumes after the last one handled
  instead of mailing everyone again.

The mail activity heartbeats while it runs, so that the workflow can give it a
short heartbeat timeout: when a worker dies mid-send, Temporal notices within
that timeout and retries on a live worker, instead of waiting for the whole
start-to-close timeout. It heartbeats only once a send has run HEARTBEAT_EVERY
and then at that pace, each time with the latest progress, and once more with
that progress when an attempt fails: a heartbeat costs the worker and the
server work, and most sends finish well within a second, so most make none
(before, every send heartbeat at its start and after each recipient). The
ledger, not the heartbeat, is what keeps a retry from mailing a recipient again
when the database is up; the heartbeat's progress is what is left when it is not.
The read-model write runs as a local activity, inside the workflow task, which
needs no heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.mail import Mailer
from activities.mail import NotificationUnbuildable
from activities.store import ClaimStore
from workflows.failures import NOTIFICATION_FAILED
from workflows.messages import Contact
from workflows.messages import DeliveryReport
from workflows.messages import MailRetrying
from workflows.messages import Notification
from workflows.messages import StoreClaim
from workflows.messages import StoreReceipt

log = logging.getLogger("claims.mail")

MAIL_RETRYING_SIGNAL = "mail_retrying"
"""The claim workflow's signal for a failed mail attempt (WorkshopClaimWorkflow.mail_retrying)."""
SIGNAL_WITHIN = 10.0
"""Seconds the activity waits for Temporal to take that signal before going on."""

HEARTBEAT_EVERY = 1.0
"""Seconds a send runs before its first heartbeat, and between heartbeats after that
(the SDK itself sends at most one per 80% of the heartbeat timeout the workflow sets)."""


@contextlib.asynccontextmanager
async def heartbeating(details: Callable[[], tuple[Any, ...]]) -> AsyncIterator[None]:
    """Heartbeat `details()` every HEARTBEAT_EVERY seconds until the block ends, the
    first one only after HEARTBEAT_EVERY: a block that ends sooner sends none.

    Each heartbeat replaces the details the server keeps for a retry, so this
    always sends the latest progress, never an empty heartbeat over it.
    """

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            activity.heartbeat(*details())

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _tell_claim_mail_retrying(notification: Notification, err: BaseException) -> None:
    """Tell the claim its mail waits (a `mail_retrying` signal), so its view, the UI's
    current details and `PendingNotifications` say so while Temporal retries the send.
    Best effort: the retry goes on whether or not the claim heard of it."""
    info = activity.info()
    message = " ".join(str(err).split())[:200]
    retrying = MailRetrying(
        key=notification.key,
        attempt=info.attempt,
        since=info.scheduled_time,
        error=f"{type(err).__name__}: {message}" if message else type(err).__name__,
    )
    try:
        handle = activity.client().get_workflow_handle(info.workflow_id or "")
        await asyncio.wait_for(handle.signal(MAIL_RETRYING_SIGNAL, retrying), SIGNAL_WITHIN)
    except Exception as failed:  # the claim hears at the next attempt, or never needs to
        log.info("could not tell the claim its mail is retried: %s", type(failed).__name__)


class ClaimActivities:
    """Activity implementations bound to one store and one mailer (shared by all claims)."""

    def __init__(self, store: ClaimStore, mailer: Mailer, review_mail: str | None = None) -> None:
        self._store = store
        self._mailer = mailer
        self._review_desk = (
            None if review_mail is None else Contact(name="Review desk", email=review_mail)
        )
        """CLAIMS_REVIEW_MAIL: where disputes and review escalations go (None: nowhere).
        Resolved here, not in the workflow, so changing it reaches claims already running."""

    @activity.defn(name="store_claim")
    async def store_claim(self, write: StoreClaim) -> StoreReceipt:
        """Write the claim's latest view and its new history rows; returns rows inserted
        and the release of the workflow that asked (its version marker, see StoreReceipt).

        Run as a local activity (within the workflow task), which does not heartbeat."""
        began = time.perf_counter()
        rows = await self._store.save(write)
        activity.metric_meter().create_histogram_float(
            "claims_read_model_write_seconds", "seconds one read-model write took", "s"
        ).record(time.perf_counter() - began)
        return StoreReceipt(rows=rows, release=write.release)

    @activity.defn(name="send_notification")
    async def send_notification(self, notification: Notification) -> DeliveryReport:
        """Mail every recipient once; permanently refused recipients are reported, not raised."""
        if notification.to_review_desk:
            if self._review_desk is None:
                return DeliveryReport(key=notification.key, delivered=0)
            notification = notification.model_copy(update={"recipients": [self._review_desk]})
        details = activity.info().heartbeat_details
        resume = DeliveryReport.model_validate(details[0]) if details else None
        latest: list[DeliveryReport] = [resume] if resume is not None else []

        def progress(report: DeliveryReport) -> None:
            # A copy: the sender goes on changing its report, and the SDK encodes a
            # heartbeat's details later, so the next heartbeat must carry this moment's.
            latest[:] = [report.model_copy(deep=True)]

        sent = activity.metric_meter().create_counter(
            "claims_notifications", "mails by notification kind and outcome (sent, refused, failed)"
        )
        try:
            async with heartbeating(lambda: tuple(latest)):
                report = await self._mailer.deliver(
                    notification, resume=resume, on_progress=progress, ledger=self._store
                )
        except NotificationUnbuildable as err:
            sent.add(1, {"kind": notification.kind, "outcome": "failed"})
            raise ApplicationError(
                str(err), err.error, type=NOTIFICATION_FAILED, non_retryable=True
            ) from None
        except Exception as err:
            sent.add(1, {"kind": notification.kind, "outcome": "failed"})
            if latest:
                # The progress so far, for the retry to resume from even when this
                # attempt failed before its first heartbeat (the SDK sends the latest
                # heartbeat before the failure).
                activity.heartbeat(*latest)
            await _tell_claim_mail_retrying(notification, err)
            raise
        before = resume or DeliveryReport(key=notification.key, delivered=0)
        for outcome, count in (
            ("sent", report.delivered - before.delivered),
            ("refused", len(report.refused) - len(before.refused)),
        ):
            if count > 0:
                sent.add(count, {"kind": notification.kind, "outcome": outcome})
        return report
