"""Hardening at the edges (issue 15), through the real portal app and real Temporal servers:
limits before parsing, every error a problem document with the security headers, a stuck
worker or an unreachable server answered 503 in time, never a hang."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from activities.store import ClaimStore
from claims_testing.data import PUBLIC_URL
from claims_testing.environment import Mailbox
from claims_testing.servers import start_dev_server
from portal.limits import MAX_JSON_BODY_BYTES
from portal.routes import API_PREFIX as V1
from portal.security import SECURITY_HEADERS
from starter.client import ClaimsClient
from tests.api_keys import ApiKeyHolder
from tests.api_keys import ApiKeyring
from tests.builders import PARTNER_ADMIN
from tests.helpers import Registry
from tests.helpers import assert_problem
from tests.helpers import sent_survey_token
from tests.helpers import start
from tests.helpers import start_body
from worker import create_worker
from workflows.messages import AddComment

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
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    keyring: ApiKeyring,
    registry: Registry,
) -> None:
    view = await start(api, env, registry, keyring.admin)
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
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    keyring: ApiKeyring,
    authorization: str | None,
    registry: Registry,
) -> None:
    view = await start(api, env, registry, keyring.admin)
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


# --- every error a problem document ----------------------------------------------------------


@pytest.mark.claims_server("shared")
async def test_an_unexpected_error_is_a_500_problem_that_names_nothing_of_it(
    api_app: FastAPI, store: ClaimStore, keyring: ApiKeyring
) -> None:
    async with store.engine.begin() as connection:
        await connection.execute(sa.text("DROP TABLE claims"))  # the read model breaks
    async with await client_for(api_app) as api:
        response = await api.get(f"{V1}/claims", headers=keyring.admin.headers)
    problem = assert_problem(response, 500, "InternalError")
    assert_security_headers(response)
    assert problem["instance"] == f"{V1}/claims"
    leaked = json.dumps({**problem, "instance": None}).lower()
    for word in ("sqlite", "such table", "select", "traceback", "sqlalchemy", "operational"):
        assert word not in leaked, word


@pytest.mark.claims_server("shared")
@pytest.mark.parametrize("origin", ["http://[::1", "http://claims.example:99999", "http://a:b"])
async def test_a_survey_form_with_a_malformed_origin_is_403(
    api: httpx.AsyncClient,
    claims: ClaimsClient,
    env: WorkflowEnvironment,
    keyring: ApiKeyring,
    origin: str,
    registry: Registry,
) -> None:
    view = await start(api, env, registry, keyring.admin)
    token = await sent_survey_token(claims, view["engagement_id"], "customer")
    response = await api.post(
        f"/surveys/{token}",
        content=b"rating=5",
        headers={"origin": origin, "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 403
    assert_security_headers(response)


@dataclass
class DevPortal:
    """The portal on the dev server, with a worker the test starts and stops."""

    env: WorkflowEnvironment
    activities: ClaimActivities
    task_queue: str
    claims: ClaimsClient
    api: httpx.AsyncClient

    def worker(self) -> Worker:
        return create_worker(self.env.client, self.task_queue, self.activities)


@pytest.fixture
async def dev_portal(
    dev_env: WorkflowEnvironment,
    activities: ClaimActivities,
    links: SurveyLinks,
    task_queue: str,
    portal_app_for: Callable[[ClaimsClient], FastAPI],
) -> AsyncIterator[DevPortal]:
    claims = ClaimsClient(dev_env.client, task_queue=task_queue, links=links)
    async with await client_for(portal_app_for(claims)) as api:
        yield DevPortal(dev_env, activities, task_queue, claims, api)


@pytest.mark.slow
@pytest.mark.faults
async def test_a_stuck_worker_answers_503_with_retry_after_within_15_seconds(
    dev_portal: DevPortal,
    keyring: ApiKeyring,
    registry: Registry,
) -> None:
    api = dev_portal.api
    async with dev_portal.worker():
        view = await start(api, dev_portal.env, registry, keyring.admin)
    eid = view["engagement_id"]
    # the worker is gone: the claim can neither answer a query nor take an update
    for method, path, body in (
        ("GET", f"{V1}/claims/{eid}", None),
        ("POST", f"{V1}/claims/{eid}/comments", {"text": "still there?"}),
    ):
        began = time.monotonic()
        response = await api.request(method, path, json=body, headers=keyring.admin.headers)
        took = time.monotonic() - began
        assert_problem(response, 503, "Unavailable")
        assert int(response.headers["retry-after"]) > 0
        assert_security_headers(response)
        assert took < 15, f"{method} {path} took {took:.1f}s"


@pytest.mark.slow
@pytest.mark.faults
async def test_an_unreachable_temporal_server_answers_503_with_retry_after(
    portal_app_for: Callable[[ClaimsClient], FastAPI], keyring: ApiKeyring, links: SurveyLinks
) -> None:
    server = await start_dev_server()
    environment = await server.__aenter__()
    claims = ClaimsClient(environment.client, task_queue="nobody", links=links)
    await server.__aexit__(None, None, None)  # the server goes away under the portal
    async with await client_for(portal_app_for(claims)) as api:
        began = time.monotonic()
        response = await api.get(f"{V1}/claims/E-gone", headers=keyring.admin.headers)
    assert_problem(response, 503, "Unavailable")
    assert int(response.headers["retry-after"]) > 0
    assert time.monotonic() - began < 15


# --- idempotency -----------------------------------------------------------------------------


async def comments_of(api: httpx.AsyncClient, eid: str, holder: ApiKeyHolder) -> list[str]:
    """The claim's comments (the `get_claim` view has them; an update's answer does not)."""
    view = (await api.get(f"{V1}/claims/{eid}", headers=holder.headers)).json()
    return [comment["text"] for comment in view["comments"]]


@pytest.fixture
def eid(started_eid: str) -> str:
    """The engagement of a claim a partner's admin just started through the portal."""
    return started_eid


@pytest.mark.claims_server("shared")
async def test_a_change_retried_with_its_idempotency_key_acts_once_and_answers_the_same(
    api: httpx.AsyncClient, keyring: ApiKeyring, eid: str
) -> None:
    path = f"{V1}/claims/{eid}/comments"
    headers = {**keyring.admin.headers, "Idempotency-Key": str(uuid.uuid4())}
    first = await api.post(path, json={"text": "once"}, headers=headers)
    again = await api.post(path, json={"text": "once"}, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
    assert await comments_of(api, eid, keyring.admin) == ["once"]
    # without a key, or with a new one, every request is a change of its own
    await api.post(path, json={"text": "twice"}, headers=keyring.admin.headers)
    await api.post(
        path, json={"text": "thrice"}, headers={**headers, "Idempotency-Key": "another-key"}
    )
    assert await comments_of(api, eid, keyring.admin) == ["once", "twice", "thrice"]


@pytest.mark.claims_server("shared")
async def test_a_survey_resent_with_the_same_idempotency_key_mails_once(
    api: httpx.AsyncClient, keyring: ApiKeyring, mailbox: Mailbox, eid: str
) -> None:
    headers = {**keyring.admin.headers, "Idempotency-Key": f"send-{uuid.uuid4()}"}
    path = f"{V1}/claims/{eid}/surveys/customer/send"
    answers = [await api.post(path, headers=headers) for _ in range(3)]
    assert {answer.status_code for answer in answers} == {200}
    assert answers[0].json() == answers[2].json()
    assert answers[0].json()["proof"]["customer_survey"]["sent_count"] == 1
    view = (await api.get(f"{V1}/claims/{eid}", headers=keyring.admin.headers)).json()
    assert view["proof"]["customer_survey"]["sent_count"] == 1
    await mailbox.wait_for(engagement_id=eid, kind="survey_invitation")
    assert len(mailbox.find(engagement_id=eid, kind="survey_invitation")) == 1


@pytest.mark.claims_server("shared")
async def test_one_callers_idempotency_key_never_answers_another_caller(
    api: httpx.AsyncClient, keyring: ApiKeyring, eid: str
) -> None:
    path = f"{V1}/claims/{eid}/comments"
    await api.post(
        path, json={"text": "admin's"}, headers={**keyring.admin.headers, "Idempotency-Key": "k1"}
    )
    await api.post(
        path, json={"text": "user's"}, headers={**keyring.user.headers, "Idempotency-Key": "k1"}
    )
    assert await comments_of(api, eid, keyring.user) == ["admin's", "user's"]


@pytest.mark.claims_server("shared")
@pytest.mark.parametrize(
    "key", ["", "x" * 129, "has space", "slash/key", "semi;colon", "-leading-dash"]
)
async def test_a_malformed_idempotency_key_is_invalid_input_naming_the_header(
    api: httpx.AsyncClient, keyring: ApiKeyring, key: str, eid: str
) -> None:
    response = await api.post(
        f"{V1}/claims/{eid}/comments",
        json={"text": "hello"},
        headers={**keyring.admin.headers, "Idempotency-Key": key},
    )
    problem = assert_problem(response, 422, "InvalidInput")
    assert problem["errors"][0]["field"] == "Idempotency-Key"


async def test_a_change_that_timed_out_is_retried_with_its_key_once_the_worker_is_back(
    dev_portal: DevPortal,
    keyring: ApiKeyring,
    registry: Registry,
) -> None:
    api, claims = dev_portal.api, dev_portal.claims
    claims.rpc_timeout = timedelta(seconds=3)
    async with dev_portal.worker():
        eid = (await start(api, dev_portal.env, registry, keyring.admin))["engagement_id"]
    path = f"{V1}/claims/{eid}/comments"
    headers = {**keyring.admin.headers, "Idempotency-Key": str(uuid.uuid4())}
    stuck = await api.post(path, json={"text": "sent while stuck"}, headers=headers)
    assert_problem(stuck, 503, "Unavailable")
    # the update waits in the server; the retry with its key attaches to it
    claims.rpc_timeout = timedelta(seconds=30)
    async with dev_portal.worker():
        retried = await api.post(path, json={"text": "sent while stuck"}, headers=headers)
        assert retried.status_code == 200, retried.text
        assert await comments_of(api, eid, keyring.admin) == ["sent while stuck"]
        # the client alone, the same way: one update id, sent twice, acts once
        msg = AddComment(text="by the client", actor=PARTNER_ADMIN)
        await claims.add_comment(eid, msg, update_id="client-1")
        await claims.add_comment(eid, msg, update_id="client-1")
        view = await claims.get_claim(eid)
    assert [comment.text for comment in view.comments] == ["sent while stuck", "by the client"]
