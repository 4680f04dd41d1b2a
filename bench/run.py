"""One benchmark run: a fresh stack, the baseline, the claim lifecycle, then open claims.

Everything runs on this machine in this run, one phase at a time so that no
phase steals CPU from another: the dev server (in memory), a mail sink, a
SQLite read model in a temporary folder, and one worker process per phase
(the baseline worker is stopped before the claims worker starts). Every
child process is killed in `finally`, whatever happened.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import Literal

from temporalio.client import Client

from activities.links import SurveyLinks
from bench import procs
from bench.drivers import baseline_lifecycle
from bench.drivers import claim_lifecycle
from bench.histories import HistoryFigures
from bench.histories import fetch_figures
from bench.latency import RoundTrips
from bench.load import run_load
from bench.machine import machine
from bench.machine import versions
from bench.model import Options
from bench.model import Phase
from bench.open_claims import OpenClaims
from bench.open_claims import open_claims
from bench.profile import sampling
from bench.profile import summarise
from bench.report import build_report
from bench.worker_process import CACHE_VARIABLE
from claims_testing.processes import DevServerProcess
from claims_testing.processes import WorkerProcess
from claims_testing.processes import worker_environ
from devstack.mailcatcher import MailCatcher
from starter.client import ClaimsClient

PUBLIC_URL = "http://claims.bench.example"
MAIL_FROM = "Workshop claims <claims@bench.example>"
WORKER_STOP_GRACE = 35.0
"""Seconds a worker gets after SIGTERM (it lets activities finish for 30)."""
Log = Callable[[str], None]
WorkerKind = Literal["claims", "baseline"]


class Stack:
    """The server, mail sink and workers of one run; `close` kills whatever was started.

    The processes come from the project's one harness (claims_testing.processes). They
    stay in this session (`new_session=False`), so the niceness a run sets holds for
    them too; the dev server keeps its state in memory and its UI off, so neither
    costs the measured machine anything."""

    def __init__(self, workdir: Path, options: Options) -> None:
        self.workdir = workdir
        self.options = options
        self.run_tag = uuid.uuid4().hex[:6]
        self.secret_key = secrets.token_urlsafe(48)
        self._server: DevServerProcess | None = None
        self._mail: MailCatcher | None = None
        self.workers: list[WorkerProcess] = []

    def start(self) -> None:
        self._server = DevServerProcess(
            self.workdir,
            log_level="warn",
            environ={"PATH": os.environ.get("PATH", ""), "HOME": str(self.workdir)},
            name="temporal-server",
            numbered_logs=False,
            new_session=False,
        )
        self._server.start()
        self._mail = MailCatcher().start()

    @property
    def server(self) -> DevServerProcess:
        assert self._server is not None, "Stack.start() first"
        return self._server

    @property
    def mail(self) -> MailCatcher:
        assert self._mail is not None, "Stack.start() first"
        return self._mail

    async def start_worker(self, client: Client, kind: WorkerKind) -> WorkerProcess:
        task_queue = f"bench-{kind}-{self.run_tag}"
        env = worker_environ(
            temporal_address=self.server.address,
            namespace=client.namespace,
            task_queue=task_queue,
            database_url=self.options.database_url(self.workdir, kind),
            smtp_host=self.mail.host,
            smtp_port=self.mail.port,
            secret_key=self.secret_key,
            mail_from=MAIL_FROM,
            public_url=PUBLIC_URL,
            extra={CACHE_VARIABLE: str(self.options.cache_bound)},
        )
        worker = WorkerProcess(
            kind,
            env,
            self.workdir,
            client,
            command=[sys.executable, "-m", "bench.worker_process", kind],
            numbered_logs=False,
            new_session=False,
        )
        self.workers.append(worker)
        worker.start()
        await worker.wait_ready(within=60.0)
        return worker

    def pids(self, worker: WorkerProcess) -> dict[str, int]:
        return {"server": self.server.pid, "worker": worker.pid}

    def close(self) -> None:
        for worker in self.workers:
            worker.stop(grace=WORKER_STOP_GRACE)
        if self._server is not None:
            self._server.stop(grace=15.0)
        if self._mail is not None:
            self._mail.stop()


async def _measure(
    client: Client,
    lifecycle: Callable[[RoundTrips], Awaitable[str]],
    options: Options,
    pids: dict[str, int],
    profile: Path | None = None,
) -> Phase:
    """Warm up, then run the measured load (sampled by py-spy into `profile`, if given)
    and count the histories it made."""
    rtt = RoundTrips()
    if options.warmup:
        rtt.enabled = False
        await run_load(
            lambda: lifecycle(rtt), runs=options.warmup, concurrency=options.concurrency, pids=pids
        )
        rtt.enabled = True
    with sampling(pids["worker"], profile):
        load = await run_load(
            lambda: lifecycle(rtt), runs=options.claims, concurrency=options.concurrency, pids=pids
        )
    history = HistoryFigures.mean_of(await fetch_figures(client, load.workflow_ids))
    return Phase(load=load, rtt=rtt, history=history)


def _copy_logs(workdir: Path, destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    for log_file in workdir.glob("*.log"):
        shutil.copy(log_file, destination / log_file.name)


async def run_benchmark(options: Options, log: Log = print) -> dict[str, Any]:
    """Run every phase on a fresh stack and return the report (see bench.report)."""
    began = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="claims-bench-") as tmp:
        stack = Stack(Path(tmp), options)
        try:
            stack.start()
            client = await stack.server.connect()
            log(f"dev server on {stack.server.address} (pid {stack.server.pid})")

            baseline_worker = await stack.start_worker(client, "baseline")
            log(f"baseline: {options.claims} runs at concurrency {options.concurrency}")
            baseline = await _measure(
                client,
                lambda rtt: baseline_lifecycle(
                    client, baseline_worker.task_queue, rtt, stack.run_tag
                ),
                options,
                stack.pids(baseline_worker),
            )
            log(f"baseline: {baseline.load.per_second:.1f} runs/s")
            baseline_worker.stop(grace=WORKER_STOP_GRACE)

            claims_worker = await stack.start_worker(client, "claims")
            claims = ClaimsClient(
                client,
                task_queue=claims_worker.task_queue,
                links=SurveyLinks(stack.secret_key.encode(), PUBLIC_URL),
            )
            log(f"lifecycle: {options.claims} claims at concurrency {options.concurrency}")
            lifecycle = await _measure(
                client,
                lambda rtt: claim_lifecycle(claims, rtt, stack.run_tag),
                options,
                stack.pids(claims_worker),
                profile=options.profile,
            )
            log(f"lifecycle: {lifecycle.load.per_second:.1f} claims/s")

            pids = stack.pids(claims_worker)
            before = {name: procs.memory(pid) for name, pid in pids.items()}
            opened: OpenClaims | None = None
            if options.open_claims:
                log(f"open claims: starting {options.open_claims} and letting them settle")
                opened = await open_claims(claims, options.open_claims, pids, stack.run_tag)
                log(
                    f"open claims: started in {opened.start_s:.0f}s, "
                    f"settled {opened.settle_s:.0f}s later"
                )
            after = opened.memory if opened else before
            report = build_report(
                options=options,
                baseline=baseline,
                lifecycle=lifecycle,
                memory_before=before,
                memory_after=after,
                opened=opened,
                machine=machine(),
                versions=versions(),
                started_at=started_at,
                duration_s=time.monotonic() - began,
                workdir=tmp,
            )
            if options.profile is not None:
                report["worker_profile"] = summarise(options.profile)
            return report
        finally:
            stack.close()
            if options.keep_logs is not None:
                _copy_logs(Path(tmp), options.keep_logs)
