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

import json
import logging
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from starter.client import WORKFLOW_ID_PREFIX
from starter.settings import LogFormat

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def metrics_runtime(bind: str) -> Runtime:
    """An SDK runtime serving Prometheus metrics on `bind` (`host:port`): counters end in
    `_total`, the SDK's durations are in seconds."""
    prometheus = PrometheusConfig(
        bind_address=bind, counters_total_suffix=True, durations_as_seconds=True
    )
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


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
    route = getattr(record, "route", None)
    if route:
        context["route"] = str(route)
    workflow_id = context.get("workflow_id", "")
    if workflow_id.startswith(WORKFLOW_ID_PREFIX):
        context["engagement_id"] = workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
    return {name: value for name, value in context.items() if value}


def configure_logging(log_format: LogFormat, level: int = logging.INFO) -> None:
    """The root logger's one handler, in the configured format."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
