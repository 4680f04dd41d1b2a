"""Keeps the local stack's parts running, and lets an operator hold one part stopped.

A part that exits (a crash, or an operator's `kill`) is reported and started
again, so one broken part never takes the others down with it. To rehearse an
outage, `python -m devstack hold worker` (in another terminal) asks the running
stack to stop the worker and keep it stopped; `python -m devstack release worker`
starts it again. The request is a file in the data folder (`<data>/hold/<part>`):
the simplest message both terminals can see, with no port or socket to manage.

A part that keeps exiting (CRASH_LOOP exits within CRASH_WINDOW seconds) is held
too, with a line saying so, instead of being restarted in a tight loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from claims_testing.processes import ChildProcess
from claims_testing.processes import ProcessExited

PART_NAMES = ("temporal", "mail", "worker", "api")
"""The parts an operator can hold and release, by the names the stack's lines use."""
CRASH_LOOP = 5
CRASH_WINDOW = 60.0


def hold_file(data: Path, part: str) -> Path:
    return data / "hold" / part


def hold(data: Path, part: str) -> None:
    path = hold_file(data, part)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def release(data: Path, part: str) -> bool:
    """Lift a hold; False when the part was not held."""
    path = hold_file(data, part)
    if not path.exists():
        return False
    path.unlink()
    return True


@dataclass
class Part:
    """One supervised child, and how to tell that a (re)start of it serves."""

    name: str
    child: ChildProcess
    ready: Callable[[], Awaitable[object]]
    exits: list[float] = field(default_factory=list)
    held: bool = False


class Supervisor:
    """Checked once a second by the stack: restarts what exited, stops what is held."""

    def __init__(
        self,
        data: Path,
        report: Callable[[str], None],
        *,
        grace: float,
        hurry: asyncio.Event,
    ) -> None:
        self.data = data
        self.report = report
        self.grace = grace
        self.hurry = hurry
        self.parts: dict[str, Part] = {}

    def add(self, part: Part) -> None:
        self.parts[part.name] = part

    def clear_holds(self) -> list[str]:
        """A new stack starts whole: holds left by an earlier run are lifted."""
        return [name for name in PART_NAMES if release(self.data, name)]

    async def check(self) -> None:
        for part in list(self.parts.values()):
            await self._check(part)

    async def _check(self, part: Part) -> None:
        name, child = part.name, part.child
        if hold_file(self.data, name).exists():
            if child.running:
                self.report(f"{name}: held; stopping it ('python -m devstack release {name}')")
                await child.stop_async(self.grace, self.hurry)
                self.report(f"{name}: stopped (held)")
            part.held = True
            return
        if child.running:
            return
        if part.held:
            part.held = False
            self.report(f"{name}: released; starting it again")
        elif not self._note_exit(part):
            return
        child.start()
        try:
            await part.ready()
        except (ProcessExited, TimeoutError) as err:
            self.report(f"{name}: did not come back: {str(err).splitlines()[0]}")
            return
        self.report(f"{name}: running again (pid {child.pid}, log: {child.log_path})")

    def _note_exit(self, part: Part) -> bool:
        """Report an exit; True to restart, False when the part keeps exiting (then held)."""
        now = time.monotonic()
        part.exits = [t for t in part.exits if now - t < CRASH_WINDOW] + [now]
        code, log = part.child.returncode, part.child.log_path
        self.report(f"{part.name} exited with code {code} (log: {log})")
        if len(part.exits) < CRASH_LOOP:
            self.report(f"{part.name}: restarting")
            return True
        hold(self.data, part.name)
        part.held = True
        self.report(
            f"{part.name}: exited {CRASH_LOOP} times within {CRASH_WINDOW:.0f} s; held: fix it, "
            f"then 'python -m devstack release {part.name}'"
        )
        return False
