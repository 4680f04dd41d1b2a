"""Who is calling: API key -> caller -> role and tenancy, as one dependency."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated
from typing import Any
from typing import Protocol
from typing import TypeVar

from fastapi import Depends
from fastapi import Header
from fastapi import Path as PathParam
from fastapi import Query
from fastapi import Request
from fastapi import Security
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security import HTTPBearer
from pydantic import BaseModel

from portal.auth import Caller
from portal.context import Portal
from portal.context import PortalDep
from portal.limits import CALLER_STATE
from portal.limits import authenticate
from portal.privacy import as_seen_by
from portal.problems import not_found
from starter.client import ClaimNotFound
from starter.client import ClaimsClient
from workflows.messages import IDENTIFIER_PATTERN
from workflows.messages import ClaimView
from workflows.messages import Inbound
from workflows.rules import check_role

M = TypeVar("M", bound=Inbound)

# --- who is calling --------------------------------------------------------------------------

bearer = HTTPBearer(
    auto_error=False,
    description="An API key made with `python -m starter.keys create`, as "
    "`Authorization: Bearer <key>`.",
)


async def current_caller(
    request: Request,
    portal: PortalDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller the request's key names: found by the limits middleware before the body
    was read (portal.limits), or here when the app runs without it."""
    found = request.scope.get("state", {}).get(CALLER_STATE)
    if isinstance(found, Caller):
        return found
    header = f"Bearer {credentials.credentials}" if credentials is not None else None
    return authenticate(portal, header)


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
    return as_seen_by(caller, view)


PageLimit = Annotated[int, Query(ge=1, le=100)]
"""How many items a page of a list holds at the most."""
PageCursor = Annotated[str | None, Query(max_length=512)]
"""Where a page of a list starts: the previous page's `next_cursor`."""


IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""An idempotency key: 1 to 128 letters, digits and `._:-` (a UUID fits)."""


async def idempotent_update_id(
    caller: CallerDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Makes a change safe to retry: the same key on the same claim "
            "(by the same API key holder) acts once, and a retry gets the first answer. "
            "Use a new random value (e.g. a UUID) per change.",
        ),
    ] = None,
) -> str | None:
    """The Temporal update id of a change: its `Idempotency-Key`, scoped to the claim (update
    ids are per workflow) and to the caller, so one holder's key can never fetch the answer
    another holder's change got. None without a key: every request is then a change of its own."""
    if idempotency_key is None:
        return None
    return f"{idempotency_key}@{caller.user}"


UpdateId = Annotated[str | None, Depends(idempotent_update_id)]

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


M_in = TypeVar("M_in", bound=Inbound, contravariant=True)


class ClaimsClientChange(Protocol[M_in]):
    """A change method of `ClaimsClient`, taken from the class (`ClaimsClient.submit`): its
    name is the action the caller's role must be allowed, its message type the one sent."""

    __name__: str

    def __call__(
        self, claims: ClaimsClient, engagement_id: str, msg: M_in, /, *, update_id: str | None
    ) -> Awaitable[ClaimView]: ...


@dataclass(frozen=True)
class ClaimChange:
    """A caller's change to one claim: what every change route sends, and how."""

    engagement_id: str
    caller: Caller
    portal: Portal
    update_id: str | None

    async def send(
        self,
        change: ClaimsClientChange[M],
        message: type[M],
        body: BaseModel | None = None,
        **fields: Any,
    ) -> ClaimView:
        """Send `change` (a `ClaimsClient` method, whose name is the action) as `message`
        (see `caller_message`); the claim view after it, as the caller may see it."""
        msg = caller_message(change.__name__, self.caller, message, body, **fields)
        view = await change(self.portal.claims, self.engagement_id, msg, update_id=self.update_id)
        return as_seen_by(self.caller, view)


async def claim_change_of(
    engagement_id: EngagementId, caller: CallerDep, portal: PortalDep, update_id: UpdateId
) -> ClaimChange:
    return ClaimChange(engagement_id, caller, portal, update_id)


ClaimChangeDep = Annotated[ClaimChange, Depends(claim_change_of)]
