"""The survey pages (no login: the signed link is the key), against the real app and workflows:
language, accessibility basics, answers recorded, stale and forged links, cross-site posts."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from html.parser import HTMLParser

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from claims_testing.data import PUBLIC_URL
from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import survey_link
from portal.pages.render import PAGE_CSS
from portal.pages.survey_texts import QUESTIONS
from portal.pages.surveys import form_token
from starter.client import ClaimsClient
from starter.telemetry import JsonLogFormatter
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_CONTACTS
from tests.builders import claim_input
from workflows.messages import ClaimView
from workflows.messages import Contact
from workflows.messages import SendSurvey
from workflows.messages import SurveyKind
from workflows.messages import UpdateContacts

pytestmark = [pytest.mark.timeout(90), pytest.mark.claims_server("shared")]

DUTCH_CUSTOMER = Contact(name="Klaas Klant", email="klaas@klant.example", locale="nl")
CUSTOMER_ANSWERS = {
    "overall": "5",
    "relevance": "4",
    "partner_expertise": "5",
    "recommend": "3",
    "comments": "Heel nuttig.\r\nDank!",
}


async def open_survey(
    env: WorkflowEnvironment,
    claims: ClaimsClient,
    mailbox: MailCatcher,
    kind: SurveyKind = "customer",
    **changes: object,
) -> tuple[str, str]:
    """Start a claim, mail the survey, and return (engagement id, the link's path)."""
    consent_at = changes.pop("consent_at", None) or await env.get_current_time()
    assert isinstance(consent_at, datetime)
    started = await claims.start_claim(claim_input(consent_at, **changes))
    eid = started.view.engagement_id
    await claims.send_survey(eid, SendSurvey(kind=kind, actor=PARTNER_ADMIN))
    recipient = (
        started.view.customer_contact if kind == "customer" else started.view.partner_contacts[0]
    )
    [mail] = await mailbox.wait_for(to=recipient.email, kind="survey_invitation")
    link = survey_link(mail)
    assert link.startswith(f"{PUBLIC_URL}/surveys/")
    return eid, link.removeprefix(PUBLIC_URL)


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert match is not None, page.text
    return match.group(1)


async def answered_form(api: httpx.AsyncClient, path: str) -> dict[str, str]:
    """The customer's answers, with the form token of the survey page at `path` (fetched now)."""
    return {"csrf_token": csrf_of(await api.get(path)), **CUSTOMER_ANSWERS}


async def post_form(
    api: httpx.AsyncClient, path: str, form: dict[str, str], origin: str | None = PUBLIC_URL
) -> httpx.Response:
    headers = {"Origin": origin} if origin is not None else {}
    return await api.post(path, data=form, headers=headers)


def assert_page(response: httpx.Response, status: int, lang: str) -> None:
    """An HTML page in that language with the security headers."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in response.text
    assert "<script" not in response.text.lower()
    csp = response.headers["content-security-policy"]
    for directive in ("default-src 'none'", "form-action 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-content-type-options"] == "nosniff"


class FormShape(HTMLParser):
    """Collects what an accessibility check needs: ids, label targets, controls, fieldsets."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.legends = 0
        self.fieldsets = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "label" and attributes.get("for"):
            self.label_for.add(str(attributes["for"]))
        if tag in ("input", "textarea", "select") and attributes.get("type") != "hidden":
            self.controls.append(attributes)
        self.fieldsets += tag == "fieldset"
        self.legends += tag == "legend"


async def history_events(claims: ClaimsClient, eid: str) -> list[str]:
    view: ClaimView = await claims.get_claim(eid)
    return [entry.event for entry in view.history]


@dataclass(frozen=True)
class OpenSurvey:
    """A new claim's customer survey, mailed in English: the claim, the link's path, and the
    claim's history events as they stood once the survey was mailed."""

    claims: ClaimsClient
    eid: str
    path: str
    events: list[str]

    async def assert_nothing_recorded(self) -> None:
        """The claim's history has not grown since the survey was mailed."""
        assert await history_events(self.claims, self.eid) == self.events


@pytest.fixture
async def survey(
    env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> OpenSurvey:
    eid, path = await open_survey(env, claims, mailbox)
    return OpenSurvey(claims, eid, path, await history_events(claims, eid))


async def test_the_form_is_in_the_customers_language_with_a_switch_to_the_other(
    api: httpx.AsyncClient, env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    _, path = await open_survey(env, claims, mailbox, customer_contact=DUTCH_CUSTOMER)
    page = await api.get(path)
    assert_page(page, 200, "nl")
    assert "Klantenquête" in page.text
    assert "Contoso Consulting heeft voor Fabrikam BV de workshop" in page.text
    assert QUESTIONS["customer"][0].text("nl") in page.text
    assert 'href="?lang=en" hreflang="en" lang="en">English</a>' in page.text

    english = await api.get(path, params={"lang": "en"})
    assert_page(english, 200, "en")
    assert "Customer survey" in english.text
    assert QUESTIONS["customer"][0].text("en") in english.text
    assert 'href="?lang=nl"' in english.text
    assert_page(await api.get(path, params={"lang": "de"}), 200, "nl")


async def test_the_partner_form_is_in_the_first_partner_contacts_language(
    api: httpx.AsyncClient, env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    dutch_first = [PARTNER_CONTACTS[1], PARTNER_CONTACTS[0]]
    _, path = await open_survey(env, claims, mailbox, "partner", partner_contacts=dutch_first)
    page = await api.get(path)
    assert_page(page, 200, "nl")
    assert "Partnerenquête" in page.text
    assert "Wie vult de enquête in?" in page.text
    assert all(contact.name in page.text for contact in dutch_first)
    assert all(contact.email not in page.text for contact in dutch_first)


async def test_the_form_is_plain_accessible_html_with_a_hashed_style_and_a_form_token(
    api: httpx.AsyncClient, survey: OpenSurvey, secret_key: bytes
) -> None:
    path = survey.path
    page = await api.get(path)
    assert_page(page, 200, "en")
    shape = FormShape()
    shape.feed(page.text)
    questions = QUESTIONS["customer"]
    ratings = [q for q in questions if q.type == "rating"]
    assert shape.fieldsets == shape.legends == len(ratings)
    assert len(shape.controls) == 5 * len(ratings) + (len(questions) - len(ratings))
    for control in shape.controls:
        assert control["id"] in shape.label_for, control  # every control has its <label for>
    assert shape.label_for <= shape.ids
    assert '<form method="post" action=""' in page.text

    # The inline style is allowed by its hash and nothing else runs.
    digest = base64.b64encode(hashlib.sha256(PAGE_CSS.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in page.headers["content-security-policy"]
    assert f"<style>{PAGE_CSS}</style>" in page.text
    token = path.rsplit("/", 1)[1]
    assert csrf_of(page) == form_token(secret_key, token)
    assert page.headers["cache-control"] == "no-store"


async def test_answers_are_recorded_then_the_link_answers_410(
    api: httpx.AsyncClient, env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    eid, path = await open_survey(env, claims, mailbox, customer_contact=DUTCH_CUSTOMER)
    page = await api.get(path)
    response = await post_form(
        api, path, {"csrf_token": csrf_of(page), "lang": "nl", **CUSTOMER_ANSWERS}
    )
    assert_page(response, 200, "nl")
    assert "Dank u wel" in response.text

    view = await claims.get_claim(eid)
    assert view.proof.customer_survey.status == "completed"
    completion = view.history[-1]
    assert completion.event == "survey_completed"
    assert completion.detail["respondent_email"] == DUTCH_CUSTOMER.email
    assert completion.detail["answers"] == {
        "overall": 5,
        "relevance": 4,
        "partner_expertise": 5,
        "recommend": 3,
        "comments": "Heel nuttig.\nDank!",
    }

    gone = await api.get(path)
    assert_page(gone, 410, "nl")
    assert "al ingevuld" in gone.text
    again = await post_form(api, path, {"csrf_token": csrf_of(page), **CUSTOMER_ANSWERS})
    assert_page(again, 410, "nl")
    assert await history_events(claims, eid) == [e.event for e in view.history]


async def test_wrong_answers_show_the_form_again_with_the_errors_and_send_nothing(
    api: httpx.AsyncClient, survey: OpenSurvey
) -> None:
    path = survey.path
    page = await api.get(path)
    response = await post_form(
        api,
        path,
        {
            "csrf_token": csrf_of(page),
            "overall": "7",
            "relevance": "5" * 5000,
            "partner_expertise": "3",
            "recommend": "four",
            "comments": "x" * 2001,
        },
    )
    assert_page(response, 422, "en")
    assert 'role="alert"' in response.text
    for question_id in ("overall", "relevance", "recommend", "comments"):
        assert f'id="q-{question_id}-error"' in response.text, question_id
    assert 'id="q-partner_expertise-error"' not in response.text
    assert 'id="q-partner_expertise-3" name="partner_expertise" value="3" checked' in response.text
    assert "choose a rating from 1 to 5" in response.text
    assert "at most 2000 characters" in response.text
    assert csrf_of(response) == csrf_of(page)
    await survey.assert_nothing_recorded()


async def test_a_post_without_or_with_a_wrong_form_token_is_refused_and_sends_nothing(
    api: httpx.AsyncClient, claims: ClaimsClient, survey: OpenSurvey
) -> None:
    eid, path = survey.eid, survey.path
    other_token = form_token(b"another secret key of 32 bytes!", path.rsplit("/", 1)[1])
    for form in (
        dict(CUSTOMER_ANSWERS),
        {"csrf_token": "", **CUSTOMER_ANSWERS},
        {"csrf_token": other_token, **CUSTOMER_ANSWERS},
    ):
        response = await post_form(api, path, form)
        assert_page(response, 403, "en")
        assert "could not be verified" in response.text
    await survey.assert_nothing_recorded()
    assert (await claims.get_claim(eid)).proof.customer_survey.status == "sent"


async def test_a_post_from_another_origin_is_refused_and_sends_nothing(
    api: httpx.AsyncClient, survey: OpenSurvey
) -> None:
    path = survey.path
    form = await answered_form(api, path)
    for origin in ("http://evil.example", "https://claims.test", "null"):
        assert_page(await post_form(api, path, form, origin=origin), 403, "en")
    await survey.assert_nothing_recorded()

    # Same origin (an explicit default port is the same origin), or no Origin at all: accepted.
    response = await post_form(api, path, form, origin="http://CLAIMS.test:80")
    assert_page(response, 200, "en")


async def test_a_post_without_origin_header_is_accepted_with_its_form_token(
    api: httpx.AsyncClient, claims: ClaimsClient, survey: OpenSurvey
) -> None:
    eid, path = survey.eid, survey.path
    form = await answered_form(api, path)
    assert_page(await post_form(api, path, form, origin=None), 200, "en")
    assert (await claims.get_claim(eid)).proof.customer_survey.status == "completed"


async def test_a_tampered_token_shows_the_404_page(
    api: httpx.AsyncClient, survey: OpenSurvey
) -> None:
    path = survey.path
    body, signature = path.rsplit("/", 1)[1].split(".")
    tampered = [
        f"/surveys/{body}.{signature[:-2]}AA",
        f"/surveys/{body[:-1]}.{signature}",
        "/surveys/not-a-token",
        f"/surveys/{body}",
    ]
    for bad in tampered:
        page = await api.get(bad, headers={"Accept-Language": "nl-NL,nl;q=0.9"})
        assert_page(page, 404, "nl")
        assert "Enquête niet gevonden" in page.text
        posted = await post_form(api, bad, {"csrf_token": form_token(b"x" * 32, bad)})
        assert_page(posted, 404, "en")
    assert_page(await api.get("/surveys/"), 404, "en")
    await survey.assert_nothing_recorded()


async def test_a_link_invalidated_by_a_contact_change_shows_410_and_a_post_sends_nothing(
    api: httpx.AsyncClient, claims: ClaimsClient, survey: OpenSurvey
) -> None:
    eid, path = survey.eid, survey.path
    form = await answered_form(api, path)
    await claims.update_contacts(
        eid, UpdateContacts(customer_contact=DUTCH_CUSTOMER, actor=PARTNER_ADMIN)
    )
    before = await history_events(claims, eid)
    page = await api.get(path)
    assert_page(page, 410, "nl")  # the customer contact is Dutch now
    assert "niet meer geldig omdat de contactgegevens zijn gewijzigd" in page.text
    english = await api.get(path, params={"lang": "en"})
    assert_page(english, 410, "en")
    assert "no longer valid because the contact details changed" in english.text
    assert_page(await post_form(api, path, form), 410, "nl")
    assert await history_events(claims, eid) == before
    assert (await claims.get_claim(eid)).proof.customer_survey.status == "invalidated"


async def test_the_partner_survey_records_the_chosen_partner_contact_as_respondent(
    api: httpx.AsyncClient, env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    eid, path = await open_survey(env, claims, mailbox, "partner")
    page = await api.get(path)
    form = {
        "csrf_token": csrf_of(page),
        "respondent": "1",
        "overall": "4",
        "customer_engagement": "5",
        "program_support": "3",
        "outcomes": "Roadmap agreed.",
    }
    assert_page(await post_form(api, path, {**form, "respondent": "9"}), 422, "en")
    assert_page(await post_form(api, path, {**form, "respondent": "1" * 5000}), 422, "en")
    assert_page(await post_form(api, path, {**form, "outcomes": "  "}), 422, "en")
    assert_page(await post_form(api, path, form), 200, "en")
    completion = (await claims.get_claim(eid)).history[-1]
    assert completion.detail["respondent_email"] == PARTNER_CONTACTS[1].email
    assert completion.detail["answers"]["outcomes"] == "Roadmap agreed."
    assert "comments" not in completion.detail["answers"]


async def test_an_oversized_or_non_form_post_is_refused_and_sends_nothing(
    api: httpx.AsyncClient, survey: OpenSurvey
) -> None:
    path = survey.path
    csrf = csrf_of(await api.get(path))
    huge = await post_form(api, path, {"csrf_token": csrf, "comments": "x" * 70_000})
    assert_page(huge, 413, "en")
    as_json = await api.post(
        path, json={"csrf_token": csrf, **CUSTOMER_ANSWERS}, headers={"Origin": PUBLIC_URL}
    )
    assert_page(as_json, 415, "en")
    await survey.assert_nothing_recorded()
    assert CUSTOMER_CONTACT.email not in huge.text


@pytest.mark.claims_server("time-skipping")  # moves time: a server of its own
async def test_a_link_of_a_claim_rejected_at_its_deadline_shows_410_closed(
    api: httpx.AsyncClient, env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    almost_due = await env.get_current_time() - timedelta(days=90) + timedelta(minutes=5)
    eid, path = await open_survey(env, claims, mailbox, consent_at=almost_due)
    form = await answered_form(api, path)
    await env.sleep(timedelta(minutes=10))  # virtual time passes the deadline
    await claims.handle(eid).result()  # auto-rejected, the workflow is over
    before = await history_events(claims, eid)
    page = await api.get(path)
    assert_page(page, 410, "en")
    assert "no longer takes survey answers" in page.text
    assert_page(await post_form(api, path, form), 410, "en")
    assert await history_events(claims, eid) == before


class _JsonLines(logging.Handler):
    """Formats each record as the JSON log format does, when it is written."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(JsonLogFormatter())
        self.lines: list[dict[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_a_portal_log_line_names_its_route_and_no_respondent(
    api: httpx.AsyncClient, survey: OpenSurvey
) -> None:
    path = survey.path
    form = await answered_form(api, path)
    handler = _JsonLines()
    logging.getLogger().addHandler(handler)
    try:
        assert_page(await post_form(api, path, form, origin="http://evil.example"), 403, "en")
    finally:
        logging.getLogger().removeHandler(handler)
    [line] = [line for line in handler.lines if "another origin" in line["message"]]
    assert line["route"] == "/surveys/{token}"
    assert CUSTOMER_CONTACT.email not in json.dumps(handler.lines)
