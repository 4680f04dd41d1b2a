"""A respondent in a real browser: Debian's Chromium, headless, driven by Playwright.

The app is served by uvicorn on a free loopback port inside the test, with
survey links made for that address, so the browser opens the very link the
e-mail carried. JavaScript is switched off: the pages must work without it.

Needs /usr/bin/chromium (`apt-get install -y chromium`); without it the test
skips, unless CLAIMS_REQUIRE_BROWSER=1 (CI), which makes that a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser
from playwright.async_api import BrowserContext
from playwright.async_api import Page
from playwright.async_api import async_playwright
from temporalio.testing import WorkflowEnvironment

from activities.consent import consent_activities
from activities.links import SurveyLinks
from activities.mail import SmtpConfig
from activities.store import ClaimStore
from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import consent_link
from devstack.mailcatcher import survey_link
from portal.pages.survey_texts import QUESTIONS
from starter.client import ClaimsClient
from tests.api_keys import ApiKeyring
from tests.browser import CHROMIUM
from tests.browser import CHROMIUM_ARGS
from tests.browser import require_browser
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_CONTACTS
from tests.builders import claim_input
from tests.builders import new_engagement
from tests.helpers import PortalAppFor
from tests.helpers import mailing_activities
from tests.helpers import record_engagement
from worker import create_worker
from workflows.consent import ConsentRequestWorkflow
from workflows.consent import consent_workflow_id
from workflows.engagements import WorkshopCatalogue

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(120)]


class _Server(uvicorn.Server):
    """uvicorn inside the test's event loop, leaving the process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class Served:
    """The served app's address, and what it and its worker run on."""

    url: str
    claims: ClaimsClient
    store: ClaimStore
    catalogue: WorkshopCatalogue
    env: WorkflowEnvironment
    mailbox: MailCatcher


@pytest.fixture
async def served(
    env: WorkflowEnvironment,
    store: ClaimStore,
    mailbox: MailCatcher,
    secret_key: bytes,
    task_queue: str,
    catalogue: WorkshopCatalogue,
    portal_app_for: PortalAppFor,
    claims_smtp: SmtpConfig,
) -> AsyncIterator[Served]:
    """The app on a free loopback port, and a worker whose mails (survey and consent links)
    link to that address."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    links = SurveyLinks(secret_key, url)
    activities = mailing_activities(store, links, mailbox.host, mailbox.port)
    consent = consent_activities(store, claims_smtp, secret_key, url)
    async with create_worker(env.client, task_queue, activities, consent=consent):
        claims = ClaimsClient(env.client, task_queue=task_queue, links=links)
        app = portal_app_for(claims, public_url=url)
        config = uvicorn.Config(app, lifespan="off", log_level="warning", http="h11", ws="none")
        server = _Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        deadline = time.monotonic() + 10
        while not server.started:
            assert not serving.done(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
            await asyncio.sleep(0.05)
        try:
            yield Served(url, claims, store, catalogue, env, mailbox)
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 15)
            sock.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_browser()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", *CHROMIUM_ARGS], timeout=30_000
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def opened(browser: Browser, link: str) -> tuple[BrowserContext, Page]:
    """A link opened as an English-speaking person's browser without script would (200)."""
    context = await browser.new_context(java_script_enabled=False, locale="en-GB")
    context.set_default_timeout(15_000)
    page = await context.new_page()
    response = await page.goto(link)
    assert response is not None
    assert response.status == 200
    return context, page


async def assert_gone(page: Page, link: str) -> None:
    """Opening the link in the page answers 410 Gone."""
    response = await page.goto(link)
    assert response is not None
    assert response.status == 410


async def test_a_respondent_answers_from_the_emailed_link_and_a_stale_link_shows_410(
    served: Served, browser: Browser, keyring: ApiKeyring
) -> None:
    claims, mailbox = served.claims, served.mailbox
    body = claim_input(await served.env.get_current_time()).model_dump(
        mode="json", exclude={"actor", "workshop_type"}
    )
    await record_engagement(served.store, body, served.catalogue)
    eid = body["engagement_id"]
    async with httpx.AsyncClient(base_url=served.url, headers=keyring.admin.headers) as http:
        assert (await http.post("/api/v1/claims", json=body)).status_code == 201
        assert (await http.post(f"/api/v1/claims/{eid}/surveys/customer/send")).is_success
        assert (await http.post(f"/api/v1/claims/{eid}/surveys/partner/send")).is_success
    [customer_mail] = await mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="survey_invitation")
    [partner_mail] = await mailbox.wait_for(to=PARTNER_CONTACTS[0].email, kind="survey_invitation")
    link = survey_link(customer_mail)
    assert link.startswith(f"{served.url}/surveys/")

    context, page = await opened(browser, link)
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.get_by_role("heading", level=1).inner_text() == "Customer survey"

    # The language switch works without script, and back.
    await page.get_by_role("link", name="Nederlands").click()
    assert await page.get_attribute("html", "lang") == "nl"
    await page.get_by_role("link", name="English").click()
    assert await page.get_attribute("html", "lang") == "en"

    ratings = {"overall": "5", "relevance": "4", "partner_expertise": "5", "recommend": "4"}
    for question in QUESTIONS["customer"]:
        if question.type == "rating":
            group = page.get_by_role("group", name=question.text("en"))
            await group.get_by_label(ratings[question.id], exact=True).check()
        else:
            await page.get_by_label(question.text("en")).fill("Clear and practical.")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Send my answers").click()
    assert await page.get_by_role("heading", level=1).inner_text() == "Thank you"
    assert "have been recorded" in await page.inner_text("main")

    view = await claims.get_claim(eid)
    assert view.proof.customer_survey.status == "completed"
    assert view.history[-1].detail["answers"] == {
        **{key: int(value) for key, value in ratings.items()},
        "comments": "Clear and practical.",
    }
    await assert_gone(page, link)

    # The partner link goes stale when the partner contacts change.
    stale = survey_link(partner_mail)
    async with httpx.AsyncClient(base_url=served.url, headers=keyring.user.headers) as http:
        changed = await http.put(
            f"/api/v1/claims/{eid}/contacts",
            json={"partner_contacts": [PARTNER_CONTACTS[1].model_dump(mode="json")]},
        )
        assert changed.json()["proof"]["partner_survey"]["status"] == "invalidated"
    await assert_gone(page, stale)
    # In the language of the (new) first partner contact, Joost: Dutch.
    assert await page.get_attribute("html", "lang") == "nl"
    heading = await page.get_by_role("heading", level=1).inner_text()
    assert heading == "Deze enquêtelink werkt niet meer"
    assert "contactgegevens zijn gewijzigd" in await page.inner_text("main")
    assert (await claims.get_claim(eid)).proof.partner_survey.status == "invalidated"
    await context.close()


async def test_a_customer_consents_from_the_emailed_link_in_their_own_language(
    served: Served, browser: Browser, keyring: ApiKeyring
) -> None:
    eid = new_engagement()
    record = {
        "partner": {"id": "partner-42", "name": "Contoso Consulting"},
        "customer": {"id": "customer-7", "name": "Fabrikam BV"},
        "workshop_type": "security",
        "customer_contact": {**CUSTOMER_CONTACT.model_dump(mode="json"), "locale": "nl"},
    }
    async with httpx.AsyncClient(base_url=served.url) as http:
        put = await http.put(
            f"/api/v1/engagements/{eid}", json=record, headers=keyring.program.headers
        )
        assert put.status_code == 201, put.text
        asked = await http.post(
            f"/api/v1/engagements/{eid}/consent-request", headers=keyring.admin.headers
        )
        assert asked.status_code == 201, asked.text
    [mail] = await served.mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="consent_request")
    link = consent_link(mail)
    assert link.startswith(f"{served.url}/consent/")

    context, page = await opened(browser, link)
    # The contact's language (Dutch), not the browser's.
    assert await page.get_attribute("html", "lang") == "nl"
    assert await page.get_by_role("heading", level=1).inner_text() == "Uw toestemming"
    assert "Beveiligingsworkshop" in await page.inner_text("main")
    await page.get_by_role("link", name="English").click()
    assert await page.get_attribute("html", "lang") == "en"
    assert "Security workshop" in await page.inner_text("main")

    async with page.expect_navigation():
        await page.get_by_role("button", name="I consent").click()
    assert "your consent is recorded" in await page.inner_text("main")
    state = await served.env.client.get_workflow_handle_for(
        ConsentRequestWorkflow.run, consent_workflow_id(eid, 1)
    ).result()
    assert state.status == "consented"
    async with httpx.AsyncClient(base_url=served.url, headers=keyring.admin.headers) as http:
        got = (await http.get(f"/api/v1/engagements/{eid}")).json()
    assert (got["consent_status"], got["eligible"]) == ("consented", True)

    await assert_gone(page, link)
    await context.close()
