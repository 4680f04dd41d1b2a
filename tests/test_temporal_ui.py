"""A real browser finds a seeded claim in the Temporal UI by its `ClaimStatus`.

What a newcomer does after `./scripts/run --demo`: open the printed UI address
and filter the workflows by a search attribute. Debian's Chromium, headless,
driven by Playwright's Python package with `executable_path` (Playwright's own
browser downloads are never used). A screenshot of the filtered list is kept
in test-reports/ as an artifact. Without Chromium or Playwright the test
skips saying why; CLAIMS_REQUIRE_BROWSER=1 (CI) turns that skip into a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.browser import CHROMIUM
from tests.browser import CHROMIUM_ARGS
from tests.browser import PAGE_WITHIN_MS
from tests.browser import require_browser
from tests.stack_process import READY_WITHIN
from tests.stack_process import RunningStack
from tests.stack_process import ready_demo_stack

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "test-reports" / "temporal-ui-claims.png"
SUBMITTED_WORKFLOW = "workshop-claim-DEMO-1004"
IN_PROGRESS_WORKFLOW = "workshop-claim-DEMO-1003"


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The demo stack of `python -m devstack --demo`, for the browser to look at."""
    require_browser()
    with ready_demo_stack(tmp_path_factory.mktemp("devstack-ui") / "data") as stack:
        yield stack


@pytest.mark.timeout(READY_WITHIN + 90)
async def test_browser_filters_the_temporal_ui_by_claim_status_and_sees_the_seeded_claim(
    demo_stack: RunningStack,
) -> None:
    from playwright.async_api import async_playwright  # installed: require_browser checked

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
