"""Throttles (issue 15): a survey link can't be mailed in a loop, and a key can't flood the
portal. Through the real portal app and the real workflow."""

from __future__ import annotations

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from claims_testing.environment import Mailbox
from portal.routes import API_PREFIX as V1
from tests.api_keys import ApiKeyring
from tests.builders import CUSTOMER_CONTACT
from tests.helpers import assert_problem, start
from workflows.bounds import RESEND_INTERVAL

pytestmark = [pytest.mark.timeout(120)]


def send_path(eid: str, kind: str = "customer") -> str:
    return f"{V1}/claims/{eid}/surveys/{kind}/send"


@pytest.mark.claims_server("time-skipping")  # moves time: a server of its own
async def test_a_survey_resent_within_10_minutes_is_429_too_many_requests_with_retry_after(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring, mailbox: Mailbox
) -> None:
    eid = (await start(api, env, keyring.admin))["engagement_id"]
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
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring
) -> None:
    eid = (await start(api, env, keyring.admin))["engagement_id"]
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
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring
) -> None:
    eid = (await start(api, env, keyring.admin))["engagement_id"]
    for _ in range(3):
        response = await api.post(
            f"{V1}/claims/{eid}/surveys/partner/link", headers=keyring.admin.headers
        )
        assert response.status_code == 200, response.text
