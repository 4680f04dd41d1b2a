"""What a workflow's history holds: counts, and what each event pays for.

Temporal Cloud bills per action and a self-hosted cluster writes every event
to its database, so the benchmark counts, from the real histories of the
measured runs: events, workflow tasks (WORKFLOW_TASK_COMPLETED), activity
executions (ACTIVITY_TASK_SCHEDULED plus local-activity markers), and labels
every event with the message or side effect it exists for. Workflow tasks are
labelled with what woke the workflow up (a signal, an update, an activity's
completion, a timer), which is where "one workflow task per message" shows.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

LOCAL_ACTIVITY_MARKER = "core_local_activity"
FETCH_CONCURRENCY = 8

_WORKFLOW_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}
_ACTIVITY_ENDS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "completed",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "failed",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "timed out",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "canceled",
}
_WORKFLOW_ENDS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
}


def event_type_name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def _local_activity_type(event: HistoryEvent) -> str:
    """The activity type a local-activity marker records (JSON in its `data` detail)."""
    details = event.marker_recorded_event_attributes.details
    if "data" in details and details["data"].payloads:
        try:
            data: Any = json.loads(details["data"].payloads[0].data)
        except ValueError:
            return "?"
        if isinstance(data, dict):
            return str(data.get("activity_type") or data.get("activityType") or "?")
    return "?"


Tally = defaultdict[str, float]
"""A count per label (floats: means, and a workflow task's events shared among triggers)."""


def _tally() -> Tally:
    return defaultdict(float)


@dataclass
class _WorkflowTask:
    events: int = 0
    triggers: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    """Where its events are in the listing, to be labelled once its triggers are known."""


@dataclass
class HistoryFigures:
    """Counts of one history (or, from `mean_of`, the mean of several)."""

    events: float = 0
    workflow_tasks: float = 0
    regular_activities: float = 0
    local_activities: float = 0
    size_bytes: float = 0
    """Serialised size of the history: payloads (the claim view every update returns,
    activity inputs) are most of it, and the server stores and sends all of it."""
    bytes_by_type: Tally = field(default_factory=_tally)
    event_types: Tally = field(default_factory=_tally)
    """Event type (without EVENT_TYPE_) -> count."""
    pays_for: Tally = field(default_factory=_tally)
    """What an event exists for -> count; the 3 events of a workflow task are shared
    evenly among what woke the workflow up for it."""
    by_cause: Tally = field(default_factory=_tally)
    """`pays_for` with each workflow task's share added to its cause: the message or side
    effect that woke the workflow (so "update submit" counts its own events and its task)."""
    task_triggers: Tally = field(default_factory=_tally)
    """What woke the workflow up -> number of workflow tasks."""
    listing: list[str] = field(default_factory=list)
    """One line per event: id, type and what it is for (for a mean: the first history's)."""

    @property
    def activities(self) -> float:
        return self.regular_activities + self.local_activities

    @classmethod
    def of(cls, events: Sequence[HistoryEvent]) -> HistoryFigures:
        figures = cls(events=len(events))
        scheduled: dict[int, str] = {}
        updates: dict[int, str] = {}
        # What happened since the last workflow task: the next one's triggers.
        pending: list[str] = []
        tasks: list[_WorkflowTask] = []
        for event in events:
            kind = event.event_type
            figures.event_types[event_type_name(event)] += 1
            figures.size_bytes += event.ByteSize()
            figures.bytes_by_type[event_type_name(event)] += event.ByteSize()
            label: str | None
            if kind in _WORKFLOW_TASK_EVENTS:
                if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                    tasks.append(_WorkflowTask(triggers=pending))
                    pending = []
                if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                    figures.workflow_tasks += 1
                if tasks:
                    tasks[-1].events += 1
                    tasks[-1].lines.append(len(figures.listing))
                figures.listing.append(f"{event.event_id:>4} {event_type_name(event)}")
                continue
            if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                label = "start"
                pending.append("start")
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                name = event.workflow_execution_signaled_event_attributes.signal_name
                label = f"signal {name}"
                pending.append(label)
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                accepted_request = event.workflow_execution_update_accepted_event_attributes
                name = accepted_request.accepted_request.input.name
                updates[event.event_id] = name
                label = f"update {name}"
                if tasks and label not in tasks[-1].triggers:
                    tasks[-1].triggers.append(label)
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
                accepted = event.workflow_execution_update_completed_event_attributes
                label = f"update {updates.get(accepted.accepted_event_id, '?')}"
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED:
                name = event.workflow_execution_update_admitted_event_attributes.request.input.name
                label = f"update {name}"
                pending.append(label)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                name = event.activity_task_scheduled_event_attributes.activity_type.name
                scheduled[event.event_id] = name
                figures.regular_activities += 1
                label = f"activity {name}"
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started = event.activity_task_started_event_attributes.scheduled_event_id
                label = f"activity {scheduled.get(started, '?')}"
            elif kind in _ACTIVITY_ENDS:
                ended = _activity_scheduled_id(event)
                label = f"activity {scheduled.get(ended, '?')}"
                pending.append(f"{scheduled.get(ended, '?')} {_ACTIVITY_ENDS[kind]}")
            elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
                marker = event.marker_recorded_event_attributes.marker_name
                if marker == LOCAL_ACTIVITY_MARKER:
                    figures.local_activities += 1
                    label = f"local activity {_local_activity_type(event)}"
                else:
                    label = f"marker {marker}"
            elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
                label = "timer"
                pending.append("timer fired")
            elif kind in (
                EventType.EVENT_TYPE_TIMER_STARTED,
                EventType.EVENT_TYPE_TIMER_CANCELED,
            ):
                label = "timer"
            elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                label = "search attributes"
            elif kind == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
                label = "memo"
            elif kind in _WORKFLOW_ENDS:
                label = "workflow end"
            else:
                label = event_type_name(event).lower()
            figures.pays_for[label] += 1
            figures.by_cause[label] += 1
            figures.listing.append(f"{event.event_id:>4} {event_type_name(event):<40} {label}")
        for task in tasks:
            triggers = sorted(task.triggers) or ["(nothing new)"]
            figures.task_triggers[" + ".join(triggers)] += 1
            for line in task.lines:
                figures.listing[line] = f"{figures.listing[line]:<45} <- {' + '.join(triggers)}"
            for trigger in triggers:
                share = task.events / len(triggers)
                figures.pays_for[f"workflow task <- {trigger}"] += share
                figures.by_cause[_cause_of(trigger)] += share
        return figures

    @classmethod
    def mean_of(cls, all_figures: Iterable[HistoryFigures]) -> HistoryFigures:
        items = list(all_figures)
        if not items:
            return cls()
        count = len(items)
        mean = cls(
            events=sum(f.events for f in items) / count,
            workflow_tasks=sum(f.workflow_tasks for f in items) / count,
            regular_activities=sum(f.regular_activities for f in items) / count,
            local_activities=sum(f.local_activities for f in items) / count,
            size_bytes=sum(f.size_bytes for f in items) / count,
            listing=items[0].listing,
        )
        for attribute in ("event_types", "bytes_by_type", "pays_for", "by_cause", "task_triggers"):
            total: Tally = getattr(mean, attribute)
            for item in items:
                for label, value in getattr(item, attribute).items():
                    total[label] += value / count
        return mean

    def to_json(self) -> dict[str, Any]:
        def rounded(tally: Tally) -> dict[str, float]:
            return {k: round(v, 2) for k, v in sorted(tally.items(), key=lambda kv: -kv[1])}

        return {
            "events": round(self.events, 2),
            "workflow_tasks": round(self.workflow_tasks, 2),
            "activities": round(self.activities, 2),
            "regular_activities": round(self.regular_activities, 2),
            "local_activities": round(self.local_activities, 2),
            "size_bytes": round(self.size_bytes),
            "event_types": rounded(self.event_types),
            "bytes_by_type": {k: round(v) for k, v in rounded(self.bytes_by_type).items()},
            "workflow_task_triggers": rounded(self.task_triggers),
            "pays_for": rounded(self.pays_for),
            "by_cause": rounded(self.by_cause),
            "example": self.listing,
        }


def _cause_of(trigger: str) -> str:
    """The `pays_for` label of what a workflow-task trigger stands for."""
    for ending in _ACTIVITY_ENDS.values():
        if trigger.endswith(f" {ending}"):
            return f"activity {trigger.removesuffix(f' {ending}')}"
    if trigger == "timer fired":
        return "timer"
    if trigger == "(nothing new)":
        return "workflow task with nothing new"
    return trigger


def _activity_scheduled_id(event: HistoryEvent) -> int:
    for attributes in (
        event.activity_task_completed_event_attributes,
        event.activity_task_failed_event_attributes,
        event.activity_task_timed_out_event_attributes,
        event.activity_task_canceled_event_attributes,
    ):
        if attributes.scheduled_event_id:
            return int(attributes.scheduled_event_id)
    return 0


async def fetch_figures(client: Client, workflow_ids: Sequence[str]) -> list[HistoryFigures]:
    """The figures of each workflow's history (its latest run), a few fetches at a time."""
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(workflow_id: str) -> HistoryFigures:
        async with gate:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        return HistoryFigures.of(history.events)

    return list(await asyncio.gather(*(one(wid) for wid in workflow_ids)))
