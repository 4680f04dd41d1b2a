"""Visibility queries over claims: the filters operators use, as Temporal list queries.

The same queries are written out in docs/operations.md for the Temporal UI;
`python -m starter list` builds them from its options.
"""

from __future__ import annotations

import re
from datetime import datetime
from datetime import timedelta

from workflows.search_attributes import CLAIM_DEADLINE
from workflows.search_attributes import CLAIM_STATUS
from workflows.search_attributes import CLAIM_STATUS_SINCE
from workflows.search_attributes import CUSTOMER_ID
from workflows.search_attributes import ENDED_FROM_OUTSIDE
from workflows.search_attributes import MISSING_ITEMS
from workflows.search_attributes import PARTNER_ID
from workflows.search_attributes import PENDING_NOTIFICATIONS

WORKFLOW_TYPE = "WorkshopClaim"
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """'7d', '12h', '2w', '30m' as a timedelta."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 7d, 12h, 2w or 30m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def literal(value: str) -> str:
    """A quoted string literal for a visibility query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def moment(value: datetime) -> str:
    return literal(value.isoformat().replace("+00:00", "Z"))


def claims_query(
    *,
    now: datetime,
    status: str | None = None,
    partner: str | None = None,
    customer: str | None = None,
    missing: str | None = None,
    expiring_within: timedelta | None = None,
    in_status_longer_than: timedelta | None = None,
    in_status_since: datetime | None = None,
    open_only: bool = False,
    mail_waiting: bool = False,
) -> str:
    """The list query for claims matching every given filter; `open_only` leaves out the
    claims whose workflow has closed (paid, rejected, auto-rejected, terminated, ...)."""
    terms = [f"WorkflowType = {literal(WORKFLOW_TYPE)}"]
    if open_only:
        terms.append("ExecutionStatus = 'Running'")
    if status == "terminated":  # the workflow never says so itself
        terms.append(ENDED_FROM_OUTSIDE)
    elif status is not None:
        terms.append(f"{CLAIM_STATUS.name} = {literal(status)}")
    if partner is not None:
        terms.append(f"{PARTNER_ID.name} = {literal(partner)}")
    if customer is not None:
        terms.append(f"{CUSTOMER_ID.name} = {literal(customer)}")
    if missing is not None:
        terms.append(f"{MISSING_ITEMS.name} = {literal(missing)}")
    if expiring_within is not None:
        if status is None:
            terms.append(f"{CLAIM_STATUS.name} = 'in_progress'")
        terms.append(f"{CLAIM_DEADLINE.name} <= {moment(now + expiring_within)}")
    if in_status_longer_than is not None:
        terms.append(f"{CLAIM_STATUS_SINCE.name} <= {moment(now - in_status_longer_than)}")
    if mail_waiting:
        terms.append(f"{PENDING_NOTIFICATIONS.name} > 0")
    if in_status_since is not None:
        terms.append(f"{CLAIM_STATUS_SINCE.name} >= {moment(in_status_since)}")
    return " AND ".join(terms)
