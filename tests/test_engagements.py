"""The engagement registry through the portal, on the real app, the real workflows
(time-skipping server), the real SMTP sink and a SQLite store: recording engagements,
the eligible list, a partner's claim of a recorded engagement, and the consent request
(30 days, reminders, the consent page)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.engagements import EngagementRegistry
from activities.store import ClaimStore
from claims_testing.data import PUBLIC_URL
from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import consent_link
from starter.client import ClaimRefused
from starter.client import ClaimsClient
from starter.client import workflow_id
from tests.api_keys import OTHER_PARTNER_ID
from tests.api_keys import ApiKeyHolder
from tests.api_keys import ApiKeyring
from tests.builders import CUSTOMER_CONTACT
from tests.builders import claim_input
from tests.builders import new_engagement
from tests.helpers import assert_problem
from tests.helpers import post_form_page
from tests.helpers import recorded_start_body
from tests.helpers import wait_for_rows
from workflows.claim import ClaimRun
from workflows.claim import WorkshopClaimWorkflow
from workflows.consent import ConsentRequestWorkflow
from workflows.consent import consent_workflow_id

pytestmark = [pytest.mark.timeout(90), pytest.mark.claims_server("shared")]

V1 = "/api/v1"


def record_body(consent_at: datetime | None, **changes: Any) -> dict[str, Any]:
    """A valid PUT /engagements body for the test partner's engagement."""
    body: dict[str, Any] = {
        "partner": {"id": "partner-42", "name": "Contoso Consulting"},
        "customer": {"id": "customer-7", "name": "Fabrikam BV"},
        "workshop_type": "cloud-adoption",
        "consent_at": None if consent_at is None else consent_at.isoformat(),
        "customer_contact": CUSTOMER_CONTACT.model_dump(mode="json"),
    }
    body.update(changes)
    return body


async def put(
    api: httpx.AsyncClient, holder: ApiKeyHolder, eid: str, body: dict[str, Any]
) -> httpx.Response:
    return await api.put(f"{V1}/engagements/{eid}", json=body, headers=holder.headers)


async def recorded(
    api: httpx.AsyncClient, keyring: ApiKeyring, consent_at: datetime | None, **changes: Any
) -> str:
    eid = new_engagement()
    response = await put(api, keyring.program, eid, record_body(consent_at, **changes))
    assert response.status_code == 201, response.text
    return eid


# --- recording ---------------------------------------------------------------------------------


async def test_a_program_admin_records_201_then_identical_200_and_other_roles_get_403(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring
) -> None:
    now = await env.get_current_time()
    eid = new_engagement()
    body = record_body(now - timedelta(days=3))
    first = await put(api, keyring.program, eid, body)
    assert first.status_code == 201, first.text
    record = first.json()
    assert record["engagement_id"] == eid
    assert record["workshop"] == "Cloud adoption workshop"
    assert record["consent_status"] == "consented"
    assert record["recorded_by"] == {"user": keyring.program.user, "role": "program_admin"}
    assert record["eligible"] is True

    again = await put(api, keyring.program, eid, body)
    assert again.status_code == 200
    assert again.json()["recorded_at"] == record["recorded_at"]

    for holder in (keyring.admin, keyring.user, keyring.reviewer, keyring.other):
        assert_problem(await put(api, holder, eid, body), 403, "NotAllowed")

    got = await api.get(f"{V1}/engagements/{eid}", headers=keyring.admin.headers)
    assert got.status_code == 200
    assert got.json()["customer_contact"]["email"] == CUSTOMER_CONTACT.email


async def test_bad_engagement_facts_are_422_naming_the_field_and_record_nothing(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring
) -> None:
    now = await env.get_current_time()
    eid = new_engagement()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"workshop_type": "basket-weaving"}, "workshop_type"),
        ({"consent_at": (now + timedelta(minutes=6)).isoformat()}, "consent_at"),
        ({"consent_at": "1999-12-31T23:59:00+00:00"}, "consent_at"),
        ({"consent_at": "2026-01-01T10:00:00"}, "consent_at"),
        ({"customer_contact": {"name": "C", "email": "not-an-address"}}, "customer_contact.email"),
        ({"customer": {"id": "c-1", "name": "Fabrikam\nBV"}}, "customer.name"),
        ({"partner": {"id": "p-1", "name": "Contoso\u0007"}}, "partner.name"),
        (
            {"customer_contact": {"name": "C", "email": "c\u0001@customer.example"}},
            "customer_contact.email",
        ),
        ({"partner": {"id": "p 1", "name": "X"}}, "partner.id"),
    ]
    for change, field in cases:
        body = assert_problem(
            await put(api, keyring.program, eid, {**record_body(now), **change}),
            422,
            "InvalidInput",
        )
        assert body["detail"].startswith(f"{field}: "), body
    # Within the clock skew is fine.
    within = record_body(now + timedelta(minutes=4))
    assert (await put(api, keyring.program, new_engagement(), within)).status_code == 201
    assert_problem(
        await api.get(f"{V1}/engagements/{eid}", headers=keyring.program.headers), 404, "NotFound"
    )


async def test_facts_change_while_unclaimed_but_409_once_a_claim_exists(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring
) -> None:
    now = await env.get_current_time()
    eid = await recorded(api, keyring, now)
    changed = record_body(now, workshop_type="security")
    response = await put(api, keyring.program, eid, changed)
    assert response.status_code == 200
    assert response.json()["workshop_type"] == "security"

    started = await api.post(
        f"{V1}/claims", json=recorded_start_body(eid), headers=keyring.admin.headers
    )
    assert started.status_code == 201, started.text
    assert started.json()["workshop"] == "Security workshop"
    assert started.json()["workshop_type"] == "security"
    assert (await put(api, keyring.program, eid, changed)).status_code == 200  # identical
    body = assert_problem(
        await put(api, keyring.program, eid, {**changed, "consent_at": "2026-01-01T00:00:00Z"}),
        409,
        "WrongState",
    )
    assert body["detail"].startswith("consent_at: ")


# --- the list ------------------------------------------------------------------------------------


async def test_the_eligible_list_shows_the_partners_own_claimable_engagements_in_pages(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring, store: ClaimStore
) -> None:
    now = await env.get_current_time()
    fresh = [await recorded(api, keyring, now - timedelta(days=d)) for d in (1, 2, 3)]
    expired = await recorded(api, keyring, now - timedelta(days=91))
    unasked = await recorded(api, keyring, None)
    claimed = await recorded(api, keyring, now)
    theirs = await recorded(
        api, keyring, now, partner={"id": OTHER_PARTNER_ID, "name": "Elsewhere"}
    )
    response = await api.post(
        f"{V1}/claims", json=recorded_start_body(claimed), headers=keyring.admin.headers
    )
    assert response.status_code == 201
    await wait_for_rows(store, [claimed])

    async def listed(holder: ApiKeyHolder, query: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = f"{query}&limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = await api.get(f"{V1}/engagements?{params}", headers=holder.headers)
            assert page.status_code == 200, page.text
            items += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return items

    mine = {*fresh, expired, unasked, claimed}
    eligible = await listed(keyring.user, "eligible=true")
    assert {i["engagement_id"] for i in eligible} & (mine | {theirs}) == set(fresh)
    item = next(i for i in eligible if i["engagement_id"] == fresh[0])
    assert set(item) >= {
        "engagement_id",
        "partner",
        "customer",
        "workshop_type",
        "workshop",
        "consent_at",
        "claim_deadline",
        "days_left",
        "claim_status",
    }
    assert item["days_left"] == 89
    assert item["claim_status"] is None
    assert item["workshop"] == "Cloud adoption workshop"

    others = {i["engagement_id"]: i for i in await listed(keyring.user, "eligible=false")}
    assert set(others) & (mine | {theirs}) == {expired, unasked, claimed}
    assert others[claimed]["claim_status"] == "in_progress"
    assert others[expired]["days_left"] == 0
    assert others[unasked]["claim_deadline"] is None

    everything = {i["engagement_id"] for i in await listed(keyring.reviewer, "")}
    assert everything >= mine | {theirs}
    assert theirs in {i["engagement_id"] for i in await listed(keyring.program, "eligible=true")}
    assert_problem(
        await api.get(f"{V1}/engagements?cursor=!!", headers=keyring.user.headers),
        422,
        "InvalidInput",
    )


# --- claiming -----------------------------------------------------------------------------------


async def test_a_partner_claims_by_id_with_the_registrys_facts_and_repeats_must_match(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring
) -> None:
    now = await env.get_current_time()
    consent = now - timedelta(days=10)
    eid = await recorded(api, keyring, consent)
    for field, value in [
        ("partner", {"id": "partner-42", "name": "Someone else"}),
        ("customer", {"id": "customer-8", "name": "Fabrikam BV"}),
        ("workshop", "Cloud adoption workshop (extended)"),
        ("consent_at", "2099-01-01T00:00:00+00:00"),
    ]:
        body = assert_problem(
            await api.post(
                f"{V1}/claims",
                json=recorded_start_body(eid, **{field: value}),
                headers=keyring.admin.headers,
            ),
            422,
            "InvalidInput",
        )
        assert body["detail"].startswith(f"{field}: ")
    assert_problem(
        await api.get(f"{V1}/claims/{eid}", headers=keyring.admin.headers), 404, "NotFound"
    )

    same = recorded_start_body(
        eid,
        partner={"id": "partner-42", "name": "Contoso Consulting"},
        workshop="Cloud adoption workshop",
        consent_at=consent.isoformat(),
    )
    started = await api.post(f"{V1}/claims", json=same, headers=keyring.admin.headers)
    assert started.status_code == 201, started.text
    view = started.json()
    assert view["consent_at"] == consent.isoformat().replace("+00:00", "Z") or view["consent_at"]
    assert datetime.fromisoformat(view["deadline_at"]) == consent + timedelta(days=90)
    assert view["customer_contact"]["email"] == CUSTOMER_CONTACT.email  # the registry's
    again = await api.post(
        f"{V1}/claims", json=recorded_start_body(eid), headers=keyring.user.headers
    )
    assert again.status_code == 200
    assert again.json()["history"] == view["history"]


async def test_an_expired_engagement_is_410_and_one_without_consent_409_starting_nothing(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring
) -> None:
    now = await env.get_current_time()
    expired = await recorded(api, keyring, now - timedelta(days=90, minutes=1))
    assert_problem(
        await api.post(
            f"{V1}/claims", json=recorded_start_body(expired), headers=keyring.admin.headers
        ),
        410,
        "DeadlinePassed",
    )
    unasked = await recorded(api, keyring, None)
    assert_problem(
        await api.post(
            f"{V1}/claims", json=recorded_start_body(unasked), headers=keyring.admin.headers
        ),
        409,
        "WrongState",
    )
    for eid in (expired, unasked):
        assert_problem(
            await api.get(f"{V1}/claims/{eid}", headers=keyring.admin.headers), 404, "NotFound"
        )


# --- trusted callers: the workflow's own check ------------------------------------------------


async def test_the_workflow_refuses_a_consent_moment_in_the_future_for_trusted_callers(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    # A raw Temporal client: the workflow fails with the refusal, nothing runs.
    raw = claim_input(await env.get_current_time() + timedelta(days=30))
    handle = await env.client.start_workflow(
        WorkshopClaimWorkflow.run,
        ClaimRun.model_validate(raw.model_dump()),
        id=workflow_id(raw.engagement_id),
        task_queue=claims.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "InvalidInput"
    assert failed.value.cause.message.startswith("consent_at: ")

    # ClaimsClient (and so the command line) gets it as a refusal.
    future = claim_input(await env.get_current_time() + timedelta(days=365))
    with pytest.raises(ClaimRefused) as refused:
        await claims.start_claim(future)
    assert refused.value.type == "InvalidInput"
    assert refused.value.message.startswith("consent_at: ")

    # Within the skew is accepted.
    within = claim_input(await env.get_current_time() + timedelta(minutes=4))
    assert (await claims.start_claim(within)).created


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+00:00"])
async def test_an_overflowing_consent_date_is_a_refusal_never_a_crash(
    env: WorkflowEnvironment, claims: ClaimsClient, moment: str
) -> None:
    body = claim_input(await env.get_current_time()).model_dump(mode="json")
    body["consent_at"] = moment
    with pytest.raises(ClaimRefused) as refused:
        await claims.start_claim(body)
    assert refused.value.type == "InvalidInput"
    assert "consent_at" in refused.value.message

    # Past the client's check, the worker's converter refuses it too: the start fails cleanly.
    handle = await env.client.start_workflow(
        "WorkshopClaim", body, id=workflow_id(body["engagement_id"]), task_queue=claims.task_queue
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "InvalidInput"


# --- consent by signed link -------------------------------------------------------------------


async def _answer_page(api: httpx.AsyncClient, link: str, decision: str) -> httpx.Response:
    return await post_form_page(api, link, {"decision": decision})


async def test_consent_by_link_records_the_moment_and_makes_the_engagement_eligible(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    keyring: ApiKeyring,
    mailbox: MailCatcher,
    store: ClaimStore,
) -> None:
    eid = await recorded(api, keyring, None)
    assert_problem(
        await api.post(f"{V1}/engagements/{eid}/consent-request", headers=keyring.other.headers),
        404,
        "NotFound",
    )
    assert_problem(
        await api.post(f"{V1}/engagements/{eid}/consent-request", headers=keyring.reviewer.headers),
        403,
        "NotAllowed",
    )
    asked = await api.post(f"{V1}/engagements/{eid}/consent-request", headers=keyring.admin.headers)
    assert asked.status_code == 201, asked.text
    assert asked.json()["consent_status"] == "pending"
    assert_problem(
        await api.post(f"{V1}/engagements/{eid}/consent-request", headers=keyring.program.headers),
        409,
        "WrongState",
    )
    [mail] = await mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="consent_request")
    assert mail["X-Claim-Engagement"] == eid
    link = consent_link(mail)
    assert link.startswith(f"{PUBLIC_URL}/consent/")

    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert (await api.get(tampered.removeprefix(PUBLIC_URL))).status_code == 404

    answered = await _answer_page(api, link, "consent")
    assert answered.status_code == 200, answered.text
    assert "consent is recorded" in answered.text
    state = await env.client.get_workflow_handle_for(
        ConsentRequestWorkflow.run, consent_workflow_id(eid, 1)
    ).result()
    assert state.status == "consented"
    record = await EngagementRegistry(store.engine).get(eid)
    assert record is not None
    assert record.consent_status == "consented"
    assert record.consent_at == state.answered_at

    # The link is spent; the engagement is now claimable.
    again = await api.get(link.removeprefix(PUBLIC_URL))
    assert again.status_code == 410
    got = await api.get(f"{V1}/engagements/{eid}", headers=keyring.admin.headers)
    assert got.json()["eligible"] is True
    started = await api.post(
        f"{V1}/claims", json=recorded_start_body(eid), headers=keyring.admin.headers
    )
    assert started.status_code == 201, started.text


async def test_declining_leaves_the_engagement_not_eligible_and_the_page_speaks_dutch(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring, mailbox: MailCatcher
) -> None:
    contact = {**CUSTOMER_CONTACT.model_dump(mode="json"), "locale": "nl"}
    eid = await recorded(api, keyring, None, customer_contact=contact)
    asked = await api.post(
        f"{V1}/engagements/{eid}/consent-request", headers=keyring.program.headers
    )
    assert asked.status_code == 201, asked.text
    [mail] = await mailbox.wait_for(engagement_id=eid, kind="consent_request")
    assert mail["Content-Language"] == "nl"
    page = await api.get(consent_link(mail).removeprefix(PUBLIC_URL))
    assert 'lang="nl"' in page.text
    assert "Ik geef toestemming" in page.text
    assert "Cloud-adoptieworkshop" in page.text
    declined = await _answer_page(api, consent_link(mail), "decline")
    assert declined.status_code == 200
    assert "niet ingediend" in declined.text
    await env.client.get_workflow_handle(consent_workflow_id(eid, 1)).result()
    got = (await api.get(f"{V1}/engagements/{eid}", headers=keyring.admin.headers)).json()
    assert (got["consent_status"], got["eligible"], got["consent_at"]) == ("declined", False, None)


@pytest.mark.claims_server("time-skipping")  # moves time 30 days: a server of its own
async def test_an_unanswered_request_reminds_7_and_1_days_before_and_lapses_after_30_days(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring, mailbox: MailCatcher
) -> None:
    eid = await recorded(api, keyring, None)
    started = await env.get_current_time()
    asked = await api.post(f"{V1}/engagements/{eid}/consent-request", headers=keyring.admin.headers)
    assert asked.status_code == 201, asked.text
    await mailbox.wait_for(engagement_id=eid, kind="consent_request")
    await env.sleep(timedelta(days=30, minutes=1))
    state = await env.client.get_workflow_handle_for(
        ConsentRequestWorkflow.run, consent_workflow_id(eid, 1)
    ).result()
    assert state.status == "lapsed"
    assert state.reminders_sent == 2
    assert await env.get_current_time() >= started + timedelta(days=30)
    reminders = await mailbox.wait_for(engagement_id=eid, kind="consent_reminder", count=2)
    assert sorted(" ".join(str(m["Subject"]).split()) for m in reminders) == [
        "Reminder: consent for the workshop Cloud adoption workshop (1 day left)",
        "Reminder: consent for the workshop Cloud adoption workshop (7 days left)",
    ]
    got = (await api.get(f"{V1}/engagements/{eid}", headers=keyring.admin.headers)).json()
    assert (got["consent_status"], got["eligible"]) == ("lapsed", False)
    [mail] = mailbox.find(engagement_id=eid, kind="consent_request")
    assert (await api.get(consent_link(mail).removeprefix(PUBLIC_URL))).status_code == 410

    # A new request may follow a lapsed one.
    again = await api.post(f"{V1}/engagements/{eid}/consent-request", headers=keyring.admin.headers)
    assert again.status_code == 201
    assert again.json()["consent_requests"] == 2


async def test_a_pending_request_whose_workflow_never_started_can_be_asked_again(
    api: httpx.AsyncClient,
    keyring: ApiKeyring,
    mailbox: MailCatcher,
    store: ClaimStore,
) -> None:
    eid = await recorded(api, keyring, None)
    # The registry took the request, then Temporal could not be reached: no workflow.
    assert await EngagementRegistry(store.engine).open_consent_request(eid, datetime.now(UTC)) == 1
    asked = await api.post(f"{V1}/engagements/{eid}/consent-request", headers=keyring.admin.headers)
    assert asked.status_code == 201, asked.text
    assert (asked.json()["consent_status"], asked.json()["consent_requests"]) == ("pending", 1)
    [mail] = await mailbox.wait_for(engagement_id=eid, kind="consent_request")
    assert consent_link(mail).startswith(f"{PUBLIC_URL}/consent/")
    assert_problem(
        await api.post(f"{V1}/engagements/{eid}/consent-request", headers=keyring.admin.headers),
        409,
        "WrongState",
    )
