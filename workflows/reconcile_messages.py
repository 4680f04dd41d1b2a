"""The reconciliation's input and answer (shared by its workflow and its activity)."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic import Field

DEFAULT_LOOKBACK_DAYS = 7


class ReconcileRequest(BaseModel):
    lookback_days: int = Field(default=DEFAULT_LOOKBACK_DAYS, ge=1, le=90)
    """How far back to look for claims ended from outside (each run is idempotent, so
    overlapping windows cost nothing but a visibility query)."""


class Reconciled(BaseModel):
    found: int
    """Claims ended from outside within the window."""
    marked: int
    """Of those, the ones this run recorded (the others were recorded before)."""
