"""A property-based fuzz of the portal API from its own OpenAPI document (schemathesis).

Every operation gets requests generated from the document, valid and invalid
ones, sent to the real app (in process, over httpx's ASGI transport) with the
real workflows behind it. Every response must be a non-5xx that its
operation documents, with the documented content type and a body that fits
the documented schema.

Hypothesis runs in a worker thread and hands each request to the test's event
loop, where the app, the Temporal client and the database live. Examples are
bounded and derandomized, so the run takes well under two minutes and CI sees
the same cases every time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.checks import status_code_conformance
from temporalio.testing import WorkflowEnvironment

from claims_testing.data import PUBLIC_URL
from starter.client import ClaimsClient
from tests.api_keys import ApiKeyring
from tests.builders import claim_input

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}
FREE_PATH_EXAMPLES = 5
"""Examples whose engagement id is generated too (mostly unknown claims: 404)."""


def _send(loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> Callable[..., Any]:
    """Send a case from the Hypothesis thread through the app on the test's loop."""

    def send(case: Case[Any], headers: dict[str, str]) -> httpx.Response:
        kwargs = case.as_transport_kwargs(base_url=PUBLIC_URL, headers=headers)
        prepared = requests.Request(
            method=kwargs["method"],
            url=kwargs["url"],
            headers=kwargs.get("headers"),
            params=kwargs.get("params"),
            cookies=kwargs.get("cookies"),
            json=kwargs.get("json"),
            data=kwargs.get("data"),
            files=kwargs.get("files"),
        ).prepare()
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        assert body is None or isinstance(body, bytes)
        assert prepared.method is not None
        assert prepared.url is not None
        wire_headers = {
            name: value if isinstance(value, str) else value.decode("latin-1")
            for name, value in prepared.headers.items()
        }
        request = client.request(prepared.method, prepared.url, headers=wire_headers, content=body)
        future = asyncio.run_coroutine_threadsafe(request, loop)
        response: httpx.Response = future.result(timeout=60)
        return response

    return send


async def test_fuzzed_requests_never_get_a_5xx_or_an_undocumented_response(
    api_app: FastAPI,
    keyring: ApiKeyring,
    env: WorkflowEnvironment,
    claims: ClaimsClient,
) -> None:
    started = await claims.start_claim(claim_input(await env.get_current_time()))
    engagement_id = started.view.engagement_id
    schema = schemathesis.openapi.from_dict(api_app.openapi())
    transport = httpx.ASGITransport(app=api_app, raise_app_exceptions=False)
    loop = asyncio.get_running_loop()
    stats: dict[str, int] = {}

    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL, timeout=60) as client:
        send = _send(loop, client)

        def fuzz(operation: Any, mode: GenerationMode, examples: int, fixed: bool) -> None:
            reviewing = "review" in operation.tags if operation.tags else False
            headers = (keyring.reviewer if reviewing else keyring.admin).headers
            path_parameters = (
                {"engagement_id": engagement_id}
                if fixed and "{engagement_id}" in operation.path
                else None
            )

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(
                case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
            )
            def check(case: Case[Any]) -> None:
                response = send(case, headers)
                stats[str(response.status_code)] = stats.get(str(response.status_code), 0) + 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except FailureGroup as failure:
                    raise AssertionError(
                        f"{case.method} {case.formatted_path} -> {response.status_code}\n"
                        f"{response.text[:2000]}\n{failure}"
                    ) from None

            check()

        def run_all() -> None:
            for result in schema.get_all_operations():
                assert isinstance(result, Ok), result
                operation = result.ok()
                for mode, examples in EXAMPLES.items():
                    fuzz(operation, mode, examples, fixed=True)
                if "{engagement_id}" in operation.path:
                    fuzz(operation, GenerationMode.POSITIVE, FREE_PATH_EXAMPLES, fixed=False)

        await asyncio.to_thread(run_all)

    assert not any(code.startswith("5") for code in stats), stats
    # The fuzz reached the claims, not only the front door.
    assert stats.get("200", 0) > 0, stats
    assert stats.get("422", 0) > 0, stats
