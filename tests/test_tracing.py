"""Tracing: one portal request is one trace, through the update, the workflow task that
schedules the mail, the mail activity and its SMTP send (spans kept in memory here)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from claims_testing.data import PUBLIC_URL
from claims_testing.environment import Mailbox
from starter.client import ClaimsClient
from tests.api_keys import ApiKeyring
from tests.helpers import start_claim_now
from worker import create_worker

SEND = "POST /api/v1/claims/{engagement_id}/surveys/{kind}/send"


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """The process's tracer provider (set once per process), keeping spans in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


async def finished(spans: InMemorySpanExporter, *names: str) -> dict[str, ReadableSpan]:
    """Wait until spans of every name have ended; the latest of each, by name."""
    deadline = time.monotonic() + 60
    while True:
        by_name = {span.name: span for span in spans.get_finished_spans()}
        if all(name in by_name for name in names):
            return by_name
        assert time.monotonic() < deadline, f"spans never ended: {set(names) - set(by_name)}"
        await asyncio.sleep(0.05)


async def test_a_portal_request_is_one_trace_down_to_the_smtp_send(
    spans: InMemorySpanExporter,
    env: WorkflowEnvironment,
    activities: ClaimActivities,
    links: SurveyLinks,
    mailbox: Mailbox,
    keyring: ApiKeyring,
    task_queue: str,
    portal_app_for: Callable[[ClaimsClient], FastAPI],
) -> None:
    traced = Client(**(env.client.config() | {"interceptors": [TracingInterceptor()]}))
    async with create_worker(traced, task_queue, activities):
        claims = ClaimsClient(traced, task_queue=task_queue, links=links)
        app = portal_app_for(claims)
        eid = await start_claim_now(env, claims)
        spans.clear()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as http:
            sent = await http.post(
                f"/api/v1/claims/{eid}/surveys/customer/send", headers=keyring.admin.headers
            )
        assert sent.status_code == 200, sent.text
        await mailbox.wait_for(kind="survey_invitation", engagement_id=eid)
        by_name = await finished(
            spans,
            SEND,
            "StartWorkflowUpdate:send_survey",
            "HandleUpdate:send_survey",
            "StartActivity:send_notification",
            "RunActivity:send_notification",
            "smtp send",
        )

    request = by_name[SEND]
    assert request.context is not None
    one_trace = request.context.trace_id
    for name in (
        "StartWorkflowUpdate:send_survey",
        "StartActivity:send_notification",
        "RunActivity:send_notification",
        "smtp send",
    ):
        context = by_name[name].context
        assert context is not None, name
        assert context.trace_id == one_trace, name
    run_activity = by_name["RunActivity:send_notification"].context
    smtp_parent = by_name["smtp send"].parent
    assert run_activity is not None
    assert smtp_parent is not None
    assert smtp_parent.span_id == run_activity.span_id
    # The SDK runs the handler in the claim's own trace, linked to the request's update.
    update = by_name["StartWorkflowUpdate:send_survey"].context
    handler_links = by_name["HandleUpdate:send_survey"].links
    assert update is not None
    assert [link.context.span_id for link in handler_links] == [update.span_id]
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
