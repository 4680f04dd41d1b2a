"""Environment fixtures: real Temporal servers, a real SMTP server, real databases.

Every test gets its own task queue, mail catcher, SQLite file and signing
key; Temporal servers come from the pinned packages, never downloaded.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from activities.mail import Mailer, MailRenderer, SmtpConfig
from activities.store import ClaimStore
from devstack.binaries import temporal_cli, temporal_test_server
from devstack.mailcatcher import MailCatcher
from starter.client import ClaimsClient
from worker import create_worker
from workflows.converter import claims_data_converter
from workflows.search_attributes import ensure_search_attributes

MAIL_FROM = "Workshop claims <claims@claims.test>"
PUBLIC_URL = "http://claims.test"


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping test server per test: one stuck workflow can't freeze others."""
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(),
        data_converter=claims_data_converter,
    ) as environment:
        await ensure_search_attributes(environment.client)
        yield environment


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (with visibility), shared by the tests that need it."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=claims_data_converter,
        dev_server_log_level="error",
    ) as environment:
        await ensure_search_attributes(environment.client)
        yield environment


@pytest.fixture
async def dev_claims(
    dev_env: WorkflowEnvironment, activities: ClaimActivities, links: SurveyLinks, task_queue: str
) -> AsyncIterator[ClaimsClient]:
    """A ClaimsClient on the dev server with a worker running on its own task queue."""
    async with create_worker(dev_env.client, task_queue, activities):
        yield ClaimsClient(dev_env.client, task_queue=task_queue, links=links)


@pytest.fixture
def secret_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def links(secret_key: bytes) -> SurveyLinks:
    return SurveyLinks(secret_key, PUBLIC_URL)


@pytest.fixture
def mailbox() -> Iterator[MailCatcher]:
    catcher = MailCatcher().start()
    try:
        yield catcher
    finally:
        catcher.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ClaimStore]:
    claim_store = ClaimStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'claims.db'}")
    await claim_store.migrate()
    try:
        yield claim_store
    finally:
        await claim_store.close()


@pytest.fixture
def activities(store: ClaimStore, mailbox: MailCatcher, links: SurveyLinks) -> ClaimActivities:
    smtp = SmtpConfig(host=mailbox.host, port=mailbox.port, mail_from=MAIL_FROM, timeout=5)
    return ClaimActivities(store, Mailer(smtp, MailRenderer(links)))


@pytest.fixture
def task_queue() -> str:
    return f"claims-test-{uuid.uuid4()}"


@pytest.fixture
async def claims(
    env: WorkflowEnvironment, activities: ClaimActivities, links: SurveyLinks, task_queue: str
) -> AsyncIterator[ClaimsClient]:
    """A ClaimsClient with a worker running on its own task queue."""
    async with create_worker(env.client, task_queue, activities):
        yield ClaimsClient(env.client, task_queue=task_queue, links=links)


POSTGRES_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "postgres"}


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
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
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

