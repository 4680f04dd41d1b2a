"""Round-trip samples per message name (send to result), and their percentiles.

A round trip is timed around the client call that a portal backend would make,
so it includes the client's own serialisation, the server, the worker's
workflow task and the way back: what a portal user waits for.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Awaitable
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks,
    as numpy's default does; samples need not be sorted."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class RoundTrips:
    """Collects round-trip times in milliseconds by message name."""

    def __init__(self) -> None:
        self.samples: defaultdict[str, list[float]] = defaultdict(list)
        # Off during warm-up, so only the measured load is reported.
        self.enabled = True

    async def timed(self, name: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        result = await call
        if self.enabled:
            self.samples[name].append((time.perf_counter() - started) * 1000)
        return result

    def summary(self) -> dict[str, dict[str, float]]:
        """p50, p99, max and count per message name, in ms (rounded to 0.1 ms)."""
        return {
            name: {
                "p50": round(percentile(values, 50), 1),
                "p99": round(percentile(values, 99), 1),
                "max": round(max(values), 1),
                "n": len(values),
            }
            for name, values in sorted(self.samples.items())
        }
