"""Test data for the project's tests: the test kit's builders (one set for both)."""

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

__all__ = [
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
