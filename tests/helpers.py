"""Helpers shared by the test modules: driving a claim's proof, clients, and assertions on
the read model and the Temporal history. Test modules import from here (or use fixtures),
never from one another."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from typing import Protocol

import httpx
import pytest
from fastapi import FastAPI
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.client import WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from activities.claim_activities import ClaimActivities
from activities.engagements import EngagementRegistry
from activities.links import SurveyLinks
from activities.mail import Mailer
from activities.mail import MailRenderer
from activities.mail import SmtpConfig
from activities.store import ClaimStore
from claims_testing.data import MAIL_FROM
from claims_testing.data import PROGRAM_ADMIN
from claims_testing.data import PUBLIC_URL
from claims_testing.data import REVIEW_MAIL
from claims_testing.factory import ClaimFactory
from claims_testing.factory import WallClock
from claims_testing.processes import poll_until
from claims_testing.processes import worker_environ
from devstack.mailcatcher import MailCatcher
from portal.routes import API_PREFIX as V1
from starter.client import ClaimRefused
from starter.client import ClaimsClient
from starter.client import workflow_id
from tests.api_keys import ApiKeyHolder
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_CONTACTS
from tests.builders import claim_input
from workflows import rules
from workflows.claim import RELEASE
from workflows.claim import CarriedClaim
from workflows.claim import ClaimRun
from workflows.claim import WorkshopClaimWorkflow
from workflows.engagements import EngagementFields
from workflows.engagements import WorkshopCatalogue
from workflows.messages import ClaimView
from workflows.messages import RefusalType
from workflows.messages import SendSurvey
from workflows.messages import SurveyKind

SURVEY_KINDS: tuple[SurveyKind, ...] = ("partner", "customer")

FORMULA_WORKSHOP = '=HYPERLINK("http://evil.example","x")'
"""A workshop name that a spreadsheet would run as a formula (in the tests' catalogue)."""

POSTGRES_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "postgres"}
"""The local PostgreSQL server's `postgres` database, as its superuser (asyncpg.connect)."""

ON_POSTGRESQL = pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)
"""The `database_url` fixture's PostgreSQL parameter, marked so that `-m "not postgres"`
leaves it out, also where a test asks for it alone (`indirect=True`)."""


def assert_problem(response: httpx.Response, status: int, title: str) -> dict[str, Any]:
    """An RFC 9457 problem document with the refusal type as title."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["title"] == title
    assert problem["status"] == status
    assert problem["type"] == f"urn:workshop-claims:problem:{title}"
    assert isinstance(problem["detail"], str)
    assert problem["detail"]
    return problem


@dataclass(frozen=True)
class ClaimApi:
    """One claim's part of the portal API: `post("submit", headers)` is
    POST /api/v1/claims/{eid}/submit with those headers (an empty path: the claim itself)."""

    api: httpx.AsyncClient
    eid: str

    def url(self, path: str = "") -> str:
        return f"{V1}/claims/{self.eid}/{path}" if path else f"{V1}/claims/{self.eid}"

    async def get(self, path: str, headers: Mapping[str, str]) -> httpx.Response:
        return await self.api.get(self.url(path), headers=headers)

    async def post(self, path: str, headers: Mapping[str, str], json: Any = None) -> httpx.Response:
        return await self.api.post(self.url(path), json=json, headers=headers)

    async def put(self, path: str, headers: Mapping[str, str], json: Any = None) -> httpx.Response:
        return await self.api.put(self.url(path), json=json, headers=headers)

    async def upload(self, holder: ApiKeyHolder, content: bytes, **options: Any) -> httpx.Response:
        """`upload` a proof document to this claim (with that function's options)."""
        return await upload(self.api, self.eid, holder, content, **options)

    async def download(
        self, holder: ApiKeyHolder, kind: str = "results_and_recommendations"
    ) -> httpx.Response:
        return await download(self.api, self.eid, holder, kind)


async def wait_for_rows(store: ClaimStore, engagement_ids: list[str], within: float = 10) -> None:
    """The read model is written by an activity: wait until it has these claims."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if set(await store.statuses(engagement_ids)) == set(engagement_ids):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"read model lacks some of {engagement_ids}")


async def post_form_page(
    api: httpx.AsyncClient, link: str, fields: Mapping[str, str]
) -> httpx.Response:
    """Send a page's form the way a browser would: GET the page (it must answer 200), then
    POST `fields` with its hidden anti-forgery token, from the portal's own origin."""
    path = link.removeprefix(PUBLIC_URL)
    page = await api.get(path)
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token is not None
    return await api.post(
        path, data={"csrf_token": token.group(1), **fields}, headers={"Origin": PUBLIC_URL}
    )


async def record_engagement(
    store: ClaimStore,
    body: Mapping[str, Any],
    catalogue: WorkshopCatalogue,
    **changes: Any,
) -> dict[str, Any]:
    """Record in the registry the engagement a start body (or claim input) names, as the
    program would, so a partner key may claim it; returns the body."""
    facts = {**body, **changes}
    code = next(c for c, w in catalogue.workshops.items() if w.name == facts["workshop"])
    fields = EngagementFields.model_validate(
        {
            "partner": facts["partner"],
            "customer": facts["customer"],
            "workshop_type": code,
            "consent_at": facts["consent_at"],
            "customer_contact": facts["customer_contact"],
        }
    )
    await EngagementRegistry(store.engine).record(
        facts["engagement_id"], fields, PROGRAM_ADMIN, datetime.now(UTC)
    )
    return dict(body)


async def assert_stored(store: ClaimStore, view: ClaimView, within: float = 10.0) -> None:
    """The read model catches up with `view`: its row and exactly one row per history event."""
    deadline = time.monotonic() + within
    row: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        row = await store.claim_row(view.engagement_id)
        if row is not None and row["version"] >= len(view.history):
            break
        await asyncio.sleep(0.05)
    assert row is not None, f"no read-model row for {view.engagement_id}"
    assert row["version"] == len(view.history)
    assert row["status"] == view.status
    assert row["partner_id"] == view.partner.id
    assert row["customer_id"] == view.customer.id
    assert row["deadline_at"] == view.deadline_at
    assert row["view"]["history"] == [h.model_dump(mode="json") for h in view.history]
    events = await store.events(view.engagement_id)
    assert [(e["seq"], e["event"]) for e in events] == [
        (seq, entry.event) for seq, entry in enumerate(view.history)
    ]


async def history_event_types(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The names of a workflow's history events, in order."""
    history = await handle.fetch_history()
    return [EventType.Name(event.event_type) for event in history.events]


async def settled(handle: WorkflowHandle[Any, Any], within: float = 10.0) -> list[str]:
    """Wait until the workflow has no activity and no workflow task pending and its
    history stopped growing; returns the history's event types then (a baseline)."""
    deadline = time.monotonic() + within
    previous: list[str] = []
    while True:
        raw = (await handle.describe()).raw_description
        events = await history_event_types(handle)
        idle = (
            not raw.pending_activities
            and not raw.HasField("pending_workflow_task")
            and events == previous
        )
        if idle or time.monotonic() > deadline:
            assert idle, f"workflow still busy after {within}s: {events[-3:]}"
            return events
        previous = events
        await asyncio.sleep(0.1)


async def recorded_event(
    claims: ClaimsClient, eid: str, event: str, within: float = 30.0
) -> ClaimView:
    """The claim's view once its history holds `event`: for what the claim records in the
    background (the mail loop's `notification_failed`), which no answer waits for."""
    latest: list[ClaimView] = []

    async def holds_event() -> bool:
        latest[:] = [await claims.get_claim(eid)]
        return any(entry.event == event for entry in latest[0].history)

    await poll_until(holds_event, within=within, every=0.1, what=f"{event} on claim {eid}")
    return latest[0]


async def start_claim_now(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    """Start a claim consented at the server's current time; returns its engagement id."""
    started = await claims.start_claim(claim_input(await env.get_current_time()))
    return started.view.engagement_id


def continued_run(now: datetime) -> ClaimRun:
    """The input of a run that continues a claim (as continue-as-new makes it): consented
    84 days ago, so its 30-day reminder went out in the run before, and its 7-day
    reminder fell due yesterday, between the two runs (workers down, say)."""
    consent_at = now - timedelta(days=84)
    claim = claim_input(consent_at)
    state = rules.open_claim(claim, consent_at)
    rules.settle_clocks(state, consent_at, carried=False)
    first = rules.next_clock(state)
    assert first is not None
    rules.reach_clock(state, first, first.at)
    state.outbox.clear()  # the run before sent it
    carried = CarriedClaim(claim=state, stored=0, release=RELEASE)
    return ClaimRun.model_validate({**claim.model_dump(), "carried": carried.model_dump()})


async def start_continued_run(claims: ClaimsClient, run: ClaimRun) -> str:
    """Start `run` as continue-as-new would (no static summary: only a start sets one)."""
    await claims.client.start_workflow(
        WorkshopClaimWorkflow.run,
        run,
        id=workflow_id(run.engagement_id),
        task_queue=claims.task_queue,
    )
    return run.engagement_id


async def sent_survey_token(claims: ClaimsClient, eid: str, kind: SurveyKind) -> str:
    """Send the `kind` survey by mail (as the partner admin); returns its link's token."""
    await claims.send_survey(eid, SendSurvey(kind=kind, actor=PARTNER_ADMIN))
    return claims.links.token_from_url(await claims.survey_link(eid, kind))


async def complete_proof(claims: ClaimsClient, eid: str) -> ClaimView:
    """Attach both documents and complete both surveys through their links (documents
    first, then the surveys: the order the deadline, budget and replay tests count on)."""
    factory = ClaimFactory(claims, WallClock())  # the steps used here never read the clock
    await factory.attach(eid, "results_and_recommendations")
    await factory.attach(eid, "invoice")
    for kind in SURVEY_KINDS:
        await factory.send_survey(eid, kind)
        await factory.complete_survey(eid, kind, respondent="someone@example.com")
    return await claims.get_claim(eid)


def plain_json_client(client: Client) -> Client:
    """A second client on the same connection with the SDK's default JSON converter,
    as a non-Python portal backend would send plain JSON by message name."""
    return Client(
        client.service_client, namespace=client.namespace, data_converter=DataConverter.default
    )


def mailing_activities(
    store: ClaimStore, links: SurveyLinks, smtp_host: str, smtp_port: int
) -> ClaimActivities:
    """The claim activities on `store`, mailing through `smtp_host:smtp_port` with survey
    links made by `links`: the test kit's `claims_activities`, for a mail server or links
    of the test's own."""
    smtp = SmtpConfig(host=smtp_host, port=smtp_port, mail_from=MAIL_FROM, timeout=5)
    return ClaimActivities(store, Mailer(smtp, MailRenderer(links)), review_mail=REVIEW_MAIL)


def worker_process_environ(
    env: WorkflowEnvironment,
    mailbox: MailCatcher,
    *,
    task_queue: str,
    database_url: str,
    secret_key: str,
    mail_from: str = MAIL_FROM,
) -> dict[str, str]:
    """The environment of a `python worker.py` process on `env`'s server, mailing to `mailbox`."""
    return worker_environ(
        temporal_address=env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        task_queue=task_queue,
        database_url=database_url,
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        secret_key=secret_key,
        mail_from=mail_from,
    )


ROOT = Path(__file__).resolve().parent.parent
CLI_TIMEOUT = 60.0


@dataclass(frozen=True)
class CliResult:
    """What `python -m starter ...` did: exit code, output, errors."""

    code: int
    stdout: str
    stderr: str

    def view(self) -> ClaimView:
        assert self.code == 0, self.stderr
        return ClaimView.model_validate_json(self.stdout)

    def error_line(self) -> str:
        """The one line on stderr, with no traceback and nothing on stdout."""
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.stderr.splitlines()
        assert len(lines) == 1, self.stderr
        assert self.stdout == ""
        return lines[0]


async def run_cli(*args: str, env: Mapping[str, str], stdin: str | None = None) -> CliResult:
    """Run the command line in a subprocess with exactly `env`, without blocking the loop."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starter",
        *args,
        cwd=ROOT,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin is not None else None), CLI_TIMEOUT
        )
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return CliResult(process.returncode, stdout.decode(), stderr.decode())


# --- Prometheus text, as a scraper reads it ----------------------------------------------

METRIC_SAMPLE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>(?:[^"}]|"(?:[^"\\]|\\.)*")*)\})?'
    r" (?P<value>\S+)$"
)
METRIC_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_metrics(text: str) -> list[Sample]:
    """Prometheus text format, the samples only."""
    samples = []
    for line in text.splitlines():
        match = METRIC_SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        labels = dict(METRIC_LABEL.findall(match.group("labels") or ""))
        samples.append(Sample(match.group("name"), labels, float(match.group("value"))))
    return samples


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


class PortalAppFor(Protocol):
    """Builds the portal app around a ClaimsClient (and the address its links use); the
    `portal_app_for` fixture is one."""

    def __call__(self, claims: ClaimsClient, public_url: str = PUBLIC_URL) -> FastAPI: ...


async def refused(action: Awaitable[object], refusal_type: RefusalType) -> ClaimRefused:
    """Awaits an action that must be refused with this type, and returns the refusal so a
    test can check its message or details too."""
    with pytest.raises(ClaimRefused) as caught:
        await action
    assert caught.value.type == refusal_type, caught.value
    return caught.value


# --- the portal API ----------------------------------------------------------------------


def start_body(consent_at: datetime, **changes: Any) -> dict[str, Any]:
    """A valid POST /claims body: the workflow input without its actor."""
    body: dict[str, Any] = claim_input(consent_at, **changes).model_dump(
        mode="json", exclude={"actor", "workshop_type"}
    )
    return body


def recorded_start_body(eid: str, **extra: Any) -> dict[str, Any]:
    """A partner's POST /claims body for an engagement the registry holds: its id and the
    partner contacts only (the rest comes from the registry), plus `extra`."""
    return {
        "engagement_id": eid,
        "partner_contacts": [c.model_dump(mode="json") for c in PARTNER_CONTACTS],
        **extra,
    }


@dataclass(frozen=True)
class Registry:
    """The test's engagement registry: records what a start body names, as the program would."""

    store: ClaimStore
    catalogue: WorkshopCatalogue

    async def recorded(self, body: dict[str, Any], **changes: Any) -> dict[str, Any]:
        return await record_engagement(self.store, body, self.catalogue, **changes)


StartClaim = Callable[..., Awaitable[str]]
"""The `start_claim` fixture: starts a claim through the portal API (`start`'s changes as
keywords) as the partner's admin, and returns its engagement id."""


async def start(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    registry: Registry,
    holder: ApiKeyHolder,
    **changes: Any,
) -> dict[str, Any]:
    """Start a claim through the portal API (201), of an engagement the program recorded
    first; consented now unless `consent_at` says."""
    consent_at = changes.pop("consent_at", None) or await env.get_current_time()
    body = await registry.recorded(start_body(consent_at, **changes))
    response = await api.post(f"{V1}/claims", json=body, headers=holder.headers)
    assert response.status_code == 201, response.text
    view: dict[str, Any] = response.json()
    return view


def pdf(text: str = "proof") -> bytes:
    """A small real PDF; `text` makes its content (and so its hash) differ."""
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% " + text.encode() + b"\ntrailer\n%%EOF\n"
    )


async def upload(
    api: httpx.AsyncClient,
    engagement_id: str,
    holder: ApiKeyHolder,
    content: bytes,
    *,
    kind: str | None = "results_and_recommendations",
    filename: str = "report.pdf",
    content_type: str = "application/pdf",
) -> httpx.Response:
    """Upload a proof document through the portal API (multipart `kind` and `file`)."""
    data = {"kind": kind} if kind is not None else {}
    return await api.post(
        f"{V1}/claims/{engagement_id}/documents",
        data=data,
        files={"file": (filename, content, content_type)},
        headers=holder.headers,
    )


async def download(
    api: httpx.AsyncClient,
    engagement_id: str,
    holder: ApiKeyHolder,
    kind: str = "results_and_recommendations",
) -> httpx.Response:
    """Download a claim's proof document of `kind` through the portal API."""
    return await api.get(f"{V1}/claims/{engagement_id}/documents/{kind}", headers=holder.headers)


def stored_files(blob_dir: Path) -> list[Path]:
    """Every file in the blob store (uploads in progress included)."""
    return sorted(p for p in blob_dir.rglob("*") if p.is_file()) if blob_dir.exists() else []


async def send_deferred_survey(env: WorkflowEnvironment, claims: ClaimsClient, mailbox: Any) -> str:
    """Start a claim and send its customer survey while the mail server defers the customer
    (451): the mail activity fails and is retried until `mailbox.undefer()`."""
    eid = await start_claim_now(env, claims)
    mailbox.defer([CUSTOMER_CONTACT.email])
    await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_ADMIN))
    return eid


async def await_logged(
    caplog: pytest.LogCaptureFixture,
    match: Callable[[logging.LogRecord], bool],
    what: str,
    within: float = 60.0,
) -> list[logging.LogRecord]:
    """The captured records `match` accepts, once there is one (bounded wait)."""
    deadline = time.monotonic() + within
    while not (found := [record for record in caplog.records if match(record)]):
        assert time.monotonic() < deadline, f"{what} was never logged"
        await asyncio.sleep(0.05)
    return found


async def deferred_survey_logged(
    env: WorkflowEnvironment,
    claims: ClaimsClient,
    mailbox: Any,
    caplog: pytest.LogCaptureFixture,
    match: Callable[[logging.LogRecord], bool],
    what: str,
) -> list[logging.LogRecord]:
    """Capture at INFO, the level the worker and portal log at (DEBUG is for a developer's
    machine: some libraries, aiosqlite among them, write their SQL parameters there); send a
    customer survey the mail server defers (`send_deferred_survey`), wait until `match`
    accepts a record, then let the mail through. Returns the records `match` accepted."""
    caplog.set_level(logging.INFO)
    await send_deferred_survey(env, claims, mailbox)
    found = await await_logged(caplog, match, what)
    mailbox.undefer()
    return found
