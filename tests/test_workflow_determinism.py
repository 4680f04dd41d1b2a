"""Workflow code reads no clock, draws no random number and does no I/O of its own.

The workers pass the workflows' modules through the sandbox (`worker.workflow_runner`),
as they already did every module those import, so the sandbox's import-time checks no
longer see this code: these checks, over every module of `workflows/`, say what they
said, before a replay would fail in production. Time comes from `workflow.now()`,
waiting from `workflow.sleep`/timers, and I/O from activities."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import workflows

FORBIDDEN_MODULES = frozenset(
    {
        "aiosmtplib",
        "aiosqlite",
        "asyncpg",
        "httpx",
        "os",
        "random",
        "requests",
        "secrets",
        "smtplib",
        "socket",
        "sqlalchemy",
        "subprocess",
        "threading",
        "time",
        "urllib",
        "uuid",
    }
)
"""Modules whose use in a workflow is a clock, randomness or I/O (a workflow may name an
activities module to call its activities, never run its code itself)."""

CLOCK_CALLS = frozenset({"now", "utcnow", "today", "fromtimestamp"})
"""`<something>.now()` and the like read the machine's clock; only `workflow.now()` may."""

FORBIDDEN_BUILTINS = frozenset({"open", "input", "exec", "eval", "__import__"})

SOURCES = sorted(Path(workflows.__file__).parent.rglob("*.py"))


def _module_name(path: Path) -> str:
    return path.relative_to(Path(workflows.__file__).parent.parent).with_suffix("").as_posix()


def nondeterminism(source: str) -> list[str]:
    """What in `source` a workflow must not do, one line per finding."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            names = []
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"line {line}: imports {name}")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in FORBIDDEN_BUILTINS:
            found.append(f"line {line}: calls {func.id}()")
        if isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if func.attr in CLOCK_CALLS and owner != "workflow":
                found.append(f"line {line}: reads the clock with {owner or '...'}.{func.attr}()")
            if func.attr == "sleep" and owner == "asyncio":
                found.append(f"line {line}: asyncio.sleep (use workflow.sleep, a durable timer)")
    return found


def test_every_workflow_module_is_checked() -> None:
    names = {_module_name(path) for path in SOURCES}
    assert {"workflows/claim", "workflows/rules/__init__", "workflows/state"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=_module_name)
def test_a_workflow_module_reads_no_clock_draws_no_random_number_and_does_no_io(
    path: Path,
) -> None:
    assert nondeterminism(path.read_text()) == []


@pytest.mark.parametrize(
    ("source", "finding"),
    [
        (
            "from datetime import datetime\nx = datetime.now()",
            "reads the clock with datetime.now()",
        ),
        ("import datetime\nx = datetime.date.today()", "reads the clock with ....today()"),
        ("import random", "imports random"),
        ("from uuid import uuid4", "imports uuid"),
        ("import sqlalchemy.ext.asyncio", "imports sqlalchemy.ext.asyncio"),
        ("import asyncio\nasync def f():\n    await asyncio.sleep(1)", "asyncio.sleep"),
        ("data = open('claims.json').read()", "calls open()"),
    ],
)
def test_the_check_finds_each_kind_of_nondeterminism(source: str, finding: str) -> None:
    assert any(finding in line for line in nondeterminism(source)), nondeterminism(source)


def test_the_workflow_clock_is_allowed() -> None:
    assert nondeterminism("from temporalio import workflow\nx = workflow.now()") == []
