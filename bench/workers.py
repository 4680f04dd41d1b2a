"""Start a worker process under test and wait until it polls its task queue.

Readiness is read from the server (the task queue's pollers), not from the
worker's log, so it holds whatever the worker prints and whichever way it is
built. The worker gets a minimal environment: only what the claims settings
read, so the caller's own TEMPORAL_* variables can't point it elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench import procs

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
WorkerKind = Literal["claims", "baseline"]


@dataclass
class WorkerProcess:
    kind: WorkerKind
    process: subprocess.Popen[bytes]
    task_queue: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        procs.stop(self.process, grace=35.0)


def worker_environment(
    *,
    temporal_address: str,
    namespace: str,
    task_queue: str,
    database_url: str,
    smtp_host: str,
    smtp_port: int,
    secret_key: str,
    cache_bound: int,
    public_url: str,
) -> dict[str, str]:
    """The settings of a worker process, as `python worker.py` reads them."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_NAMESPACE": namespace,
        "CLAIMS_TASK_QUEUE": task_queue,
        "CLAIMS_DATABASE_URL": database_url,
        "CLAIMS_SMTP_HOST": smtp_host,
        "CLAIMS_SMTP_PORT": str(smtp_port),
        "CLAIMS_MAIL_FROM": "Workshop claims <claims@bench.example>",
        "CLAIMS_PUBLIC_URL": public_url,
        "CLAIMS_SECRET_KEY": secret_key,
        "CLAIMS_MAX_CACHED_WORKFLOWS": str(cache_bound),
    }


def start_worker(
    kind: WorkerKind, env: Mapping[str, str], task_queue: str, workdir: Path
) -> WorkerProcess:
    log = workdir / f"worker-{kind}.log"
    process = procs.spawn(
        [sys.executable, "-m", "bench.worker_process", kind], env=env, log=log, cwd=ROOT
    )
    return WorkerProcess(kind=kind, process=process, task_queue=task_queue, log=log)


async def wait_until_polling(client: Client, worker: WorkerProcess) -> None:
    """Return once the server sees the worker polling for workflow and activity tasks."""
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
    wanted = (
        TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    while True:
        if worker.process.poll() is not None:
            raise RuntimeError(
                f"the {worker.kind} worker exited at start-up:\n{procs.tail(worker.log)}"
            )
        polled = []
        for queue_type in wanted:
            described = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=worker.task_queue),
                    task_queue_type=queue_type,
                )
            )
            polled.append(bool(described.pollers))
        if all(polled):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(
                f"the {worker.kind} worker did not poll within {READY_TIMEOUT:.0f}s:\n"
                f"{procs.tail(worker.log)}"
            )
        await asyncio.sleep(0.2)
