"""Database outage: PostgreSQL refuses every connection for a while.

The read model is written by the store activity, so an outage must not stop
anyone: updates succeed and claims move on while the database is away; the
store activity fails and is retried (with backoff) until the database is back;
then the read model catches up, with nothing lost and nothing written twice.
Notifications keep going out meanwhile (the mail ledger is only ever a guard
against duplicates, never a reason to hold mail back).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from temporalio.testing import WorkflowEnvironment

from activities.links import SurveyLinks
from activities.store import ClaimStore
from activities.store import claim_events
from claims_testing.processes import poll_until
from devstack.mailcatcher import MailCatcher
from starter.client import ClaimsClient
from tests.faults import Portal
from tests.faults import drive_to_paid
from tests.faults import expected_mails
from tests.faults import final_views
from tests.faults import percentiles
from tests.faults import record_arrivals
from tests.faults import start_batch
from tests.faults import tally
from tests.helpers import ON_POSTGRESQL
from tests.helpers import POSTGRES_ADMIN
from tests.helpers import assert_stored
from tests.helpers import mailing_activities
from tests.report import report
from worker import create_worker
from workflows.messages import StoreClaim

pytestmark = [pytest.mark.slow, pytest.mark.faults]

CLAIMS = 10
OUTAGE = 12.0
"""Seconds, at least, that the database refuses connections."""
UPDATE_BOUND = timedelta(seconds=20)
"""The longest an update may take while the database is down. The store runs as a
local activity, inside the workflow task: while it fails and retries, the worker
completes the task only at its heartbeat (80% of the 10 s task timeout), so each
update waits ~8 s (docs/reliability.md); far longer would mean updates hang."""


class CountingStore(ClaimStore):
    """The real store, counting the read-model writes tried and failed (whether the
    workflow runs them as activities or local activities, this sees every attempt)."""

    def __init__(self, url: str) -> None:
        super().__init__(ClaimStore.from_url(url).engine)
        self.attempts = 0
        self.failures = 0

    async def save(self, write: StoreClaim) -> int:
        self.attempts += 1
        try:
            return await super().save(write)
        except Exception:
            self.failures += 1
            raise


async def set_connections(database: str, allowed: bool) -> None:
    """Let connections into `database` again, or refuse them and cut the open ones."""
    admin = await asyncpg.connect(**POSTGRES_ADMIN, timeout=5)
    try:
        await admin.execute(
            f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}'
        )
        if not allowed:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
    finally:
        await admin.close()


async def stored_rows(store: ClaimStore, eids: list[str]) -> int:
    async with store.engine.connect() as conn:
        result = await conn.execute(
            sa.select(sa.func.count())
            .select_from(claim_events)
            .where(claim_events.c.engagement_id.in_(eids))
        )
        return int(result.scalar_one())


async def caught_up(store: ClaimStore, versions: dict[str, int]) -> bool:
    """Every claim's row is at least at its version (history length); a failed read
    counts as not yet."""
    try:
        for eid, version in versions.items():
            row: dict[str, Any] | None = await store.claim_row(eid)
            if row is None or row["version"] < version:
                return False
    except (sa.exc.DBAPIError, OSError):
        return False
    return True


@pytest.mark.parametrize("database_url", [ON_POSTGRESQL], indirect=True)
@pytest.mark.timeout(240)
async def test_database_outage_loses_nothing_and_the_read_model_catches_up(
    dev_env: WorkflowEnvironment,
    mailbox: MailCatcher,
    links: SurveyLinks,
    task_queue: str,
    database_url: str,
) -> None:
    database = make_url(database_url).database
    assert database is not None
    store = CountingStore(database_url)
    await store.migrate()
    arrivals = record_arrivals(mailbox)
    activities = mailing_activities(store, links, mailbox.host, mailbox.port)
    refusing = False
    try:
        async with create_worker(dev_env.client, task_queue, activities):
            claims = ClaimsClient(dev_env.client, task_queue=task_queue, links=links)
            portal = Portal(claims)
            eids, asks = await start_batch(claims, CLAIMS, ask_every=2)
            await poll_until(
                lambda: caught_up(store, dict.fromkeys(eids, 1)),
                within=30,
                what="the started claims stored",
            )
            before = await stored_rows(store, eids)

            await set_connections(database, allowed=False)
            refusing = True
            down = time.monotonic()
            down_at = datetime.now(UTC).timestamp()
            failures_before = store.failures

            drivers = asyncio.gather(
                *(drive_to_paid(portal, eid, ask_for_info=asks[eid]) for eid in eids)
            )
            with contextlib.suppress(TimeoutError):  # still driving when the database is back
                await asyncio.wait_for(asyncio.shield(drivers), OUTAGE)
            failed_during = store.failures - failures_before
            assert failed_during > 0, "the store never noticed the outage"

            await set_connections(database, allowed=True)
            refusing = False
            up = time.monotonic()
            up_at = datetime.now(UTC).timestamp()
            outage = up - down
            try:
                await asyncio.wait_for(drivers, 120)
            finally:
                drivers.cancel()
            moved = time.monotonic() - down
            final = await final_views(claims, eids, within=120)
            versions = {eid: len(view.history) for eid, view in final.items()}
            await poll_until(lambda: caught_up(store, versions), within=60, what="read model")
            catch_up = time.monotonic() - up

        for view in final.values():
            await assert_stored(store, view)
        after = await stored_rows(store, eids)
        total = sum(len(v.history) for v in final.values())
        assert after == total
        mails = tally(mailbox.messages, eids)
        assert mails.duplicates == 0, mails.repeated
        assert all(mails.per_engagement.get(e) == expected_mails(asks[e]) for e in eids)
        during = sum(1 for at in arrivals.values() if down_at <= at < up_at)
        in_outage = [took for at, took in portal.updates if at + took < up_at]
        after_outage = [took for at, took in portal.updates if at >= up_at]
        assert in_outage, "no update succeeded while the database was down"
        assert max(in_outage) <= UPDATE_BOUND.total_seconds()
        report(
            "database_outage",
            claims=CLAIMS,
            outage_seconds=round(outage, 1),
            updates_completed_during_outage=len(in_outage),
            update_seconds_during_outage=percentiles(in_outage, 50, 95),
            update_seconds_after_outage=percentiles(after_outage, 50, 95),
            seconds_from_outage_start_to_all_claims_paid=round(moved, 1),
            store_attempts_failed_during_outage=failed_during,
            store_attempts_total=store.attempts,
            rows_before_outage=before,
            rows_written_after_recovery=after - before,
            rows_expected=total,
            rows_lost=total - after,
            catch_up_seconds=round(catch_up, 1),
            mails_sent_while_database_down=during,
            duplicate_mails=mails.duplicates,
        )
    finally:
        if refusing:
            await set_connections(database, allowed=True)
        await store.close()
