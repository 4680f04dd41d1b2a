"""Text rules in the message models and the bounds of a claim (issue 15): through the portal,
through ClaimsClient and through a raw Temporal caller, on the real workflow."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from portal.routes import API_PREFIX as V1
from starter.client import ClaimRefused
from starter.client import ClaimsClient
from starter.client import workflow_id
from tests.api_keys import ApiKeyring
from tests.builders import PARTNER_ADMIN
from tests.builders import claim_input
from tests.helpers import Registry
from tests.helpers import assert_problem
from tests.helpers import plain_json_client
from tests.helpers import sent_survey_token
from tests.helpers import start_body
from tests.helpers import start_claim_now
from workflows.messages import AddComment
from workflows.messages import ClaimInput
from workflows.text import ANSWER_MAX_CHARS
from workflows.text import MAX_ANSWERS
from workflows.text import MAX_COMMENTS
from workflows.text import free_text
from workflows.text import single_line

pytestmark = [pytest.mark.timeout(120), pytest.mark.claims_server("shared")]

LINE_BREAKERS = {
    "line feed": "\n",
    "carriage return": "\r",
    "NUL": "\x00",
    "escape": "\x1b",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
    "right-to-left override": "\u202e",
    "zero width space": "\u200b",
}


@pytest.mark.parametrize("char", LINE_BREAKERS.values(), ids=LINE_BREAKERS.keys())
def test_a_single_line_field_refuses_control_and_format_characters(char: str) -> None:
    with pytest.raises(ValueError, match=f"U\\+{ord(char):04X}"):
        single_line(f"Ann{char}Bcc: everyone@example.com")


def test_free_text_takes_line_breaks_and_tabs_and_reads_crlf_as_lf() -> None:
    assert free_text("first line\r\nsecond\tline\n") == "first line\nsecond\tline\n"
    for char in ("\x00", "\r", "\u2028", "\u202e", "\x07"):
        with pytest.raises(ValueError, match="line breaks and tabs"):
            free_text(f"a{char}b")


@pytest.mark.parametrize(
    ("path", "char"),
    [
        (("customer_contact", "name"), "\n"),
        (("partner_contacts", 0, "name"), "\u2028"),
        (("partner", "name"), "\x00"),
        (("workshop",), "\u202e"),
    ],
)
async def test_a_name_with_a_line_break_or_control_is_invalid_input_naming_the_field(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    keyring: ApiKeyring,
    path: tuple[str | int, ...],
    char: str,
) -> None:
    body = start_body(await env.get_current_time())
    node: Any = body
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = f"Ann{char}Evil"
    response = await api.post(f"{V1}/claims", json=body, headers=keyring.admin.headers)
    problem = assert_problem(response, 422, "InvalidInput")
    assert [error["field"] for error in problem["errors"]] == [".".join(map(str, path))]


async def test_a_consent_beyond_year_2999_is_invalid_input_not_a_crash(
    api: httpx.AsyncClient, env: WorkflowEnvironment, keyring: ApiKeyring, registry: Registry
) -> None:
    body = await registry.recorded(start_body(await env.get_current_time()))
    body["consent_at"] = "9999-12-31T23:00:00+00:00"  # plus 90 days would overflow
    response = await api.post(f"{V1}/claims", json=body, headers=keyring.admin.headers)
    problem = assert_problem(response, 422, "InvalidInput")
    assert problem["errors"][0]["field"] == "consent_at"


async def test_a_comment_keeps_line_breaks_and_tabs_and_refuses_other_controls(
    api: httpx.AsyncClient,
    keyring: ApiKeyring,
    started_eid: str,
) -> None:
    eid = started_eid
    path = f"{V1}/claims/{eid}/comments"
    taken = await api.post(path, json={"text": "one\r\ntwo\tthree"}, headers=keyring.admin.headers)
    assert taken.status_code == 200, taken.text
    view = (await api.get(f"{V1}/claims/{eid}", headers=keyring.admin.headers)).json()
    assert view["comments"][-1]["text"] == "one\ntwo\tthree"
    refused = await api.post(path, json={"text": "bell\x07"}, headers=keyring.admin.headers)
    assert assert_problem(refused, 422, "InvalidInput")["errors"][0]["field"] == "text"


@pytest.mark.parametrize(
    ("update", "payload", "field"),
    [
        ("add_comment", {"text": "nul\x00"}, "text"),
        (
            "update_contacts",
            {"customer_contact": {"name": "Ann\nBcc: x@example.com", "email": "ann@example.com"}},
            "customer_contact.name",
        ),
    ],
)
async def test_a_raw_temporal_caller_meets_the_same_text_rules(
    env: WorkflowEnvironment,
    claims: ClaimsClient,
    update: str,
    payload: dict[str, Any],
    field: str,
) -> None:
    eid = await start_claim_now(env, claims)
    raw = plain_json_client(claims.client).get_workflow_handle(workflow_id(eid))
    actor = PARTNER_ADMIN.model_dump(mode="json")
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await raw.execute_update(update, {**payload, "actor": actor})
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidInput"
    assert field in cause.message


async def test_a_full_claim_refuses_another_comment_with_a_clear_409(
    api: httpx.AsyncClient,
    claims: ClaimsClient,
    keyring: ApiKeyring,
    started_eid: str,
) -> None:
    eid = started_eid
    for number in range(MAX_COMMENTS):
        await claims.add_comment(eid, AddComment(text=f"comment {number}", actor=PARTNER_ADMIN))
    response = await api.post(
        f"{V1}/claims/{eid}/comments", json={"text": "one more"}, headers=keyring.admin.headers
    )
    problem = assert_problem(response, 409, "WrongState")
    assert f"{MAX_COMMENTS} comments" in problem["detail"]
    assert len((await claims.get_claim(eid)).comments) == MAX_COMMENTS


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({f"q{n}": n for n in range(MAX_ANSWERS + 1)}, "answers"),
        ({"remarks": "x" * (ANSWER_MAX_CHARS + 1)}, "answers.remarks"),
        ({"nested": {"deeper": "no"}}, "answers.nested"),
        ({"list": ["a", "b"]}, "answers.list"),
        ({"remarks": "nul\x00"}, "answers.remarks"),
    ],
    ids=["too many", "too long", "nested map", "list", "control character"],
)
async def test_survey_answers_are_a_bounded_flat_map(
    env: WorkflowEnvironment, claims: ClaimsClient, answers: dict[str, Any], field: str
) -> None:
    eid = await start_claim_now(env, claims)
    token = await sent_survey_token(claims, eid, "customer")
    with pytest.raises(ClaimRefused) as refused:
        await claims.complete_survey(token, "c@customer.example", answers)
    assert refused.value.type == "InvalidInput"
    assert field in refused.value.message
    taken = {f"q{n}": "y" * ANSWER_MAX_CHARS for n in range(MAX_ANSWERS)}
    view = await claims.complete_survey(token, "c@customer.example", taken)
    assert view.proof.customer_survey.status == "completed"


def test_the_start_input_bounds_its_contacts() -> None:
    document = claim_input(datetime.now(UTC)).model_dump(mode="json")
    document["partner_contacts"] = document["partner_contacts"] * 11
    with pytest.raises(ValueError, match="partner_contacts"):
        ClaimInput.model_validate(document)
