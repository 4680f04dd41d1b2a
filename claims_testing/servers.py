"""Temporal servers for tests, from the pinned packages (never downloaded), with the
claims' data converter and search attributes registered."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from temporalio.runtime import LoggingConfig
from temporalio.runtime import Runtime
from temporalio.runtime import TelemetryConfig
from temporalio.runtime import TelemetryFilter
from temporalio.testing import WorkflowEnvironment

from devstack.binaries import temporal_cli
from devstack.binaries import temporal_test_server
from devstack.mailcatcher import free_port
from starter.converter import claims_data_converter
from starter.temporal import ensure_search_attributes

QUIET_TARGETS = ("temporalio_sdk_core::worker=ERROR",)
"""Core log targets silenced for the kit's servers: the worker's warning that the test
server does not advertise capabilities of newer servers says nothing about the claims,
and would stand in every failing test's output."""


@functools.cache
def kit_runtime() -> Runtime:
    """The SDK runtime of the kit's servers: the SDK's default logging, less QUIET_TARGETS.
    One per process (a runtime owns threads)."""
    default = TelemetryFilter(core_level="WARN", other_level="ERROR").formatted()
    quiet = ",".join((default, *QUIET_TARGETS))
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))


class RegisteredServer:
    """Awaitable that starts a server and registers the claims' search attributes."""

    def __init__(self, environment: WorkflowEnvironment) -> None:
        self._environment = environment

    async def __aenter__(self) -> WorkflowEnvironment:
        await ensure_search_attributes(self._environment.client)
        return self._environment

    async def __aexit__(self, *exc: object) -> None:
        await self._environment.shutdown()


async def start_time_skipping_server() -> RegisteredServer:
    """The time-skipping test server: virtual time that jumps when all is waiting."""
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(),
        data_converter=claims_data_converter,
        runtime=kit_runtime(),
    )
    return RegisteredServer(environment)


async def start_dev_server(extra_args: Sequence[str] = ()) -> RegisteredServer:
    """The real dev server (in memory): visibility and schedules; real time."""
    environment = await WorkflowEnvironment.start_local(
        # Below the ephemeral range, where the server's own internal ports can't meet it.
        port=free_port(),
        dev_server_existing_path=temporal_cli(),
        data_converter=claims_data_converter,
        dev_server_log_level="error",
        dev_server_extra_args=list(extra_args),
        runtime=kit_runtime(),
    )
    return RegisteredServer(environment)
