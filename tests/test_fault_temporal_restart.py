"""Temporal restart: the dev server, on a persistent file, is stopped while claims wait
on their timers and started again on the same file and port.

Updates sent while it is down fail at the client with a clear error within a few
seconds (no hang) and succeed when sent again after the restart; timers due after
the restart fire at their real moments, and a deadline that fell during the
outage fires as soon as the server is back; every claim ends as it should.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from activities.store import ClaimStore
from claims_testing.processes import dev_server_process
from claims_testing.processes import poll_until
from devstack.mailcatcher import MailCatcher
from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN
from tests.builders import claim_input
from tests.faults import Portal
from tests.faults import drive_to_submitted
from tests.faults import record_arrivals
from tests.faults import review_and_pay
from tests.helpers import assert_stored
from tests.report import report
from worker import create_worker
from workflows.messages import AddComment
from workflows.messages import ClaimView
from workflows.rules import SUBMISSION_WINDOW

pytestmark = [pytest.mark.slow, pytest.mark.faults]

DAY = timedelta(days=1)
TOLERANCE = timedelta(seconds=5)
"""How late a timer due after the restart may fire (server time of the firing task
against its due moment); measured lateness is reported, and is well under this."""
CATCH_UP = timedelta(seconds=20)
"""How soon after the restart a timer that fell due during the outage must fire. The
server fires it at once; the workflow task then waits for the worker to poll again
(the SDK backs off while the server is unreachable: a few seconds, at most ~10)."""


def entry_at(view: ClaimView, event: str) -> datetime:
    """When the claim recorded `event` (workflow time: the server's clock)."""
    return next(h.at for h in view.history if h.event == event)


@pytest.mark.timeout(240)
async def test_temporal_restart_keeps_timers_on_time_and_outage_updates_fail_cleanly_then_succeed(
    tmp_path: Path,
    activities: ClaimActivities,
    store: ClaimStore,
    mailbox: MailCatcher,
    links: SurveyLinks,
    task_queue: str,
) -> None:
    arrivals = record_arrivals(mailbox)
    with dev_server_process(tmp_path / "temporal.db", tmp_path / "logs") as server:
        server.start()
        client = await server.connect()
        async with create_worker(client, task_queue, activities):
            claims = ClaimsClient(client, task_queue=task_queue, links=links)
            now = datetime.now(UTC)
            # Three claims whose timers fall around the outage (real time):
            # a 1-day reminder 25 s ahead, a deadline 28 s ahead, and a deadline 7 s ahead
            # that falls while the server is down.
            reminded = claim_input(now - SUBMISSION_WINDOW + DAY + timedelta(seconds=25))
            expiring = claim_input(now - SUBMISSION_WINDOW + timedelta(seconds=28))
            lapsing = claim_input(now - SUBMISSION_WINDOW + timedelta(seconds=7))
            for claim in (reminded, expiring, lapsing):
                await claims.start_claim(claim)
            reminder_due = reminded.consent_at + SUBMISSION_WINDOW - DAY
            expiring_due = expiring.consent_at + SUBMISSION_WINDOW
            lapsing_due = lapsing.consent_at + SUBMISSION_WINDOW

            stop_began = time.monotonic()
            assert server.stop() is not None
            stopped = time.monotonic() - stop_began
            down_at = datetime.now(UTC)
            assert down_at < lapsing_due, "the server went down too late for this test"

            # An update while the server is down: a clear error, within a bound, no hang.
            comment = AddComment(text="Sent while Temporal was down.", actor=PARTNER_ADMIN)
            sent = time.monotonic()
            with pytest.raises(RPCError) as failed:
                await asyncio.wait_for(claims.add_comment(reminded.engagement_id, comment), 30)
            failed_after = time.monotonic() - sent
            assert failed.value.status == RPCStatusCode.UNAVAILABLE

            server.start()
            await server.connect()
            up_at = datetime.now(UTC)
            outage = (up_at - down_at).total_seconds()

            # The same update, sent again, now succeeds (the failed one left no trace).
            retried = time.monotonic()
            await asyncio.wait_for(claims.add_comment(reminded.engagement_id, comment), 60)
            retry_took = time.monotonic() - retried
            view = await claims.get_claim(reminded.engagement_id)
            assert [c.text for c in view.comments] == [comment.text]

            lapsed = await asyncio.wait_for(claims.handle(lapsing.engagement_id).result(), 60)
            assert lapsed.status == "auto_rejected"
            assert lapsed.decided_at is not None
            assert lapsed.decided_at >= lapsing_due
            assert lapsed.decided_at - up_at <= CATCH_UP

            await poll_until(
                lambda: mailbox.find(kind="reminder", engagement_id=reminded.engagement_id) != [],
                within=60,
                what="the 1-day reminder mail",
            )
            view = await claims.get_claim(reminded.engagement_id)
            reminder_at = entry_at(view, "reminder_sent")
            assert timedelta(0) <= reminder_at - reminder_due <= TOLERANCE
            reminder_mail_at = min(
                arrivals[str(m["Message-ID"])]
                for m in mailbox.find(kind="reminder", engagement_id=reminded.engagement_id)
            )
            assert view.status == "in_progress"

            expired = await asyncio.wait_for(claims.handle(expiring.engagement_id).result(), 60)
            assert expired.status == "auto_rejected"
            assert expired.decided_at is not None
            assert timedelta(0) <= expired.decided_at - expiring_due <= TOLERANCE
            await mailbox.wait_for(
                count=2, kind="auto_rejected", engagement_id=expiring.engagement_id
            )

            # The reminded claim goes on to the end on the restarted server.
            portal = Portal(claims)
            await drive_to_submitted(portal, reminded.engagement_id)
            await review_and_pay(portal, reminded.engagement_id, ask_for_info=False)
            paid = await asyncio.wait_for(claims.handle(reminded.engagement_id).result(), 60)
            assert paid.status == "paid"
            assert [c.text for c in paid.comments].count(comment.text) == 1
            for final in (lapsed, expired, paid):
                await assert_stored(store, final)

    report(
        "temporal_restart",
        claims=3,
        server_stop_seconds=round(stopped, 1),
        outage_seconds=round(outage, 1),
        update_during_outage=f"RPCError {failed.value.status.name}: {failed.value.message}",
        update_failed_after_seconds=round(failed_after, 1),
        update_retry_after_restart_seconds=round(retry_took, 1),
        reminder_late_seconds=round((reminder_at - reminder_due).total_seconds(), 3),
        reminder_mail_late_seconds=round(reminder_mail_at - reminder_due.timestamp(), 3),
        deadline_late_seconds=round((expired.decided_at - expiring_due).total_seconds(), 3),
        deadline_due_during_outage_fired_after_restart_seconds=round(
            (lapsed.decided_at - up_at).total_seconds(), 3
        ),
        tolerance_seconds=TOLERANCE.total_seconds(),
        catch_up_bound_seconds=CATCH_UP.total_seconds(),
        final_statuses=sorted(v.status for v in (lapsed, expired, paid)),
    )
