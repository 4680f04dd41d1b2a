"""A portal click is one round trip to Temporal: the claim's own validator checks role,
tenancy and state, so the portal never asks the claim first. Counted with a real
client interceptor on the Temporal client the portal uses."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.client import Interceptor
from temporalio.client import OutboundInterceptor
from temporalio.client import QueryWorkflowInput
from temporalio.client import SignalWorkflowInput
from temporalio.client import StartWorkflowUpdateInput
from temporalio.client import WorkflowUpdateHandle
from temporalio.testing import WorkflowEnvironment

from claims_testing.data import PUBLIC_URL
from starter.client import ClaimsClient
from tests.api_keys import ApiKeyring
from tests.builders import claim_input

V1 = "/api/v1"


@dataclass
class CallCounter(Interceptor):
    """Counts the queries, updates and signals a client sends to workflows."""

    calls: Counter[str] = field(default_factory=Counter)

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Counting(next, self.calls)


class _Counting(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, calls: Counter[str]) -> None:
        super().__init__(next)
        self._calls = calls

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        self._calls["query"] += 1
        return await super().query_workflow(input)

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        self._calls[f"update:{input.update}"] += 1
        return await super().start_workflow_update(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        self._calls["signal"] += 1
        await super().signal_workflow(input)


@pytest.fixture
async def counted(
    env: WorkflowEnvironment,
    claims: ClaimsClient,
    portal_app_for: Callable[[ClaimsClient], FastAPI],
) -> AsyncIterator[tuple[httpx.AsyncClient, CallCounter]]:
    counter = CallCounter()
    config = env.client.config()
    config["interceptors"] = [counter]
    counting = ClaimsClient(Client(**config), task_queue=claims.task_queue, links=claims.links)
    transport = httpx.ASGITransport(app=portal_app_for(counting))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL, timeout=30) as http:
        yield http, counter


async def test_each_claim_change_is_one_update_and_no_query(
    counted: tuple[httpx.AsyncClient, CallCounter],
    env: WorkflowEnvironment,
    claims: ClaimsClient,
    keyring: ApiKeyring,
) -> None:
    http, counter = counted
    eid = (await claims.start_claim(claim_input(await env.get_current_time()))).view.engagement_id
    clicks = [
        ("add_comment", "post", f"{V1}/claims/{eid}/comments", {"text": "hello"}),
        ("send_survey", "post", f"{V1}/claims/{eid}/surveys/customer/send", None),
        ("submit", "post", f"{V1}/claims/{eid}/submit", None),
    ]
    for update, method, path, body in clicks:
        counter.calls.clear()
        response = await http.request(method, path, json=body, headers=keyring.admin.headers)
        assert response.status_code in (200, 409), response.text
        assert counter.calls == Counter({f"update:{update}": 1}), (update, counter.calls)

    # Another partner's click is refused by the claim in the same single round trip.
    counter.calls.clear()
    hidden = await http.post(
        f"{V1}/claims/{eid}/comments", json={"text": "mine"}, headers=keyring.other.headers
    )
    assert hidden.status_code == 404
    assert hidden.json()["detail"] == f"there is no claim for engagement {eid}"
    assert counter.calls == Counter({"update:add_comment": 1})


async def test_another_partners_closed_claim_answers_404_like_an_unknown_one(
    api: httpx.AsyncClient, env: WorkflowEnvironment, claims: ClaimsClient, keyring: ApiKeyring
) -> None:
    past = (await env.get_current_time()).replace(year=2020)
    eid = (await claims.start_claim(claim_input(past))).view.engagement_id
    assert (await claims.handle(eid).result()).status == "auto_rejected"

    hidden = await api.post(
        f"{V1}/claims/{eid}/comments", json={"text": "mine now"}, headers=keyring.other.headers
    )
    assert hidden.status_code == 404, hidden.text
    assert hidden.json()["detail"] == f"there is no claim for engagement {eid}"
    empty = await api.put(f"{V1}/claims/{eid}/contacts", json={}, headers=keyring.other.headers)
    assert empty.status_code == 404, empty.text

    own = await api.post(
        f"{V1}/claims/{eid}/comments", json={"text": "late"}, headers=keyring.admin.headers
    )
    assert own.status_code == 410, own.text
