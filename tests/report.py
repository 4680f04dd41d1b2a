"""Figures that the fault tests prove, written to test-reports/reliability.json and printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPORTS = Path(__file__).resolve().parent.parent / "test-reports"


def report(name: str, **figures: Any) -> None:
    """Record one test's figures (merged into the report file) and print them."""
    REPORTS.mkdir(exist_ok=True)
    path = REPORTS / "reliability.json"
    existing: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    existing[name] = figures
    path.write_text(json.dumps(existing, indent=2, sort_keys=True, default=str))
    print(f"\n[reliability] {name}: {json.dumps(figures, default=str)} (in {path})")
