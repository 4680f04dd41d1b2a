"""What the benchmark's command lines share: argument types, and a run that SIGTERM
stops as cleanly as Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Coroutine
from typing import Any
from typing import TypeVar

T = TypeVar("T")


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


async def run_until_terminated(run: Coroutine[Any, Any, T]) -> T:
    """Run `run`, cancelling it on SIGTERM as Ctrl-C does, so that its `finally` kills
    the server and workers (they are in process groups of their own, which a signal
    to this process alone would not reach)."""
    task = asyncio.ensure_future(run)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await task
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
