"""How every caller connects to Temporal: the claims' data converter, the payload codec
and the search attributes the claims need registered.

The worker, the command line, the portal, the dev stack and the test kit all
connect through here, so a payload written by one is always readable by the
others (the same converter and, when configured, the same encryption keys).
"""

from __future__ import annotations

import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from starter.converter import data_converter
from starter.settings import Settings
from starter.telemetry import tracing_interceptors
from workflows.search_attributes import CLAIM_ATTRIBUTES

log = logging.getLogger("claims.temporal")


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """A client for the configured server and namespace, with the claims' converter (and
    `runtime`: the worker's serves its metrics)."""
    return await Client.connect(
        **settings.temporal_connect,
        data_converter=data_converter(settings),
        runtime=runtime,
        interceptors=tracing_interceptors(),
    )


REGISTRATION: dict[str, IndexedValueType.ValueType] = {
    key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in CLAIM_ATTRIBUTES
}
"""Every attribute and its type, as `python -m starter setup` registers them."""

SETUP_COMMAND = "python -m starter setup"


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register the missing attributes on the client's namespace; returns those added.

    Works on the dev server and a self-hosted cluster; the time-skipping test
    server can't list attributes, so there each is added and "already exists"
    ignored. Where the operator API is not allowed (Temporal Cloud: use tcld or
    the Cloud UI), raises `PermissionError` naming what to register.
    """
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        known: set[str] | None = set(listed.custom_attributes) | set(listed.system_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            _raise_if_forbidden(err)
            raise
        known = None
    added = []
    for name, value_type in REGISTRATION.items():
        if known is not None and name in known:
            continue
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=client.namespace, search_attributes={name: value_type}
                )
            )
        except RPCError as err:
            if err.status == RPCStatusCode.ALREADY_EXISTS or "already exists" in err.message:
                continue
            _raise_if_forbidden(err)
            raise
        added.append(name)
    if added:
        log.info("registered search attributes %s on namespace %s", added, client.namespace)
    return added


def _raise_if_forbidden(err: RPCError) -> None:
    if err.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED):
        wanted = ", ".join(f"{n} ({IndexedValueType.Name(t)})" for n, t in REGISTRATION.items())
        raise PermissionError(
            f"not allowed to register search attributes ({err.message}); an administrator "
            f"must register {wanted}, e.g. with `{SETUP_COMMAND}` or the Cloud console"
        ) from err
