"""The portal API against the real app, the real workflows (time-skipping server) and the real
SMTP sink: every endpoint, every role, every error type, uploads and their limits."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import subprocess
import sys
import time
import zipfile
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from activities.store import ClaimStore
from activities.store import InvalidCursor
from claims_testing import ClaimFactory
from claims_testing.data import PUBLIC_URL
from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import survey_link
from portal.app import app as portal_app
from portal.auth import ApiKeyFile
from portal.blobs import DocumentTypeNotAllowed
from portal.blobs import sniff_content_type
from portal.pages.surveys import form_token
from portal.routes.export import CSV_COLUMNS
from portal.schemas import ApproveBody
from portal.schemas import ClaimEngagementBody
from portal.schemas import CommentBody
from portal.schemas import RejectBody
from portal.schemas import RequestInfoBody
from portal.schemas import UpdateContactsBody
from starter.client import ClaimsClient
from starter.keys import create_key
from tests.api_keys import OTHER_PARTNER_ID
from tests.api_keys import ApiKeyHolder
from tests.api_keys import ApiKeyring
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_CONTACTS
from tests.builders import claim_input
from tests.builders import new_engagement
from tests.helpers import FORMULA_WORKSHOP
from tests.helpers import ClaimApi
from tests.helpers import Registry
from tests.helpers import StartClaim
from tests.helpers import assert_problem
from tests.helpers import pdf
from tests.helpers import post_form_page
from tests.helpers import recorded_start_body
from tests.helpers import start_body
from tests.helpers import stored_files
from tests.helpers import upload
from tests.helpers import wait_for_rows
from workflows import rules
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import ClaimInput
from workflows.messages import Reject
from workflows.messages import RequestInfo
from workflows.messages import StoreClaim
from workflows.messages import UpdateContacts

pytestmark = [pytest.mark.timeout(90), pytest.mark.claims_server("shared")]

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
V1 = "/api/v1"


# --- helpers ---------------------------------------------------------------------------------


async def answer_survey_page(api: httpx.AsyncClient, link: str, answers: dict[str, str]) -> None:
    """Fill a survey form the way a browser would: GET it, POST it with its hidden token."""
    response = await post_form_page(api, link, answers)
    assert response.status_code == 200, response.text


async def events_of(claim: ClaimApi, headers: dict[str, str]) -> list[str]:
    """The events of the claim's history, as its view shows them to `headers`."""
    view = (await claim.get("", headers)).json()
    return [e["event"] for e in view["history"]]


PARTNER_ANSWERS = {
    "overall": "5",
    "customer_engagement": "4",
    "program_support": "4",
    "outcomes": "A migration plan and a pilot in March.",
}
CUSTOMER_ANSWERS = {"overall": "4", "relevance": "5", "partner_expertise": "5", "recommend": "4"}


async def submit_with_proof(claim: ClaimApi, holder: ApiKeyHolder, claims: ClaimsClient) -> None:
    """Attach both documents, complete both surveys (through their links), and submit."""
    eid = claim.eid
    for kind in ("results_and_recommendations", "invoice"):
        assert (await claim.upload(holder, pdf(kind), kind=kind)).status_code == 200
    link = await claim.post("surveys/partner/link", holder.headers)
    await claims.complete_survey(
        claims.links.token_from_url(link.json()["url"]), "anna@partner.example", {"overall": 5}
    )
    await claim.post("surveys/customer/send", holder.headers)
    customer_link = await claims.survey_link(eid, "customer")
    await claims.complete_survey(
        claims.links.token_from_url(customer_link), CUSTOMER_CONTACT.email, {"overall": 4}
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not (await claims.get_claim(eid)).missing:
            break
        await asyncio.sleep(0.05)
    assert (await claims.get_claim(eid)).missing == []
    await claim.post("submit", holder.headers)


async def auto_rejected_claim(
    env: WorkflowEnvironment, registry: Registry, claims: ClaimsClient
) -> str:
    """A claim started (by a trusted caller: the API answers 410 for it) after its deadline:
    rejected at once, its workflow over."""
    claim = claim_input(await env.get_current_time() - timedelta(days=91))
    await registry.recorded(claim.model_dump(mode="json"))
    await claims.start_claim(claim)
    await claims.handle(claim.engagement_id).result()
    return claim.engagement_id


# --- authentication and keys -------------------------------------------------------------------


async def test_no_key_or_a_wrong_key_answers_401_with_a_bearer_challenge(
    api: httpx.AsyncClient, keyring: ApiKeyring, started_eid: str
) -> None:
    eid = started_eid
    for method, path in [
        ("GET", f"{V1}/claims"),
        ("GET", f"{V1}/claims/{eid}"),
        ("POST", f"{V1}/claims/{eid}/comments"),
        ("GET", f"{V1}/claims/export.csv"),
    ]:
        for headers in (
            {},
            {"Authorization": "Bearer wck_not-a-key"},
            {"Authorization": f"Basic {keyring.admin.key}"},
            {"Authorization": f"Bearer {keyring.admin.key}x"},
        ):
            response = await api.request(method, path, headers=headers, json={"text": "hi"})
            assert_problem(response, 401, "Unauthorized")
            assert response.headers["www-authenticate"].startswith("Bearer")
    view = await api.get(f"{V1}/claims/{eid}", headers=keyring.admin.headers)
    assert [c["text"] for c in view.json()["comments"]] == []


def test_keys_command_prints_a_new_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys" / "api-keys.json"
    command = [sys.executable, "-m", "starter.keys", "create", "--file", str(keys_file)]
    made = subprocess.run(
        [
            *command,
            "--user",
            "portal@contoso.example",
            "--role",
            "incentives_admin",
            "--partner-id",
            "P-42",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=True,
    )
    key = made.stdout.strip()
    assert key.startswith("wck_")
    assert len(key) > 40
    stored = keys_file.read_text()
    assert key not in stored
    assert json.loads(stored) == [
        {
            "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
            "user": "portal@contoso.example",
            "role": "incentives_admin",
            "partner_id": "P-42",
        }
    ]
    assert keys_file.stat().st_mode & 0o077 == 0

    # A running API reads the file again when it changes: a new key works at once.
    keys = ApiKeyFile(keys_file)
    caller = keys.lookup(key)
    assert caller is not None
    assert (caller.user, caller.role, caller.partner_id) == (
        "portal@contoso.example",
        "incentives_admin",
        "P-42",
    )
    reviewer_key = create_key(keys_file, "review-desk", "reviewer", None)
    reviewer = keys.lookup(reviewer_key)
    assert reviewer is not None
    assert reviewer.partner_id is None
    assert keys.lookup(key + "x") is None

    # Roles and partners must fit together; nothing is written otherwise.
    for bad in (
        ["--user", "x", "--role", "reviewer", "--partner-id", "P-1"],
        ["--user", "x", "--role", "incentives_user"],
        ["--user", "", "--role", "incentives_user", "--partner-id", "P-1"],
    ):
        refused = subprocess.run(
            [*command, *bad], capture_output=True, text=True, timeout=30, cwd=ROOT
        )
        assert refused.returncode == 2, refused
        assert refused.stdout == ""
        assert "partner_id" in refused.stderr or "user" in refused.stderr
    assert len(json.loads(keys_file.read_text())) == 2

    # Revoked: the API refuses the key from then on.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "starter.keys",
            "revoke",
            "--file",
            str(keys_file),
            "--user",
            "review-desk",
        ],
        check=True,
        capture_output=True,
        timeout=30,
        cwd=ROOT,
    )
    assert keys.lookup(reviewer_key) is None
    assert keys.lookup(key) is not None


def test_a_malformed_keys_file_refuses_every_key(tmp_path: Path) -> None:
    keys_file = tmp_path / "api-keys.json"
    key = create_key(keys_file, "portal", "incentives_user", "P-1")
    keys = ApiKeyFile(keys_file)
    assert keys.lookup(key) is not None
    keys_file.write_text(keys_file.read_text().replace('"role"', '"rol"'))
    assert keys.lookup(key) is None
    assert ApiKeyFile(tmp_path / "absent.json").lookup(key) is None


# --- starting claims -----------------------------------------------------------------------------


async def test_partner_starts_a_claim_201_as_its_actor_and_the_same_engagement_again_is_200(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring, registry: Registry
) -> None:
    body = await registry.recorded(start_body(await env.get_current_time()))
    first = await api.post(f"{V1}/claims", json=body, headers=keyring.admin.headers)
    assert first.status_code == 201, first.text
    view = first.json()
    assert view["engagement_id"] == body["engagement_id"]
    assert view["status"] == "in_progress"
    assert view["history"][0]["actor"] == {
        "user": keyring.admin.user,
        "role": "incentives_admin",
    }

    again = await api.post(f"{V1}/claims", json=body, headers=keyring.user.headers)
    assert again.status_code == 200, again.text
    assert again.json()["history"] == view["history"]


async def test_start_refuses_reviewers_other_partners_an_actor_and_bad_input(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring, registry: Registry
) -> None:
    now = await env.get_current_time()
    body = await registry.recorded(start_body(now))
    for holder in (keyring.reviewer, keyring.program):
        assert_problem(
            await api.post(f"{V1}/claims", json=body, headers=holder.headers), 403, "NotAllowed"
        )

    with_actor = {**body, "actor": {"user": "mallory", "role": "incentives_admin"}}
    problem = assert_problem(
        await api.post(f"{V1}/claims", json=with_actor, headers=keyring.admin.headers),
        422,
        "InvalidInput",
    )
    assert problem["errors"] == [
        {"field": "actor", "message": "is not accepted: the actor is the holder of the API key"}
    ]

    changes: list[tuple[dict[str, Any], str]] = [
        ({"engagement_id": "no spaces allowed"}, "engagement_id"),
        ({"consent_at": "2026-01-01T10:00:00"}, "consent_at"),
        ({"partner_contacts": []}, "partner_contacts"),
        ({"customer_contact": {"name": "C", "email": "not-an-address"}}, "customer_contact.email"),
    ]
    for change, field in changes:
        problem = assert_problem(
            await api.post(f"{V1}/claims", json={**body, **change}, headers=keyring.admin.headers),
            422,
            "InvalidInput",
        )
        assert problem["detail"].startswith(f"{field}: "), problem
        assert problem["errors"][0]["field"] == field
    for raw in (b"{not json", b'{"engagement_id": ' + b"9" * 5000 + b"}", b"\xff\xfe"):
        assert_problem(
            await api.post(
                f"{V1}/claims",
                content=raw,
                headers={**keyring.admin.headers, "Content-Type": "application/json"},
            ),
            422,
            "InvalidInput",
        )
    # Nothing was started by any of these.
    assert_problem(
        await api.get(f"{V1}/claims/{body['engagement_id']}", headers=keyring.admin.headers),
        404,
        "NotFound",
    )


async def test_another_partners_engagement_answers_404_like_an_unknown_one_claimed_or_not(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring, registry: Registry
) -> None:
    body = await registry.recorded(start_body(await env.get_current_time()))
    unclaimed = assert_problem(
        await api.post(
            f"{V1}/claims",
            json=recorded_start_body(body["engagement_id"]),
            headers=keyring.other.headers,
        ),
        404,
        "NotFound",
    )
    assert (await api.post(f"{V1}/claims", json=body, headers=keyring.admin.headers)).is_success
    theirs = {**body, "partner": {"id": OTHER_PARTNER_ID, "name": "Elsewhere"}}
    response = await api.post(f"{V1}/claims", json=theirs, headers=keyring.other.headers)
    problem = assert_problem(response, 404, "NotFound")
    unknown = assert_problem(
        await api.post(
            f"{V1}/claims",
            json=recorded_start_body("eng-never-recorded"),
            headers=keyring.other.headers,
        ),
        404,
        "NotFound",
    )
    assert "Contoso" not in response.text
    assert "history" not in problem
    assert {unclaimed["detail"], problem["detail"]} == {
        unknown["detail"].replace("eng-never-recorded", body["engagement_id"])
    }


@pytest.mark.claims_server("time-skipping")  # moves time: a server of its own
async def test_a_finished_claims_engagement_answers_409_and_its_actions_410_deadline_passed(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    keyring: ApiKeyring,
    claims: ClaimsClient,
    registry: Registry,
) -> None:
    eid = await auto_rejected_claim(env, registry, claims)
    view = await api.get(f"{V1}/claims/{eid}", headers=keyring.user.headers)
    assert view.json()["status"] == "auto_rejected"

    problem = assert_problem(
        await api.post(
            f"{V1}/claims", json=recorded_start_body(eid), headers=keyring.admin.headers
        ),
        409,
        "WrongState",
    )
    assert "auto_rejected" in problem["detail"]

    h = keyring.admin.headers
    for response in [
        await api.post(f"{V1}/claims/{eid}/comments", json={"text": "late"}, headers=h),
        await api.post(f"{V1}/claims/{eid}/submit", headers=h),
        await api.post(f"{V1}/claims/{eid}/surveys/customer/send", headers=h),
        await upload(api, eid, keyring.admin, pdf()),
        await api.post(
            f"{V1}/claims/{eid}/review/reject",
            json={"reason": "x"},
            headers=keyring.reviewer.headers,
        ),
    ]:
        assert_problem(response, 410, "DeadlinePassed")


# --- seeing claims --------------------------------------------------------------------------------


async def test_a_claim_is_seen_by_its_partner_and_reviewers_and_is_404_to_another_partner(
    api: httpx.AsyncClient, keyring: ApiKeyring, started_eid: str
) -> None:
    eid = started_eid
    for holder in (keyring.admin, keyring.user, keyring.reviewer):
        response = await api.get(f"{V1}/claims/{eid}", headers=holder.headers)
        assert response.status_code == 200
        assert response.json()["engagement_id"] == eid

    hidden = await api.get(f"{V1}/claims/{eid}", headers=keyring.other.headers)
    unknown_eid = new_engagement()
    unknown = await api.get(f"{V1}/claims/{unknown_eid}", headers=keyring.other.headers)
    hidden_problem = assert_problem(hidden, 404, "NotFound")
    unknown_problem = assert_problem(unknown, 404, "NotFound")
    # Exactly the answer for an engagement that has no claim: nothing is revealed.
    assert hidden_problem["detail"].replace(eid, "X") == unknown_problem["detail"].replace(
        unknown_eid, "X"
    )
    h = keyring.other.headers
    for response in [
        await api.get(f"{V1}/claims/{eid}/history", headers=h),
        await api.get(f"{V1}/claims/{eid}/documents/invoice", headers=h),
        await api.post(f"{V1}/claims/{eid}/comments", json={"text": "mine now"}, headers=h),
        await api.put(
            f"{V1}/claims/{eid}/contacts",
            json={"customer_contact": {"name": "M", "email": "m@evil.example"}},
            headers=h,
        ),
        await api.put(f"{V1}/claims/{eid}/contacts", json={}, headers=h),
        await api.post(f"{V1}/claims/{eid}/submit", headers=h),
        await api.post(f"{V1}/claims/{eid}/surveys/customer/send", headers=h),
        await api.post(f"{V1}/claims/{eid}/surveys/partner/link", headers=h),
        await upload(api, eid, keyring.other, pdf()),
    ]:
        assert_problem(response, 404, "NotFound")
    assert await events_of(ClaimApi(api, eid), keyring.admin.headers) == ["claim_started"]


async def test_history_is_the_audit_trail_of_the_live_view(
    api: httpx.AsyncClient, keyring: ApiKeyring, started_eid: str
) -> None:
    eid = started_eid
    await api.post(
        f"{V1}/claims/{eid}/comments", json={"text": "on site"}, headers=keyring.user.headers
    )
    history = await api.get(f"{V1}/claims/{eid}/history", headers=keyring.reviewer.headers)
    assert history.status_code == 200
    entries = history.json()
    assert [e["event"] for e in entries] == ["claim_started", "comment_added"]
    assert entries[1]["actor"] == {"user": keyring.user.user, "role": "incentives_user"}
    view = await api.get(f"{V1}/claims/{eid}", headers=keyring.admin.headers)
    assert entries == view.json()["history"]


# --- partner actions ------------------------------------------------------------------------------


async def test_a_comment_carries_the_callers_identity_and_a_reviewers_comment_is_403(
    api: httpx.AsyncClient, keyring: ApiKeyring, started_eid: str
) -> None:
    eid = started_eid
    response = await api.post(
        f"{V1}/claims/{eid}/comments",
        json={"text": "  delivered on site  "},
        headers=keyring.user.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["comments"] == []  # an update's answer leaves them out (issue 15)
    view = (await api.get(f"{V1}/claims/{eid}", headers=keyring.user.headers)).json()
    [comment] = view["comments"]
    assert comment["text"] == "delivered on site"
    assert comment["actor"] == {"user": keyring.user.user, "role": "incentives_user"}

    problem = assert_problem(
        await api.post(
            f"{V1}/claims/{eid}/comments",
            json={"text": "looks fine"},
            headers=keyring.reviewer.headers,
        ),
        403,
        "NotAllowed",
    )
    assert "reviewer" in problem["detail"]
    for body, field in [
        ({"text": ""}, "text"),
        ({"text": "x" * 4001}, "text"),
        ({}, "text"),
        ({"text": "hi", "actor": {"user": "x", "role": "reviewer"}}, "actor"),
        ({"text": 5}, "text"),
    ]:
        problem = assert_problem(
            await api.post(f"{V1}/claims/{eid}/comments", json=body, headers=keyring.admin.headers),
            422,
            "InvalidInput",
        )
        assert [e["field"] for e in problem["errors"]] == [field], problem
    view = await api.get(f"{V1}/claims/{eid}", headers=keyring.admin.headers)
    assert len(view.json()["comments"]) == 1


async def test_sending_surveys_mails_them_and_the_direct_partner_link_is_the_mailed_link(
    api: httpx.AsyncClient,
    keyring: ApiKeyring,
    mailbox: MailCatcher,
    started_eid: str,
) -> None:
    eid = started_eid
    sent = await api.post(
        f"{V1}/claims/{eid}/surveys/customer/send", json={}, headers=keyring.user.headers
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["proof"]["customer_survey"]["status"] == "sent"
    [mail] = await mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="survey_invitation")
    assert mail["X-Claim-Engagement"] == eid

    partner = await api.post(
        f"{V1}/claims/{eid}/surveys/partner/send", headers=keyring.admin.headers
    )
    assert partner.status_code == 200
    mails = await mailbox.wait_for(
        count=len(PARTNER_CONTACTS),
        kind="survey_invitation",
        engagement_id=eid,
        predicate=lambda found: len(found) == 1 + len(PARTNER_CONTACTS),
    )
    partner_mail = next(m for m in mails if PARTNER_CONTACTS[0].email in str(m["To"]))

    link = await api.post(f"{V1}/claims/{eid}/surveys/partner/link", headers=keyring.user.headers)
    assert link.status_code == 200, link.text
    assert link.json() == {"url": survey_link(partner_mail)}
    assert len(mailbox.find(engagement_id=eid)) == 1 + len(PARTNER_CONTACTS)  # direct: no mail

    for response in [
        await api.post(
            f"{V1}/claims/{eid}/surveys/customer/send",
            json={"channel": "direct"},
            headers=keyring.admin.headers,
        ),
        await api.post(f"{V1}/claims/{eid}/surveys/other/send", headers=keyring.admin.headers),
    ]:
        assert_problem(response, 422, "InvalidInput")
    for response in [
        await api.post(
            f"{V1}/claims/{eid}/surveys/customer/send", headers=keyring.reviewer.headers
        ),
        await api.post(f"{V1}/claims/{eid}/surveys/partner/link", headers=keyring.reviewer.headers),
    ]:
        assert_problem(response, 403, "NotAllowed")


async def test_completed_surveys_answer_409_survey_completed_and_lock_the_customer_contact(
    api: httpx.AsyncClient,
    keyring: ApiKeyring,
    claims: ClaimsClient,
    mailbox: MailCatcher,
    started_eid: str,
) -> None:
    claim, a = ClaimApi(api, started_eid), keyring.admin.headers
    link = (await claim.post("surveys/partner/link", a)).json()["url"]
    await answer_survey_page(api, link, PARTNER_ANSWERS)
    problem = assert_problem(await claim.post("surveys/partner/link", a), 409, "SurveyCompleted")
    assert "partner survey is already completed" in problem["detail"]
    assert_problem(await claim.post("surveys/partner/send", a), 409, "SurveyCompleted")

    await claim.post("surveys/customer/send", a)
    [mail] = await mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="survey_invitation")
    await answer_survey_page(api, survey_link(mail), CUSTOMER_ANSWERS)
    new_contact = {"name": "Nina", "email": "nina@customer.example", "locale": "nl"}
    locked = await claim.put("contacts", a, json={"customer_contact": new_contact})
    assert_problem(locked, 409, "ContactLocked")
    view = await claims.get_claim(claim.eid)
    assert view.customer_contact == CUSTOMER_CONTACT


async def test_contacts_update_invalidates_a_sent_link_and_an_empty_update_is_422(
    api: httpx.AsyncClient, keyring: ApiKeyring, started_eid: str
) -> None:
    eid = started_eid
    await api.post(f"{V1}/claims/{eid}/surveys/customer/send", headers=keyring.admin.headers)
    new_contact = {"name": "Nina", "email": "nina@customer.example", "locale": "nl"}
    response = await api.put(
        f"{V1}/claims/{eid}/contacts",
        json={"customer_contact": new_contact},
        headers=keyring.user.headers,
    )
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["customer_contact"] == new_contact
    assert view["proof"]["customer_survey"]["status"] == "invalidated"
    view = (await api.get(f"{V1}/claims/{eid}", headers=keyring.user.headers)).json()
    assert view["history"][-1]["actor"]["user"] == keyring.user.user

    claim = ClaimApi(api, eid)
    empty = await claim.put("contacts", keyring.admin.headers, json={})
    problem = assert_problem(empty, 422, "InvalidInput")
    assert "at least one" in problem["detail"]
    by_reviewer = await claim.put(
        "contacts", keyring.reviewer.headers, json={"customer_contact": new_contact}
    )
    assert_problem(by_reviewer, 403, "NotAllowed")


async def test_submitting_an_incomplete_claim_is_409_incomplete_listing_the_missing_items(
    api: httpx.AsyncClient, keyring: ApiKeyring, started_eid: str
) -> None:
    claim, a = ClaimApi(api, started_eid), keyring.admin.headers
    await upload(api, claim.eid, keyring.admin, pdf(), kind="invoice")
    problem = assert_problem(await claim.post("submit", a, json={}), 409, "Incomplete")
    assert problem["missing"] == [
        "results_and_recommendations",
        "partner_survey",
        "customer_survey",
    ]
    assert_problem(await claim.post("submit", keyring.reviewer.headers), 403, "NotAllowed")
    assert_problem(await claim.post("submit", a, json={"actor": {}}), 422, "InvalidInput")


# --- review ------------------------------------------------------------------------------------


async def test_review_actions_are_for_reviewers_and_follow_the_claims_status(
    api: httpx.AsyncClient, keyring: ApiKeyring, started_eid: str
) -> None:
    claim, r = ClaimApi(api, started_eid), keyring.reviewer.headers
    for path, body in [
        ("review/request-info", {"question": "Which room?"}),
        ("review/approve", {}),
        ("review/reject", {"reason": "no"}),
    ]:
        by_partner = await claim.post(path, keyring.admin.headers, json=body)
        assert_problem(by_partner, 403, "NotAllowed")
        problem = assert_problem(await claim.post(path, r, json=body), 409, "WrongState")
        assert "in progress" in problem["detail"]
    assert_problem(await claim.post("review/request-info", r, json={}), 422, "InvalidInput")
    assert_problem(await upload(api, claim.eid, keyring.reviewer, pdf()), 403, "NotAllowed")


async def test_a_claim_goes_through_the_api_and_the_survey_pages_to_approved(
    api: httpx.AsyncClient,
    keyring: ApiKeyring,
    mailbox: MailCatcher,
    claims: ClaimsClient,
    store: ClaimStore,
    started_eid: str,
) -> None:
    eid = started_eid
    a, u, r = keyring.admin.headers, keyring.user.headers, keyring.reviewer.headers
    assert (await upload(api, eid, keyring.admin, pdf("report"))).status_code == 200
    invoice = await upload(
        api, eid, keyring.user, pdf("invoice"), kind="invoice", filename="inv.pdf"
    )
    assert invoice.status_code == 200

    await api.post(f"{V1}/claims/{eid}/surveys/partner/send", headers=a)
    await api.post(f"{V1}/claims/{eid}/surveys/customer/send", headers=u)
    [partner_mail] = await mailbox.wait_for(to=PARTNER_CONTACTS[0].email, kind="survey_invitation")
    [customer_mail] = await mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="survey_invitation")
    await answer_survey_page(api, survey_link(partner_mail), PARTNER_ANSWERS)
    await answer_survey_page(api, survey_link(customer_mail), CUSTOMER_ANSWERS)

    view = (await api.get(f"{V1}/claims/{eid}", headers=keyring.reviewer.headers)).json()
    assert view["missing"] == []  # the answers are the program's to read (issue 15: not partners')
    completed = [e for e in view["history"] if e["event"] == "survey_completed"]
    assert [e["detail"]["answers"] for e in completed] == [
        {**PARTNER_ANSWERS, "overall": 5, "customer_engagement": 4, "program_support": 4},
        {k: int(v) for k, v in CUSTOMER_ANSWERS.items()},
    ]

    assert (await api.post(f"{V1}/claims/{eid}/submit", headers=u)).json()["status"] == "submitted"
    asked = await api.post(
        f"{V1}/claims/{eid}/review/request-info", json={"question": "Who attended?"}, headers=r
    )
    assert asked.json()["status"] == "info_requested"
    await mailbox.wait_for(kind="info_requested", engagement_id=eid, count=len(PARTNER_CONTACTS))
    unanswered = assert_problem(
        await api.post(f"{V1}/claims/{eid}/submit", headers=a), 409, "Incomplete"
    )
    assert unanswered["missing"] == ["info_response"]
    answer = {"text": "Twelve people."}
    answered = await api.post(f"{V1}/claims/{eid}/info-response", json=answer, headers=u)
    assert answered.status_code == 200, answered.text
    seen = (await api.get(f"{V1}/claims/{eid}", headers=u)).json()  # answers are compact
    assert seen["questions"][-1]["answer"] == "Twelve people."
    assert (await api.post(f"{V1}/claims/{eid}/submit", headers=a)).json()["status"] == "submitted"
    approved = await api.post(
        f"{V1}/claims/{eid}/review/approve", json={"note": "Thanks"}, headers=r
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    decided = (await api.get(f"{V1}/claims/{eid}", headers=r)).json()
    assert decided["history"][-1]["actor"] == {
        "user": keyring.reviewer.user,
        "role": "reviewer",
    }
    await mailbox.wait_for(kind="approved", engagement_id=eid, count=len(PARTNER_CONTACTS))

    # The read model caught up; the partner's list and the reviewer's list show it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (await store.statuses([eid])).get(eid) == "approved":
            break
        await asyncio.sleep(0.05)
    for holder in (keyring.admin, keyring.reviewer):
        listed = await api.get(
            f"{V1}/claims", params={"status": "approved"}, headers=holder.headers
        )
        assert [c["engagement_id"] for c in listed.json()["items"]] == [eid]
    assert (await api.get(f"{V1}/claims", headers=keyring.other.headers)).json()["items"] == []


@pytest.mark.claims_server("time-skipping")  # moves time: a server of its own
async def test_a_rejected_claim_refuses_every_action_with_409_wrong_state(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    keyring: ApiKeyring,
    claims: ClaimsClient,
    started_claim: ClaimApi,
) -> None:
    claim, a, r = started_claim, keyring.admin.headers, keyring.reviewer.headers
    await submit_with_proof(claim, keyring.admin, claims)
    rejected = await claim.post("review/reject", r, json={"reason": "not eligible"})
    assert rejected.json()["status"] == "rejected"
    await env.sleep(rules.DISPUTE_WINDOW + timedelta(minutes=1))  # no dispute: rejected for good
    await claims.handle(claim.eid).result()

    for response in [
        await claim.post("comments", a, json={"text": "why?"}),
        await claim.post("submit", a),
        await claim.put(
            "contacts", a, json={"partner_contacts": [PARTNER_CONTACTS[0].model_dump()]}
        ),
        await claim.post("review/approve", r),
        await claim.upload(keyring.admin, pdf("late")),
    ]:
        problem = assert_problem(response, 409, "WrongState")
        assert "rejected" in problem["detail"]
    assert (await claim.get("", a)).json()["status"] == "rejected_final"
    start_again = await api.post(f"{V1}/claims", json=recorded_start_body(claim.eid), headers=a)
    assert_problem(start_again, 409, "WrongState")


async def test_the_partner_cancels_answers_and_disputes_through_the_api_with_the_usual_problems(
    api: httpx.AsyncClient, keyring: ApiKeyring, claim_factory: ClaimFactory, started_eid: str
) -> None:
    a, r = keyring.admin.headers, keyring.reviewer.headers
    reason = {"reason": "Started by mistake."}
    started = ClaimApi(api, started_eid)
    assert_problem(await started.post("cancel", r, json=reason), 403, "NotAllowed")
    assert_problem(await started.post("cancel", a, json={}), 422, "InvalidInput")
    cancelled = await started.post("cancel", a, json=reason)
    assert cancelled.json()["status"] == "cancelled"

    asked = ClaimApi(api, (await claim_factory("info_requested")).engagement_id)
    answer = await asked.post("info-response", r, json={"text": "Twelve."})
    assert_problem(answer, 403, "NotAllowed")

    rejected = ClaimApi(api, (await claim_factory("rejected")).engagement_id)
    assert_problem(await rejected.post("cancel", a, json=reason), 409, "WrongState")
    assert_problem(await rejected.post("dispute", r, json=reason), 403, "NotAllowed")
    disputed = await rejected.post("dispute", a, json=reason)
    assert disputed.json()["status"] == "disputed"
    again = await rejected.post("dispute", a, json=reason)
    assert_problem(again, 409, "WrongState")


# --- documents ----------------------------------------------------------------------------------


async def test_an_upload_is_stored_by_hash_attached_with_its_sniffed_type_and_downloadable(
    keyring: ApiKeyring, blob_dir: Path, started_claim: ClaimApi
) -> None:
    content = pdf("results")
    response = await started_claim.upload(
        keyring.user,
        content,
        filename="../../etc/Résultats.pdf",
        content_type="text/plain",
    )
    assert response.status_code == 200, response.text
    proof = response.json()["proof"]["results_and_recommendations"]
    digest = hashlib.sha256(content).hexdigest()
    assert proof["status"] == "attached"
    assert proof["document"] == {
        "filename": "Résultats.pdf",
        "content_type": "application/pdf",
        "size_bytes": len(content),
        "sha256": digest,
        "uri": proof["document"]["uri"],
    }
    assert proof["document"]["uri"].startswith("ni:///sha-256;")
    assert stored_files(blob_dir) == [blob_dir / digest[:2] / digest]
    assert (blob_dir / digest[:2] / digest).read_bytes() == content

    for holder in (keyring.admin, keyring.reviewer):
        downloaded = await started_claim.download(holder)
        assert downloaded.status_code == 200
        assert downloaded.content == content
        assert downloaded.headers["content-type"] == "application/pdf"
        assert downloaded.headers["content-disposition"].startswith("attachment;")
        assert downloaded.headers["x-content-type-options"] == "nosniff"

    # A new attachment of the kind replaces the old one; the download follows it.
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    replaced = await started_claim.upload(keyring.admin, png, filename="photo.png")
    assert (
        replaced.json()["proof"]["results_and_recommendations"]["document"]["content_type"]
        == "image/png"
    )
    downloaded = await started_claim.download(keyring.user)
    assert downloaded.content == png
    assert len(stored_files(blob_dir)) == 1  # the replaced file is removed (issue 15)

    assert_problem(await started_claim.download(keyring.admin, "invoice"), 404, "NotFound")
    assert_problem(await started_claim.download(keyring.admin, "passport"), 422, "InvalidInput")


async def test_an_oversized_upload_is_413_and_nothing_is_stored_or_sent(
    keyring: ApiKeyring, blob_dir: Path, started_claim: ClaimApi
) -> None:
    too_big = pdf() + b"\x00" * (25 * MiB)
    problem = assert_problem(
        await started_claim.upload(keyring.admin, too_big), 413, "DocumentTooLarge"
    )
    assert "25 MiB" in problem["detail"]
    assert stored_files(blob_dir) == []
    # Exactly 25 MiB is allowed.
    exact = pdf() + b"\x00" * (25 * MiB - len(pdf()))
    assert (await started_claim.upload(keyring.admin, exact)).status_code == 200
    view = (await started_claim.get("", keyring.admin.headers)).json()
    assert [e["event"] for e in view["history"]] == ["claim_started", "document_attached"]
    assert view["proof"]["results_and_recommendations"]["document"]["size_bytes"] == 25 * MiB


async def test_a_text_file_named_pdf_is_415_and_nothing_is_stored_or_sent(
    keyring: ApiKeyring, blob_dir: Path, started_claim: ClaimApi
) -> None:
    claim, a = started_claim, keyring.admin.headers
    for content, filename in [
        (b"just some text, honestly a PDF\n", "report.pdf"),
        (b"MZ\x90\x00" + b"\x00" * 100, "invoice.pdf"),
        (b"<html><script>alert(1)</script></html>", "invoice.png"),
        (bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 100, "setup.msi"),
    ]:
        problem = assert_problem(
            await claim.upload(keyring.admin, content, filename=filename),
            415,
            "UnsupportedDocumentType",
        )
        assert "content" in problem["detail"]
    as_json = await claim.post("documents", a, json={"kind": "invoice", "file": "JVBERi0x"})
    assert_problem(as_json, 415, "UnsupportedDocumentType")
    assert stored_files(blob_dir) == []
    assert await events_of(claim, a) == ["claim_started"]


async def test_an_empty_file_or_a_missing_or_bad_kind_is_422_and_nothing_is_stored_or_sent(
    api: httpx.AsyncClient, keyring: ApiKeyring, blob_dir: Path, started_claim: ClaimApi
) -> None:
    claim = started_claim
    problem = assert_problem(await claim.upload(keyring.admin, b""), 422, "InvalidInput")
    assert problem["detail"] == "file: is empty"
    problem = assert_problem(
        await claim.upload(keyring.admin, pdf(), kind=None), 422, "InvalidInput"
    )
    assert problem["detail"] == "kind: is required"
    problem = assert_problem(
        await claim.upload(keyring.admin, pdf(), kind="selfie"), 422, "InvalidInput"
    )
    assert problem["detail"].startswith("kind: must be one of")
    no_file = await api.post(
        claim.url("documents"),
        data={"kind": "invoice"},
        files={"x": ("a", b"b")},
        headers=keyring.admin.headers,
    )
    assert_problem(no_file, 422, "InvalidInput")
    truncated = await api.post(
        claim.url("documents"),
        content=b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        b"\r\n%PDF-1.4",
        headers={**keyring.admin.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert_problem(truncated, 422, "InvalidInput")
    assert stored_files(blob_dir) == []
    assert await events_of(claim, keyring.admin.headers) == ["claim_started"]


async def test_an_upload_to_a_claim_that_takes_no_documents_is_refused_before_it_is_stored(
    keyring: ApiKeyring, claims: ClaimsClient, blob_dir: Path, started_claim: ClaimApi
) -> None:
    await submit_with_proof(started_claim, keyring.admin, claims)
    files_before = stored_files(blob_dir)
    refused = await started_claim.upload(keyring.admin, pdf("new"))
    problem = assert_problem(refused, 409, "WrongState")
    assert "submitted" in problem["detail"]
    assert stored_files(blob_dir) == files_before


def _zip(names: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        for name, content in names.items():
            package.writestr(name, content)
    return buffer.getvalue()


def test_content_sniffing_judges_documents_images_and_mail_by_their_bytes(tmp_path: Path) -> None:
    ole2 = bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 504
    cases: list[tuple[bytes, str, str | None]] = [
        (pdf(), "x.bin", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, "x", "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 16, "x", "image/jpeg"),
        (b"GIF89a" + b"\x00" * 16, "x", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "x", "image/webp"),
        (b"II*\x00" + b"\x00" * 16, "x", "image/tiff"),
        (b"MM\x00*" + b"\x00" * 16, "x", "image/tiff"),
        (
            _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}),
            "x.zip",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>"}),
            "x",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (
            _zip({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p/>"}),
            "x",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        (_zip({"word/document.xml": b"<w/>"}), "x.docx", None),
        (_zip({"readme.txt": b"hi"}), "x.zip", None),
        (b"PK\x03\x04 broken zip", "x.docx", None),
        (ole2, "claim.msg", "application/vnd.ms-outlook"),
        (ole2, "report.DOC", "application/msword"),
        (ole2, "sheet.xls", "application/vnd.ms-excel"),
        (ole2, "setup.msi", None),
        (
            b"Received: from mx\r\nFrom: Anna <anna@x.example>\r\nTo: b@y.example\r\n"
            b"Subject: Attendance\r\n  continued\r\n"
            b"Date: Mon, 2 Nov 2026 10:00:00 +0100\r\n\r\nbody",
            "mail.txt",
            "message/rfc822",
        ),
        (b"From: a@b.example\n\nno other header", "x.eml", None),
        (b"Subject: hi\nTo: x@y.example\n\nno sender", "x.eml", None),
        (b"hello: world\nthis is not a header\n", "x.eml", None),
        (b"plain text that mentions %PDF-1.4 somewhere", "x.pdf", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg", None),
    ]
    for index, (content, filename, expected) in enumerate(cases):
        path = tmp_path / f"sample-{index}"
        path.write_bytes(content)
        assert sniff_content_type(path, filename) == expected, (index, filename)

    macro = tmp_path / "macro"
    macro.write_bytes(
        _zip(
            {
                "[Content_Types].xml": b"<Types/>",
                "word/document.xml": b"<w/>",
                "word/vbaProject.bin": b"x",
            }
        )
    )
    with pytest.raises(DocumentTypeNotAllowed, match="macro"):
        sniff_content_type(macro, "x.docm")


# --- lists and export ---------------------------------------------------------------------------


async def test_the_list_and_its_export_show_the_callers_claims_newest_first_filtered_and_in_pages(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    keyring: ApiKeyring,
    store: ClaimStore,
    registry: Registry,
    start_claim: StartClaim,
) -> None:
    now = await env.get_current_time()
    ours = [await start_claim(consent_at=now - timedelta(days=days)) for days in (0, 10, 20)]
    other_body = await registry.recorded(
        start_body(
            now,
            partner={"id": OTHER_PARTNER_ID, "name": "Elsewhere"},
            customer={"id": "cust-9", "name": "N"},
        )
    )
    theirs = (
        await api.post(f"{V1}/claims", json=other_body, headers=keyring.other.headers)
    ).json()["engagement_id"]
    await wait_for_rows(store, [*ours, theirs])
    newest_first = list(reversed(ours))

    listed = await api.get(f"{V1}/claims", headers=keyring.user.headers)
    assert listed.status_code == 200
    page = listed.json()
    assert [c["engagement_id"] for c in page["items"]] == newest_first
    assert page["next_cursor"] is None
    item = page["items"][0]
    assert item["partner"] == {"id": "partner-42", "name": "Contoso Consulting"}
    assert item["status"] == "in_progress"
    assert item["missing"] == [
        "results_and_recommendations",
        "partner_survey",
        "customer_survey",
        "invoice",
    ]

    everyone = await api.get(f"{V1}/claims", headers=keyring.reviewer.headers)
    assert [c["engagement_id"] for c in everyone.json()["items"]] == [theirs, *newest_first]
    only_theirs = await api.get(f"{V1}/claims", headers=keyring.other.headers)
    assert [c["engagement_id"] for c in only_theirs.json()["items"]] == [theirs]

    # Pages of two, following the cursor.
    first = (
        await api.get(f"{V1}/claims", params={"limit": 2}, headers=keyring.admin.headers)
    ).json()
    assert [c["engagement_id"] for c in first["items"]] == newest_first[:2]
    assert first["next_cursor"]
    second = (
        await api.get(
            f"{V1}/claims",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=keyring.admin.headers,
        )
    ).json()
    assert [c["engagement_id"] for c in second["items"]] == newest_first[2:]
    assert second["next_cursor"] is None

    # Filters: the deadline is consent + 90 days; customer; status.
    early = (now + timedelta(days=75)).isoformat()
    due = await api.get(
        f"{V1}/claims", params={"deadline_before": early}, headers=keyring.reviewer.headers
    )
    assert [c["engagement_id"] for c in due.json()["items"]] == [ours[2]]
    by_customer = await api.get(
        f"{V1}/claims", params={"customer_id": "cust-9"}, headers=keyring.reviewer.headers
    )
    assert [c["engagement_id"] for c in by_customer.json()["items"]] == [theirs]
    hidden = await api.get(
        f"{V1}/claims", params={"customer_id": "cust-9"}, headers=keyring.admin.headers
    )
    assert hidden.json()["items"] == []
    submitted = await api.get(
        f"{V1}/claims", params={"status": "submitted"}, headers=keyring.admin.headers
    )
    assert submitted.json() == {"items": [], "next_cursor": None}

    bad_pages: list[tuple[dict[str, str | int], str]] = [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
    ]
    bad_filters: list[tuple[dict[str, str | int], str]] = [
        ({"status": "lost"}, "status"),
        ({"deadline_before": "2026-01-01T00:00:00"}, "deadline_before"),
        ({"customer_id": "a b"}, "customer_id"),
    ]
    for params, field in bad_pages + bad_filters:
        problem = assert_problem(
            await api.get(f"{V1}/claims", params=params, headers=keyring.admin.headers),
            422,
            "InvalidInput",
        )
        assert problem["detail"].startswith(f"{field}: "), problem

    # The CSV export narrows by the same filters, and refuses the same bad ones.
    filters: list[dict[str, str]] = [
        {"deadline_before": early},
        {"customer_id": "cust-9"},
        {"status": "in_progress"},
    ]
    for narrowed in filters:
        listed = await api.get(f"{V1}/claims", params=narrowed, headers=keyring.reviewer.headers)
        exported = await api.get(
            f"{V1}/claims/export.csv", params=narrowed, headers=keyring.reviewer.headers
        )
        assert exported.status_code == 200, exported.text
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [row["engagement_id"] for row in rows] == [
            c["engagement_id"] for c in listed.json()["items"]
        ], narrowed
    for params, field in bad_filters:
        problem = assert_problem(
            await api.get(f"{V1}/claims/export.csv", params=params, headers=keyring.admin.headers),
            422,
            "InvalidInput",
        )
        assert problem["detail"].startswith(f"{field}: "), problem


async def test_export_csv_lists_the_callers_claims_and_wins_over_an_engagement_named_so(
    api: httpx.AsyncClient, keyring: ApiKeyring, store: ClaimStore, start_claim: StartClaim
) -> None:
    named = await start_claim(engagement_id="export.csv")
    formula = await start_claim(workshop=FORMULA_WORKSHOP)
    await wait_for_rows(store, [named, formula])

    response = await api.get(f"{V1}/claims/export.csv", headers=keyring.user.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["engagement_id"] for row in rows] == [formula, named]
    assert rows[0]["workshop"].startswith("'=HYPERLINK")
    assert rows[1]["partner_id"] == "partner-42"
    assert (
        rows[1]["missing"] == "results_and_recommendations partner_survey customer_survey invoice"
    )
    assert rows[1]["status"] == "in_progress"

    # The claim named export.csv is still reachable through its own routes.
    history = await api.get(f"{V1}/claims/export.csv/history", headers=keyring.admin.headers)
    assert history.json()[0]["event"] == "claim_started"
    other = await api.get(f"{V1}/claims/export.csv", headers=keyring.other.headers)
    assert list(csv.reader(io.StringIO(other.text))) == [list(CSV_COLUMNS)]
    assert_problem(await api.get(f"{V1}/claims/export.csv"), 401, "Unauthorized")


def _stored_view(engagement_id: str, partner_id: str, started: datetime) -> StoreClaim:
    claim_in = ClaimInput.model_validate(
        {
            **claim_input(started, engagement_id=engagement_id).model_dump(),
            "partner": {"id": partner_id, "name": partner_id},
        }
    )
    claim = rules.open_claim(claim_in, started)
    return StoreClaim(view=rules.view(claim, started))


async def test_the_read_model_lists_pages_by_keyset_on_both_databases(database_url: str) -> None:
    store = ClaimStore.from_url(database_url)
    try:
        await store.migrate()
        base = datetime.fromisoformat("2026-03-01T10:00:00+00:00")
        # Two claims at the same moment: the engagement id breaks the tie.
        specs = [("eng-a", "p1", 0), ("eng-b", "p1", 0), ("eng-c", "p2", 5), ("eng-d", "p1", 9)]
        for eid, partner, minutes in specs:
            await store.save(_stored_view(eid, partner, base + timedelta(minutes=minutes)))

        seen: list[str] = []
        cursor = None
        while True:
            page = await store.list_claims(partner_id=None, limit=1, cursor=cursor)
            seen += [row["engagement_id"] for row in page.rows]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == ["eng-d", "eng-c", "eng-b", "eng-a"]

        p1 = await store.list_claims(partner_id="p1", limit=2)
        assert [row["engagement_id"] for row in p1.rows] == ["eng-d", "eng-b"]
        rest = await store.list_claims(partner_id="p1", limit=2, cursor=p1.next_cursor)
        assert [row["engagement_id"] for row in rest.rows] == ["eng-a"]
        assert rest.next_cursor is None

        with pytest.raises(InvalidCursor):
            await store.list_claims(partner_id=None, cursor="%%%")
        with pytest.raises(ValueError, match="limit"):
            await store.list_claims(partner_id=None, limit=101)
    finally:
        await store.close()


# --- the document and its shapes -----------------------------------------------------------------


async def test_the_openapi_document_is_served_and_matches_the_committed_file(
    api: httpx.AsyncClient,
) -> None:
    served = await api.get("/openapi.json")
    assert served.status_code == 200
    committed = json.loads((ROOT / "openapi.json").read_text())
    assert served.json() == committed, "openapi.json is stale: run scripts/openapi.py"
    assert portal_app.openapi() == committed


def test_request_bodies_are_the_workflow_messages_without_actor() -> None:
    def fields(model: type[Any], drop: frozenset[str] = frozenset({"actor"})) -> dict[str, Any]:
        return {
            name: (str(field.annotation), field.is_required())
            for name, field in model.model_fields.items()
            if name not in drop
        }

    # A partner's claim names the engagement and contacts as the start input does; the
    # other facts come from the registry, so they are optional repeats here.
    start = fields(ClaimInput)
    claim = fields(ClaimEngagementBody)
    assert {name: claim[name] for name in ("engagement_id", "partner_contacts")} == {
        name: start[name] for name in ("engagement_id", "partner_contacts")
    }
    assert set(claim) <= set(start)
    assert [name for name, (_, required) in claim.items() if required] == [
        "engagement_id",
        "partner_contacts",
    ]
    assert fields(UpdateContactsBody) == fields(UpdateContacts)
    assert fields(CommentBody) == fields(AddComment)
    assert fields(RequestInfoBody) == fields(RequestInfo)
    assert fields(ApproveBody) == fields(Approve)
    assert fields(RejectBody) == fields(Reject)


async def test_unknown_routes_and_methods_answer_problem_documents(
    api: httpx.AsyncClient, keyring: ApiKeyring, api_app: FastAPI
) -> None:
    assert_problem(await api.get(f"{V1}/nothing", headers=keyring.admin.headers), 404, "NotFound")
    response = await api.delete(f"{V1}/claims", headers=keyring.admin.headers)
    assert_problem(response, 405, "MethodNotAllowed")
    assert response.headers["allow"]
    assert_problem(
        await api.get(f"{V1}/claims/{'x' * 65}", headers=keyring.admin.headers), 422, "InvalidInput"
    )
    assert form_token(b"k" * 32, "t") != form_token(b"k" * 32, "u")
    assert api_app.state.portal.public_url == PUBLIC_URL
