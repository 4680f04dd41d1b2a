"""`python -m devstack` as a child process, for the tests that look at the local stack
from outside (tests/test_devstack.py, tests/test_temporal_ui.py).

The stack is started as a newcomer starts it, on free ports and a fresh data folder;
what it prints is kept (a reader thread drains the pipe), and `kill_leftovers`
removes whatever is left of it after a failure, found by its data folder.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from devstack.__main__ import Ports
from devstack.mailcatcher import distinct_free_ports

ROOT = Path(__file__).resolve().parent.parent
READY_WITHIN = 120.0
STOP_WITHIN = 60.0
PORT_OPTIONS = tuple(Ports().named())


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (a zombie holds no port and runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line or environment contains `text` (a unique data dir).

    The dev server and the mail catcher name the folder in their arguments, the
    worker and the API in their environment (CLAIMS_DATABASE_URL).
    """
    needle = text.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        if needle in seen and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@dataclass
class RunningStack:
    """A `python -m devstack` child process, its ports and everything it printed."""

    process: subprocess.Popen[str]
    data: Path
    ports: dict[str, int]
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def read_output(self) -> None:
        """Reader thread: keeps the pipe drained so the stack never blocks on a full pipe."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _drain(self, wait: float) -> bool:
        """Take printed lines; False once the output has ended."""
        try:
            line = self._queue.get(timeout=wait)
        except queue.Empty:
            return True
        if line is None:
            return False
        self.lines.append(line)
        return True

    def wait_for_line(self, pattern: str, within: float) -> str:
        """The first printed line matching `pattern`, waiting for it (bounded)."""
        deadline = time.monotonic() + within
        more = True
        while True:
            for line in self.lines:
                if re.search(pattern, line):
                    return line
            if not more or time.monotonic() > deadline:
                raise AssertionError(
                    f"no line matching {pattern!r} within {within:.0f}s "
                    f"(exit code {self.process.poll()}); output so far:\n" + self.output
                )
            more = self._drain(0.2)

    def collect_rest(self, within: float = 10.0) -> None:
        """Take the lines printed up to the end of the output (after the process ended)."""
        deadline = time.monotonic() + within
        while self._drain(0.2) and time.monotonic() < deadline:
            pass

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def child_pids(self) -> list[int]:
        """The pids of the parts, as the progress lines print them."""
        return [int(pid) for pid in re.findall(r"\(pid (\d+)", self.output)]

    @property
    def api_running(self) -> bool:
        return "portal API" in self.output and "skipped:" not in self.output

    def env_for_commands(self) -> dict[str, str]:
        """The operator command line's environment pointed at this stack."""
        return {
            **os.environ,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{self.ports['--temporal-port']}",
            "TEMPORAL_NAMESPACE": "default",
        }


def kill_leftovers(stack: RunningStack) -> None:
    """Last resort after a failure: kill the launcher's group and anything using the data dir."""
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGINT)
        try:
            stack.process.wait(STOP_WITHIN)
        except subprocess.TimeoutExpired:
            os.killpg(stack.process.pid, signal.SIGKILL)
            stack.process.wait(10)
    for pid in set(stack.child_pids) | set(processes_mentioning(str(stack.data))):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


@contextmanager
def ready_demo_stack(data: Path) -> Iterator[RunningStack]:
    """`python -m devstack --demo` on `data`, once it printed `Ready.`; killed whole when
    the block ends, whatever was done to it meanwhile."""
    with ready_stack(data, "--demo") as stack:
        yield stack


@contextmanager
def ready_stack(data: Path, *extra: str) -> Iterator[RunningStack]:
    """`python -m devstack <extra>` on `data`, once it printed `Ready.`; killed whole when
    the block ends, whatever was done to it meanwhile."""
    stack = start_stack(data, *extra)
    try:
        stack.wait_for_line(r"^Ready\.", READY_WITHIN)
        yield stack
    finally:
        kill_leftovers(stack)


def start_stack(data: Path, *extra: str, **taken: int) -> RunningStack:
    """`python -m devstack --data <data> <extra>` on free ports (or the `taken` ones given,
    by option name without dashes: smtp_port=...)."""
    ports = dict(zip(PORT_OPTIONS, distinct_free_ports(len(PORT_OPTIONS)), strict=True))
    for name, port in taken.items():
        ports["--" + name.replace("_", "-")] = port
    argv = [sys.executable, "-m", "devstack", "--data", str(data), *extra]
    for option, port in ports.items():
        argv += [option, str(port)]
    env = {k: v for k, v in os.environ.items() if k != "CLAIMS_SECRET_KEY"}
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group: the cleanup can kill it whole
    )
    stack = RunningStack(process, data, ports)
    threading.Thread(target=stack.read_output, name="devstack-output", daemon=True).start()
    return stack
