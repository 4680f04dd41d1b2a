"""Test kit for workshop claims: real claim workflows with virtual time, as pytest fixtures.

See claims_testing.plugin (the fixtures) and docs/testing.md (the guide).
"""

from claims_testing.environment import ClaimsEnvironment, Mailbox, VirtualClock
from claims_testing.factory import ClaimFactory

__all__ = ["ClaimFactory", "ClaimsEnvironment", "Mailbox", "VirtualClock"]
