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
import base64
import binascii
import contextlib
import fcntl
import json
import threading
from collections.abc import AsyncIterator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine

from workflows.messages import ClaimView
from workflows.messages import StoreClaim
from workflows.rules import FINAL

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

mail_ledger = sa.Table(
    "mail_ledger",
    metadata,
    sa.Column("message_id", sa.String(255), primary_key=True),
    sa.Column("notification_key", sa.String(128), nullable=False),
    sa.Column("engagement_id", sa.String(64), nullable=False, index=True),
    sa.Column("recipient", sa.String(254), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=False),
)
"""One row per e-mail the mail server accepted, by Message-ID (migration 0003).

SMTP gives no way to ask whether a message was already accepted, so the mail
activity writes here right after the server's 250 and checks here before
sending: a retry after a worker crash skips what this ledger says went out.
"""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers go on while one writer writes; NORMAL sync is safe with WAL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


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
        self._sqlite = engine.dialect.name == "sqlite"
        # SQLite has one writer at a time: concurrent writes from one process queue here
        # instead of failing with "database is locked" after the busy timeout.
        self._write_turn = asyncio.Lock()
        # The two statements of every read-model write, built once (`save` is the hot
        # path of the worker: each claim change runs it inside its workflow task).
        dialect = engine.dialect.name
        upsert = _insert(dialect, claims)
        self._upsert_claim = upsert.on_conflict_do_update(
            index_elements=[claims.c.engagement_id],
            set_={
                c.name: upsert.excluded[c.name]
                for c in claims.columns
                if c.name not in ("engagement_id", "created_at")
            },
            where=claims.c.version <= upsert.excluded.version,
        )
        self._insert_events = (
            _insert(dialect, claim_events)
            .on_conflict_do_nothing(index_elements=["engagement_id", "seq"])
            .returning(claim_events.c.seq)
        )

    @classmethod
    def from_url(cls, url: str) -> ClaimStore:
        # SQLite (a file, or memory) needs no liveness check before each use (a server's
        # connections can go stale) and no reset when a connection goes back to the pool
        # (`Connection.close` already rolls back what it left open): each is one more
        # round trip through aiosqlite's thread for every use of the engine (the
        # read-model write, and the portal's and tools' reads), 9 a write before, 4 now.
        is_sqlite = sa.engine.make_url(url).get_backend_name() == "sqlite"  # a file or memory
        engine = create_async_engine(
            url,
            pool_pre_ping=not is_sqlite,
            pool_reset_on_return=None if is_sqlite else "rollback",
        )
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return cls(engine)

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
        async with (
            self._write_turn if self._sqlite else contextlib.nullcontext(),
            self.engine.begin() as conn,
        ):
            await conn.execute(self._upsert_claim, row)
            if events:
                result = await conn.execute(self._insert_events, events)
                inserted = len(result.fetchall())
        return inserted

    async def mark_ended_from_outside(
        self, engagement_id: str, *, at: datetime, reason: str
    ) -> bool:
        """Record that a claim's workflow was ended from outside (terminated or timed out),
        which the workflow itself never sees: the row's status becomes `terminated`, its
        view says why and allows nothing, and the audit trail gets a `terminated` entry.

        Idempotent: a claim already over (or unknown here) is left alone; returns whether
        this call changed the row.
        """
        async with (
            self._write_turn if self._sqlite else contextlib.nullcontext(),
            self.engine.begin() as conn,
        ):
            found = await conn.execute(
                sa.select(claims.c.status, claims.c.version, claims.c.view).where(
                    claims.c.engagement_id == engagement_id
                )
            )
            row = found.first()
            if row is None or row.status in FINAL:
                return False
            entry = {"at": at.isoformat(), "actor": None, "event": "terminated"}
            view = {
                **row.view,
                "status": "terminated",
                "status_reason": reason,
                "allowed_actions": [],
                "history": [*row.view.get("history", []), {**entry, "detail": {"reason": reason}}],
            }
            changed = await conn.execute(
                claims.update()
                .where(claims.c.engagement_id == engagement_id, claims.c.version == row.version)
                .values(status="terminated", view=view, updated_at=at, version=row.version + 1)
            )
            if changed.rowcount != 1:  # the workflow wrote meanwhile: it was not dead
                return False
            await conn.execute(
                _insert(self.engine.dialect.name, claim_events)
                .values(
                    engagement_id=engagement_id,
                    seq=row.version,
                    at=at,
                    event="terminated",
                    actor_user=None,
                    actor_role=None,
                    detail={"reason": reason},
                )
                .on_conflict_do_nothing(index_elements=["engagement_id", "seq"])
            )
        return True

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

    # --- the mail ledger (activities.mail.SentLedger) ----------------------------------

    async def sent_among(self, message_ids: Sequence[str]) -> set[str]:
        """Which of these Message-IDs the mail server already accepted."""
        if not message_ids:
            return set()
        async with self.engine.connect() as conn:
            result = await conn.execute(
                sa.select(mail_ledger.c.message_id).where(
                    mail_ledger.c.message_id.in_(list(message_ids))
                )
            )
            return set(result.scalars())

    async def record_sent(
        self, message_id: str, notification_key: str, engagement_id: str, recipient: str
    ) -> None:
        """Note that the mail server accepted this message (idempotent)."""
        row = {
            "message_id": message_id,
            "notification_key": notification_key,
            "engagement_id": engagement_id,
            "recipient": recipient,
            "sent_at": datetime.now(UTC),
        }
        insert = _insert(self.engine.dialect.name, mail_ledger).values(row)
        async with (
            self._write_turn if self._sqlite else contextlib.nullcontext(),
            self.engine.begin() as conn,
        ):
            await conn.execute(insert.on_conflict_do_nothing(index_elements=["message_id"]))

    async def mail_ledger_ids(self, engagement_id: str | None = None) -> set[str]:
        """Every Message-ID in the ledger (of one engagement, if given): for checks and tests."""
        query = sa.select(mail_ledger.c.message_id)
        if engagement_id is not None:
            query = query.where(mail_ledger.c.engagement_id == engagement_id)
        async with self.engine.connect() as conn:
            return set((await conn.execute(query)).scalars())

    # --- claim lists for the portal API -------------------------------------------------

    async def list_claims(
        self,
        *,
        partner_id: str | None,
        status: str | None = None,
        deadline_before: datetime | None = None,
        customer_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ClaimPage:
        """One page of claim rows, newest first (created_at, then engagement_id, descending).

        `partner_id` None lists every partner's claims (reviewers). The cursor is
        opaque to callers: the position after the last row of the previous page
        (keyset pagination, so pages stay stable while claims are added).
        Raises :class:`InvalidCursor` for a cursor this method did not make, and
        ValueError for a limit outside 1-100 or a naive `deadline_before`.
        """
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be from 1 to {MAX_PAGE_SIZE}")
        if deadline_before is not None and deadline_before.tzinfo is None:
            raise ValueError("deadline_before must carry a timezone")
        query = sa.select(claims)
        if partner_id is not None:
            query = query.where(claims.c.partner_id == partner_id)
        if status is not None:
            query = query.where(claims.c.status == status)
        if deadline_before is not None:
            query = query.where(claims.c.deadline_at < deadline_before)
        if customer_id is not None:
            query = query.where(claims.c.customer_id == customer_id)
        if cursor is not None:
            after_created, after_engagement = decode_cursor(cursor)
            query = query.where(
                sa.or_(
                    claims.c.created_at < after_created,
                    sa.and_(
                        claims.c.created_at == after_created,
                        claims.c.engagement_id < after_engagement,
                    ),
                )
            )
        query = query.order_by(claims.c.created_at.desc(), claims.c.engagement_id.desc()).limit(
            limit + 1
        )
        async with self.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(query)).mappings()]
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            encode_cursor(rows[-1]["created_at"], rows[-1]["engagement_id"])
            if more and rows
            else None
        )
        return ClaimPage(rows=rows, next_cursor=next_cursor)


DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


class InvalidCursor(ValueError):
    """A pagination cursor that `list_claims` did not make."""


@dataclass(frozen=True)
class ClaimPage:
    rows: list[dict[str, Any]]
    """Rows of the `claims` table (with the latest `view`), newest first."""
    next_cursor: str | None
    """Pass it back as `cursor` for the next page; None on the last page."""


def encode_cursor(created_at: datetime, engagement_id: str) -> str:
    raw = json.dumps([created_at.astimezone(UTC).isoformat(), engagement_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, engagement_id = json.loads(raw)
        moment = datetime.fromisoformat(created)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidCursor("cursor is not one this API gave out") from None
    if moment.tzinfo is None or not isinstance(engagement_id, str):
        raise InvalidCursor("cursor is not one this API gave out")
    return moment, engagement_id
