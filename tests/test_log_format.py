"""CLAIMS_LOG_FORMAT=json: one JSON object a line, naming the claim it was written for."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys

from temporalio import activity
from temporalio.testing import ActivityEnvironment

from starter.client import workflow_id
from starter.telemetry import JsonLogFormatter


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("claims.mail", logging.WARNING, __file__, 1, message, args, None)


async def test_a_line_written_in_an_activity_names_its_claim_workflow_run_and_activity() -> None:
    formatter = JsonLogFormatter()
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id=workflow_id("ENG-7"),
        workflow_run_id="run-1",
        activity_type="send_notification",
    )

    @activity.defn(name="send_notification")
    async def logs() -> str:
        return formatter.format(_record("mail server busy: %s", "421"))

    line = json.loads(await env.run(logs))

    assert line["message"] == "mail server busy: 421"
    assert line["level"] == "WARNING"
    assert line["logger"] == "claims.mail"
    assert line["engagement_id"] == "ENG-7"
    assert line["workflow_id"] == "workshop-claim-ENG-7"
    assert line["run_id"] == "run-1"
    assert line["activity"] == "send_notification"


def test_a_line_outside_any_claim_has_no_claim_fields_and_keeps_its_error() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("stopping")
        record.exc_info = sys.exc_info()
    line = json.loads(JsonLogFormatter().format(record))
    assert set(line) == {"time", "level", "logger", "message", "error"}
    assert "ValueError: boom" in line["error"]
