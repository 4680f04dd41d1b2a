"""The payment cycle: approved claims paid in scheduled runs, one remittance per partner.

Time-skipping server: the cycle is started as the schedule would start it
(same workflow id, its nominal time as `cycle_date`), since that server has
no schedules. Dev server: the schedule itself (setup, idempotence, pause,
trigger) through the real command line. Claims reach `approved` through the
real messages; the ledger's unique constraint is also shown on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from typing import TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment
from temporalio.testing import WorkflowEnvironment

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from activities.mail import SmtpConfig
from activities.payments import PaymentActivities
from activities.payments import PaymentLedger
from activities.payments import RemittanceMailer
from activities.payments import RemittanceRenderer
from activities.payments import no_tariff_reason
from activities.payments import payment_lines
from activities.store import ClaimStore
from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import body_html
from devstack.mailcatcher import body_text
from starter.client import ClaimsClient
from starter.payments import SCHEDULE_ID
from starter.payments import cycle_summary
from starter.payments import cycle_workflow_id
from starter.payments import start_payment_cycle
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_CONTACTS
from tests.builders import REVIEWER
from tests.builders import attach
from tests.builders import claim_input
from tests.helpers import complete_proof
from tests.helpers import run_cli
from worker import create_worker
from workflows import rules
from workflows.messages import Approve
from workflows.messages import ClaimView
from workflows.messages import Contact
from workflows.messages import Party
from workflows.messages import SendSurvey
from workflows.messages import StoreClaim
from workflows.messages import Submit
from workflows.messages import SurveyCompleted
from workflows.payments_messages import BatchSummary
from workflows.payments_messages import IssuePayments
from workflows.payments_messages import OpenBatch
from workflows.payments_messages import PayPage
from workflows.payments_messages import SendRemittance
from workflows.payments_messages import Tariff
from workflows.payments_messages import batch_id_for
from workflows.payments_messages import payment_reference

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).resolve().parent.parent
MAIL_FROM = "Workshop claims <claims@claims.test>"
CLOUD = "Cloud adoption workshop"
DATA = "Data strategy workshop"
SECURITY = "Security workshop"
UNPRICED = "Leadership offsite"
TARIFFS = {
    CLOUD: Tariff(amount="1500.00", currency="EUR"),
    DATA: Tariff(amount="2250.50", currency="EUR"),
    SECURITY: Tariff(amount="800.00", currency="USD"),
}
PARTNER = Party(id="partner-42", name="Contoso Consulting")
OTHER_PARTNER = Party(id="partner-77", name="Northwind Advisory")
OTHER_CONTACT = Contact(name="Olga Other", email="olga@northwind.example", locale="en")

T = TypeVar("T")


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def tariffs() -> dict[str, Tariff]:
    """The worker's tariffs; a test may add one between cycles (read at each page)."""
    return dict(TARIFFS)


def payment_activities(
    client: Client, store: ClaimStore, mailbox: MailCatcher, links: SurveyLinks, tariffs: Any
) -> PaymentActivities:
    smtp = SmtpConfig(host=mailbox.host, port=mailbox.port, mail_from=MAIL_FROM, timeout=5)
    mailer = RemittanceMailer(smtp, RemittanceRenderer())
    return PaymentActivities(store.engine, client, tariffs, mailer, sent_mail=store)


@pytest.fixture
def payments(
    env: WorkflowEnvironment,
    store: ClaimStore,
    mailbox: MailCatcher,
    links: SurveyLinks,
    tariffs: dict[str, Tariff],
) -> PaymentActivities:
    return payment_activities(env.client, store, mailbox, links, tariffs)


@pytest.fixture
async def paying(
    env: WorkflowEnvironment,
    activities: ClaimActivities,
    payments: PaymentActivities,
    links: SurveyLinks,
    task_queue: str,
) -> AsyncIterator[ClaimsClient]:
    """Claims and the payment cycle on one worker, as `python worker.py` runs them."""
    async with create_worker(env.client, task_queue, activities, payments):
        yield ClaimsClient(env.client, task_queue=task_queue, links=links)


# --- helpers --------------------------------------------------------------------------------


async def read_model_status(store: ClaimStore, engagement_id: str, status: str) -> None:
    """Wait until the read model shows the claim in `status` (the cycle reads from it)."""
    deadline = time.monotonic() + 15
    while True:
        row = await store.claim_row(engagement_id)
        if row is not None and row["status"] == status:
            return
        assert time.monotonic() < deadline, f"{engagement_id} never stored as {status}"
        await asyncio.sleep(0.05)


async def approved_claim(
    claims: ClaimsClient, store: ClaimStore, consent_at: datetime, **changes: Any
) -> str:
    """A claim brought to `approved` through the real messages; returns its engagement."""
    claim = claim_input(consent_at, **changes)
    eid = claim.engagement_id
    await claims.start_claim(claim)
    await complete_proof(claims, eid)
    await claims.submit(eid, Submit(actor=PARTNER_ADMIN))
    view = await claims.approve(eid, Approve(actor=REVIEWER))
    assert view.status == "approved"
    await read_model_status(store, eid, "approved")
    return eid


async def next_second(env: WorkflowEnvironment) -> datetime:
    """A cycle date just after now, in whole seconds, as a schedule's nominal times are."""
    return (await env.get_current_time() + timedelta(seconds=1)).replace(microsecond=0)


def first_of_month(moment: datetime, months_ahead: int) -> datetime:
    """Day 1 at 06:00 UTC, `months_ahead` months after `moment`'s month: a default cycle."""
    month = moment.month - 1 + months_ahead
    return datetime(moment.year + month // 12, month % 12 + 1, 1, 6, tzinfo=UTC)


async def run_cycle(
    env: WorkflowEnvironment, task_queue: str, cycle_date: datetime, **options: int
) -> BatchSummary:
    """Move time to the cycle's date, start the cycle as the schedule would, await it."""
    wait = cycle_date - await env.get_current_time()
    if wait > timedelta(0):
        await env.sleep(wait)
    handle = await start_payment_cycle(
        env.client, task_queue=task_queue, cycle_date=cycle_date, **options
    )
    return await finished(env, handle)


async def finished(env: WorkflowEnvironment, handle: WorkflowHandle[Any, T]) -> T:
    """A workflow's result, awaited in real time: it needs activities, not timers.

    (Awaiting a result lets the time-skipping server jump to the next timer it
    knows, the 10-year run timeout of some workflow if nothing else is due, and
    every open claim would time out.)
    """
    with env.auto_time_skipping_disabled():
        return await asyncio.wait_for(handle.result(), 60)


async def paid_view(
    env: WorkflowEnvironment, claims: ClaimsClient, engagement_id: str
) -> ClaimView:
    """The claim's final view: a paid claim ends."""
    view = await finished(env, claims.handle(engagement_id))
    assert view.status == "paid"
    return view


def remittances(mailbox: MailCatcher, partner_id: str, batch_id: str) -> list[EmailMessage]:
    return [
        mail
        for mail in mailbox.find(kind="remittance")
        if mail["X-Claim-Partner"] == partner_id and mail["X-Claim-Batch"] == batch_id
    ]


def csv_rows(mail: EmailMessage) -> list[dict[str, str]]:
    [attachment] = [p for p in mail.iter_attachments() if p.get_content_type() == "text/csv"]
    return list(csv.DictReader(io.StringIO(attachment.get_content())))


def one_mail_to(mails: list[EmailMessage], email: str) -> EmailMessage:
    [mail] = [m for m in mails if email in str(m["To"])]
    return mail


# --- time-skipping: cycles started as the schedule starts them -------------------------------


async def test_claims_approved_in_different_months_are_paid_in_their_own_cycles(
    env: WorkflowEnvironment, paying: ClaimsClient, store: ClaimStore, task_queue: str
) -> None:
    start = await env.get_current_time()
    january = await approved_claim(paying, store, start)
    first_cycle = first_of_month(start, 1)

    first = await run_cycle(env, task_queue, first_cycle)

    assert first.batch_id == batch_id_for(first_cycle)
    assert (first.paid, first.not_paid, first.totals) == (1, 0, {"EUR": "1500.00"})
    paid = await paid_view(env, paying, january)
    assert paid.payment is not None
    assert paid.payment.reference == payment_reference(first.batch_id, january)
    assert (paid.payment.amount, paid.payment.currency) == ("1500.00", "EUR")
    assert paid.payment.paid_at == first_cycle

    await env.sleep(timedelta(days=10))
    february = await approved_claim(paying, store, await env.get_current_time())
    second_cycle = first_of_month(start, 2)

    second = await run_cycle(env, task_queue, second_cycle)

    assert (second.paid, second.not_paid) == (1, 0)
    paid = await paid_view(env, paying, february)
    assert paid.payment is not None
    assert paid.payment.reference == payment_reference(second.batch_id, february)
    ledger = PaymentLedger(store.engine)
    assert [line.engagement_id for line in await ledger.batch_lines(first.batch_id)] == [january]
    assert [line.engagement_id for line in await ledger.batch_lines(second.batch_id)] == [february]
    assert [b.batch_id for b in await ledger.list_batches()] == [second.batch_id, first.batch_id]


async def test_a_claim_approved_after_a_run_waits_for_the_next_one(
    env: WorkflowEnvironment, paying: ClaimsClient, store: ClaimStore, task_queue: str
) -> None:
    early = await approved_claim(paying, store, await env.get_current_time())
    first = await run_cycle(env, task_queue, await next_second(env))
    assert first.paid == 1
    await paid_view(env, paying, early)

    late = await approved_claim(paying, store, await env.get_current_time())
    await env.sleep(timedelta(days=3))
    waiting = await paying.get_claim(late)
    assert (waiting.status, waiting.payment) == ("approved", None)
    ledger = PaymentLedger(store.engine)
    assert late not in [line.engagement_id for line in await ledger.batch_lines(first.batch_id)]

    # With "at least 5 days approved", one approved 2 days before the cycle waits again.
    next_cycle = first.cycle_date + timedelta(days=30)
    await env.sleep(next_cycle - timedelta(days=2) - await env.get_current_time())
    too_recent = await approved_claim(paying, store, await env.get_current_time())
    second = await run_cycle(env, task_queue, next_cycle, min_days_approved=5)

    assert (second.paid, second.not_paid) == (1, 0)
    assert second.approved_before == next_cycle - timedelta(days=5)
    view = await paid_view(env, paying, late)
    assert view.payment is not None
    assert view.payment.reference == payment_reference(second.batch_id, late)
    still = await paying.get_claim(too_recent)
    assert (still.status, still.payment) == ("approved", None)


async def test_each_partner_gets_one_remittance_per_cycle_with_its_lines_and_totals(
    env: WorkflowEnvironment,
    paying: ClaimsClient,
    store: ClaimStore,
    mailbox: MailCatcher,
    task_queue: str,
) -> None:
    now = await env.get_current_time()
    ours = {
        await approved_claim(paying, store, now, workshop=workshop): workshop
        for workshop in (CLOUD, CLOUD, DATA, SECURITY)
    }
    theirs = await approved_claim(
        paying, store, now, partner=OTHER_PARTNER, partner_contacts=[OTHER_CONTACT]
    )
    cycle_date = await next_second(env)

    # Two claims a page and one page a run: the cycle continues as new several times,
    # and a partner whose claims span pages still gets one remittance.
    handle = await start_payment_cycle(
        env.client, task_queue=task_queue, cycle_date=cycle_date, page_size=2, pages_per_run=1
    )
    summary = await finished(env, handle)

    assert (summary.paid, summary.partners, summary.remittances) == (5, 2, 2)
    assert summary.totals == {"EUR": "6750.50", "USD": "800.00"}
    first_run = env.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    history = await first_run.fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW

    mails = remittances(mailbox, PARTNER.id, summary.batch_id)
    assert sorted(str(m["To"]) for m in mails) == sorted(
        f"{c.name} <{c.email}>" for c in PARTNER_CONTACTS
    )
    english = one_mail_to(mails, "anna@")
    dutch = one_mail_to(mails, "joost@")
    assert (
        str(english["Subject"]) == f"Remittance advice {summary.batch_id}: 4 workshop claims paid"
    )
    assert (
        str(dutch["Subject"])
        == f"Betalingsspecificatie {summary.batch_id}: 4 workshopclaims betaald"
    )
    rows = csv_rows(english)
    assert rows == csv_rows(dutch)
    assert {row["engagement_id"]: row["workshop"] for row in rows} == ours
    for row in rows:
        tariff = TARIFFS[row["workshop"]]
        assert (row["amount"], row["currency"]) == (tariff.amount, tariff.currency)
        assert row["reference"] == payment_reference(summary.batch_id, row["engagement_id"])
        assert row["batch_id"] == summary.batch_id
        assert datetime.fromisoformat(row["paid_at"]) == cycle_date
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row["currency"]] = totals.get(row["currency"], Decimal(0)) + Decimal(row["amount"])
    assert totals == {"EUR": Decimal("5250.50"), "USD": Decimal("800.00")}
    assert "Total EUR: 5250.50 (3 claims)" in body_text(english)
    assert "Total USD: 800.00 (1 claim)" in body_text(english)
    assert "Totaal EUR: 5250.50 (3 claims)" in body_text(dutch)
    assert "EUR 5250.50" in body_html(english)
    assert english["Content-Language"] == "en"
    assert english["Message-ID"] == f"<remittance.{summary.batch_id}.{PARTNER.id}.r0@claims.test>"

    [other] = remittances(mailbox, OTHER_PARTNER.id, summary.batch_id)
    assert str(other["To"]) == f"{OTHER_CONTACT.name} <{OTHER_CONTACT.email}>"
    assert [row["engagement_id"] for row in csv_rows(other)] == [theirs]
    assert "Total EUR: 1500.00 (1 claim)" in body_text(other)
    assert not mailbox.find(kind="remittance", to=CUSTOMER_CONTACT.email)
    for eid in [*ours, theirs]:
        await paid_view(env, paying, eid)


async def test_a_rerun_of_a_cycle_pays_nobody_twice(
    env: WorkflowEnvironment,
    paying: ClaimsClient,
    payments: PaymentActivities,
    store: ClaimStore,
    mailbox: MailCatcher,
    task_queue: str,
) -> None:
    eid = await approved_claim(paying, store, await env.get_current_time())
    cycle_date = await next_second(env)
    first = await run_cycle(env, task_queue, cycle_date)
    final = await paid_view(env, paying, eid)
    ledger = PaymentLedger(store.engine)
    [line] = await ledger.batch_lines(first.batch_id)
    sent = remittances(mailbox, PARTNER.id, first.batch_id)
    assert len(sent) == len(PARTNER_CONTACTS)

    # The same cycle again (an operator re-runs it): same batch, nothing new.
    again = await run_cycle(env, task_queue, cycle_date)

    assert again.model_dump(exclude={"finished_at"}) == first.model_dump(exclude={"finished_at"})
    assert await ledger.batch_lines(first.batch_id) == [line]  # signalled once, not again
    assert len(remittances(mailbox, PARTNER.id, first.batch_id)) == len(sent)
    events = [h.event for h in final.history]
    assert events.count("payment_issued") == 1
    assert "payment_ignored" not in events

    # Each activity retried by hand: nothing recorded, signalled or mailed again.
    retry = ActivityEnvironment()
    page = PayPage(
        batch_id=first.batch_id,
        approved_before=first.approved_before,
        paid_at=cycle_date,
        after=None,
        limit=200,
    )
    assert (await retry.run(payments.pay_claims_page, page)).paid == 0
    issued = await retry.run(
        payments.issue_payments, IssuePayments(batch_id=first.batch_id, limit=10)
    )
    assert (issued.signalled, issued.undeliverable) == (0, 0)
    report = await retry.run(
        payments.send_remittance,
        SendRemittance(batch_id=first.batch_id, partner_id=PARTNER.id, cycle_date=cycle_date),
    )
    assert report.already_sent
    assert len(remittances(mailbox, PARTNER.id, first.batch_id)) == len(sent)

    # A later cycle does not pay the claim again either, and the database says why:
    later = cycle_date + timedelta(days=30)
    await retry.run(
        payments.open_payment_batch,
        OpenBatch(
            batch_id=batch_id_for(later),
            cycle_date=later,
            approved_before=later,
            min_days_approved=0,
            workflow_id="by-hand",
            started_at=later,
        ),
    )
    with pytest.raises(IntegrityError):
        async with store.engine.begin() as conn:
            await conn.execute(
                payment_lines.insert().values(
                    line.model_dump(exclude={"signalled_at"})
                    | {"batch_id": batch_id_for(later), "recorded_at": later}
                )
            )


async def test_a_missing_tariff_is_reported_held_visibly_and_the_others_are_paid(
    env: WorkflowEnvironment,
    paying: ClaimsClient,
    store: ClaimStore,
    mailbox: MailCatcher,
    tariffs: dict[str, Tariff],
    task_queue: str,
) -> None:
    now = await env.get_current_time()
    unpriced = await approved_claim(paying, store, now, workshop=UNPRICED)
    priced = await approved_claim(paying, store, now, workshop=CLOUD)
    cycle_date = await next_second(env)

    summary = await run_cycle(env, task_queue, cycle_date)

    assert (summary.paid, summary.not_paid) == (1, 1)
    assert summary.not_paid_reasons == {no_tariff_reason(UNPRICED): 1}
    await paid_view(env, paying, priced)
    waiting = await paying.get_claim(unpriced)
    assert (waiting.status, waiting.payment) == ("approved", None)
    lines = {
        line.engagement_id: line
        for line in await PaymentLedger(store.engine).batch_lines(summary.batch_id)
    }
    assert lines[unpriced].outcome == "not_paid"
    assert f"no tariff for workshop '{UNPRICED}'" in str(lines[unpriced].reason)
    assert (lines[unpriced].amount, lines[unpriced].reference) == (None, None)
    assert lines[priced].outcome == "paid"
    english = one_mail_to(remittances(mailbox, PARTNER.id, summary.batch_id), "anna@")
    assert [row["engagement_id"] for row in csv_rows(english)] == [priced]

    # The claim says it is held, operators see it, its partner is told once.
    held = await mailbox.wait_for(engagement_id=unpriced, kind="payment_held", count=2)
    assert sorted(m["To"].addresses[0].addr_spec for m in held) == sorted(
        c.email for c in PARTNER_CONTACTS
    )
    waiting = await paying.get_claim(unpriced)
    assert waiting.payment_hold is not None
    assert waiting.payment_hold.startswith(f"no tariff for workshop '{UNPRICED}'")
    metadata = await paying.handle(unpriced).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    assert f"**Payment held:** {waiting.payment_hold}" in metadata.current_details
    again = await run_cycle(env, task_queue, cycle_date + timedelta(days=1))
    assert again.not_paid == 1
    assert [e.event for e in (await paying.get_claim(unpriced)).history].count("payment_held") == 1
    assert len(mailbox.find(engagement_id=unpriced, kind="payment_held")) == 2

    # Once the workshop has a tariff, the next cycle pays the claim that waited.
    tariffs[UNPRICED] = Tariff(amount="999.99", currency="EUR")
    later = await run_cycle(env, task_queue, cycle_date + timedelta(days=30))
    assert (later.paid, later.not_paid, later.totals) == (1, 0, {"EUR": "999.99"})
    paid = await paid_view(env, paying, unpriced)
    assert paid.payment is not None
    assert paid.payment.reference == payment_reference(later.batch_id, unpriced)
    assert paid.payment_hold is None


# --- the ledger itself, on SQLite and PostgreSQL --------------------------------------------


def approved_view(now: datetime, **changes: Any) -> ClaimView:
    """An approved claim's view, made by the rules alone (no Temporal)."""
    claim = rules.open_claim(claim_input(now - timedelta(days=5), **changes), now)
    rules.attach_document(claim, attach("results_and_recommendations"), now)
    rules.attach_document(claim, attach("invoice"), now)
    for kind in ("partner", "customer"):
        rules.send_survey(claim, SendSurvey(kind=kind, actor=PARTNER_ADMIN), now)
        completed = SurveyCompleted(
            kind=kind, link_version=1, respondent_email="r@example.com", answers={"q1": 5}
        )
        assert rules.complete_survey(claim, completed, now)
    rules.submit(claim, Submit(actor=PARTNER_ADMIN), now)
    rules.approve(claim, Approve(actor=REVIEWER), now)
    return rules.view(claim, now)


async def test_the_ledger_never_holds_two_paid_lines_for_one_claim(database_url: str) -> None:
    store = ClaimStore.from_url(database_url)
    await store.migrate()
    try:
        ledger = PaymentLedger(store.engine)
        approved_at = datetime(2026, 3, 10, 12, tzinfo=UTC)
        view = approved_view(approved_at)
        await store.save(StoreClaim(view=view))
        dates = [datetime(2026, 4, 1, 6, tzinfo=UTC), datetime(2026, 5, 1, 6, tzinfo=UTC)]
        for date in dates:
            await ledger.open_batch(
                OpenBatch(
                    batch_id=batch_id_for(date),
                    cycle_date=date,
                    approved_before=date,
                    min_days_approved=0,
                    workflow_id=cycle_workflow_id(date),
                    started_at=date,
                )
            )

        def page(date: datetime) -> PayPage:
            return PayPage(
                batch_id=batch_id_for(date),
                approved_before=date,
                paid_at=date,
                after=None,
                limit=200,
            )

        assert (await ledger.pay_page(page(dates[0]), TARIFFS, dates[0])).paid == 1
        assert (await ledger.pay_page(page(dates[0]), TARIFFS, dates[0])).paid == 0  # a retry
        assert (await ledger.pay_page(page(dates[1]), TARIFFS, dates[1])).scanned == 0
        [line] = await ledger.batch_lines(batch_id_for(dates[0]))
        assert line.outcome == "paid"
        assert line.approved_at == approved_at

        # Past the selection, the database itself refuses a second paid line.
        second = line.model_dump(exclude={"signalled_at"}) | {
            "batch_id": batch_id_for(dates[1]),
            "recorded_at": dates[1],
        }
        with pytest.raises(IntegrityError):
            async with store.engine.begin() as conn:
                await conn.execute(sa.insert(payment_lines).values(second))
        # A not-paid line next to it is allowed (a claim may be held back in any batch).
        async with store.engine.begin() as conn:
            await conn.execute(
                sa.insert(payment_lines).values(second | {"outcome": "not_paid", "reason": "x"})
            )
    finally:
        await store.close()


# --- the dev server: the schedule and the command line --------------------------------------


async def cli(
    dev_env: WorkflowEnvironment, store: ClaimStore, task_queue: str, *args: str, **env: str
) -> tuple[int, str, str]:
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "CLAIMS_TASK_QUEUE": task_queue,
        "CLAIMS_DATABASE_URL": store.engine.url.render_as_string(hide_password=False),
        **env,
    }
    done = await run_cli(*args, env=environ)
    return done.code, done.stdout, done.stderr


def decoded(dev_env: WorkflowEnvironment, value: Any) -> Any:
    """A described schedule's action fields come back as payloads."""
    if isinstance(value, Payload):
        return dev_env.client.data_converter.payload_converter.from_payload(value)
    return value


async def delete_schedule(client: Client) -> None:
    with contextlib.suppress(RPCError):  # there may be none
        await client.get_schedule_handle(SCHEDULE_ID).delete()


@pytest.fixture
async def dev_paying(
    dev_env: WorkflowEnvironment,
    activities: ClaimActivities,
    store: ClaimStore,
    mailbox: MailCatcher,
    links: SurveyLinks,
    task_queue: str,
) -> AsyncIterator[ClaimsClient]:
    """Claims and payments on the dev server; the schedule is removed afterwards."""
    payments = payment_activities(dev_env.client, store, mailbox, links, dict(TARIFFS))
    try:
        async with create_worker(dev_env.client, task_queue, activities, payments):
            yield ClaimsClient(dev_env.client, task_queue=task_queue, links=links)
    finally:
        await delete_schedule(dev_env.client)


@pytest.mark.slow  # the operator command line in subprocesses (~9 s)
async def test_setup_creates_the_payment_schedule_and_running_it_again_changes_nothing(
    dev_env: WorkflowEnvironment, dev_paying: ClaimsClient, store: ClaimStore, task_queue: str
) -> None:
    await delete_schedule(dev_env.client)
    handle = dev_env.client.get_schedule_handle(SCHEDULE_ID)

    code, out, err = await cli(dev_env, store, task_queue, "setup")
    assert (code, err) == (0, ""), err
    assert f"payment schedule {SCHEDULE_ID}: created (monthly: day 1 at 06:00 UTC" in out
    created = await handle.describe()
    action = created.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.id, action.task_queue) == (
        "PaymentCycle",
        "payment-cycle",
        task_queue,
    )
    assert action.static_summary is not None
    assert decoded(dev_env, action.static_summary) == cycle_summary(0)
    [calendar] = created.schedule.spec.calendars
    assert [r.start for r in calendar.day_of_month] == [1]
    assert [r.start for r in calendar.hour] == [6]
    assert all(t.day == 1 and t.hour == 6 for t in created.info.next_action_times)
    assert "payment cycle" in (await created.memo())["summary"]
    assert not created.schedule.state.paused

    code, out, err = await cli(dev_env, store, task_queue, "setup")
    assert (code, err) == (0, "")
    assert f"payment schedule {SCHEDULE_ID}: updated" in out
    again = await handle.describe()
    assert again.schedule.spec == created.schedule.spec
    assert again.schedule.policy == created.schedule.policy
    assert again.schedule.state == created.schedule.state
    assert again.info.next_action_times == created.info.next_action_times
    assert again.info.num_actions == 0

    # A pause survives setup; the calendar follows the configuration.
    code, out, err = await cli(dev_env, store, task_queue, "payments", "pause", "--note", "freeze")
    assert (code, err) == (0, ""), err
    code, out, err = await cli(
        dev_env, store, task_queue, "setup", CLAIMS_PAYMENT_CALENDAR="0 7 15 * *"
    )
    assert (code, err) == (0, ""), err
    paused = await handle.describe()
    assert (paused.schedule.state.paused, paused.schedule.state.note) == (True, "freeze")
    assert all(t.day == 15 and t.hour == 7 for t in paused.info.next_action_times) or not (
        paused.info.next_action_times  # a paused schedule may list none
    )
    code, out, err = await cli(dev_env, store, task_queue, "payments", "status")
    assert code == 0, err
    assert "PAUSED (freeze)" in out
    code, out, err = await cli(dev_env, store, task_queue, "payments", "unpause")
    assert (code, err) == (0, ""), err
    assert not (await handle.describe()).schedule.state.paused


@pytest.mark.slow  # a schedule on the dev server, in real time (~10 s)
async def test_triggering_the_schedule_starts_a_cycle_that_pays_an_approved_claim(
    dev_env: WorkflowEnvironment,
    dev_paying: ClaimsClient,
    store: ClaimStore,
    mailbox: MailCatcher,
    task_queue: str,
) -> None:
    eid = await approved_claim(dev_paying, store, datetime.now(UTC) - timedelta(days=1))
    code, out, err = await cli(dev_env, store, task_queue, "setup")
    assert (code, err) == (0, ""), err

    code, out, err = await cli(dev_env, store, task_queue, "payments", "trigger")
    assert (code, err) == (0, ""), err
    assert out.startswith("payment cycle triggered: workflow payment-cycle-"), out
    workflow_id = out.split("workflow ", 1)[1].strip()

    run = dev_env.client.get_workflow_handle(workflow_id, result_type=BatchSummary)
    summary = await asyncio.wait_for(run.result(), 60)
    nominal = datetime.fromisoformat(workflow_id.removeprefix("payment-cycle-"))
    assert summary.cycle_date == nominal  # the schedule's nominal time is the cycle's identity
    assert summary.batch_id == batch_id_for(nominal)
    assert (summary.paid, summary.remittances) == (1, 1)
    assert await (await run.describe()).static_summary() == cycle_summary(0)
    view = await dev_paying.handle(eid).result()
    assert view.status == "paid"
    assert view.payment is not None
    assert view.payment.reference == payment_reference(summary.batch_id, eid)
    assert len(remittances(mailbox, PARTNER.id, summary.batch_id)) == len(PARTNER_CONTACTS)

    code, out, err = await cli(dev_env, store, task_queue, "payments", "batches")
    assert code == 0, err
    header, row, total = out.strip().splitlines()
    assert header.split()[:3] == ["BATCH", "CYCLE", "PAID"]
    assert row.split()[0] == summary.batch_id
    assert row.split()[3:5] == ["1", "0"]
    assert total == "1 batch"
    code, out, err = await cli(dev_env, store, task_queue, "payments", "batches", summary.batch_id)
    assert code == 0, err
    assert eid in out
    assert payment_reference(summary.batch_id, eid) in out
    code, out, err = await cli(dev_env, store, task_queue, "payments", "status")
    assert code == 0, err
    assert workflow_id in out
    code, out, err = await cli(dev_env, store, task_queue, "payments", "batches", "PC-nope")
    assert (code, out) == (1, "")
    assert "no payment batch 'PC-nope'" in err
