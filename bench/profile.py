"""Where the worker's time goes: py-spy samples of the worker process during the load.

py-spy attaches to the running worker from outside (no code change, no
restart) and samples the stacks of its Python threads; `--nonblocking` keeps
it from pausing the worker, which would distort the latencies being measured
(py-spy can't then add native frames: time in the SDK's Rust core, which runs
on threads of its own, shows as the worker's CPU seconds, not here).
The raw output (collapsed stacks) is summarised into areas, the library or
part of the project a sample was in, and the functions with most own time.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

AREAS: tuple[tuple[str, str], ...] = (
    ("workflow_sandbox", "workflow sandbox (imports, restrictions)"),
    ("temporalio/worker/_workflow_instance", "SDK workflow instance (activations, commands)"),
    ("temporalio/worker/_workflow.py", "SDK workflow worker (task handling)"),
    ("temporalio/worker/_activity", "SDK activity worker"),
    ("temporalio/converter", "payload conversion (SDK)"),
    ("temporalio/contrib/pydantic", "payload conversion (SDK)"),
    ("temporalio/bridge", "SDK bridge to the Rust core (protobuf)"),
    ("temporal_sdk_bridge", "SDK Rust core"),
    ("google/protobuf", "protobuf"),
    ("/workflows/", "claim workflow and rules (project)"),
    ("/activities/", "activities (project)"),
    ("pydantic", "pydantic (validation, JSON)"),
    ("sqlalchemy", "read model (SQLAlchemy, SQLite)"),
    ("aiosqlite", "read model (SQLAlchemy, SQLite)"),
    ("sqlite3", "read model (SQLAlchemy, SQLite)"),
    ("jinja2", "mail (rendering, SMTP)"),
    ("aiosmtplib", "mail (rendering, SMTP)"),
    ("/email/", "mail (rendering, SMTP)"),
    ("temporalio/", "SDK other"),
    ("asyncio", "asyncio event loop"),
)
"""Substring of a frame's file -> area; a sample goes to the first area found walking
from the innermost frame outwards, so a stdlib leaf counts for the library calling it."""

IDLE_LEAVES: tuple[str, ...] = (
    "EpollSelector.select (",  # the event loop waiting for I/O
    "_connection_worker_thread (aiosqlite/core.py:59)",  # aiosqlite's thread: tx.get()
    "_worker (concurrent/futures/thread.py:81)",  # a pool thread: work_queue.get()
    "Condition.wait (",
    "Event.wait (",
)
"""Innermost frames of threads that are waiting, not working: with `--nonblocking`
py-spy can't always tell, so these samples are counted apart as idle."""

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise FileNotFoundError("py-spy not found: pip install py-spy (into .venv)")
    return found


@contextlib.contextmanager
def sampling(pid: int, out: Path | None, rate: int = 100) -> Iterator[None]:
    """Sample `pid` with py-spy into `out` (raw collapsed stacks) while the block runs."""
    if out is None:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [py_spy(), "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking"]
    command += ["--format", "raw", "--output", str(out)]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            _, errors = recorder.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()
            _, errors = recorder.communicate()
        if not out.exists():
            raise RuntimeError(f"py-spy wrote no samples: {errors.decode(errors='replace')}")


def _frame_file(frame: str) -> str:
    match = _FRAME.match(frame)
    return match["file"] if match else frame


def _area(frames: list[str]) -> str:
    for frame in reversed(frames):
        where = _frame_file(frame)
        for needle, area in AREAS:
            if needle in where:
                return area
    return "other (stdlib, interpreter)"


def summarise(raw: Path, top: int = 15) -> dict[str, dict[str, float]]:
    """Share of busy samples (%) by area, and the functions with most own samples."""
    by_area: defaultdict[str, float] = defaultdict(float)
    own: defaultdict[str, float] = defaultdict(float)
    total = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if any(frames[-1].startswith(leaf) or leaf in frames[-1] for leaf in IDLE_LEAVES):
            idle += count
            continue
        total += count
        by_area[_area(frames)] += count
        own[frames[-1]] += count
    if total == 0:
        return {"areas_pct": {}, "top_own_pct": {}, "samples": {"busy": 0, "idle": idle}}

    def pct(tally: dict[str, float], limit: int | None = None) -> dict[str, float]:
        ranked = sorted(tally.items(), key=lambda kv: -kv[1])[:limit]
        return {name: round(100 * value / total, 1) for name, value in ranked}

    return {
        "areas_pct": pct(by_area),
        "top_own_pct": pct(own, top),
        "samples": {"busy": total, "idle": idle},
    }
