"""N runs of a lifecycle at concurrency C, timed from the first send to the last result.

C drivers each take the next run as soon as theirs ends (a closed loop), which
is how concurrent portal users behave and keeps exactly C claims in flight.
CPU seconds of the server, the worker and this driving process are read just
before and just after, so the per-claim CPU excludes start-up and warm-up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass

from bench.procs import MACHINE
from bench.procs import CpuSnapshot

RUN_TIMEOUT = 300.0
"""One lifecycle taking longer than this means something is stuck, not slow."""


@dataclass(frozen=True)
class LoadResult:
    workflow_ids: list[str]
    elapsed_s: float
    cpu_s: dict[str, float]
    """CPU seconds used during the load, by process name (server, worker, driver)."""

    @property
    def per_second(self) -> float:
        return len(self.workflow_ids) / self.elapsed_s

    def cpu_per_run(self) -> dict[str, float]:
        """CPU seconds per lifecycle of each measured process."""
        return {
            name: seconds / len(self.workflow_ids)
            for name, seconds in self.cpu_s.items()
            if name != MACHINE
        }

    @property
    def other_load_cores(self) -> float:
        """Cores busy with processes that are not part of the run, on average: above a
        few tenths, something else ran on the machine and the figures are disturbed."""
        ours = sum(seconds for name, seconds in self.cpu_s.items() if name != MACHINE)
        return max(0.0, self.cpu_s[MACHINE] - ours) / self.elapsed_s


async def run_load(
    lifecycle: Callable[[], Awaitable[str]],
    *,
    runs: int,
    concurrency: int,
    pids: Mapping[str, int],
) -> LoadResult:
    """Run `lifecycle` `runs` times with `concurrency` in flight; all must succeed."""
    remaining = iter(range(runs))
    ids: list[str] = []

    async def driver() -> None:
        for _ in remaining:
            ids.append(await asyncio.wait_for(lifecycle(), RUN_TIMEOUT))

    before = CpuSnapshot.take(pids)
    started = time.monotonic()
    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, runs)):
            group.create_task(driver())
    elapsed = time.monotonic() - started
    after = CpuSnapshot.take(pids)
    return LoadResult(workflow_ids=ids, elapsed_s=elapsed, cpu_s=after.since(before))
