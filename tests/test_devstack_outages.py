"""The local stack under trouble: a part that dies is started again, a held part stays
stopped until released, and a part that keeps dying is held instead of restarted forever.

The stack runs as a newcomer runs it (`python -m devstack`, without the demo), on free
ports and a fresh data folder; the hold and release commands run from "another
terminal", as docs/operations.md shows.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from claims_testing.processes import ChildProcess
from claims_testing.processes import ProcessExited
from devstack.supervise import CRASH_LOOP
from devstack.supervise import Part
from devstack.supervise import Supervisor
from devstack.supervise import hold_file
from tests.stack_process import READY_WITHIN
from tests.stack_process import ROOT
from tests.stack_process import RunningStack
from tests.stack_process import alive
from tests.stack_process import ready_stack

RECOVER_WITHIN = 120.0
"""A restarted worker must poll again, which on a busy machine can take a while."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with ready_stack(tmp_path_factory.mktemp("outages") / "data") as running:
        yield running


def pid_on(stack: RunningStack, pattern: str) -> int:
    """The pid a progress line matching `pattern` names (the last such line)."""
    found = re.findall(pattern + r".*?\(pid (\d+)", stack.output)
    assert found, f"no line matching {pattern!r}:\n{stack.output}"
    return int(found[-1])


def devstack(stack: RunningStack, *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "devstack", *argv, "--data", str(stack.data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(READY_WITHIN + RECOVER_WITHIN + 30)
def test_a_killed_mail_catcher_is_reported_and_started_again_and_the_rest_keeps_running(
    stack: RunningStack,
) -> None:
    catcher = pid_on(stack, r"smtp://")
    os.kill(catcher, signal.SIGKILL)

    stack.wait_for_line(r"^mail exited with code -9 \(log: ", RECOVER_WITHIN)
    again = stack.wait_for_line(r"^mail: running again \(pid \d+", RECOVER_WITHIN)
    assert stack.process.poll() is None
    assert not alive(catcher)
    assert alive(int(re.findall(r"pid (\d+)", again)[0]))
    assert alive(pid_on(stack, r"worker polling"))


@pytest.mark.slow
@pytest.mark.timeout(READY_WITHIN + 2 * RECOVER_WITHIN + 30)
def test_a_held_worker_stays_stopped_until_released(stack: RunningStack) -> None:
    worker = pid_on(stack, r"worker polling")

    said = devstack(stack, "hold", "worker")

    assert "worker: held" in said
    stack.wait_for_line(r"^worker: stopped \(held\)$", RECOVER_WITHIN)
    assert not alive(worker)
    assert stack.process.poll() is None
    assert "worker exited" not in stack.output  # a hold is not a crash

    said = devstack(stack, "release", "worker")

    assert "worker: released" in said
    again = stack.wait_for_line(r"^worker: running again \(pid \d+", RECOVER_WITHIN)
    assert alive(int(re.findall(r"pid (\d+)", again)[0]))
    assert devstack(stack, "release", "worker").strip() == "worker was not held"


async def test_a_part_that_keeps_exiting_is_held_instead_of_restarted_forever(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    quitter = ChildProcess("quitter", [sys.executable, "-c", "raise SystemExit(3)"], tmp_path)
    supervisor = Supervisor(tmp_path, lines.append, grace=5, hurry=asyncio.Event())

    async def exited() -> None:
        """This part's "ready": it exits at once, which check_alive reports."""
        assert quitter.process is not None
        await asyncio.to_thread(quitter.process.wait, 30)
        quitter.check_alive()

    supervisor.add(Part("worker", quitter, exited))
    quitter.start()
    with pytest.raises(ProcessExited):
        await exited()
    for _ in range(CRASH_LOOP):
        await supervisor.check()

    assert sum(line.startswith("worker exited with code 3 (log: ") for line in lines) == 5
    assert lines.count("worker: restarting") == CRASH_LOOP - 1
    assert sum(line.startswith("worker: did not come back: ") for line in lines) == 4
    assert lines[-1].startswith(f"worker: exited {CRASH_LOOP} times within 60 s; held")
    assert hold_file(tmp_path, "worker").exists()
    starts = quitter.starts
    await supervisor.check()  # held: not started again
    assert quitter.starts == starts
