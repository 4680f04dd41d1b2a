"""Workflow definition modules define no pydantic model of their own, and workers share
one copy of each.

The stock sandbox runs a workflow's own module afresh for every workflow it holds; a
pydantic model defined there builds its validator again each time (the claim's input
models cost about 30 ms and 35 KiB a claim that way, docs/performance.md). The workers
pass the workflow modules through (`worker.workflow_runner`), but a Replayer or worker
with the stock runner does not, so models still live in passed-through modules
(workflows/messages.py, workflows/state.py), built once."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

import workflows
from activities.claim_activities import ClaimActivities
from worker import create_worker
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


async def test_the_claims_worker_runs_each_workflow_module_once_not_once_per_claim(
    dev_env: WorkflowEnvironment, activities: ClaimActivities, task_queue: str
) -> None:
    """Passed through, a workflow module is shared by the claims a worker holds, instead
    of imported afresh for each (its code objects and classes again per cached claim)."""
    async with create_worker(dev_env.client, task_queue, activities) as worker:
        runner = worker.config()["workflow_runner"]

    assert isinstance(runner, SandboxedWorkflowRunner)
    assert "workflows.claim" in runner.restrictions.passthrough_modules
    every_module = workflow_runner(WORKFLOW_CLASSES).restrictions.passthrough_modules
    assert {module.__name__ for module in WORKFLOW_MODULES} <= every_module
