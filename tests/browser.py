"""The browser of the browser tests: Debian's Chromium driven by Playwright's package.

Playwright's own browser downloads are never used (`executable_path` is Debian's
binary). Without Chromium or Playwright a browser test skips saying why;
CLAIMS_REQUIRE_BROWSER=1 (CI) turns that skip into a failure.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_WITHIN_MS = 45_000


def browser_missing() -> str | None:
    """Why no browser test can run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed: .venv/bin/pip install playwright"
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} not found: apt-get install -y chromium"
    return None


def require_browser() -> None:
    """Skip the test when there is no browser, or fail it when CI requires one."""
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("CLAIMS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (CLAIMS_REQUIRE_BROWSER=1 makes this a failure)")
    pytest.skip(reason)
