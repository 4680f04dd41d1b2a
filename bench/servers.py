"""The embedded Temporal dev server for one benchmark run: in memory, on free ports.

A fresh server per run keeps runs independent (no history left from a previous
one), and running it as a child process lets the benchmark read its CPU time
and resident memory. `--headless` leaves the web UI out and `--log-level warn`
keeps its log to what matters, so neither costs the measured machine anything.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import RPCError

from bench import procs
from devstack.binaries import temporal_cli
from devstack.mailcatcher import free_port
from starter.temporal import ensure_search_attributes

NAMESPACE = "default"
STARTUP_TIMEOUT = 60.0


@dataclass
class DevServer:
    """A running `temporal server start-dev` child process."""

    process: subprocess.Popen[bytes]
    address: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        procs.stop(self.process)


def start_dev_server(workdir: Path) -> DevServer:
    """Start the dev server on free loopback ports (state in memory: no --db-filename)."""
    port = free_port()
    command = [
        temporal_cli(),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--log-level",
        "warn",
        "--namespace",
        NAMESPACE,
    ]
    log = workdir / "temporal-server.log"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir)}
    process = procs.spawn(command, env=env, log=log)
    return DevServer(process=process, address=f"127.0.0.1:{port}", log=log)


async def connect(server: DevServer, data_converter: DataConverter) -> Client:
    """A client of the server once it answers; registers the claim search attributes."""
    deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"the dev server exited at start-up:\n{procs.tail(server.log)}")
        try:
            client = await Client.connect(
                server.address, namespace=NAMESPACE, data_converter=data_converter
            )
            await ensure_search_attributes(client)
            return client
        except (RuntimeError, RPCError):
            # Connection refused, or the namespace not ready, while the server starts.
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
