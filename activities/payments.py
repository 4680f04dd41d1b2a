"""The payment cycle's activities: the ledger of payment batches, the signals, the remittances.

A cycle (see `workflows/payment_cycle.py`) writes one batch row and one line
per claim it looked at, sends `payment_issued` to each claim it paid, and
mails each partner one remittance advice with the claims paid and a CSV of
them. Every step is idempotent, because Temporal retries activities and an
operator may run a cycle again:

- a paid line is unique per engagement across all batches (a partial unique
  index on `payment_lines`), and every line is unique per batch and
  engagement: lines are inserted with "on conflict do nothing", so a re-run
  or a retried page writes no line twice and pays no claim twice;
- a line remembers when its claim was signalled, so a re-run signals nobody
  again (and the claim's own rule refuses a second payment anyway);
- a remittance row per batch and partner is written once the mail is out, so
  a re-run mails nobody again; within one activity, heartbeat progress and
  a stable Message-ID per recipient keep a retry from mailing twice.

Payable claims come from the read model (`claims` table): status `approved`,
decided at or before the cycle's cut-off (`decided_at` of the stored view),
and no paid line yet. Amounts come from the per-workshop tariffs of the
configuration; a claim whose workshop has none gets a not-paid line with the
reason and stays approved for a later cycle.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from email.message import Message
from typing import Any
from typing import Unpack

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from activities.mail import Attachment
from activities.mail import Delivery
from activities.mail import MailSender
from activities.mail import Outgoing
from activities.mail import RenderedMail
from activities.mail import SentLedger
from activities.mail import SmtpConfig
from activities.mail import TemplateRenderer
from activities.mail import format_date
from activities.store import JSONDocument
from activities.store import UTCDateTime
from activities.store import claims
from activities.store import metadata
from workflows.engagements import Pricing
from workflows.engagements import tariff_of
from workflows.ids import workflow_id
from workflows.messages import ClaimView
from workflows.messages import Contact
from workflows.messages import DeliveryReport
from workflows.messages import PaymentIssued
from workflows.payments_messages import BatchLine
from workflows.payments_messages import BatchOpened
from workflows.payments_messages import BatchSummary
from workflows.payments_messages import CloseBatch
from workflows.payments_messages import IssuePayments
from workflows.payments_messages import OpenBatch
from workflows.payments_messages import PagePaid
from workflows.payments_messages import PartnerPage
from workflows.payments_messages import PaymentsIssued
from workflows.payments_messages import PayPage
from workflows.payments_messages import RemittanceAdvice
from workflows.payments_messages import RemittanceReport
from workflows.payments_messages import RemittancesDue
from workflows.payments_messages import SendRemittance
from workflows.payments_messages import Tariff
from workflows.payments_messages import payment_reference

PAYMENT_ISSUED_SIGNAL = "payment_issued"
QUERY_TIMEOUT = timedelta(seconds=30)

PAID = "paid"
NOT_PAID = "not_paid"

payment_batches = sa.Table(
    "payment_batches",
    metadata,
    sa.Column("batch_id", sa.String(64), primary_key=True),
    sa.Column("cycle_date", UTCDateTime(), nullable=False, index=True),
    sa.Column("approved_before", UTCDateTime(), nullable=False),
    sa.Column("min_days_approved", sa.Integer, nullable=False),
    sa.Column("workflow_id", sa.String(255), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
)


def _batch_key() -> sa.Column[str]:
    """The batch a row belongs to: the first part of its primary key."""
    return sa.Column(
        "batch_id", sa.String(64), sa.ForeignKey("payment_batches.batch_id"), primary_key=True
    )


payment_lines = sa.Table(
    "payment_lines",
    metadata,
    _batch_key(),
    sa.Column("engagement_id", sa.String(64), primary_key=True),
    sa.Column("partner_id", sa.String(64), nullable=False),
    sa.Column("partner_name", sa.String(200), nullable=False),
    sa.Column("customer_name", sa.String(200), nullable=False),
    sa.Column("workshop", sa.String(200), nullable=False),
    sa.Column("approved_at", UTCDateTime(), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.Column("amount", sa.String(32), nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("reference", sa.String(200), nullable=True),
    sa.Column("paid_at", UTCDateTime(), nullable=True),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("signalled_at", UTCDateTime(), nullable=True),
    sa.Index("ix_payment_lines_batch_partner", "batch_id", "partner_id"),
    sa.Index(
        "uq_payment_lines_paid_engagement",
        "engagement_id",
        unique=True,
        sqlite_where=sa.text("outcome = 'paid'"),
        postgresql_where=sa.text("outcome = 'paid'"),
    ),
)
"""One row per claim a batch looked at; at most one paid row per engagement, ever."""

payment_remittances = sa.Table(
    "payment_remittances",
    metadata,
    _batch_key(),
    sa.Column("partner_id", sa.String(64), primary_key=True),
    sa.Column("sent_at", UTCDateTime(), nullable=False),
    sa.Column("claims", sa.Integer, nullable=False),
    sa.Column("totals", JSONDocument, nullable=False),
    sa.Column("delivered", sa.Integer, nullable=False),
    sa.Column("refused", JSONDocument, nullable=False),
)


def _insert_new(dialect: str, table: sa.Table) -> Any:
    """INSERT that skips rows breaking any unique constraint (both dialects)."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise ValueError(f"unsupported database dialect {dialect!r}")


def no_tariff_reason(workshop: str, workshop_type: str | None = None) -> str:
    where = f"type {workshop_type!r}" if workshop_type else repr(workshop)
    return (
        f"no tariff for workshop {where} in CLAIMS_WORKSHOPS: "
        "not paid, the claim stays approved for a later cycle"
    )


NOT_RUNNING_REASON = (
    "the claim's workflow no longer runs, so it could not be told of the payment: not paid"
)


def sum_by_currency(amounts: Iterable[tuple[str, str]]) -> dict[str, str]:
    """(currency, amount) pairs summed per currency, as decimal strings, by currency code."""
    sums: dict[str, Decimal] = {}
    for currency, amount in amounts:
        sums[currency] = sums.get(currency, Decimal(0)) + Decimal(amount)
    return {currency: str(total) for currency, total in sorted(sums.items())}


def totals_by_currency(lines: Sequence[BatchLine]) -> dict[str, str]:
    """Currency to the sum of the paid lines' amounts."""
    return sum_by_currency(
        (line.currency, line.amount)
        for line in lines
        if line.outcome == PAID and line.amount is not None and line.currency is not None
    )


class PaymentLedger:
    """Reads and writes payment batches, lines and remittances (shares the claim store's engine)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @property
    def _dialect(self) -> str:
        return self.engine.dialect.name

    async def open_batch(self, batch: OpenBatch) -> BatchOpened:
        """Write the batch row once; a re-run of the cycle finds it and keeps its cut-off."""
        row = {
            "batch_id": batch.batch_id,
            "cycle_date": batch.cycle_date,
            "approved_before": batch.approved_before,
            "min_days_approved": batch.min_days_approved,
            "workflow_id": batch.workflow_id,
            "started_at": batch.started_at,
        }
        async with self.engine.begin() as conn:
            inserted = await conn.execute(
                _insert_new(self._dialect, payment_batches)
                .values(row)
                .returning(payment_batches.c.batch_id)
            )
            created = inserted.first() is not None
            cutoff = (
                await conn.execute(
                    sa.select(payment_batches.c.approved_before).where(
                        payment_batches.c.batch_id == batch.batch_id
                    )
                )
            ).scalar_one()
        return BatchOpened(batch_id=batch.batch_id, approved_before=cutoff, created=created)

    async def pay_page(self, page: PayPage, tariffs: Pricing, now: datetime) -> PagePaid:
        """Record a line for each payable claim of the next page, in one transaction."""
        handled = sa.exists().where(
            payment_lines.c.engagement_id == claims.c.engagement_id,
            sa.or_(payment_lines.c.outcome == PAID, payment_lines.c.batch_id == page.batch_id),
        )
        query = sa.select(claims.c.engagement_id, claims.c.view).where(
            claims.c.status == "approved", ~handled
        )
        if page.after is not None:
            query = query.where(claims.c.engagement_id > page.after)
        query = query.order_by(claims.c.engagement_id).limit(page.limit)
        async with self.engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            lines = []
            waiting = 0
            for row in rows:
                view = ClaimView.model_validate(row.view)
                if view.decided_at is None or view.decided_at > page.approved_before:
                    waiting += 1
                    continue
                tariff = tariff_of(tariffs, view.workshop_type, view.workshop)
                lines.append(_line(page, view, tariff, now))
            written: list[str] = []
            if lines:
                result = await conn.execute(
                    _insert_new(self._dialect, payment_lines).returning(payment_lines.c.outcome),
                    lines,
                )
                written = [r.outcome for r in result]
        return PagePaid(
            scanned=len(rows),
            paid=written.count(PAID),
            not_paid=written.count(NOT_PAID),
            waiting=waiting,
            last=rows[-1].engagement_id if rows else page.after,
            more=len(rows) == page.limit,
        )

    async def unsignalled(self, batch_id: str, limit: int) -> list[BatchLine]:
        """Paid lines of the batch whose claim was not told yet, in engagement order."""
        return await self._lines(
            sa.and_(
                payment_lines.c.batch_id == batch_id,
                payment_lines.c.outcome == PAID,
                payment_lines.c.signalled_at.is_(None),
            ),
            limit=limit,
        )

    async def _update_line(self, batch_id: str, engagement_id: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(payment_lines)
                .where(
                    payment_lines.c.batch_id == batch_id,
                    payment_lines.c.engagement_id == engagement_id,
                )
                .values(**values)
            )

    async def mark_signalled(self, batch_id: str, engagement_id: str, at: datetime) -> None:
        await self._update_line(batch_id, engagement_id, signalled_at=at)

    async def mark_not_paid(self, batch_id: str, engagement_id: str, reason: str) -> None:
        """Turn a paid line that could not reach its claim into a not-paid one."""
        await self._update_line(
            batch_id, engagement_id, outcome=NOT_PAID, reason=reason, reference=None, paid_at=None
        )

    async def remittances_due(self, due: RemittancesDue) -> PartnerPage:
        """Partners with paid lines in the batch and no remittance yet, in id order."""
        sent = sa.exists().where(
            payment_remittances.c.batch_id == payment_lines.c.batch_id,
            payment_remittances.c.partner_id == payment_lines.c.partner_id,
        )
        query = (
            sa.select(payment_lines.c.partner_id)
            .where(payment_lines.c.batch_id == due.batch_id, payment_lines.c.outcome == PAID)
            .where(~sent)
            .distinct()
            .order_by(payment_lines.c.partner_id)
            .limit(due.limit + 1)
        )
        if due.after is not None:
            query = query.where(payment_lines.c.partner_id > due.after)
        async with self.engine.connect() as conn:
            partners = list((await conn.execute(query)).scalars())
        return PartnerPage(partner_ids=partners[: due.limit], more=len(partners) > due.limit)

    async def remittance_sent(self, batch_id: str, partner_id: str) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.execute(
                sa.select(payment_remittances.c.partner_id).where(
                    payment_remittances.c.batch_id == batch_id,
                    payment_remittances.c.partner_id == partner_id,
                )
            )
            return found.first() is not None

    async def remittance_advice(
        self, batch_id: str, partner_id: str, cycle_date: datetime
    ) -> RemittanceAdvice:
        """The partner's paid lines in the batch and its contacts, from the claims' views."""
        lines = await self._lines(
            sa.and_(
                payment_lines.c.batch_id == batch_id,
                payment_lines.c.partner_id == partner_id,
                payment_lines.c.outcome == PAID,
            )
        )
        contacts: dict[str, Contact] = {}
        async with self.engine.connect() as conn:
            result = await conn.execute(
                sa.select(claims.c.view)
                .where(claims.c.engagement_id.in_([line.engagement_id for line in lines]))
                .order_by(claims.c.engagement_id)
            )
            for (view,) in result:
                for contact in ClaimView.model_validate(view).partner_contacts:
                    contacts.setdefault(contact.email.lower(), contact)
        return RemittanceAdvice(
            batch_id=batch_id,
            partner_id=partner_id,
            partner_name=lines[-1].partner_name if lines else partner_id,
            cycle_date=cycle_date,
            lines=lines,
            contacts=list(contacts.values()),
        )

    async def record_remittance(
        self, advice: RemittanceAdvice, report: DeliveryReport, at: datetime
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                _insert_new(self._dialect, payment_remittances).values(
                    batch_id=advice.batch_id,
                    partner_id=advice.partner_id,
                    sent_at=at,
                    claims=len(advice.lines),
                    totals=totals_by_currency(advice.lines),
                    delivered=report.delivered,
                    refused=[r.email for r in report.refused],
                )
            )

    async def close_batch(self, close: CloseBatch) -> BatchSummary:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(payment_batches)
                .where(
                    payment_batches.c.batch_id == close.batch_id,
                    payment_batches.c.finished_at.is_(None),
                )
                .values(finished_at=close.finished_at)
            )
        summary = await self.summary(close.batch_id)
        assert summary is not None, f"batch {close.batch_id} vanished"
        return summary

    async def summary(self, batch_id: str) -> BatchSummary | None:
        async with self.engine.connect() as conn:
            batch = (
                (
                    await conn.execute(
                        sa.select(payment_batches).where(payment_batches.c.batch_id == batch_id)
                    )
                )
                .mappings()
                .first()
            )
            if batch is None:
                return None
            lines = (
                await conn.execute(
                    sa.select(
                        payment_lines.c.partner_id,
                        payment_lines.c.outcome,
                        payment_lines.c.reason,
                        payment_lines.c.amount,
                        payment_lines.c.currency,
                    ).where(payment_lines.c.batch_id == batch_id)
                )
            ).all()
            remittances = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(payment_remittances)
                    .where(payment_remittances.c.batch_id == batch_id)
                )
            ).scalar_one()
        reasons = Counter(line.reason or "" for line in lines if line.outcome == NOT_PAID)
        return BatchSummary(
            batch_id=batch_id,
            cycle_date=batch["cycle_date"],
            approved_before=batch["approved_before"],
            started_at=batch["started_at"],
            finished_at=batch["finished_at"],
            paid=sum(1 for line in lines if line.outcome == PAID),
            not_paid=sum(reasons.values()),
            totals=sum_by_currency(
                (line.currency, line.amount) for line in lines if line.outcome == PAID
            ),
            partners=len({line.partner_id for line in lines if line.outcome == PAID}),
            remittances=int(remittances),
            not_paid_reasons=dict(sorted(reasons.items())),
        )

    async def list_batches(self, limit: int = 20) -> list[BatchSummary]:
        """The newest batches first, each summed up."""
        async with self.engine.connect() as conn:
            ids = list(
                (
                    await conn.execute(
                        sa.select(payment_batches.c.batch_id)
                        .order_by(payment_batches.c.cycle_date.desc())
                        .limit(limit)
                    )
                ).scalars()
            )
        summaries = [await self.summary(batch_id) for batch_id in ids]
        return [s for s in summaries if s is not None]

    async def batch_lines(self, batch_id: str) -> list[BatchLine]:
        return await self._lines(payment_lines.c.batch_id == batch_id)

    async def _lines(self, where: Any, limit: int | None = None) -> list[BatchLine]:
        query = sa.select(payment_lines).where(where).order_by(payment_lines.c.engagement_id)
        if limit is not None:
            query = query.limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings()
            return [BatchLine.model_validate(dict(row)) for row in rows]


def _line(page: PayPage, view: ClaimView, tariff: Tariff | None, now: datetime) -> dict[str, Any]:
    assert view.decided_at is not None
    line: dict[str, Any] = {
        "batch_id": page.batch_id,
        "engagement_id": view.engagement_id,
        "partner_id": view.partner.id,
        "partner_name": view.partner.name,
        "customer_name": view.customer.name,
        "workshop": view.workshop,
        "approved_at": view.decided_at,
        "recorded_at": now,
        "outcome": NOT_PAID,
        "reason": no_tariff_reason(view.workshop, view.workshop_type),
        "amount": None,
        "currency": None,
        "reference": None,
        "paid_at": None,
    }
    if tariff is not None:
        line |= {
            "outcome": PAID,
            "reason": None,
            "amount": tariff.amount,
            "currency": tariff.currency,
            "reference": payment_reference(page.batch_id, view.engagement_id),
            "paid_at": page.paid_at,
        }
    return line


# --- the remittance advice ------------------------------------------------------------------

CSV_COLUMNS = (
    "batch_id",
    "engagement_id",
    "customer",
    "workshop",
    "approved_at",
    "reference",
    "amount",
    "currency",
    "paid_at",
)


def remittance_csv(advice: RemittanceAdvice) -> str:
    """The advice's lines as CSV (RFC 4180, a header row, ISO-8601 UTC times)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for line in advice.lines:
        writer.writerow(
            [
                line.batch_id,
                line.engagement_id,
                line.customer_name,
                line.workshop,
                line.approved_at.astimezone(UTC).isoformat(),
                line.reference,
                line.amount,
                line.currency,
                line.paid_at.astimezone(UTC).isoformat() if line.paid_at else "",
            ]
        )
    return out.getvalue()


def remittance_filename(advice: RemittanceAdvice) -> str:
    return f"remittance-{advice.batch_id}-{advice.partner_id}.csv"


def remittance_key(batch_id: str, partner_id: str) -> str:
    """Stable per batch and partner: the base of the remittance's Message-IDs."""
    return f"remittance.{batch_id}.{partner_id}"


class RemittanceRenderer(TemplateRenderer):
    """Renders the remittance advice from `templates/remittance.{txt,html}.j2`."""

    def render_remittance(self, advice: RemittanceAdvice, recipient: Contact) -> RenderedMail:
        lang = recipient.locale
        totals = totals_by_currency(advice.lines)
        context = {
            "lang": lang,
            "recipient": recipient,
            "partner_name": advice.partner_name,
            "batch_id": advice.batch_id,
            "cycle_day": format_date(advice.cycle_date, lang),
            "claim_count": len(advice.lines),
            "attachment": remittance_filename(advice),
            "lines": [
                {
                    "engagement_id": line.engagement_id,
                    "customer": line.customer_name,
                    "workshop": line.workshop,
                    "amount": line.amount,
                    "currency": line.currency,
                    "reference": line.reference,
                }
                for line in advice.lines
            ],
            "totals": [
                {
                    "currency": currency,
                    "amount": amount,
                    "claims": sum(1 for line in advice.lines if line.currency == currency),
                }
                for currency, amount in totals.items()
            ],
        }
        return self.render_pair("remittance", context)


class RemittanceMailer(MailSender):
    """One e-mail per partner contact, in the contact's language, with the CSV attached;
    sent like every mail (`MailSender`: progress, refusals, sent-ledger)."""

    def __init__(self, smtp: SmtpConfig, renderer: RemittanceRenderer) -> None:
        super().__init__(smtp)
        self.renderer = renderer

    def build(self, advice: RemittanceAdvice, index: int) -> Message:
        recipient = advice.contacts[index]
        return self.compose(
            recipient,
            self.renderer.render_remittance(advice, recipient),
            self.message_id(remittance_key(advice.batch_id, advice.partner_id), index),
            {
                "X-Claim-Notification": "remittance",
                "X-Claim-Partner": advice.partner_id,
                "X-Claim-Batch": advice.batch_id,
            },
            Attachment(
                text=remittance_csv(advice), subtype="csv", filename=remittance_filename(advice)
            ),
        )

    async def deliver(
        self, advice: RemittanceAdvice, **delivery: Unpack[Delivery]
    ) -> DeliveryReport:
        """Send the advice to the partner's contacts (see `MailSender.send`)."""
        mail = Outgoing(
            key=remittance_key(advice.batch_id, advice.partner_id),
            filed_under=advice.partner_id,
            recipients=[contact.email for contact in advice.contacts],
            build=lambda index: self.build(advice, index),
        )
        return await self.send(mail, **delivery)


# --- the activities -------------------------------------------------------------------------


class PaymentActivities:
    """The payment cycle's activities, bound to the ledger, a Temporal client, the tariffs
    and the remittance mailer (shared by all cycles)."""

    def __init__(
        self,
        engine: AsyncEngine,
        client: Client,
        tariffs: Pricing,
        mailer: RemittanceMailer,
        sent_mail: SentLedger | None = None,
    ) -> None:
        self.ledger = PaymentLedger(engine)
        self._client = client
        self._tariffs = tariffs
        self._mailer = mailer
        # The mail ledger (the claims' store), so a retried remittance is never mailed twice.
        self._sent_mail = sent_mail

    @property
    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for `Worker(activities=...)`."""
        return [
            self.open_payment_batch,
            self.pay_claims_page,
            self.issue_payments,
            self.remittances_due,
            self.send_remittance,
            self.close_payment_batch,
        ]

    @activity.defn(name="open_payment_batch")
    async def open_payment_batch(self, batch: OpenBatch) -> BatchOpened:
        return await self.ledger.open_batch(batch)

    @activity.defn(name="pay_claims_page")
    async def pay_claims_page(self, page: PayPage) -> PagePaid:
        """Record the page's lines: paid at the workshop's tariff, or not paid with the reason
        (and then the claim is told that its payment is held, activities/payment_holds.py)."""
        from activities.payment_holds import tell_held_claims  # it reads this module's tables

        paid = await self.ledger.pay_page(page, self._tariffs, datetime.now(UTC))
        await tell_held_claims(self.ledger.engine, self._client, page.batch_id)
        return paid

    @activity.defn(name="issue_payments")
    async def issue_payments(self, request: IssuePayments) -> PaymentsIssued:
        """Send `payment_issued` for up to `limit` paid lines not signalled yet."""
        lines = await self.ledger.unsignalled(request.batch_id, request.limit + 1)
        signalled = undeliverable = 0
        for line in lines[: request.limit]:
            activity.heartbeat(signalled + undeliverable)
            message = PaymentIssued.model_validate(
                line.model_dump(include={"reference", "amount", "currency", "paid_at"})
            )
            handle = self._client.get_workflow_handle(workflow_id(line.engagement_id))
            try:
                await handle.signal(PAYMENT_ISSUED_SIGNAL, message)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                if not await self._already_paid_by(line):
                    await self.ledger.mark_not_paid(
                        line.batch_id, line.engagement_id, NOT_RUNNING_REASON
                    )
                    undeliverable += 1
                    continue
            await self.ledger.mark_signalled(line.batch_id, line.engagement_id, datetime.now(UTC))
            signalled += 1
        return PaymentsIssued(
            signalled=signalled, undeliverable=undeliverable, more=len(lines) > request.limit
        )

    async def _already_paid_by(self, line: BatchLine) -> bool:
        """Whether a claim that ended was paid by this very line (a retry after the signal)."""
        handle = self._client.get_workflow_handle(workflow_id(line.engagement_id))
        try:
            view = await handle.query("get_claim", result_type=ClaimView, rpc_timeout=QUERY_TIMEOUT)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return view.payment is not None and view.payment.reference == line.reference

    @activity.defn(name="remittances_due")
    async def remittances_due(self, due: RemittancesDue) -> PartnerPage:
        return await self.ledger.remittances_due(due)

    @activity.defn(name="send_remittance")
    async def send_remittance(self, request: SendRemittance) -> RemittanceReport:
        """Mail the partner's contacts its remittance advice, once per batch."""
        if await self.ledger.remittance_sent(request.batch_id, request.partner_id):
            return RemittanceReport(partner_id=request.partner_id, claims=0, already_sent=True)
        advice = await self.ledger.remittance_advice(
            request.batch_id, request.partner_id, request.cycle_date
        )
        if not advice.lines:
            return RemittanceReport(partner_id=request.partner_id, claims=0)
        details = activity.info().heartbeat_details
        resume = DeliveryReport.model_validate(details[0]) if details else None
        report = await self._mailer.deliver(
            advice,
            resume=resume,
            on_progress=lambda progress: activity.heartbeat(progress),
            ledger=self._sent_mail,
        )
        await self.ledger.record_remittance(advice, report, datetime.now(UTC))
        return RemittanceReport(
            partner_id=request.partner_id,
            claims=len(advice.lines),
            totals=totals_by_currency(advice.lines),
            delivered=report.delivered,
            refused=[r.email for r in report.refused],
        )

    @activity.defn(name="close_payment_batch")
    async def close_payment_batch(self, close: CloseBatch) -> BatchSummary:
        return await self.ledger.close_batch(close)
