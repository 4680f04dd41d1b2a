"""Test kit for workshop claims: real claim workflows with virtual time, as pytest fixtures.

See claims_testing.plugin (the fixtures) and docs/testing.md (the guide). The names
below are imported on first use, not when pytest loads the plugin, so loading the
kit imports nothing of the project.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from claims_testing.data import PARTNER_ADMIN
    from claims_testing.data import PARTNER_USER
    from claims_testing.data import REVIEWER
    from claims_testing.environment import ClaimsEnvironment
    from claims_testing.environment import Mailbox
    from claims_testing.environment import VirtualClock
    from claims_testing.factory import CLAIM_STATES
    from claims_testing.factory import ClaimFactory
    from starter.client import ClaimRefused
    from workflows.rules import PROOF_ITEMS

_EXPORTS: dict[str, str] = {
    "CLAIM_STATES": "claims_testing.factory",
    "ClaimFactory": "claims_testing.factory",
    "ClaimRefused": "starter.client",
    "ClaimsEnvironment": "claims_testing.environment",
    "Mailbox": "claims_testing.environment",
    "PARTNER_ADMIN": "claims_testing.data",
    "PARTNER_USER": "claims_testing.data",
    "PROOF_ITEMS": "workflows.rules",
    "REVIEWER": "claims_testing.data",
    "VirtualClock": "claims_testing.environment",
}

__all__ = [
    "CLAIM_STATES",
    "PARTNER_ADMIN",
    "PARTNER_USER",
    "PROOF_ITEMS",
    "REVIEWER",
    "ClaimFactory",
    "ClaimRefused",
    "ClaimsEnvironment",
    "Mailbox",
    "VirtualClock",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
