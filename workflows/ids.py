"""The claim workflow's id, part of the contract: `workshop-claim-<engagement_id>`.

One claim per engagement is enforced by this id (Temporal refuses a second run
with it), so every side that names a claim's workflow (the client, the payment
cycle that signals paid claims, the reconciliation that finds dead ones) takes
it from here.
"""

from __future__ import annotations

WORKFLOW_ID_PREFIX = "workshop-claim-"


def workflow_id(engagement_id: str) -> str:
    """The one workflow id of an engagement's claim."""
    return f"{WORKFLOW_ID_PREFIX}{engagement_id}"


def engagement_of(claim_workflow_id: str) -> str | None:
    """The engagement a claim workflow id names, or None for another workflow's id."""
    if not claim_workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return None
    return claim_workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
