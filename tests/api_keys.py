"""API keys of the portal API tests: who holds each, and the keyring made fresh per test
(the `keyring` fixture in conftest)."""

from __future__ import annotations

from dataclasses import dataclass

from portal.auth import ApiKeys
from starter.keys import make_entry
from workflows.messages import Role

PARTNER_ID = "partner-42"
"""The partner of tests.builders.claim_input; the partner keys below act for it."""
OTHER_PARTNER_ID = "partner-99"


@dataclass(frozen=True)
class ApiKeyHolder:
    """A key made for one test, and who holds it."""

    key: str
    user: str
    role: Role
    partner_id: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass(frozen=True)
class ApiKeyring:
    admin: ApiKeyHolder
    user: ApiKeyHolder
    reviewer: ApiKeyHolder
    other: ApiKeyHolder
    """An incentives_admin of another partner."""
    program: ApiKeyHolder
    """A program administrator: records engagements."""

    def api_keys(self) -> ApiKeys:
        return ApiKeys(
            [
                make_entry(holder.key, holder.user, holder.role, holder.partner_id)
                for holder in (self.admin, self.user, self.reviewer, self.other, self.program)
            ]
        )
