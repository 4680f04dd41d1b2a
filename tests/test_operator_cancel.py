"""A claim cancelled from Temporal (the UI's "Request Cancellation", `temporal workflow
cancel`) ends as `cancelled`, like a partner's cancel: recorded, stored, told, searchable.

On both servers: the time-skipping one for the workflow, the dev server for the search
attribute operators filter on.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError

from activities.store import ClaimStore
from claims_testing import ClaimFactory
from claims_testing import Mailbox
from claims_testing.data import PARTNER_CONTACTS
from starter.client import ClaimsClient
from tests.helpers import assert_stored
from workflows.search_attributes import CLAIM_STATUS

BOTH_SERVERS = [
    pytest.param("time-skipping", marks=pytest.mark.claims_server("time-skipping")),
    pytest.param("dev", marks=pytest.mark.claims_server("dev")),
]


@pytest.mark.parametrize("server", BOTH_SERVERS)
@pytest.mark.parametrize("state", ["in_progress", "submitted"])
async def test_a_cancellation_request_ends_the_claim_cancelled_told_stored_and_searchable(
    claim_factory: ClaimFactory,
    claims: ClaimsClient,
    store: ClaimStore,
    mailbox: Mailbox,
    server: str,
    state: str,
) -> None:
    eid = (await claim_factory(state)).engagement_id  # type: ignore[arg-type]
    handle = claims.handle(eid)

    await handle.cancel()

    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, CancelledError)  # Temporal shows it cancelled
    view = await claims.get_claim(eid)
    assert (view.status, view.status_reason) == ("cancelled", "cancelled by an operator")
    assert view.allowed_actions == []
    assert view.history[-1].event == "cancelled"
    assert view.history[-1].actor is None  # the claim did it, on Temporal's request
    told = await mailbox.wait_for(kind="cancelled", engagement_id=eid, count=len(PARTNER_CONTACTS))
    assert sorted(str(m["To"]).split("<")[-1].rstrip(">") for m in told) == sorted(
        c.email for c in PARTNER_CONTACTS
    )
    await assert_stored(store, view)
    if server == "dev":  # the status operators search on
        described = await handle.describe()
        assert described.typed_search_attributes.get(CLAIM_STATUS) == "cancelled"


async def test_a_cancellation_request_on_a_finished_claim_changes_nothing(
    claim_factory: ClaimFactory, claims: ClaimsClient
) -> None:
    view = await claim_factory("auto_rejected")
    handle = claims.handle(view.engagement_id)
    with contextlib.suppress(RPCError):  # the dev server refuses it: the run is closed
        await asyncio.wait_for(handle.cancel(), 30)
    assert (await claims.get_claim(view.engagement_id)).status == "auto_rejected"
