"""How a command-line process of ours ends: with its own status, whatever the SDK's threads do."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn


def exit_now(status: int) -> NoReturn:
    """Flush the output and end the process without interpreter finalization.

    The SDK's Rust runtime threads can outlive the event loop, and CPython then
    sometimes aborts during finalization ("PyGILState_Release: thread state ...
    must be current", SIGABRT) after all output was written: temporalio/sdk-python
    issue 300, still open. A command line must exit with its own status, so it
    skips finalization once its output is flushed; nothing is left to clean up.
    """
    try:
        sys.stdout.flush()
    except OSError:  # the reader went away (a closed pipe): the output is lost
        status = status or 1
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(status)
