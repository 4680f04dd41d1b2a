"""Test data for the project's tests: the test kit's builders (one set for both)."""

from datetime import UTC
from datetime import datetime

from claims_testing.data import CUSTOMER_CONTACT
from claims_testing.data import PARTNER_ADMIN
from claims_testing.data import PARTNER_CONTACTS
from claims_testing.data import PARTNER_USER
from claims_testing.data import REVIEWER
from claims_testing.data import attach
from claims_testing.data import claim_input
from claims_testing.data import document
from claims_testing.data import new_engagement

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
