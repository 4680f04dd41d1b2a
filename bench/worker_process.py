"""A worker process under test: `python -m bench.worker_process {claims,baseline}`.

`claims` is `python worker.py` itself (same settings from the environment,
same migrations, same `create_worker`), with one addition: the workflow cache
is bounded by CLAIMS_MAX_CACHED_WORKFLOWS, because the memory figure of the
benchmark is only meaningful with a stated bound. Once worker.py reads that
variable itself, the addition is a no-op (worker.py's own value wins).

`baseline` runs the baseline workflow (bench.baseline) with the same client
construction, data converter and cache bound, so the two differ only in the
workflow they run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Any

from temporalio.worker import Worker

import worker as claims_worker
from bench.baseline import BaselineWorkflow
from bench.baseline import trivial
from starter.settings import Settings
from starter.settings import SettingsError
from starter.settings import load_settings
from starter.temporal import connect

CACHE_VARIABLE = "CLAIMS_MAX_CACHED_WORKFLOWS"
log = logging.getLogger("bench.worker")


def cache_bound() -> int:
    """The bound the benchmark asked for, from the same variable worker.py will read."""
    raw = os.environ.get(CACHE_VARIABLE, "").strip()
    if not raw.isdigit():
        raise SettingsError(f"{CACHE_VARIABLE} must be a whole number, got {raw!r}")
    return int(raw)


def bound_claims_worker_cache(bound: int) -> None:
    """Make worker.py's `create_worker` build its Worker with `max_cached_workflows=bound`
    (unless it passes a value itself), and refuse to run if the worker got another bound."""
    create_worker = claims_worker.create_worker

    def bounded_worker(*args: Any, **kwargs: Any) -> Worker:
        kwargs.setdefault("max_cached_workflows", bound)
        return Worker(*args, **kwargs)

    def checked_create_worker(*args: Any, **kwargs: Any) -> Worker:
        built = create_worker(*args, **kwargs)
        actual = built.config()["max_cached_workflows"]
        if actual != bound:
            raise SettingsError(f"worker cache bound is {actual}, the benchmark asked for {bound}")
        log.info("workflow cache bound: %d", actual)
        return built

    vars(claims_worker)["Worker"] = bounded_worker
    vars(claims_worker)["create_worker"] = checked_create_worker


async def run_baseline(settings: Settings, bound: int) -> None:
    """Poll the task queue with the baseline workflow until SIGTERM."""
    client = await connect(settings)
    baseline = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[BaselineWorkflow],
        activities=[trivial],
        max_cached_workflows=bound,
        graceful_shutdown_timeout=claims_worker.GRACEFUL_SHUTDOWN,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("baseline worker polling %r, workflow cache bound %d", settings.task_queue, bound)
    async with baseline:
        await stop.wait()
    log.info("worker stopped")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["claims", "baseline"])
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        bound = cache_bound()
        settings = load_settings()
    except SettingsError as err:
        print(f"bench worker: configuration error: {err}", file=sys.stderr)
        return 2
    if args.kind == "baseline":
        asyncio.run(run_baseline(settings, bound))
        return 0
    bound_claims_worker_cache(bound)
    asyncio.run(claims_worker.run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
