"""Memory with many open claims: M claims started and left waiting on their timers.

A program keeps tens of thousands of claims open for months, each asleep on
its next reminder timer. Their cost is resident memory: the server keeps
every open workflow's mutable state, the worker keeps at most its cache bound
of them (the rest are evicted and replayed from history when woken). So the
claims are started, the system is left to settle (every first workflow task
and read-model write done, both processes idle), and the resident memory of
both processes is read then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bench import procs
from bench.drivers import engagement_prefix
from bench.drivers import new_claim
from starter.client import ClaimsClient
from starter.client import workflow_id

START_CONCURRENCY = 32
IDLE_CORES = 0.05
"""Below this CPU use (in cores) a process counts as idle."""
IDLE_WINDOW = 2.0
SETTLE_TIMEOUT = 600.0


@dataclass(frozen=True)
class OpenClaims:
    count: int
    start_s: float
    settle_s: float
    running: int
    """This phase's claims that visibility lists as running, once settled."""
    memory: dict[str, procs.Memory]


async def _count_running(claims: ClaimsClient, id_prefix: str) -> int:
    """Running claims whose workflow id starts with `id_prefix`.

    Visibility is eventually consistent (a claim that has just finished can
    still be listed as running), so the phase counts only the claims it
    started itself, by their id prefix, never a difference of two counts.
    """
    query = (
        f"TaskQueue = '{claims.task_queue}' AND ExecutionStatus = 'Running' "
        f"AND WorkflowId STARTS_WITH '{id_prefix}'"
    )
    return (await claims.client.count_workflows(query)).count


async def _settle(
    claims: ClaimsClient, pids: Mapping[str, int], id_prefix: str, expected: int
) -> int:
    """Wait until visibility lists this phase's `expected` claims as running and every
    process is idle."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        before = {name: procs.cpu_seconds(pid) for name, pid in pids.items()}
        await asyncio.sleep(IDLE_WINDOW)
        used = {name: procs.cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        idle = all(seconds / IDLE_WINDOW < IDLE_CORES for seconds in used.values())
        running = await _count_running(claims, id_prefix)
        if idle and running >= expected:
            return running
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"open claims did not settle in {SETTLE_TIMEOUT:.0f}s: {running}/{expected} "
                f"running, CPU in the last {IDLE_WINDOW:.0f}s {used}"
            )


async def open_claims(
    claims: ClaimsClient, count: int, pids: Mapping[str, int], run_tag: str
) -> OpenClaims:
    """Start `count` claims (consent now: first reminder in 60 days), let them settle,
    and read the resident memory of each process in `pids`."""
    phase_tag = f"{run_tag}-open"
    id_prefix = workflow_id(engagement_prefix(phase_tag))
    gate = asyncio.Semaphore(START_CONCURRENCY)

    async def start_one() -> None:
        async with gate:
            await claims.start_claim(new_claim(phase_tag))

    started = time.monotonic()
    await asyncio.gather(*(start_one() for _ in range(count)))
    start_s = time.monotonic() - started
    running = await _settle(claims, pids, id_prefix, count)
    settle_s = time.monotonic() - started - start_s
    return OpenClaims(
        count=count,
        start_s=start_s,
        settle_s=settle_s,
        running=running,
        memory={name: procs.memory(pid) for name, pid in pids.items()},
    )
