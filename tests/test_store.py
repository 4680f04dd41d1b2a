"""The claims read model (activities/store.py) on real databases: SQLite and PostgreSQL.

Every test runs once per database through the `database_url` fixture (a fresh
SQLite file, or a fresh database on the local PostgreSQL server). Views are
built by the pure claim rules, so the rows written are those of real claims.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import func
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from activities.mail import Mailer
from activities.mail import MailRenderer
from activities.mail import SmtpConfig
from activities.store import MIGRATIONS
from activities.store import ClaimStore
from activities.store import claim_events
from activities.store import claims
from starter.converter import claims_data_converter
from tests.builders import CONSENT
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_USER
from tests.builders import attach
from tests.builders import claim_input
from workflows import rules
from workflows.messages import AddComment
from workflows.messages import ClaimView
from workflows.messages import SendSurvey
from workflows.messages import StoreClaim
from workflows.messages import Submit
from workflows.messages import SurveyCompleted
from workflows.messages import SurveyKind
from workflows.rules import ClaimState

NOW = CONSENT + timedelta(days=10)
"""When claims are opened; each later step happens an hour after the previous one."""

STEP = timedelta(hours=1)


# --- helpers ------------------------------------------------------------------------------


def opened(consent_at: datetime = CONSENT, now: datetime = NOW) -> ClaimState:
    return rules.open_claim(claim_input(consent_at), now)


def work_on(claim: ClaimState, now: datetime) -> datetime:
    """Partner actions and one system event (a reminder, no actor); returns the last time."""
    rules.attach_document(claim, attach("results_and_recommendations"), now := now + STEP)
    rules.send_survey(claim, SendSurvey(kind="partner", actor=PARTNER_USER), now := now + STEP)
    rules.add_comment(
        claim, AddComment(text="Workshop held on site.", actor=PARTNER_USER), now := now + STEP
    )
    reminder = rules.checkpoints(claim, now)[0]
    rules.reach_checkpoint(claim, reminder, now := reminder.at)
    return now


def worked_on_view() -> ClaimView:
    """The view of a claim opened at NOW and then worked on (`work_on`)."""
    claim = opened()
    return rules.view(claim, work_on(claim, NOW))


def complete(claim: ClaimState, now: datetime) -> datetime:
    """All proof (surveys completed by their respondents, system events) and a submission."""
    rules.attach_document(claim, attach("invoice"), now := now + STEP)
    rules.send_survey(claim, SendSurvey(kind="customer", actor=PARTNER_ADMIN), now := now + STEP)
    kinds: tuple[SurveyKind, ...] = ("partner", "customer")
    for kind in kinds:
        completion = SurveyCompleted(
            kind=kind, link_version=1, respondent_email=f"{kind}@example.com", answers={"q1": 5}
        )
        now += STEP
        assert rules.complete_survey(claim, completion, now)
    rules.submit(claim, Submit(actor=PARTNER_ADMIN), now := now + STEP)
    return now


async def count(store: ClaimStore, table: sa.Table, engagement_id: str | None = None) -> int:
    query = select(func.count()).select_from(table)
    if engagement_id is not None:
        query = query.where(table.c.engagement_id == engagement_id)
    async with store.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


def table_names(conn: sa.Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


def primary_keys(conn: sa.Connection) -> dict[str, list[str]]:
    inspector = sa.inspect(conn)
    return {
        table: list(inspector.get_pk_constraint(table)["constrained_columns"])
        for table in ("claims", "claim_events")
    }


def single_head() -> str:
    """The newest migration; exactly one, or `upgrade head` could not pick (a forked chain)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migrations have several heads {heads}: chain the newest last"
    return str(heads[0])


async def schema_revisions(store: ClaimStore) -> list[str]:
    async with store.engine.connect() as conn:
        result = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
        return [str(v) for v in result.scalars()]


async def assert_schema(store: ClaimStore) -> None:
    async with store.engine.connect() as conn:
        assert {"claims", "claim_events", "alembic_version"} <= await conn.run_sync(table_names)
        assert await conn.run_sync(primary_keys) == {
            "claims": ["engagement_id"],
            "claim_events": ["engagement_id", "seq"],
        }
    assert await schema_revisions(store) == [single_head()]


def assert_claim_row(row: dict[str, Any] | None, view: ClaimView) -> None:
    assert row is not None
    assert row["engagement_id"] == view.engagement_id
    assert row["status"] == view.status
    assert row["partner_id"] == view.partner.id
    assert row["customer_id"] == view.customer.id
    assert row["deadline_at"].tzinfo is not None
    assert row["deadline_at"] == view.deadline_at
    assert row["version"] == len(view.history)
    assert row["view"] == view.model_dump(mode="json")


# --- the schema ---------------------------------------------------------------------------


async def test_migrations_create_the_schema_and_running_them_twice_is_harmless(
    database_url: str,
) -> None:
    store = ClaimStore.from_url(database_url)
    try:
        await store.migrate()
        await assert_schema(store)
        await store.migrate()
        await assert_schema(store)

        view = rules.view(opened(), NOW)
        assert await store.save(StoreClaim(view=view)) == 1
        await store.migrate()  # a restarted worker: the data stays
        await assert_schema(store)
        assert_claim_row(await store.claim_row(view.engagement_id), view)
        assert await count(store, claim_events) == 1
    finally:
        await store.close()


async def test_two_stores_migrating_concurrently_both_succeed(database_url: str) -> None:
    first, second = ClaimStore.from_url(database_url), ClaimStore.from_url(database_url)
    try:
        await asyncio.gather(first.migrate(), second.migrate())
        await assert_schema(first)
        view = rules.view(opened(), NOW)
        assert await second.save(StoreClaim(view=view)) == 1
        assert_claim_row(await first.claim_row(view.engagement_id), view)
    finally:
        await first.close()
        await second.close()


# --- writing a claim ----------------------------------------------------------------------


async def test_save_writes_one_claim_row_and_one_event_row_per_history_entry(
    claim_store: ClaimStore,
) -> None:
    view = worked_on_view()
    assert [entry.actor is None for entry in view.history] == [False, False, False, False, True]

    assert await claim_store.save(StoreClaim(view=view)) == len(view.history)

    assert await count(claim_store, claims) == 1
    row = await claim_store.claim_row(view.engagement_id)
    assert_claim_row(row, view)
    assert row is not None
    assert row["created_at"] == view.history[0].at
    assert row["updated_at"] == view.history[-1].at
    events = await claim_store.events(view.engagement_id)
    assert await count(claim_store, claim_events) == len(view.history)
    assert [e["seq"] for e in events] == list(range(len(view.history)))
    for event, entry in zip(events, view.history, strict=True):
        assert event["engagement_id"] == view.engagement_id
        assert event["event"] == entry.event
        assert event["at"] == entry.at
        assert event["at"].tzinfo is not None
        assert event["actor_user"] == (entry.actor.user if entry.actor else None)
        assert event["actor_role"] == (entry.actor.role if entry.actor else None)
        assert event["detail"] == entry.detail
    assert events[-1]["event"] == "reminder_sent"
    assert (events[-1]["actor_user"], events[-1]["actor_role"]) == (None, None)
    assert (events[0]["actor_user"], events[0]["actor_role"]) == (
        PARTNER_ADMIN.user,
        PARTNER_ADMIN.role,
    )
    assert await claim_store.latest_view(view.engagement_id) == view
    assert await claim_store.statuses([view.engagement_id, "eng-unknown"]) == {
        view.engagement_id: "in_progress"
    }


async def test_a_retried_store_activity_writes_nothing_twice(claim_store: ClaimStore) -> None:
    view = worked_on_view()
    mailer = Mailer(
        SmtpConfig(host="127.0.0.1", port=9, mail_from="claims@claims.test"),
        MailRenderer(SurveyLinks(secrets.token_bytes(32), "http://claims.test")),
    )
    activities = ClaimActivities(claim_store, mailer)
    converter = claims_data_converter.payload_converter
    payloads = converter.to_payloads([StoreClaim(view=view)])

    async def attempt() -> int:
        """One delivery of the same activity input, decoded as a worker decodes it."""
        [write] = converter.from_payloads(payloads, [StoreClaim])
        assert isinstance(write, StoreClaim)
        receipt = await ActivityEnvironment().run(activities.store_claim, write)
        return receipt.rows

    assert await attempt() == len(view.history)
    assert await attempt() == 0

    assert await count(claim_store, claims) == 1
    assert await count(claim_store, claim_events) == len(view.history)
    assert_claim_row(await claim_store.claim_row(view.engagement_id), view)
    events = await claim_store.events(view.engagement_id)
    assert [e["seq"] for e in events] == list(range(len(view.history)))


async def test_since_seq_writes_only_the_newer_rows(claim_store: ClaimStore) -> None:
    claim = opened()
    now = work_on(claim, NOW)
    first = rules.view(claim, now)
    assert await claim_store.save(StoreClaim(view=first)) == len(first.history)

    now = complete(claim, now)
    second = rules.view(claim, now)
    stored = len(first.history)
    assert await claim_store.save(StoreClaim(view=second, since_seq=stored)) == (
        len(second.history) - stored
    )
    assert await count(claim_store, claim_events) == len(second.history)
    events = await claim_store.events(second.engagement_id)
    assert [(e["seq"], e["event"]) for e in events] == [
        (seq, entry.event) for seq, entry in enumerate(second.history)
    ]
    assert_claim_row(await claim_store.claim_row(second.engagement_id), second)

    # Rows before since_seq are not written, even when they are missing.
    view = worked_on_view()  # another claim
    assert await claim_store.save(StoreClaim(view=view, since_seq=3)) == len(view.history) - 3
    assert [e["seq"] for e in await claim_store.events(view.engagement_id)] == list(
        range(3, len(view.history))
    )
    assert await count(claim_store, claims) == 2


async def test_an_older_view_saved_later_does_not_move_the_claim_row_back(
    claim_store: ClaimStore,
) -> None:
    claim = opened()
    now = work_on(claim, NOW)
    older = rules.view(claim, now)
    now = complete(claim, now)
    newer = rules.view(claim, now)
    assert (older.status, newer.status) == ("in_progress", "submitted")
    assert len(older.history) < len(newer.history)

    assert await claim_store.save(StoreClaim(view=newer)) == len(newer.history)
    assert await claim_store.save(StoreClaim(view=older)) == 0

    row = await claim_store.claim_row(newer.engagement_id)
    assert_claim_row(row, newer)
    assert row is not None
    assert (row["version"], row["status"]) == (len(newer.history), "submitted")
    assert row["updated_at"] == newer.history[-1].at
    assert await count(claim_store, claims) == 1
    assert await count(claim_store, claim_events) == len(newer.history)
    assert await claim_store.latest_view(newer.engagement_id) == newer


# --- time ---------------------------------------------------------------------------------


async def test_timestamps_with_a_non_utc_offset_come_back_as_the_same_instant(
    claim_store: ClaimStore,
) -> None:
    amsterdam_summer = timezone(timedelta(hours=2))
    new_york = timezone(timedelta(hours=-5))
    # 01:30 at +02:00 is 23:30 UTC the day before: a naive or local read would be off.
    consent_at = datetime(2026, 6, 1, 1, 30, 15, 123456, tzinfo=amsterdam_summer)
    opened_at = datetime(2026, 6, 10, 20, 45, 1, 654321, tzinfo=new_york)
    claim = opened(consent_at, opened_at)
    now = work_on(claim, opened_at)
    view = rules.view(claim, now)
    assert view.deadline_at.utcoffset() == timedelta(hours=2)

    await claim_store.save(StoreClaim(view=view))

    row = await claim_store.claim_row(view.engagement_id)
    assert row is not None
    expected = {
        "deadline_at": consent_at + timedelta(days=90),
        "created_at": opened_at,
        "updated_at": view.history[-1].at,
    }
    for column, instant in expected.items():
        stored: datetime = row[column]
        assert stored.utcoffset() is not None, column
        assert stored == instant, column
        assert stored.timestamp() == instant.timestamp(), column
    events = await claim_store.events(view.engagement_id)
    assert [e["at"] for e in events] == [entry.at for entry in view.history]
    assert all(e["at"].utcoffset() is not None for e in events)
    assert events[0]["at"].astimezone(UTC) == datetime(2026, 6, 11, 1, 45, 1, 654321, tzinfo=UTC)
    stored_view = await claim_store.latest_view(view.engagement_id)
    assert stored_view is not None
    assert stored_view.consent_at == consent_at
    assert stored_view.consent_at.utcoffset() is not None
