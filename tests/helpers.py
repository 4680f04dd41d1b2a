"""Assertions shared by the workflow tests: the read model and the Temporal history."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from activities.store import ClaimStore
from workflows.messages import ClaimView


async def assert_stored(store: ClaimStore, view: ClaimView, within: float = 10.0) -> None:
    """The read model catches up with `view`: its row and exactly one row per history event."""
    deadline = time.monotonic() + within
    row: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        row = await store.claim_row(view.engagement_id)
        if row is not None and row["version"] >= len(view.history):
            break
        await asyncio.sleep(0.05)
    assert row is not None, f"no read-model row for {view.engagement_id}"
    assert row["version"] == len(view.history)
    assert row["status"] == view.status
    assert row["partner_id"] == view.partner.id
    assert row["customer_id"] == view.customer.id
    assert row["deadline_at"] == view.deadline_at
    assert row["view"]["history"] == [h.model_dump(mode="json") for h in view.history]
    events = await store.events(view.engagement_id)
    assert [(e["seq"], e["event"]) for e in events] == [
        (seq, entry.event) for seq, entry in enumerate(view.history)
    ]


async def history_event_types(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The names of a workflow's history events, in order."""
    history = await handle.fetch_history()
    return [EventType.Name(event.event_type) for event in history.events]


async def settled(handle: WorkflowHandle[Any, Any], within: float = 10.0) -> list[str]:
    """Wait until the workflow has no activity and no workflow task pending and its
    history stopped growing; returns the history's event types then (a baseline)."""
    deadline = time.monotonic() + within
    previous: list[str] = []
    while True:
        raw = (await handle.describe()).raw_description
        events = await history_event_types(handle)
        idle = (
            not raw.pending_activities
            and not raw.HasField("pending_workflow_task")
            and events == previous
        )
        if idle or time.monotonic() > deadline:
            assert idle, f"workflow still busy after {within}s: {events[-3:]}"
            return events
        previous = events
        await asyncio.sleep(0.1)
