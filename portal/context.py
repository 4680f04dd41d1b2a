"""What every request runs on: the client, read model, keys, blobs and links of one app."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Annotated
from typing import TypeVar
from typing import cast

from fastapi import Depends
from fastapi import Request

from activities.consent_links import ConsentLinks
from activities.engagements import EngagementRegistry
from activities.links import SurveyLinks
from activities.store import ClaimStore
from portal.auth import ApiKeyFile
from portal.auth import ApiKeys
from portal.blobs import DEFAULT_BLOB_DIR
from portal.blobs import BlobStore
from starter.client import ClaimsClient
from starter.keys import DEFAULT_KEYS_FILE
from starter.settings import SettingsError
from starter.settings import bind_setting
from starter.settings import load_settings
from starter.telemetry import configure_logging
from workflows.engagements import WorkshopCatalogue

log = logging.getLogger("claims.api")

T = TypeVar("T")


# --- what the app runs on ------------------------------------------------------------------


async def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Portal:
    """Everything a request needs; made once per app (from the environment, or by a test)."""

    claims: ClaimsClient
    store: ClaimStore
    keys: ApiKeys
    blobs: BlobStore
    secret_key: bytes
    public_url: str
    catalogue: WorkshopCatalogue = field(default_factory=WorkshopCatalogue)
    clock: Callable[[], Awaitable[datetime]] = field(default=lambda: wall_clock())
    """What "now" is for the engagement rules: the wall clock, or a test's Temporal clock."""

    @property
    def links(self) -> SurveyLinks:
        return self.claims.links

    @property
    def consent_links(self) -> ConsentLinks:
        return ConsentLinks(self.secret_key, self.public_url)

    @property
    def engagements(self) -> EngagementRegistry:
        return EngagementRegistry(self.store.engine)


@asynccontextmanager
async def portal_from_env(env: Mapping[str, str] | None = None) -> AsyncIterator[Portal]:
    """Build the portal from the environment (the worker's settings plus the API's two)."""
    from starter.temporal import (
        connect,  # how every caller connects: the claims' converter and codec
    )

    env = os.environ if env is None else env
    settings = from_env(load_settings, env)
    configure_logging(settings.log_format)
    keys_file = Path(env.get("CLAIMS_API_KEYS_FILE", "").strip() or DEFAULT_KEYS_FILE)
    blob_dir = Path(env.get("CLAIMS_BLOB_DIR", "").strip() or DEFAULT_BLOB_DIR)
    await asyncio.to_thread(blob_dir.mkdir, parents=True, exist_ok=True)
    store = ClaimStore.from_url(settings.database_url)
    try:
        await store.migrate()
        client = await connect(settings)
        links = SurveyLinks(settings.secret_key, settings.public_url)
        yield Portal(
            claims=ClaimsClient(client, task_queue=settings.task_queue, links=links),
            store=store,
            keys=ApiKeyFile(keys_file),
            blobs=BlobStore(blob_dir),
            secret_key=settings.secret_key,
            public_url=settings.public_url,
            catalogue=settings.catalogue,
        )
    finally:
        await store.close()


def from_env(read: Callable[[Mapping[str, str]], T], env: Mapping[str, str] | None = None) -> T:
    """A setting read from the environment; a bad one stops the portal, saying why."""
    try:
        return read(os.environ if env is None else env)
    except SettingsError as err:
        log.error("configuration error: %s", err)
        raise RuntimeError(f"configuration error: {err}") from None


def metrics_bind_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """CLAIMS_PORTAL_METRICS_BIND (`host:port`), or None when unset."""
    return from_env(lambda values: bind_setting(values, "CLAIMS_PORTAL_METRICS_BIND"), env)


def _portal(request: Request) -> Portal:
    return cast(Portal, request.app.state.portal)


PortalDep = Annotated[Portal, Depends(_portal)]
