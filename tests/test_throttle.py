"""Throttles (issue 15): a survey link can't be mailed in a loop, and a key can't flood the
portal. Through the real portal app and the real workflow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from claims_testing.data import PUBLIC_URL
from claims_testing.environment import Mailbox
from portal.limits import DEFAULT_RATE_LIMIT
from portal.limits import RateLimit
from portal.limits import rate_limit_from_env
from portal.routes import API_PREFIX as V1
from starter.client import ClaimsClient
from starter.settings import SettingsError
from tests.api_keys import ApiKeyring
from tests.builders import CUSTOMER_CONTACT
from tests.helpers import assert_problem
from workflows.bounds import RESEND_INTERVAL

pytestmark = [pytest.mark.timeout(120)]


def send_path(eid: str, kind: str = "customer") -> str:
    return f"{V1}/claims/{eid}/surveys/{kind}/send"


@pytest.mark.claims_server("time-skipping")  # moves time: a server of its own
async def test_a_survey_resent_within_10_minutes_is_429_too_many_requests_with_retry_after(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    keyring: ApiKeyring,
    mailbox: Mailbox,
    started_eid: str,
) -> None:
    eid = started_eid
    assert (await api.post(send_path(eid), headers=keyring.admin.headers)).status_code == 200
    again = await api.post(send_path(eid), headers=keyring.user.headers)
    problem = assert_problem(again, 429, "TooManyRequests")
    assert 0 < int(again.headers["retry-after"]) <= RESEND_INTERVAL.total_seconds()
    assert "survey" in problem["detail"]
    view = (await api.get(f"{V1}/claims/{eid}", headers=keyring.admin.headers)).json()
    assert view["proof"]["customer_survey"]["sent_count"] == 1

    await env.sleep(RESEND_INTERVAL)
    later = await api.post(send_path(eid), headers=keyring.user.headers)
    assert later.status_code == 200, later.text
    assert later.json()["proof"]["customer_survey"]["sent_count"] == 2
    await mailbox.wait_for(count=2, engagement_id=eid, kind="survey_invitation")


@pytest.mark.claims_server("shared")
async def test_a_send_after_a_contact_change_is_never_throttled(
    api: httpx.AsyncClient,
    keyring: ApiKeyring,
    started_eid: str,
) -> None:
    eid = started_eid
    await api.post(send_path(eid), headers=keyring.admin.headers)
    new_contact = {**CUSTOMER_CONTACT.model_dump(mode="json"), "email": "new@customer.example"}
    changed = await api.put(
        f"{V1}/claims/{eid}/contacts",
        json={"customer_contact": new_contact},
        headers=keyring.admin.headers,
    )
    assert changed.json()["proof"]["customer_survey"]["status"] == "invalidated"
    sent = await api.post(send_path(eid), headers=keyring.admin.headers)
    assert sent.status_code == 200, sent.text
    assert sent.json()["proof"]["customer_survey"]["link_version"] == 2


@pytest.mark.claims_server("shared")
async def test_opening_the_partner_survey_directly_mails_nothing_and_is_never_throttled(
    api: httpx.AsyncClient,
    keyring: ApiKeyring,
    started_eid: str,
) -> None:
    eid = started_eid
    for _ in range(3):
        response = await api.post(
            f"{V1}/claims/{eid}/surveys/partner/link", headers=keyring.admin.headers
        )
        assert response.status_code == 200, response.text


# --- the per-key request rate ----------------------------------------------------------------


@pytest.fixture
async def limited_api(
    claims: ClaimsClient, portal_app_for: Callable[[ClaimsClient], FastAPI]
) -> AsyncIterator[httpx.AsyncClient]:
    """The portal with a rate limit of 3 requests a minute per key."""
    app = portal_app_for(claims)
    app.state.rate_limit = RateLimit(per_minute=3)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL, timeout=30) as client:
        yield client


@pytest.mark.claims_server("shared")
async def test_a_key_over_its_request_rate_is_429_with_retry_after_and_others_are_not(
    limited_api: httpx.AsyncClient, keyring: ApiKeyring
) -> None:
    for _ in range(3):
        response = await limited_api.get(f"{V1}/claims", headers=keyring.admin.headers)
        assert response.status_code == 200, response.text
    refused = await limited_api.get(f"{V1}/claims", headers=keyring.admin.headers)
    problem = assert_problem(refused, 429, "TooManyRequests")
    assert "3 requests a minute" in problem["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    # another key has its own budget; a request without a valid key spends none
    assert (await limited_api.get(f"{V1}/claims", headers={})).status_code == 401
    assert (await limited_api.get(f"{V1}/claims", headers=keyring.user.headers)).status_code == 200


def test_the_rate_limit_refills_a_request_every_60_over_the_limit_seconds() -> None:
    limit = RateLimit(per_minute=6)
    assert [limit.take("k", now=100.0) for _ in range(6)] == [0.0] * 6
    assert limit.take("k", now=100.0) == pytest.approx(10.0)
    assert limit.take("k", now=105.0) == pytest.approx(5.0)
    assert limit.take("k", now=110.0) == 0.0
    assert limit.take("other", now=110.0) == 0.0


def test_the_rate_limit_is_configured_by_claims_api_rate_limit() -> None:
    default = rate_limit_from_env({})
    assert default is not None
    assert default.per_minute == DEFAULT_RATE_LIMIT
    configured = rate_limit_from_env({"CLAIMS_API_RATE_LIMIT": "120"})
    assert configured is not None
    assert configured.per_minute == 120
    assert rate_limit_from_env({"CLAIMS_API_RATE_LIMIT": "0"}) is None
    with pytest.raises(SettingsError, match="CLAIMS_API_RATE_LIMIT"):
        rate_limit_from_env({"CLAIMS_API_RATE_LIMIT": "lots"})
