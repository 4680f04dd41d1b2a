"""Test data for the project's tests: the test kit's builders (one set for both)."""

from datetime import UTC, datetime

from claims_testing.data import (
    CUSTOMER_CONTACT,
    PARTNER_ADMIN,
    PARTNER_CONTACTS,
    PARTNER_USER,
    REVIEWER,
    attach,
    claim_input,
    document,
    new_engagement,
)

CONSENT = datetime(2026, 1, 1, tzinfo=UTC)
"""The customer's consent of the claims the pure-rule tests open (their fixed start)."""

__all__ = [
    "CONSENT",
    "CUSTOMER_CONTACT",
    "PARTNER_ADMIN",
    "PARTNER_CONTACTS",
    "PARTNER_USER",
    "REVIEWER",
    "attach",
    "claim_input",
    "document",
    "new_engagement",
]
