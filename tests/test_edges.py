"""Hardening at the edges (issue 15), through the real portal app and real Temporal servers:
limits before parsing, every error a problem document with the security headers, a stuck
worker or an unreachable server answered 503 in time, never a hang."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from claims_testing.data import PUBLIC_URL
from portal.limits import MAX_JSON_BODY_BYTES
from portal.routes import API_PREFIX as V1
from portal.security import SECURITY_HEADERS
from tests.api_keys import ApiKeyring
from tests.helpers import assert_problem, start, start_body

pytestmark = [pytest.mark.timeout(120)]


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS:
        assert response.headers.get(name.decode()) == value.decode(), name


class Feed:
    """A request body that streams `chunk`s for as long as it is read, counting what was read."""

    def __init__(self, chunk: bytes, chunks: int) -> None:
        self.chunk = chunk
        self.chunks = chunks
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.read += len(self.chunk)
            yield self.chunk


async def client_for(app: FastAPI) -> httpx.AsyncClient:
    """An in-process HTTP client that, like a real server, answers an app's crash as a
    response rather than raising it into the test."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL, timeout=60)


# --- limits before parsing -------------------------------------------------------------------


@pytest.mark.claims_server("shared")
async def test_a_json_body_over_64_kib_is_413_payload_too_large(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring
) -> None:
    body = start_body(await env.get_current_time())
    body["padding"] = "x" * MAX_JSON_BODY_BYTES
    response = await api.post(f"{V1}/claims", json=body, headers=keyring.admin.headers)
    problem = assert_problem(response, 413, "PayloadTooLarge")
    assert str(MAX_JSON_BODY_BYTES) in problem["detail"]
    assert_security_headers(response)


@pytest.mark.claims_server("shared")
async def test_a_streamed_body_without_a_length_is_counted_and_refused_at_the_limit(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring
) -> None:
    view = await start(api, env, keyring.admin)
    feed = Feed(b"x" * 16 * 1024, chunks=64 * 1024)  # 1 GiB if it were all read
    response = await api.post(
        f"{V1}/claims/{view['engagement_id']}/comments",
        content=feed,
        headers={**keyring.admin.headers, "content-type": "application/json"},
    )
    assert_problem(response, 413, "PayloadTooLarge")
    assert feed.read <= MAX_JSON_BODY_BYTES + len(feed.chunk)


@pytest.mark.claims_server("shared")
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-key", "Basic dXNlcjpwYXNz"])
async def test_a_request_without_a_valid_key_is_401_before_its_body_is_read(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring, authorization: str | None
) -> None:
    view = await start(api, env, keyring.admin)
    feed = Feed(b"x" * 64 * 1024, chunks=16 * 1024)  # 1 GiB if it were all read
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    response = await api.post(
        f"{V1}/claims/{view['engagement_id']}/comments", content=feed, headers=headers
    )
    assert_problem(response, 401, "Unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert feed.read <= len(feed.chunk)
    assert_security_headers(response)


@pytest.mark.claims_server("shared")
async def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body(
    api: httpx.AsyncClient, keyring: ApiKeyring
) -> None:
    feed = Feed(b"{}", chunks=1)
    response = await api.post(
        f"{V1}/claims",
        content=feed,
        headers={
            **keyring.admin.headers,
            "content-type": "application/json",
            "content-length": str(10 * 1024**3),
        },
    )
    assert_problem(response, 413, "PayloadTooLarge")
    assert feed.read == 0
