"""How our processes report to operators: Prometheus metrics from the SDK's runtime, and
log lines that name the claim they concern.

Metrics: with `CLAIMS_METRICS_BIND` set, the worker's runtime serves the SDK's own
metrics (`temporal_*`) and the claims' business metrics (emitted through the SDK's
replay-safe metric meters, see `workflows/claim.py` and `activities/claim_activities.py`)
on one Prometheus endpoint. Logs: `CLAIMS_LOG_FORMAT=json` writes one JSON object a
line, each carrying the engagement, workflow, run and activity it was written in
(taken from the activity's or workflow's context, never from the message), and no
more: log lines never carry personal data (see docs/operations.md).
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
from datetime import UTC
from datetime import datetime
from typing import Any

from opentelemetry import trace
from temporalio import activity
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig
from temporalio.runtime import Runtime
from temporalio.runtime import TelemetryConfig

from starter.settings import LogFormat
from workflows.ids import engagement_of

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def metrics_runtime(bind: str) -> Runtime:
    """An SDK runtime serving Prometheus metrics on `bind` (`host:port`): counters end in
    `_total`, the SDK's durations are in seconds."""
    prometheus = PrometheusConfig(
        bind_address=bind, counters_total_suffix=True, durations_as_seconds=True
    )
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


OTLP_ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"

current_route: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_route", default=None
)
"""The route template of the portal request being answered (set by the portal's request
middleware), so its log lines say which route they concern."""


def tracing_interceptors(env: dict[str, str] | None = None) -> list[Interceptor]:
    """With OTEL_EXPORTER_OTLP_ENDPOINT set, spans are exported there (the standard
    OTEL_* variables apply) and clients trace every call (the SDK's interceptor, which
    a worker picks up from its client); without it, nothing is traced."""
    env = dict(os.environ) if env is None else env
    if not env.get(OTLP_ENDPOINT_VARIABLE, "").strip():
        return []
    _export_spans_over_otlp()
    return [TracingInterceptor()]


@functools.cache
def _export_spans_over_otlp() -> None:
    """The process's tracer provider, exporting in batches over OTLP (once per process)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "claims")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def tracer() -> trace.Tracer:
    """The tracer of our own spans (portal requests, SMTP sends): a no-op until tracing
    is on."""
    return trace.get_tracer("workshop_claims")


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and, where the line was
    written inside an activity or a workflow, the claim it concerns."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_claim_context(record),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _claim_context(record: logging.LogRecord) -> dict[str, str]:
    """The engagement, workflow, run and activity of the code that wrote the line."""
    context: dict[str, str] = {}
    workflow = getattr(record, "temporal_workflow", None)
    if isinstance(workflow, dict):
        context["workflow_id"] = str(workflow.get("workflow_id", ""))
        context["run_id"] = str(workflow.get("run_id", ""))
    elif activity.in_activity():
        info = activity.info()
        context["workflow_id"] = info.workflow_id or ""
        context["run_id"] = info.workflow_run_id or ""
        context["activity"] = info.activity_type
    route = getattr(record, "route", None) or current_route.get()
    if route:
        context["route"] = str(route)
    workflow_id = context.get("workflow_id", "")
    context["engagement_id"] = engagement_of(workflow_id) or ""
    return {name: value for name, value in context.items() if value}


def configure_logging(log_format: LogFormat, level: int = logging.INFO) -> None:
    """The root logger's one handler, in the configured format; failed activity attempts
    as one line each (see ActivityAttemptLines)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    activity_logger = logging.getLogger(ACTIVITY_LOGGER)
    if not any(isinstance(f, ActivityAttemptLines) for f in activity_logger.filters):
        activity_logger.addFilter(ActivityAttemptLines())


ACTIVITY_LOGGER = "temporalio.activity"
FAILED_ATTEMPT = "Completing activity as failed"
"""How the SDK's activity worker starts its line for every failed attempt."""


class ActivityAttemptLines(logging.Filter):
    """Turns the SDK's warning for a failed activity attempt into one line.

    The SDK logs every failed attempt with its traceback: with the mail server down,
    about 25 lines a retry, for as long as it is down. An operator needs one line an
    attempt (which activity, which attempt, the error, when Temporal tries again);
    the traceback stays for a developer, at debug level.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(FAILED_ATTEMPT) or not activity.in_activity():
            return True
        info = activity.info()
        error = record.exc_info[1] if record.exc_info else None
        failure = f"{type(error).__name__}: {error}" if error is not None else "failed"
        record.msg = "activity %s failed on attempt %d: %s; %s"
        record.args = (info.activity_type, info.attempt, failure, next_attempt(info, error))
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            record.exc_info = None
            record.exc_text = None
        return True


def next_attempt(info: activity.Info, error: BaseException | None) -> str:
    """When Temporal will try again, from the activity's retry policy (the server keeps the
    schedule; this is the same arithmetic, for the reader of the log)."""
    policy = info.retry_policy
    if isinstance(error, ApplicationError) and error.non_retryable:
        return "not retried (the error says so)"
    if policy is None:
        return "Temporal retries it"
    if policy.maximum_attempts and info.attempt >= policy.maximum_attempts:
        return f"no attempts left (at most {policy.maximum_attempts})"
    delay = policy.initial_interval.total_seconds() * policy.backoff_coefficient ** (
        info.attempt - 1
    )
    if policy.maximum_interval is not None:
        delay = min(delay, policy.maximum_interval.total_seconds())
    return f"next attempt in about {delay:.0f} s"
