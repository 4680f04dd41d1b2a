"""Workflow definition modules define no pydantic model of their own.

The sandbox runs a workflow's own module afresh for every workflow a worker holds; a
pydantic model defined there builds its validator again each time (the claim's input
models cost about 30 ms and 35 KiB a claim that way, docs/performance.md). Models live
in passed-through modules (workflows/messages.py, workflows/state.py), built once."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest
from pydantic import BaseModel
from temporalio import workflow

import workflows
from worker import workflow_runner


def _workflow_modules() -> list[ModuleType]:
    modules = [
        importlib.import_module(f"workflows.{info.name}")
        for info in pkgutil.iter_modules(workflows.__path__)
    ]
    return [
        module
        for module in modules
        if any(
            workflow._Definition.from_class(value) is not None
            for value in vars(module).values()
            if inspect.isclass(value) and value.__module__ == module.__name__
        )
    ]


WORKFLOW_MODULES = _workflow_modules()
WORKFLOW_CLASSES = [
    value
    for module in WORKFLOW_MODULES
    for value in vars(module).values()
    if inspect.isclass(value)
    and value.__module__ == module.__name__
    and workflow._Definition.from_class(value) is not None
]


def test_the_claim_workflow_module_is_among_those_checked() -> None:
    assert "workflows.claim" in {module.__name__ for module in WORKFLOW_MODULES}


@pytest.mark.parametrize("module", WORKFLOW_MODULES, ids=lambda module: module.__name__)
def test_a_workflow_module_defines_no_pydantic_model(module: ModuleType) -> None:
    own_models = [
        name
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
    ]
    assert own_models == [], f"move {own_models} to a passed-through module"


def test_the_workers_run_each_workflow_module_once_not_once_per_claim() -> None:
    """Passed through, a workflow module is shared by the claims a worker holds, instead
    of imported afresh for each (its code objects and classes again per cached claim)."""
    runner = workflow_runner(WORKFLOW_CLASSES)
    assert {
        module.__name__ for module in WORKFLOW_MODULES
    } <= runner.restrictions.passthrough_modules
