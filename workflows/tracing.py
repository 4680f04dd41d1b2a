"""Carries a portal request's trace to the mail it leads to.

With tracing on (the SDK's OpenTelemetry interceptor, see starter/telemetry.py),
an update reaches the workflow with its caller's trace context in a header. The
SDK runs the update's handler in the claim's own trace and only links the
caller's, and the mail the update queues is sent later, by the mail loop. So the
trace context is kept: `UpdateTraceInterceptor` makes the update's header readable
while its handler runs (`update_trace()`), the workflow stores it on the
notifications the handler queues, and the mail loop starts their activity
`continuing(...)` that trace: the request, the mail activity and its SMTP send
are then one trace. Deterministic: only span ids travel, as data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

from temporalio import workflow
from temporalio.worker import HandleUpdateInput
from temporalio.worker import Interceptor
from temporalio.worker import WorkflowInboundInterceptor
from temporalio.worker import WorkflowInterceptorClassInput

with workflow.unsafe.imports_passed_through():
    import opentelemetry.context
    import opentelemetry.propagate

TRACE_HEADER = "_tracer-data"
"""The header the SDK's OpenTelemetry interceptor carries a trace context in."""

UPDATE_TRACE_ATTRIBUTE = "_update_trace"
"""Where, on the workflow instance, the running update's trace context is kept (the
instance is what both the interceptor and the handler reach, in or out of the sandbox;
a claim's update handlers don't await, so no other update runs in between)."""


def update_trace(instance: object) -> dict[str, str]:
    """The trace context of the update whose handler is running (empty: none)."""
    return dict(getattr(instance, UPDATE_TRACE_ATTRIBUTE, None) or {})


@contextlib.contextmanager
def continuing(carrier: Mapping[str, str]) -> Iterator[None]:
    """Run the block in the trace `carrier` names (nothing changes when it is empty)."""
    if not carrier:
        yield
        return
    context = opentelemetry.propagate.extract(
        dict(carrier), context=opentelemetry.context.get_current()
    )
    token = opentelemetry.context.attach(context)
    try:
        yield
    finally:
        opentelemetry.context.detach(token)


class UpdateTraceInterceptor(Interceptor):
    """Worker interceptor: makes an update's trace header readable to its handler."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _UpdateTraceInbound


class _UpdateTraceInbound(WorkflowInboundInterceptor):
    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        header = input.headers.get(TRACE_HEADER)
        carrier = workflow.payload_converter().from_payloads([header])[0] if header else None
        instance = workflow.instance()
        setattr(instance, UPDATE_TRACE_ATTRIBUTE, carrier if isinstance(carrier, dict) else {})
        try:
            return await super().handle_update_handler(input)
        finally:
            setattr(instance, UPDATE_TRACE_ATTRIBUTE, {})
