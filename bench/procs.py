"""CPU time and memory of the measured processes, from /proc.

The server and the workers run as separate processes (started by the project's
harness, claims_testing.processes) so that their CPU seconds and resident memory
can be read from /proc/<pid>/stat and /proc/<pid>/status (no psutil needed).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MACHINE = "machine"
"""The key of the whole machine's busy CPU seconds in a `CpuSnapshot`."""
MIB = 1024 * 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads included."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after it don't.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, all processes), from /proc/stat:
    what is left after our own processes is load from others, which spoils a measurement."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    # guest time is already counted in user time
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def wait_until_quiet(
    max_wait: float, busy_cores: float = 0.3, window: float = 5.0
) -> tuple[bool, float]:
    """Wait up to `max_wait` s for a `window` in which the machine uses under `busy_cores`;
    returns whether it came and the last load seen. On a shared machine, other work
    running during a phase changes its figures more than any optimisation does."""
    deadline = time.monotonic() + max_wait
    while True:
        before = machine_busy_seconds()
        time.sleep(window)
        load = (machine_busy_seconds() - before) / window
        if load < busy_cores:
            return True, load
        if time.monotonic() + window > deadline:
            return False, load


def set_niceness(niceness: int) -> int:
    """Set this process's niceness before it starts any thread or child (both inherit it;
    Linux keeps niceness per thread). A negative value (root only) lets a run on a shared
    machine keep the CPU when others' work competes; returns the niceness in force.

    With scheduler autogroups (the default on desktop and many server kernels) niceness
    only weighs within a session's group, so the group's own niceness is set too."""
    if niceness:
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(niceness))
    return os.getpriority(os.PRIO_PROCESS, 0)


def own_cpu_seconds() -> float:
    """CPU seconds of this (the driving) process, all threads included."""
    return time.process_time()


@dataclass(frozen=True)
class Memory:
    rss_mib: float
    """Resident memory now."""
    peak_rss_mib: float
    """The highest resident memory since the process started (VmHWM)."""


def memory(pid: int) -> Memory:
    """Resident memory of a process from /proc/<pid>/status."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024 / MIB
    return Memory(rss_mib=values["VmRSS"], peak_rss_mib=values["VmHWM"])


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds of the measured processes at one moment."""

    wall: float
    by_name: dict[str, float]

    @classmethod
    def take(cls, pids: Mapping[str, int]) -> CpuSnapshot:
        by_name = {name: cpu_seconds(pid) for name, pid in pids.items()}
        by_name["driver"] = own_cpu_seconds()
        by_name[MACHINE] = machine_busy_seconds()
        return cls(wall=time.monotonic(), by_name=by_name)

    def since(self, earlier: CpuSnapshot) -> dict[str, float]:
        """CPU seconds used by each process between `earlier` and this snapshot."""
        return {name: self.by_name[name] - earlier.by_name.get(name, 0.0) for name in self.by_name}
