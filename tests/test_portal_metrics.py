"""The portal's metrics: every request by route template and status, its latency, the
problems answered by type, served on a bind of their own and never through the API."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import generate_latest
from temporalio.testing import WorkflowEnvironment

from devstack.mailcatcher import free_port
from portal.metrics import PortalMetrics
from starter.client import ClaimsClient
from tests.api_keys import ApiKeyring
from tests.builders import claim_input
from tests.helpers import parse_metrics
from tests.helpers import total

V1 = "/api/v1"
CLAIM = f"{V1}/claims/{{engagement_id}}"


async def test_requests_latency_and_problems_are_counted_by_route_template(
    api: httpx.AsyncClient,
    api_app: FastAPI,
    env: WorkflowEnvironment,
    claims: ClaimsClient,
    keyring: ApiKeyring,
) -> None:
    eid = (await claims.start_claim(claim_input(await env.get_current_time()))).view.engagement_id
    h = keyring.admin.headers
    assert (await api.get(f"{V1}/claims/{eid}", headers=h)).status_code == 200
    assert (await api.post(f"{V1}/claims/{eid}/submit", headers=h)).status_code == 409
    assert (await api.get(f"{V1}/claims/{eid}", headers=keyring.other.headers)).status_code == 404
    assert (await api.get("/nothing", headers=h)).status_code == 404

    metrics: PortalMetrics = api_app.state.metrics
    samples = parse_metrics(generate_latest(metrics.registry).decode())

    requests = "portal_requests_total"
    assert total(samples, requests, route=CLAIM, method="GET", status="200") == 1
    assert total(samples, requests, route=CLAIM, method="GET", status="404") == 1
    assert total(samples, requests, route=f"{CLAIM}/submit", method="POST", status="409") == 1
    assert total(samples, requests, route="unmatched", status="404") == 1
    assert not [s for s in samples if eid in str(s.labels)]  # ids never become labels
    assert total(samples, "portal_problems_total", type="Incomplete") == 1
    assert total(samples, "portal_problems_total", type="NotFound") == 2
    assert total(samples, "portal_request_seconds_count", route=CLAIM, method="GET") == 2


async def test_metrics_are_served_on_their_own_bind_and_not_through_the_api(
    api: httpx.AsyncClient, api_app: FastAPI, keyring: ApiKeyring
) -> None:
    for holder in (keyring.admin, keyring.reviewer):
        answer = await api.get("/metrics", headers=holder.headers)
        assert answer.status_code == 404
        assert "portal_requests" not in answer.text

    bind = f"127.0.0.1:{free_port()}"
    server = api_app.state.metrics.serve(bind)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            scraped = await http.get(f"http://{bind}/metrics")
    finally:
        server.shutdown()
    assert scraped.status_code == 200
    samples = parse_metrics(scraped.text)
    assert total(samples, "portal_requests_total", route="unmatched", status="404") == 2
