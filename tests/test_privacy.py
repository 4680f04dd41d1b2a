"""What a partner sees (issue 15): the customer survey's status, not its answers or its
respondent; reviewers as "program reviewer". Reviewers see it all. Through the real portal."""

from __future__ import annotations

import json

import httpx
import pytest

from claims_testing.data import REVIEWER
from claims_testing.factory import ClaimFactory
from portal.privacy import PROGRAM_REVIEWER
from portal.routes import API_PREFIX as V1
from tests.api_keys import ApiKeyring

pytestmark = [pytest.mark.timeout(90), pytest.mark.claims_server("shared")]

CUSTOMER_SAYS: dict[str, str | int | float] = {"rating": 2, "remarks": "the trainer was late"}
CUSTOMER_RESPONDENT = "carla.private@customer.example"


@pytest.fixture
async def reviewed_claim(claim_factory: ClaimFactory) -> str:
    """A claim whose customer answered the survey and that a reviewer asked a question about."""
    view = await claim_factory("in_progress", items=["results_and_recommendations", "invoice"])
    eid = view.engagement_id
    for kind in ("partner", "customer"):
        await claim_factory.send_survey(eid, kind)
    await claim_factory.complete_survey(
        eid, "customer", respondent=CUSTOMER_RESPONDENT, answers=CUSTOMER_SAYS
    )
    await claim_factory.complete_survey(eid, "partner")
    await claim_factory.submit(eid)
    await claim_factory.request_info(eid)
    return eid


async def test_a_partner_sees_the_customer_survey_status_but_not_its_answers_or_respondent(
    api: httpx.AsyncClient, keyring: ApiKeyring, reviewed_claim: str
) -> None:
    for path in (f"{V1}/claims/{reviewed_claim}", f"{V1}/claims/{reviewed_claim}/history"):
        response = await api.get(path, headers=keyring.user.headers)
        assert response.status_code == 200, response.text
        text = response.text
        assert CUSTOMER_RESPONDENT not in text
        assert "the trainer was late" not in text
    view = (await api.get(f"{V1}/claims/{reviewed_claim}", headers=keyring.user.headers)).json()
    assert view["proof"]["customer_survey"]["status"] == "completed"
    [completed] = [
        entry
        for entry in view["history"]
        if entry["event"] == "survey_completed" and entry["detail"]["kind"] == "customer"
    ]
    assert completed["detail"] == {"kind": "customer", "link_version": 1}


async def test_a_partner_sees_reviewers_as_program_reviewer_and_reviewers_see_everything(
    api: httpx.AsyncClient, keyring: ApiKeyring, reviewed_claim: str
) -> None:
    seen = (await api.get(f"{V1}/claims/{reviewed_claim}", headers=keyring.admin.headers)).json()
    assert REVIEWER.user not in json.dumps(seen)
    assert {question["actor"]["user"] for question in seen["questions"]} == {PROGRAM_REVIEWER}
    asked = [entry for entry in seen["history"] if entry["event"] == "info_requested"]
    assert asked[0]["actor"] == {"user": PROGRAM_REVIEWER, "role": "reviewer"}

    full = (await api.get(f"{V1}/claims/{reviewed_claim}", headers=keyring.reviewer.headers)).json()
    text = json.dumps(full)
    assert REVIEWER.user in text
    assert CUSTOMER_RESPONDENT in text
    assert "the trainer was late" in text


async def test_a_partners_change_answers_the_view_as_the_partner_may_see_it(
    api: httpx.AsyncClient, keyring: ApiKeyring, reviewed_claim: str
) -> None:
    response = await api.post(
        f"{V1}/claims/{reviewed_claim}/comments",
        json={"text": "we will answer"},
        headers=keyring.admin.headers,
    )
    assert response.status_code == 200, response.text
    assert CUSTOMER_RESPONDENT not in response.text
    assert REVIEWER.user not in response.text
