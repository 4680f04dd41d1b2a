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
from workflows.messages import Contact

CONSENT = datetime(2026, 1, 1, tzinfo=UTC)
"""The customer's consent of the claims the pure-rule tests open (their fixed start)."""

UNMAILABLE = Contact(name="Jürgen Kunde", email="jürgen@kunde.example", locale="en")
"""A contact the e-mail rules take but no ASCII mail header can carry: its notifications
can't be built and are recorded as `notification_failed` (issue 15)."""

__all__ = [
    "CONSENT",
    "CUSTOMER_CONTACT",
    "PARTNER_ADMIN",
    "PARTNER_CONTACTS",
    "PARTNER_USER",
    "REVIEWER",
    "UNMAILABLE",
    "attach",
    "claim_input",
    "document",
    "new_engagement",
]
