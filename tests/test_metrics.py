"""The worker's Prometheus endpoint while claims run: the SDK's own metrics and the claims'
business metrics, each with its labels, counted once however often a claim is replayed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from claims_testing.factory import ClaimFactory
from claims_testing.factory import WallClock
from devstack.binaries import temporal_cli
from devstack.binaries import temporal_test_server
from devstack.mailcatcher import free_port
from starter.client import ClaimRefused
from starter.client import ClaimsClient
from starter.converter import claims_data_converter
from starter.telemetry import metrics_runtime
from starter.temporal import ensure_search_attributes
from tests.builders import PARTNER_ADMIN
from tests.helpers import Sample
from tests.helpers import parse_metrics
from tests.helpers import total
from worker import create_worker
from workflows.messages import Submit


@dataclass(frozen=True)
class Metered:
    env: WorkflowEnvironment
    url: str


@pytest.fixture(params=["time-skipping", "dev"])
async def metered(request: pytest.FixtureRequest) -> AsyncIterator[Metered]:
    """A server whose client runs on a runtime serving Prometheus metrics, as the worker's
    does with CLAIMS_METRICS_BIND."""
    bind = f"127.0.0.1:{free_port()}"
    runtime = metrics_runtime(bind)
    if request.param == "dev":
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(),
            data_converter=claims_data_converter,
            dev_server_log_level="error",
            runtime=runtime,
        )
    else:
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=temporal_test_server(),
            data_converter=claims_data_converter,
            runtime=runtime,
        )
    async with env:
        await ensure_search_attributes(env.client)
        yield Metered(env, f"http://{bind}/metrics")


async def scrape_until(url: str, done: list[tuple[str, dict[str, str], float]]) -> list[Sample]:
    """Scrape until every (name, labels, at least) holds; fail listing what was seen."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=10) as http:
        while True:
            samples = parse_metrics((await http.get(url)).text)
            if all(total(samples, name, **labels) >= least for name, labels, least in done):
                return samples
            if time.monotonic() > deadline:
                seen = sorted({s.name for s in samples if s.name.startswith("claims_")})
                raise AssertionError(f"metrics never reached {done}; claims_* seen: {seen}")
            await asyncio.sleep(0.2)


async def test_business_and_sdk_metrics_are_served_with_their_labels_and_counted_once(
    metered: Metered,
    activities: ClaimActivities,
    links: SurveyLinks,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No workflow cache: every workflow task replays the claim from its first event, so a
    # metric that is not replay-safe would be counted again at every task.
    monkeypatch.setenv("CLAIMS_MAX_CACHED_WORKFLOWS", "0")
    async with create_worker(metered.env.client, task_queue, activities):
        claims = ClaimsClient(metered.env.client, task_queue=task_queue, links=links)
        factory = ClaimFactory(claims, WallClock())
        claim = await factory.new_claim()
        await factory.start(claim)
        with pytest.raises(ClaimRefused):
            await claims.submit(claim.engagement_id, Submit(actor=PARTNER_ADMIN))
        await factory.provide(claim.engagement_id, {"partner_survey", "customer_survey"})
        await factory.provide(claim.engagement_id, {"results_and_recommendations", "invoice"})
        await factory.submit(claim.engagement_id)
        await factory.approve(claim.engagement_id)

        samples = await scrape_until(
            metered.url,
            [
                ("claims_status_transitions_total", {"to": "approved"}, 1),
                ("claims_notifications_total", {"kind": "approved", "outcome": "sent"}, 2),
                ("claims_decision_seconds_count", {}, 1),
            ],
        )

    transitions = {
        s.labels["to"]: s.value for s in samples if s.name == "claims_status_transitions_total"
    }
    assert transitions == {"in_progress": 1, "submitted": 1, "approved": 1}
    refusals = [s for s in samples if s.name == "claims_update_refusals_total"]
    assert [(s.labels["update"], s.labels["type"], s.value) for s in refusals] == [
        ("submit", "Incomplete", 1)
    ]
    invitations = total(samples, "claims_notifications_total", kind="survey_invitation")
    assert invitations == 3  # two partner contacts and the customer, each once
    assert total(samples, "claims_notifications_total", outcome="failed") == 0
    assert total(samples, "claims_decision_seconds_count") == 1
    assert total(samples, "claims_read_model_write_seconds_count") >= 6
    assert any(s.name.startswith("temporal_") for s in samples)
    for sample in samples:
        if sample.name == "claims_notifications_total":
            assert {"kind", "outcome"} <= set(sample.labels)
