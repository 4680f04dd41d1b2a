"""Worker crashes: `python worker.py` killed with SIGKILL, again and again, mid-work.

A batch of claims is driven through its whole life by concurrent portal-like
drivers while a background task kills the worker process at random moments,
half of them right after a mail reached the mail server (inside the mail
activity, between SMTP's acceptance and the activity's completion), and starts
it again. Every claim must end paid, the read model must hold exactly one row
per history entry, and no notification may be lost. Duplicate mails are
counted by Message-ID at the sink and must stay within the bound the test
computes: the messages the server had accepted but the mail ledger had not yet
recorded at the moment of a kill (see docs/reliability.md).

With two workers on one task queue, one is killed for good mid-run and the
other carries every claim to its end.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.links import SurveyLinks
from activities.store import ClaimStore
from claims_testing.data import PUBLIC_URL
from claims_testing.processes import WorkerProcess
from claims_testing.processes import poll_until
from claims_testing.processes import worker_processes
from claims_testing.servers import start_dev_server
from devstack.mailcatcher import MailCatcher
from starter.client import ClaimsClient
from tests.faults import Portal
from tests.faults import drive_to_paid
from tests.faults import expected_mails
from tests.faults import final_views
from tests.faults import history_figures
from tests.faults import ledger_times
from tests.faults import percentiles
from tests.faults import record_arrivals
from tests.faults import start_batch
from tests.faults import tally
from tests.faults import think_time
from tests.faults import workflow_task_trouble
from tests.helpers import ON_POSTGRESQL
from tests.helpers import assert_stored
from tests.helpers import worker_process_environ
from tests.report import report

pytestmark = [
    pytest.mark.slow,
    pytest.mark.faults,
    pytest.mark.parametrize("database_url", [ON_POSTGRESQL], indirect=True),
]

CLAIMS = 50
KILLS = 10
ACTIVE = 15
"""Claims driven at once (the others wait their turn): a portal's steady trickle rather
than a stampede, so that a restarted worker replays a bounded number of claims."""
ASK_EVERY = 4
"""Every fourth claim gets a reviewer's question and is resubmitted."""


WORKFLOW_TASK_RETRY_CAP = "5s"
"""The dev server's `history.workflowTaskRetryMaxInterval` here (production default:
10 minutes). Each workflow task lost with a killed worker after the third in a row
makes the server wait longer before the next try (5 s, 10 s, 20 s ... up to the cap),
so that a task that keeps failing does not spin. Ten kills in a minute and a half
would, uncapped, leave a claim hit by several of them waiting minutes: this test
compresses time, as the long-history test lowers the continue-as-new threshold."""


@pytest.fixture(scope="module")
async def crash_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this module's own, with the workflow-task retry backoff capped."""
    retry_cap = f'history.workflowTaskRetryMaxInterval="{WORKFLOW_TASK_RETRY_CAP}"'
    async with await start_dev_server(["--dynamic-config-value", retry_cap]) as environment:
        yield environment


@pytest.fixture
def seed() -> int:
    """Random but reported, so a failing run can be replayed with CLAIMS_FAULT_SEED."""
    return int(os.environ.get("CLAIMS_FAULT_SEED") or secrets.randbelow(2**31))


@dataclass(frozen=True)
class CrashRig:
    """What each crash test runs on: this module's dev server, the mail sink, a task
    queue, the worker processes' secret key, database (PostgreSQL) and log folder, the
    read model on that database, the seed and the random numbers drawn from it."""

    env: WorkflowEnvironment
    mailbox: MailCatcher
    task_queue: str
    secret: str
    database_url: str
    logs: Path
    store: ClaimStore
    seed: int
    rng: random.Random

    def environ(self) -> dict[str, str]:
        """The environment of every worker process of the test."""
        return worker_process_environ(
            self.env,
            self.mailbox,
            task_queue=self.task_queue,
            database_url=self.database_url,
            secret_key=self.secret,
        )

    def claims_client(self) -> ClaimsClient:
        """The portal's client, signing survey links with the workers' key."""
        return ClaimsClient(
            self.env.client,
            task_queue=self.task_queue,
            links=SurveyLinks(self.secret.encode(), PUBLIC_URL),
        )


@pytest.fixture
async def rig(
    crash_env: WorkflowEnvironment,
    mailbox: MailCatcher,
    tmp_path: Path,
    task_queue: str,
    secret: str,
    seed: int,
    database_url: str,
) -> AsyncIterator[CrashRig]:
    store = ClaimStore.from_url(database_url)
    try:
        yield CrashRig(
            env=crash_env,
            mailbox=mailbox,
            task_queue=task_queue,
            secret=secret,
            database_url=database_url,
            logs=tmp_path / "logs",
            store=store,
            seed=seed,
            rng=random.Random(seed),
        )
    finally:
        await store.close()


@pytest.mark.timeout(420)
async def test_repeatedly_killed_worker_loses_no_claim_row_or_mail_and_duplicates_stay_bounded(
    rig: CrashRig,
) -> None:
    mailbox, store, rng = rig.mailbox, rig.store, rig.rng
    claims = rig.claims_client()
    portal = Portal(claims)
    kills: list[dict[str, object]] = []
    arrivals = record_arrivals(mailbox)
    began = time.monotonic()
    with worker_processes(rig.env.client, rig.environ(), rig.logs) as make:
        worker = make("solo")
        worker.start()
        await worker.wait_ready()
        eids, asks = await start_batch(claims, CLAIMS, ask_every=ASK_EVERY)

        slots = asyncio.Semaphore(ACTIVE)

        async def drive(eid: str) -> None:
            async with slots:
                await drive_to_paid(
                    portal, eid, ask_for_info=asks[eid], pause=think_time(rng, 0.2, 1.5)
                )

        drivers = asyncio.gather(*(drive(eid) for eid in eids))
        killer = asyncio.create_task(kill_repeatedly(worker, mailbox, store, rng, kills))
        try:
            await asyncio.wait_for(asyncio.shield(killer), 300)
            killed = time.monotonic() - began
            await asyncio.wait_for(asyncio.shield(drivers), 240)
        except Exception:
            print(await workflow_task_trouble([claims.handle(eid) for eid in eids]))
            raise
        finally:
            killer.cancel()
            drivers.cancel()
        driven = time.monotonic() - began
        final = await final_views(claims, eids, within=180)
        seconds = time.monotonic() - began

    assert len(kills) >= 10
    assert {view.status for view in final.values()} == {"paid"}
    for view in final.values():
        await assert_stored(store, view)

    mails = tally(mailbox.messages, eids)
    lost = {
        eid: expected_mails(asks[eid]) - mails.per_engagement.get(eid, 0)
        for eid in eids
        if mails.per_engagement.get(eid, 0) != expected_mails(asks[eid])
    }
    assert lost == {}, f"notifications lost (or extra): {lost}"
    in_window = sum(int(str(k["in_window"])) for k in kills)
    assert mails.duplicates <= in_window, (
        f"{mails.duplicates} duplicate mails, but only {in_window} messages were accepted "
        f"and not yet in the ledger when a kill struck: {mails.repeated}"
    )
    ledger = await store.mail_ledger_ids()
    assert ledger >= {str(m["Message-ID"]) for m in mailbox.messages}, (
        "an accepted message is missing from the ledger"
    )
    history = await history_figures([claims.handle(eid) for eid in eids])
    written = await ledger_times(store)
    # The window: from the server's acceptance to the ledger write, for messages sent
    # once (a duplicate's row is written after its second copy, not its first).
    ledger_lag = [
        written[mid] - arrivals[mid]
        for mid in written
        if mid in arrivals and mid not in mails.repeated
    ]
    report(
        "worker_crash",
        seed=rig.seed,
        claims=CLAIMS,
        claims_with_question=sum(asks.values()),
        claims_paid=sum(1 for v in final.values() if v.status == "paid"),
        kills=len(kills),
        kills_right_after_a_mail=sum(1 for k in kills if k["moment"] == "after_mail"),
        kills_at_random=sum(1 for k in kills if k["moment"] == "random"),
        kills_inside_ledger_window=sum(1 for k in kills if int(str(k["in_window"])) > 0),
        messages_in_ledger_window=in_window,
        mails_expected=sum(expected_mails(a) for a in asks.values()),
        mails_received=mails.total,
        mails_unique=mails.unique,
        duplicate_mails=mails.duplicates,
        lost_mails=0,
        read_model_rows=sum(len(v.history) for v in final.values()),
        activity_retries=history.activity_retries,
        activity_retries_by_type=dict(history.retried_by_type),
        workflow_task_timeouts=history.workflow_task_timeouts,
        updates_sent_again=dict(portal.retries),
        ledger_write_after_acceptance_seconds=percentiles(ledger_lag, 50, 95, 99),
        worker_startup_seconds_mean=round(
            sum(worker.startup_seconds) / len(worker.startup_seconds), 1
        ),
        seconds_killing=round(killed, 1),
        seconds_driving=round(driven, 1),
        seconds_total=round(seconds, 1),
    )


def mail_after(mailbox: MailCatcher, seen: int) -> Callable[[], bool]:
    """True once the mail server has accepted a message beyond the first `seen`."""
    return lambda: len(mailbox.messages) > seen


async def kill_repeatedly(
    worker: WorkerProcess,
    mailbox: MailCatcher,
    store: ClaimStore,
    rng: random.Random,
    kills: list[dict[str, object]],
) -> None:
    """SIGKILL and restart the worker KILLS times; every other kill right after a mail.

    Each worker lives a few seconds first, long enough to take up the claims a kill
    left (their workflow tasks and activities time out on the dead worker, then
    come back): a worker killed before it could ever finish a task would only show
    that nothing moves without workers. The other kills are at a random moment.

    At each kill (the process is dead, so nothing moves), the messages the mail
    server holds but the ledger lacks are those a retry may send again. Each can
    come once more per kill that finds it so, unless no new copy of it arrived
    since the last kill that found it (then the same retry covers both): those
    fresh finds, summed over the kills, bound the duplicates.
    """
    # Message-ID -> copies at the sink when a kill last found it accepted but unrecorded.
    found: dict[str, int] = {}
    for number in range(KILLS):
        await worker.wait_ready()
        await asyncio.sleep(rng.uniform(2.0, 5.0))
        moment = "random"
        if number % 2:
            try:
                await poll_until(
                    mail_after(mailbox, len(mailbox.messages)), within=8, every=0.002, what="a mail"
                )
                moment = "after_mail"
            except TimeoutError:
                pass
        worker.kill()
        copies = Counter(str(m["Message-ID"]) for m in mailbox.messages)
        unrecorded = set(copies) - await store.mail_ledger_ids()
        fresh = [mid for mid in unrecorded if found.get(mid) != copies[mid]]
        found.update((mid, copies[mid]) for mid in fresh)
        kills.append({"moment": moment, "in_window": len(fresh)})
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        worker.start()
    await worker.wait_ready()


@pytest.mark.timeout(300)
async def test_with_two_workers_the_survivor_carries_every_claim_when_one_is_killed(
    rig: CrashRig,
) -> None:
    count = 20
    mailbox, store, rng = rig.mailbox, rig.store, rig.rng
    claims = rig.claims_client()
    portal = Portal(claims)
    with worker_processes(rig.env.client, rig.environ(), rig.logs) as make:
        workers = [make("a"), make("b")]
        for worker in workers:
            worker.start()
        await asyncio.gather(*(w.wait_ready() for w in workers))
        eids, asks = await start_batch(claims, count, ask_every=ASK_EVERY)
        drivers = asyncio.gather(
            *(
                drive_to_paid(portal, eid, ask_for_info=asks[eid], pause=think_time(rng, 0.2, 2.0))
                for eid in eids
            )
        )
        try:
            # Mid-run: a third of the claims' mails are out, the rest still to come.
            third = sum(expected_mails(a) for a in asks.values()) // 3
            await poll_until(
                lambda: len(mailbox.messages) >= third, within=120, what="a third of the mails"
            )
            victim, survivor = rng.sample(workers, 2)
            victim.kill()
            killed_at = datetime.now(UTC)
            after_kill = time.monotonic()
            await asyncio.wait_for(asyncio.shield(drivers), 180)
        finally:
            drivers.cancel()
        final = await final_views(claims, eids, within=120)
        carried = time.monotonic() - after_kill
        assert survivor.running

    assert {view.status for view in final.values()} == {"paid"}
    for view in final.values():
        await assert_stored(store, view)
    mails = tally(mailbox.messages, eids)
    assert all(mails.per_engagement.get(e) == expected_mails(asks[e]) for e in eids)
    history = await history_figures([claims.handle(eid) for eid in eids], killed_at)
    host = socket.gethostname()
    victim_id, survivor_id = f"{victim.pid}@{host}", f"{survivor.pid}@{host}"
    assert history.identities_before[victim_id] > 0, "the killed worker had done nothing"
    assert history.identities_before[survivor_id] > 0, "the survivor had done nothing"
    assert victim_id not in history.identities_after
    assert history.identities_after[survivor_id] > 0
    report(
        "two_workers_one_killed",
        seed=rig.seed,
        claims=count,
        claims_paid=sum(1 for v in final.values() if v.status == "paid"),
        tasks_before_kill={
            "killed": history.identities_before[victim_id],
            "survivor": history.identities_before[survivor_id],
        },
        tasks_after_kill_by_survivor=history.identities_after[survivor_id],
        tasks_after_kill_by_killed=history.identities_after[victim_id],
        seconds_from_kill_to_all_paid=round(carried, 1),
        activity_retries=history.activity_retries,
        workflow_task_timeouts=history.workflow_task_timeouts,
        updates_sent_again=dict(portal.retries),
        mails_unique=mails.unique,
        duplicate_mails=mails.duplicates,
        lost_mails=0,
    )
