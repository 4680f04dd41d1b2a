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
        "concurrent",
        "glob",
        "http",
        "httpx",
        "importlib",
        "io",
        "multiprocessing",
        "os",
        "pathlib",
        "random",
        "requests",
        "secrets",
        "shutil",
        "signal",
        "smtplib",
        "socket",
        "sqlalchemy",
        "ssl",
        "subprocess",
        "sys",
        "tempfile",
        "temporalio.client",
        "threading",
        "time",
        "urllib",
        "uuid",
    }
)
"""Modules whose use in a workflow is a clock, randomness or I/O (a workflow may name an
activities module to call its activities, never run its code itself)."""

CLOCK_READS = frozenset({"now", "utcnow", "today"})
"""`<something>.now` and the like read the machine's clock, called or passed on (a
`default_factory`); only `workflow.now` may."""

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
            if any(name == bad or name.startswith(f"{bad}.") for bad in FORBIDDEN_MODULES):
                found.append(f"line {line}: imports {name}")
        if isinstance(node, ast.Attribute) and node.attr in CLOCK_READS:
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            if owner != "workflow":
                found.append(f"line {line}: reads the clock with {owner or '...'}.{node.attr}")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in FORBIDDEN_BUILTINS:
            found.append(f"line {line}: calls {func.id}()")
        if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) > 1:
            attribute = node.args[1]
            if isinstance(attribute, ast.Constant) and attribute.value in CLOCK_READS:
                found.append(f"line {line}: reads the clock with getattr(..., {attribute.value!r})")
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "sleep"
            and isinstance(func.value, ast.Name)
            and func.value.id == "asyncio"
        ):
            found.append(
                f"line {line}: asyncio.sleep (write workflow.sleep: the same timer, named)"
            )
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
            "reads the clock with datetime.now",
        ),
        ("import datetime\nx = datetime.date.today()", "reads the clock with ....today"),
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
