"""The payment cycle's models: its input, its progress, and what its activities exchange.

A `PaymentCycle` run (see `workflows/payment_cycle.py`) is started by the
schedule `payment-cycle` with a :class:`PaymentCycleInput`; a tariff is what
the program pays for one claim of a workshop (configuration, see starter/settings.py).
Like `workflows.messages`, this module imports pydantic only: it is safe
inside the workflow sandbox, in the worker and in any client.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Annotated
from typing import Literal

from pydantic import AwareDatetime
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StringConstraints

from workflows.messages import Amount
from workflows.messages import Contact
from workflows.messages import Inbound
from workflows.messages import LongText
from workflows.messages import Outbound

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 code, as `payment_issued` carries it."""

LineOutcome = Literal["paid", "not_paid"]

DEFAULT_PAGE_SIZE = 200
"""Claims per page: one `pay_page` activity, one transaction, at most this many signals."""

DEFAULT_PAGES_PER_RUN = 10
"""Pages (of claims, then of partners) per workflow run before it continues as new."""


BATCH_ID_PREFIX = "PC-"


def batch_id_for(cycle_date: datetime) -> str:
    """A cycle's batch id, from its nominal time (UTC, whole seconds): `PC-20261201T060000Z`."""
    return f"{BATCH_ID_PREFIX}{cycle_date.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def payment_reference(batch_id: str, engagement_id: str) -> str:
    """The `reference` of a claim's `payment_issued`: the batch and the claim."""
    return f"{batch_id}:{engagement_id}"


class Tariff(BaseModel):
    """What the program pays for one approved claim of a workshop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: Amount
    currency: Currency


class CycleProgress(Outbound):
    """Where a cycle is: carried from one run to the next when it continues as new."""

    batch_id: str
    cycle_date: datetime
    approved_before: datetime
    """Claims decided at or before this moment are paid in this cycle."""
    phase: Literal["pay", "remit", "done"] = "pay"
    after: str | None = None
    """Keyset cursor: the last engagement (pay) or partner (remit) handled."""
    runs: int = 1
    pages: int = 0
    paid: int = 0
    not_paid: int = 0
    remittances: int = 0


class PaymentCycleInput(Inbound):
    """Start input of a `PaymentCycle` run; the schedule sends it with `cycle_date` unset."""

    cycle_date: AwareDatetime | None = None
    """The cycle's nominal time, its identity: None takes the schedule's nominal time
    (the `TemporalScheduledStartTime` search attribute), else the run's start time."""
    min_days_approved: int = Field(default=0, ge=0, le=3650)
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=1000)
    pages_per_run: int = Field(default=DEFAULT_PAGES_PER_RUN, ge=1, le=100)
    progress: CycleProgress | None = None
    """Set by the cycle itself when it continues as new; never by a caller."""


# --- between the cycle and its activities ------------------------------------------------


class OpenBatch(Outbound):
    batch_id: str
    cycle_date: datetime
    approved_before: datetime
    min_days_approved: int
    workflow_id: str
    started_at: datetime


class BatchOpened(Outbound):
    batch_id: str
    approved_before: datetime
    """The batch's cut-off as first recorded: a re-run of the cycle keeps it."""
    created: bool


class PayPage(Outbound):
    """Record the next page of payable claims (engagement id after `after`) in the batch."""

    batch_id: str
    approved_before: datetime
    paid_at: datetime
    after: str | None
    limit: int


class PagePaid(Outbound):
    scanned: int
    """Approved, unpaid claims looked at on this page."""
    paid: int
    """Lines written as paid by this call (0 for a retry of a page already written)."""
    not_paid: int
    waiting: int
    """Approved after the cut-off: left for a later cycle."""
    last: str | None
    more: bool


class IssuePayments(Outbound):
    batch_id: str
    limit: int


class PaymentsIssued(Outbound):
    signalled: int
    undeliverable: int
    """Paid lines whose claim workflow no longer runs: turned into not-paid lines."""
    more: bool


class RemittancesDue(Outbound):
    batch_id: str
    after: str | None
    limit: int


class PartnerPage(Outbound):
    partner_ids: list[str]
    more: bool


class SendRemittance(Outbound):
    batch_id: str
    partner_id: str
    cycle_date: datetime


class RemittanceReport(Outbound):
    partner_id: str
    claims: int
    totals: dict[str, str] = Field(default_factory=dict)
    """Currency to total amount (decimal string)."""
    delivered: int = 0
    refused: list[str] = Field(default_factory=list)
    already_sent: bool = False


class CloseBatch(Outbound):
    batch_id: str
    finished_at: datetime


class BatchSummary(Outbound):
    """A batch as recorded: the cycle's result and a row of `payments batches`."""

    batch_id: str
    cycle_date: datetime
    approved_before: datetime
    started_at: datetime
    finished_at: datetime | None
    paid: int
    not_paid: int
    totals: dict[str, str] = Field(default_factory=dict)
    partners: int
    remittances: int
    not_paid_reasons: dict[str, int] = Field(default_factory=dict)
    """Reason to number of claims, so the result stays small however large the batch."""


class BatchLine(Outbound):
    """One claim in a batch, paid or not (with the reason)."""

    batch_id: str
    engagement_id: str
    partner_id: str
    partner_name: str
    customer_name: str
    workshop: str
    approved_at: datetime
    outcome: LineOutcome
    reason: str | None = None
    amount: str | None = None
    currency: str | None = None
    reference: str | None = None
    paid_at: datetime | None = None
    signalled_at: datetime | None = None


class RemittanceAdvice(Outbound):
    """What one partner's remittance lists: its paid lines and who to mail."""

    batch_id: str
    partner_id: str
    partner_name: str
    cycle_date: datetime
    lines: list[BatchLine]
    contacts: list[Contact]


class PaymentHeld(Inbound):
    """The payment cycle could not pay an approved claim (its workshop has no tariff): the
    claim says so (`payment_hold`) and tells the partner once."""

    reason: LongText
    batch_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
