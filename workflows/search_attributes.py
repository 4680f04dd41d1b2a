"""The claim's custom search attributes: what operators filter on in the Temporal UI.

Kept current by the workflow on every change (see `WorkshopClaimWorkflow`),
registered idempotently by `starter.temporal.ensure_search_attributes` (the
worker at start-up, `python -m starter setup`, the dev stack). An upsert of an attribute the
server doesn't know fails every workflow task, so registration comes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio.common import SearchAttributeKey
from temporalio.common import SearchAttributePair
from temporalio.common import SearchAttributeUpdate
from temporalio.common import TypedSearchAttributes

CLAIM_STATUS = SearchAttributeKey.for_keyword("ClaimStatus")
PARTNER_ID = SearchAttributeKey.for_keyword("PartnerId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
CLAIM_DEADLINE = SearchAttributeKey.for_datetime("ClaimDeadline")
MISSING_ITEMS = SearchAttributeKey.for_keyword_list("MissingItems")
CLAIM_STATUS_SINCE = SearchAttributeKey.for_datetime("ClaimStatusSince")
"""When the claim entered its status: for "waiting for review longer than N days"."""
PENDING_NOTIFICATIONS = SearchAttributeKey.for_int("PendingNotifications")
"""Mail the claim owes while sending fails (0 again once it flows); never set on a claim
whose mail always went out."""

CLAIM_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = (
    CLAIM_STATUS,
    PARTNER_ID,
    CUSTOMER_ID,
    CLAIM_DEADLINE,
    MISSING_ITEMS,
    CLAIM_STATUS_SINCE,
    PENDING_NOTIFICATIONS,
)
"""Every attribute, in the order `python -m starter setup` registers them."""

ENDED_FROM_OUTSIDE = "ExecutionStatus IN ('Terminated', 'TimedOut')"
"""The visibility filter for claims ended from outside (status `terminated`): their
`ClaimStatus` still says what it was when Temporal stopped them."""


def claim_attributes(
    *,
    status: str,
    status_since: datetime,
    partner_id: str,
    customer_id: str,
    deadline: datetime,
    missing: Sequence[str],
    pending_notifications: int | None = None,
) -> TypedSearchAttributes:
    """The attribute values of a claim in a given state (`PendingNotifications` only when
    given)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(CLAIM_STATUS, status),
        SearchAttributePair(CLAIM_STATUS_SINCE, status_since),
        SearchAttributePair(PARTNER_ID, partner_id),
        SearchAttributePair(CUSTOMER_ID, customer_id),
        SearchAttributePair(CLAIM_DEADLINE, deadline),
        SearchAttributePair(MISSING_ITEMS, list(missing)),
    ]
    if pending_notifications is not None:
        pairs.append(SearchAttributePair(PENDING_NOTIFICATIONS, pending_notifications))
    return TypedSearchAttributes(pairs)


def changed_attributes(
    old: TypedSearchAttributes | None, new: TypedSearchAttributes
) -> list[SearchAttributeUpdate[Any]]:
    """Updates for the values that differ, so an unchanged claim writes no upsert event."""
    updates: list[SearchAttributeUpdate[Any]] = []
    for pair in new:
        if old is None or old.get(pair.key) != pair.value:
            updates.append(pair.key.value_set(pair.value))
    return updates
