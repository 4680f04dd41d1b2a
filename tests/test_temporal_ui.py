"""A real browser finds a seeded claim in the Temporal UI by its `ClaimStatus`.

What a newcomer does after `./scripts/run --demo`: open the printed UI address
and filter the workflows by a search attribute. Debian's Chromium, headless,
driven by Playwright's Python package with `executable_path` (Playwright's own
browser downloads are never used). A screenshot of the filtered list is kept
in test-reports/ as an artifact. Without Chromium or Playwright the test
skips saying why; CLAIMS_REQUIRE_BROWSER=1 (CI) turns that skip into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.test_devstack import READY_WITHIN, RunningStack, kill_leftovers, start_stack

try:
    from playwright.async_api import async_playwright

    PLAYWRIGHT_MISSING: str | None = None
except ImportError as err:  # pragma: no cover - depends on the machine
    PLAYWRIGHT_MISSING = f"the playwright package is not installed ({err})"

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "test-reports" / "temporal-ui-claims.png"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SUBMITTED_WORKFLOW = "workshop-claim-DEMO-1004"
IN_PROGRESS_WORKFLOW = "workshop-claim-DEMO-1003"
PAGE_WITHIN_MS = 45_000


def browser_missing() -> str | None:
    """Why no browser test can run here, or None."""
    if PLAYWRIGHT_MISSING is not None:
        return f"{PLAYWRIGHT_MISSING}: .venv/bin/pip install playwright"
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} not found: apt-get install -y chromium"
    return None


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The demo stack of `python -m devstack --demo`, for the browser to look at."""
    reason = browser_missing()
    if reason is not None:
        if os.environ.get("CLAIMS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} (CLAIMS_REQUIRE_BROWSER=1 makes this a failure)")
        pytest.skip(reason)
    stack = start_stack(tmp_path_factory.mktemp("devstack-ui") / "data", "--demo")
    try:
        stack.wait_for_line(r"^Ready\.", READY_WITHIN)
        yield stack
    finally:
        kill_leftovers(stack)


@pytest.mark.timeout(READY_WITHIN + 90)
async def test_browser_filters_the_temporal_ui_by_claim_status_and_sees_the_seeded_claim(
    demo_stack: RunningStack,
) -> None:
    query = urlencode({"query": "ClaimStatus = 'submitted'"})
    url = f"http://127.0.0.1:{demo_stack.ports['--ui-port']}/namespaces/default/workflows?{query}"
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            await page.goto(url, wait_until="domcontentloaded", timeout=PAGE_WITHIN_MS)
            try:
                await page.get_by_text(SUBMITTED_WORKFLOW).first.wait_for(
                    state="visible", timeout=PAGE_WITHIN_MS
                )
            finally:  # the artifact shows what the page looked like, found or not
                await page.screenshot(path=str(SCREENSHOT), full_page=True)
            # The filter is applied: a claim in another status is not listed.
            assert await page.get_by_text(IN_PROGRESS_WORKFLOW).count() == 0
        finally:
            await browser.close()
    assert SCREENSHOT.stat().st_size > 0
