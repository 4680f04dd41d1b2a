"""What a list of claims is narrowed by: the list and its CSV export take the same query
parameters and ask the read model the same way, so one definition serves both."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from fastapi import Query
from pydantic import AwareDatetime

from activities.store import ClaimPage
from portal.auth import Caller
from portal.context import Portal
from workflows.messages import IDENTIFIER_PATTERN
from workflows.messages import ClaimStatus


@dataclass(frozen=True)
class ClaimFilters:
    """The claims a caller asked for, within those the caller may see."""

    status: ClaimStatus | None = None
    deadline_before: datetime | None = None
    customer_id: str | None = None

    async def page(
        self, portal: Portal, caller: Caller, limit: int, cursor: str | None
    ) -> ClaimPage:
        """One page of the matching claims, newest first: a partner's own, or every
        partner's for a reviewer."""
        return await portal.store.list_claims(
            partner_id=caller.partner_id,
            status=self.status,
            deadline_before=self.deadline_before,
            customer_id=self.customer_id,
            limit=limit,
            cursor=cursor,
        )


async def claim_filters(
    status: Annotated[ClaimStatus | None, Query()] = None,
    deadline_before: Annotated[
        AwareDatetime | None, Query(description="only claims whose deadline is before this")
    ] = None,
    customer_id: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
) -> ClaimFilters:
    """The filters of the request's query (each optional; a bad one is a 422 naming it)."""
    return ClaimFilters(status=status, deadline_before=deadline_before, customer_id=customer_id)


ClaimFiltersDep = Annotated[ClaimFilters, Depends(claim_filters)]
