"""The engagement registry: the program's record of each engagement, in the claims database.

One row per engagement (migration 0004), written by program administrators
through the portal (`PUT /api/v1/engagements/{id}`) or the command line
(`python -m starter engagements import`), and by consent requests when the
customer answers. The portal reads it to list what a partner may claim and to
take a claim's facts from it. Writes are idempotent: recording the same facts
again changes nothing, and a consent outcome is written for its own request
only, so a retried activity or a late answer can't overwrite a newer request.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.store import JSONDocument
from activities.store import UTCDateTime
from activities.store import _insert
from activities.store import claims
from activities.store import metadata
from workflows import engagement_rules
from workflows.engagements import ConsentOutcome
from workflows.engagements import Engagement
from workflows.engagements import EngagementFields
from workflows.engagements import EngagementItem
from workflows.engagements import WorkshopCatalogue
from workflows.messages import IDENTIFIER_PATTERN
from workflows.messages import Actor
from workflows.messages import ClaimStatus
from workflows.rules import SUBMISSION_WINDOW
from workflows.rules import recorded_actor

engagements = sa.Table(
    "engagements",
    metadata,
    sa.Column("engagement_id", sa.String(64), primary_key=True),
    sa.Column("partner_id", sa.String(64), nullable=False, index=True),
    sa.Column("partner_name", sa.String(200), nullable=False),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("customer_name", sa.String(200), nullable=False),
    sa.Column("workshop_type", sa.String(64), nullable=False),
    sa.Column("consent_at", UTCDateTime(), nullable=True, index=True),
    sa.Column("customer_contact", JSONDocument, nullable=False),
    sa.Column("consent_status", sa.String(16), nullable=True),
    sa.Column("consent_requests", sa.Integer, nullable=False, server_default="0"),
    sa.Column("recorded_by", JSONDocument, nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
"""One row per engagement (migration 0004)."""

RecordOutcome = Literal["created", "unchanged", "updated"]


class InvalidEngagementCursor(ValueError):
    """A cursor that `list` did not make."""


@dataclass(frozen=True)
class EngagementRow:
    engagement: Engagement
    claim_status: ClaimStatus | None


@dataclass(frozen=True)
class EngagementPage:
    rows: list[EngagementRow]
    next_cursor: str | None

    def items(self, catalogue: WorkshopCatalogue, now: datetime) -> list[EngagementItem]:
        """The page as list entries (the portal's list, the command line's)."""
        return [
            EngagementItem.model_validate(
                engagement_rules.detail_of(
                    row.engagement, row.claim_status, catalogue, now
                ).model_dump()
            )
            for row in self.rows
        ]


def _engagement(row: Any) -> Engagement:
    return Engagement.model_validate(
        {
            "engagement_id": row.engagement_id,
            "partner": {"id": row.partner_id, "name": row.partner_name},
            "customer": {"id": row.customer_id, "name": row.customer_name},
            "workshop_type": row.workshop_type,
            "consent_at": row.consent_at,
            "customer_contact": row.customer_contact,
            "consent_status": row.consent_status,
            "consent_requests": row.consent_requests,
            "recorded_by": row.recorded_by,
            "recorded_at": row.recorded_at,
            "updated_at": row.updated_at,
        }
    )


def _columns(fields: EngagementFields) -> dict[str, Any]:
    return {
        "partner_id": fields.partner.id,
        "partner_name": fields.partner.name,
        "customer_id": fields.customer.id,
        "customer_name": fields.customer.name,
        "workshop_type": fields.workshop_type,
        "customer_contact": fields.customer_contact.model_dump(mode="json"),
    }


def _cursor(engagement_id: str) -> str:
    return base64.urlsafe_b64encode(engagement_id.encode()).decode().rstrip("=")


def _after(cursor: str) -> str:
    try:
        after = base64.b64decode(
            cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True
        ).decode()
    except (binascii.Error, ValueError):
        after = ""
    if not re.fullmatch(IDENTIFIER_PATTERN, after):
        raise InvalidEngagementCursor("cursor is not one this API gave out")
    return after


class EngagementRegistry:
    """Reads and writes the `engagements` table (shares the claim store's engine)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def _begin(self) -> Any:
        async with self.engine.begin() as conn:
            yield conn

    async def get(self, engagement_id: str) -> Engagement | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(engagements).where(engagements.c.engagement_id == engagement_id)
                )
            ).first()
        return None if row is None else _engagement(row)

    async def claim_statuses(self, engagement_ids: list[str]) -> dict[str, ClaimStatus]:
        """The read model's status of each engagement's claim (absent: unclaimed)."""
        async with self.engine.connect() as conn:
            result = await conn.execute(
                sa.select(claims.c.engagement_id, claims.c.status).where(
                    claims.c.engagement_id.in_(engagement_ids)
                )
            )
            return {row.engagement_id: row.status for row in result}

    async def has_claim(self, engagement_id: str) -> bool:
        """Whether the claims read model has a claim for it (it may trail a new claim)."""
        return engagement_id in await self.claim_statuses([engagement_id])

    async def record(
        self,
        engagement_id: str,
        fields: EngagementFields,
        actor: Actor,
        now: datetime,
        *,
        claimed: Callable[[str], Awaitable[bool]] | None = None,
    ) -> tuple[RecordOutcome, Engagement]:
        """Create the engagement, or change its facts while no claim runs on them.

        Identical facts change nothing ("unchanged"); `claimed` (default: the read
        model) says whether a claim exists, which makes a change a WrongState refusal."""
        existing = await self.get(engagement_id)
        consent_status = None if fields.consent_at is None else "consented"
        if existing is None:
            row = {
                "engagement_id": engagement_id,
                **_columns(fields),
                "consent_at": fields.consent_at,
                "consent_status": consent_status,
                "consent_requests": 0,
                "recorded_by": recorded_actor(actor).model_dump(mode="json"),
                "recorded_at": now,
                "updated_at": now,
            }
            async with self._begin() as conn:
                inserted = await conn.execute(
                    _insert(conn.dialect.name, engagements)
                    .values(row)
                    .on_conflict_do_nothing(index_elements=["engagement_id"])
                )
            if inserted.rowcount == 1:
                created = await self.get(engagement_id)
                assert created is not None
                return "created", created
            # Another writer created it first: compare with theirs.
            return await self.record(engagement_id, fields, actor, now, claimed=claimed)
        changed = engagement_rules.changed_facts(existing, fields)
        if not changed:
            return "unchanged", existing
        engagement_rules.check_change(
            engagement_id, changed, await (claimed or self.has_claim)(engagement_id)
        )
        values: dict[str, Any] = {
            **_columns(fields),
            "recorded_by": recorded_actor(actor).model_dump(mode="json"),
            "updated_at": now,
        }
        if "consent_at" in changed:
            values["consent_at"] = fields.consent_at
            values["consent_status"] = consent_status
        async with self._begin() as conn:
            await conn.execute(
                sa.update(engagements)
                .where(engagements.c.engagement_id == engagement_id)
                .values(values)
            )
        updated = await self.get(engagement_id)
        assert updated is not None
        return "updated", updated

    async def open_consent_request(self, engagement_id: str, now: datetime) -> int | None:
        """Mark the engagement's consent pending and number the new request; None if it
        already has consent or an open request (checked and set in one statement)."""
        async with self._begin() as conn:
            result = await conn.execute(
                sa.update(engagements)
                .where(
                    engagements.c.engagement_id == engagement_id,
                    engagements.c.consent_at.is_(None),
                    sa.or_(
                        engagements.c.consent_status.is_(None),
                        engagements.c.consent_status != "pending",
                    ),
                )
                .values(
                    consent_status="pending",
                    consent_requests=engagements.c.consent_requests + 1,
                    updated_at=now,
                )
                .returning(engagements.c.consent_requests)
            )
            number = result.scalar()
        return None if number is None else int(number)

    async def record_consent_outcome(self, outcome: ConsentOutcome, now: datetime) -> bool:
        """Write a request's outcome, unless a newer request was made since (idempotent)."""
        values: dict[str, Any] = {"consent_status": outcome.status, "updated_at": now}
        if outcome.status == "consented":
            values["consent_at"] = outcome.consent_at
        async with self._begin() as conn:
            result = await conn.execute(
                sa.update(engagements)
                .where(
                    engagements.c.engagement_id == outcome.engagement_id,
                    engagements.c.consent_requests == outcome.request,
                    engagements.c.consent_at.is_(None),
                )
                .values(values)
            )
        return bool(result.rowcount)

    async def list(
        self,
        *,
        partner_id: str | None,
        eligible: bool | None,
        now: datetime,
        limit: int = 50,
        cursor: str | None = None,
    ) -> EngagementPage:
        """One page of engagements by engagement id, with their claim's status.

        `partner_id` None lists every partner's; `eligible` True: consented, unclaimed
        and the deadline ahead; False: the others; None: all."""
        query = sa.select(engagements, claims.c.status.label("claim_status")).select_from(
            engagements.outerjoin(claims, claims.c.engagement_id == engagements.c.engagement_id)
        )
        if partner_id is not None:
            query = query.where(engagements.c.partner_id == partner_id)
        claimable = sa.and_(
            claims.c.engagement_id.is_(None),
            engagements.c.consent_at.is_not(None),
            engagements.c.consent_at > now - SUBMISSION_WINDOW,
        )
        if eligible is True:
            query = query.where(claimable)
        elif eligible is False:
            query = query.where(sa.not_(claimable))
        if cursor is not None:
            query = query.where(engagements.c.engagement_id > _after(cursor))
        query = query.order_by(engagements.c.engagement_id).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        more = len(rows) > limit
        page = [EngagementRow(_engagement(row), row.claim_status) for row in rows[:limit]]
        next_cursor = _cursor(page[-1].engagement.engagement_id) if more and page else None
        return EngagementPage(rows=page, next_cursor=next_cursor)
