"""Who is calling: API key -> caller -> role and tenancy, as one dependency."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Security
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from portal.auth import Caller
from portal.context import Portal, PortalDep
from portal.problems import ProblemError, not_found
from starter.client import (
    ClaimNotFound,
)
from workflows.messages import (
    IDENTIFIER_PATTERN,
    ClaimView,
    Inbound,
)
from workflows.rules import check_role

M = TypeVar("M", bound=Inbound)

# --- who is calling --------------------------------------------------------------------------

bearer = HTTPBearer(
    auto_error=False,
    description="An API key made with `python -m starter.keys create`, as "
    "`Authorization: Bearer <key>`.",
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="workshop-claims"'}


async def current_caller(
    portal: PortalDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None:
        raise ProblemError(
            401,
            "Unauthorized",
            "give an API key as 'Authorization: Bearer <key>'",
            headers=_CHALLENGE,
        )
    caller = portal.keys.lookup(credentials.credentials)
    if caller is None:
        raise ProblemError(
            401,
            "Unauthorized",
            "the API key is not valid",
            headers={"WWW-Authenticate": 'Bearer realm="workshop-claims", error="invalid_token"'},
        )
    return caller


CallerDep = Annotated[Caller, Security(current_caller)]


async def visible_claim(portal: Portal, caller: Caller, engagement_id: str) -> ClaimView:
    """The live view of a claim the caller may see; 404 alike for unknown and not theirs.

    For reads. A change is sent to the claim straight away: its validator checks
    role, tenancy and state in the same round trip."""
    try:
        view = await portal.claims.get_claim(engagement_id)
    except ClaimNotFound:
        raise not_found(engagement_id) from None
    if not caller.sees_partner(view.partner.id):
        raise not_found(engagement_id)
    return view


EngagementId = Annotated[
    str,
    PathParam(pattern=IDENTIFIER_PATTERN, description="the claim's engagement id"),
]


def caller_message(
    action: str, caller: Caller, message: type[M], body: BaseModel | None = None, **fields: Any
) -> M:
    """The message a portal change sends: the body's fields (and `fields`), the caller as
    its actor, once the rules allow the caller's role `action` (403 before anything is
    sent; the claim itself checks the partner and the state)."""
    check_role(action, caller.role)
    values = body.model_dump() if body is not None else {}
    return message.model_validate({**values, **fields, "actor": caller.actor})
