"""The claims read model and audit trail, in a relational database (SQLAlchemy 2 async).

One row per claim (status, partner, customer, deadline and the latest view,
for lists and reports) and one row per history event, keyed by claim and
sequence. Writes are idempotent because activities are retried: the claim
row is an upsert that never goes back to an older version, and history rows
are inserted with "on conflict do nothing" on (engagement_id, seq).

SQLite (a file) by default, PostgreSQL by URL; the schema is kept by Alembic
migrations in `activities/migrations/`, applied at worker start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from workflows.messages import ClaimView, StoreClaim

MIGRATIONS = Path(__file__).parent / "migrations"


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timestamps stored in UTC and read back timezone-aware, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

metadata = sa.MetaData()

claims = sa.Table(
    "claims",
    metadata,
    sa.Column("engagement_id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("partner_id", sa.String(64), nullable=False, index=True),
    sa.Column("customer_id", sa.String(64), nullable=False, index=True),
    sa.Column("deadline_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("view", JSONDocument, nullable=False),
)

claim_events = sa.Table(
    "claim_events",
    metadata,
    sa.Column("engagement_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("actor_user", sa.String(200), nullable=True),
    sa.Column("actor_role", sa.String(32), nullable=True),
    sa.Column("detail", JSONDocument, nullable=False),
)


def _insert(dialect: str, table: sa.Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database dialect {dialect!r}")


MIGRATION_LOCK_ID = 73042611
"""PostgreSQL advisory lock id that every claims worker takes while migrating."""

_MIGRATION_TURN = threading.Lock()  # not asyncio.Lock: stores may live on different loops


@contextlib.asynccontextmanager
async def _in_turn() -> AsyncIterator[None]:
    await asyncio.to_thread(_MIGRATION_TURN.acquire)
    try:
        yield
    finally:
        _MIGRATION_TURN.release()


def _run_migrations(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


class ClaimStore:
    """Reads and writes the read model; safe to share across activities (one engine)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str) -> ClaimStore:
        return cls(create_async_engine(url, pool_pre_ping=True))

    async def migrate(self) -> None:
        """Bring the schema up to date; idempotent, and safe when workers start together.

        Alembic keeps its migration context in module globals, so runs in one
        process take turns on a lock; across processes PostgreSQL takes an
        advisory lock and SQLite (one machine) a lock file beside the database.
        """
        async with _in_turn(), self._across_processes(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
            await conn.run_sync(_run_migrations)

    @contextlib.asynccontextmanager
    async def _across_processes(self) -> AsyncIterator[None]:
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not database or database == ":memory:":
            yield
            return
        lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
        with lock_path.open("a") as lock_file:
            await asyncio.to_thread(fcntl.flock, lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    async def close(self) -> None:
        await self.engine.dispose()

    async def save(self, write: StoreClaim) -> int:
        """Upsert the claim row and insert new history rows; returns rows inserted."""
        view = write.view
        version = len(view.history)
        dialect = self.engine.dialect.name
        row = {
            "engagement_id": view.engagement_id,
            "status": view.status,
            "partner_id": view.partner.id,
            "customer_id": view.customer.id,
            "deadline_at": view.deadline_at,
            "created_at": view.history[0].at if view.history else view.consent_at,
            "updated_at": view.history[-1].at if view.history else view.consent_at,
            "version": version,
            "view": view.model_dump(mode="json"),
        }
        upsert = _insert(dialect, claims).values(row)
        upsert = upsert.on_conflict_do_update(
            index_elements=[claims.c.engagement_id],
            set_={k: upsert.excluded[k] for k in row if k not in ("engagement_id", "created_at")},
            where=claims.c.version <= upsert.excluded.version,
        )
        events = [
            {
                "engagement_id": view.engagement_id,
                "seq": seq,
                "at": entry.at,
                "event": entry.event,
                "actor_user": entry.actor.user if entry.actor else None,
                "actor_role": entry.actor.role if entry.actor else None,
                "detail": entry.detail,
            }
            for seq, entry in enumerate(view.history)
            if seq >= write.since_seq
        ]
        inserted = 0
        async with self.engine.begin() as conn:
            await conn.execute(upsert)
            if events:
                result = await conn.execute(
                    _insert(dialect, claim_events)
                    .on_conflict_do_nothing(index_elements=["engagement_id", "seq"])
                    .returning(claim_events.c.seq),
                    events,
                )
                inserted = len(result.fetchall())
        return inserted

    async def claim_row(self, engagement_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                sa.select(claims).where(claims.c.engagement_id == engagement_id)
            )
            row = result.mappings().first()
        return dict(row) if row is not None else None

    async def events(self, engagement_id: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                sa.select(claim_events)
                .where(claim_events.c.engagement_id == engagement_id)
                .order_by(claim_events.c.seq)
            )
            return [dict(r) for r in result.mappings()]

    async def latest_view(self, engagement_id: str) -> ClaimView | None:
        row = await self.claim_row(engagement_id)
        return ClaimView.model_validate(row["view"]) if row else None

    async def statuses(self, engagement_ids: Sequence[str]) -> dict[str, str]:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                sa.select(claims.c.engagement_id, claims.c.status).where(
                    claims.c.engagement_id.in_(list(engagement_ids))
                )
            )
            return {r.engagement_id: r.status for r in result}
