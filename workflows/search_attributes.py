"""The claim's custom search attributes: what operators filter on in the Temporal UI.

Kept current by the workflow on every change (see `WorkshopClaimWorkflow`),
registered idempotently by `ensure_search_attributes` (the worker at start-up,
`python -m starter setup`, the dev stack). An upsert of an attribute the
server doesn't know fails every workflow task, so registration comes first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)
from temporalio.service import RPCError, RPCStatusCode

CLAIM_STATUS = SearchAttributeKey.for_keyword("ClaimStatus")
PARTNER_ID = SearchAttributeKey.for_keyword("PartnerId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
CLAIM_DEADLINE = SearchAttributeKey.for_datetime("ClaimDeadline")
MISSING_ITEMS = SearchAttributeKey.for_keyword_list("MissingItems")
CLAIM_STATUS_SINCE = SearchAttributeKey.for_datetime("ClaimStatusSince")
"""When the claim entered its status: for "waiting for review longer than N days"."""

REGISTRATION: dict[str, IndexedValueType.ValueType] = {
    CLAIM_STATUS.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    PARTNER_ID.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    CUSTOMER_ID.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    CLAIM_DEADLINE.name: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    MISSING_ITEMS.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    CLAIM_STATUS_SINCE.name: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}
"""Every attribute and its type, as `python -m starter setup` registers them."""

SETUP_COMMAND = "python -m starter setup"

log = logging.getLogger("claims.search_attributes")


def claim_attributes(
    *,
    status: str,
    status_since: datetime,
    partner_id: str,
    customer_id: str,
    deadline: datetime,
    missing: Sequence[str],
) -> TypedSearchAttributes:
    """The attribute values of a claim in a given state."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(CLAIM_STATUS, status),
            SearchAttributePair(CLAIM_STATUS_SINCE, status_since),
            SearchAttributePair(PARTNER_ID, partner_id),
            SearchAttributePair(CUSTOMER_ID, customer_id),
            SearchAttributePair(CLAIM_DEADLINE, deadline),
            SearchAttributePair(MISSING_ITEMS, list(missing)),
        ]
    )


def changed_attributes(
    old: TypedSearchAttributes | None, new: TypedSearchAttributes
) -> list[SearchAttributeUpdate[Any]]:
    """Updates for the values that differ, so an unchanged claim writes no upsert event."""
    updates: list[SearchAttributeUpdate[Any]] = []
    for pair in new:
        if old is None or old.get(pair.key) != pair.value:
            updates.append(pair.key.value_set(pair.value))
    return updates


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register the missing attributes on the client's namespace; returns those added.

    Works on the dev server and a self-hosted cluster; the time-skipping test
    server can't list attributes, so there each is added and "already exists"
    ignored. Where the operator API is not allowed (Temporal Cloud: use tcld or
    the Cloud UI), raises `PermissionError` naming what to register.
    """
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        known: set[str] | None = set(listed.custom_attributes) | set(listed.system_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            _raise_if_forbidden(err)
            raise
        known = None
    added = []
    for name, value_type in REGISTRATION.items():
        if known is not None and name in known:
            continue
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=client.namespace, search_attributes={name: value_type}
                )
            )
        except RPCError as err:
            if err.status == RPCStatusCode.ALREADY_EXISTS or "already exists" in err.message:
                continue
            _raise_if_forbidden(err)
            raise
        added.append(name)
    if added:
        log.info("registered search attributes %s on namespace %s", added, client.namespace)
    return added


def _raise_if_forbidden(err: RPCError) -> None:
    if err.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED):
        wanted = ", ".join(f"{n} ({IndexedValueType.Name(t)})" for n, t in REGISTRATION.items())
        raise PermissionError(
            f"not allowed to register search attributes ({err.message}); an administrator "
            f"must register {wanted}, e.g. with `{SETUP_COMMAND}` or the Cloud console"
        ) from err
