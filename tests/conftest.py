"""Environment fixtures: real Temporal servers, a real SMTP server, real databases.

Every test gets its own Temporal server, task queue, mail catcher, SQLite file
and signing key (from the test kit, claims_testing); Temporal servers come from
the pinned packages, never downloaded. PostgreSQL and the portal API fixtures
are the project's own.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from activities.store import ClaimStore
from claims_testing.data import PUBLIC_URL
from claims_testing.data import WORKSHOPS
from claims_testing.environment import migrated_store
from claims_testing.servers import start_dev_server
from portal.app import create_app
from starter.client import ClaimsClient
from starter.keys import new_key
from tests.api_keys import OTHER_PARTNER_ID
from tests.api_keys import PARTNER_ID
from tests.api_keys import ApiKeyHolder
from tests.api_keys import ApiKeyring
from tests.helpers import FORMULA_WORKSHOP
from tests.helpers import ON_POSTGRESQL
from tests.helpers import POSTGRES_ADMIN
from tests.helpers import ClaimApi
from tests.helpers import PortalAppFor
from tests.helpers import Registry
from tests.helpers import StartClaim
from tests.helpers import start
from worker import create_worker
from workflows.engagements import Workshop
from workflows.engagements import WorkshopCatalogue
from workflows.messages import Role

# The environment comes from the test kit (claims_testing.plugin, loaded through its
# pytest11 entry point), the same fixtures portal teams use. The short names below
# are this project's names for them, nothing more.


def _alias(kit_fixture: str, purpose: str) -> Any:
    """A fixture that is the test kit's `kit_fixture` under this project's shorter name."""

    def fixture(request: pytest.FixtureRequest) -> Any:
        return request.getfixturevalue(kit_fixture)

    fixture.__doc__ = purpose
    return pytest.fixture(fixture)


env = _alias("claims_server", "The test's Temporal server (time-skipping unless it asks for dev).")
secret_key = _alias("claims_secret_key", "The key that signs the test's survey links.")
links = _alias("claims_links", "Survey links signed with the test's key.")
store = _alias("claims_store", "The test's read model (a SQLite file of its own).")
activities = _alias("claims_activities", "The claim activities on the test's store and mailbox.")
task_queue = _alias("claims_task_queue", "A task queue of the test's own.")


@pytest.fixture
def secret() -> str:
    """A printable secret key for a worker process's environment (CLAIMS_SECRET_KEY)."""
    return secrets.token_urlsafe(48)


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (with visibility), shared by the tests that need it."""
    async with await start_dev_server() as environment:
        yield environment


@pytest.fixture
async def dev_claims(
    dev_env: WorkflowEnvironment, activities: ClaimActivities, links: SurveyLinks, task_queue: str
) -> AsyncIterator[ClaimsClient]:
    """A ClaimsClient on the dev server with a worker running on its own task queue."""
    async with create_worker(dev_env.client, task_queue, activities):
        yield ClaimsClient(dev_env.client, task_queue=task_queue, links=links)


async def _postgres_admin() -> Any:
    """A connection to the server's `postgres` database, or skip/fail saying why there is none."""
    try:
        return await asyncpg.connect(**POSTGRES_ADMIN, timeout=5)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        reason = (
            f"PostgreSQL not reachable on {POSTGRES_ADMIN['host']}:{POSTGRES_ADMIN['port']} "
            f"as user {POSTGRES_ADMIN['user']}: {type(err).__name__}: {err}"
        )
        if os.environ.get("CLAIMS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (CLAIMS_REQUIRE_POSTGRES=1 makes this a failure)")
        pytest.skip(reason)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        ON_POSTGRESQL,
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty real database per test: a SQLite file, or a fresh database on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'claims.db'}"
        return
    name = f"claims_test_{uuid.uuid4().hex}"
    admin = await _postgres_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield (
            f"postgresql+asyncpg://{POSTGRES_ADMIN['user']}@{POSTGRES_ADMIN['host']}:"
            f"{POSTGRES_ADMIN['port']}/{name}"
        )
    finally:
        admin = await _postgres_admin()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def claim_store(database_url: str) -> AsyncIterator[ClaimStore]:
    """A migrated store on the test's database (SQLite file or PostgreSQL)."""
    async with migrated_store(database_url) as store:
        yield store


# --- the portal API (portal.app) around the fixtures above -------------------------------


@pytest.fixture
def keyring() -> ApiKeyring:
    """Fresh random keys per test: never hard-coded."""

    def holder(user: str, role: Role, partner_id: str | None) -> ApiKeyHolder:
        return ApiKeyHolder(new_key(), user, role, partner_id)

    return ApiKeyring(
        admin=holder("anna.admin@partner.example", "incentives_admin", PARTNER_ID),
        user=holder("piet.user@partner.example", "incentives_user", PARTNER_ID),
        reviewer=holder("rita.reviewer@program.example", "reviewer", None),
        other=holder("olga.other@elsewhere.example", "incentives_admin", OTHER_PARTNER_ID),
        program=holder("paula.program@program.example", "program_admin", None),
    )


@pytest.fixture
def catalogue() -> WorkshopCatalogue:
    """The portal's workshop catalogue in the tests: the test kit's, and one whose name is a
    spreadsheet formula (the CSV export must defuse it)."""
    return WorkshopCatalogue(
        {
            **WORKSHOPS,
            "formula": Workshop(name=FORMULA_WORKSHOP, amount="1.00", currency="EUR"),
        }
    )


@pytest.fixture
def registry(store: ClaimStore, catalogue: WorkshopCatalogue) -> Registry:
    """Records engagements as the program would, so the test's partner keys may claim them."""
    return Registry(store, catalogue)


@pytest.fixture
def start_claim(
    api: httpx.AsyncClient, env: WorkflowEnvironment, registry: Registry, keyring: ApiKeyring
) -> StartClaim:
    """Starts a claim as the partner's admin through the portal (`start`, with its changes);
    returns the claim's engagement id."""

    async def start_claim(**changes: Any) -> str:
        engagement_id: str = (await start(api, env, registry, keyring.admin, **changes))[
            "engagement_id"
        ]
        return engagement_id

    return start_claim


@pytest.fixture
async def started_eid(start_claim: StartClaim) -> str:
    """The engagement of a claim the partner's admin just started through the portal."""
    return await start_claim()


@pytest.fixture
def started_claim(api: httpx.AsyncClient, started_eid: str) -> ClaimApi:
    """The claim of `started_eid`, through the portal API."""
    return ClaimApi(api, started_eid)


@pytest.fixture
def blob_dir(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def portal_app_for(
    store: ClaimStore,
    keyring: ApiKeyring,
    blob_dir: Path,
    secret_key: bytes,
    catalogue: WorkshopCatalogue,
    claims_server: WorkflowEnvironment,
) -> PortalAppFor:
    """The real portal app around a given ClaimsClient (a test's own Temporal client, e.g.
    with interceptors), with the test's store, keys, blob folder, signing key and workshop
    catalogue; its clock is the Temporal server's (time-skipping moves it)."""

    def app_for(claims: ClaimsClient, public_url: str = PUBLIC_URL) -> FastAPI:
        return create_app(
            claims=claims,
            store=store,
            keys=keyring.api_keys(),
            blob_dir=blob_dir,
            secret_key=secret_key,
            public_url=public_url,
            catalogue=catalogue,
            clock=claims_server.get_current_time,
        )

    return app_for


@pytest.fixture
def api_app(claims: ClaimsClient, portal_app_for: Callable[[ClaimsClient], FastAPI]) -> FastAPI:
    """The real portal app around the real workflows (time-skipping server), SMTP sink and store."""
    return portal_app_for(claims)


@pytest.fixture
async def api(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in process, as if it were served at PUBLIC_URL."""
    transport = httpx.ASGITransport(app=api_app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL, timeout=30) as client:
        yield client
