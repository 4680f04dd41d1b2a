"""The test kit (claims_testing, a pytest plugin): the factory reaches every named state
through real messages, the clock moves virtual time, and the fixtures clean up after
themselves even when a test fails."""

from __future__ import annotations

import json
import os
import socket
import textwrap
from pathlib import Path
from typing import get_args

import pytest

from claims_testing import ClaimFactory
from claims_testing import Mailbox
from claims_testing import VirtualClock
from claims_testing.factory import ClaimState
from starter.client import ClaimsClient

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["pytester"]


@pytest.mark.parametrize("state", get_args(ClaimState))
async def test_factory_brings_a_new_claim_to_each_named_state(
    claim_factory: ClaimFactory, claims: ClaimsClient, state: ClaimState
) -> None:
    view = await claim_factory(state)
    assert view.status == state
    assert (await claims.get_claim(view.engagement_id)).status == state
    events = [h.event for h in view.history]
    assert events[0] == "claim_started"  # started by the real start message
    if state not in ("in_progress", "auto_rejected", "cancelled", "terminated"):
        assert view.missing == []
        assert "submitted" in events


async def test_factory_in_progress_has_exactly_the_items_asked_for(
    claim_factory: ClaimFactory,
) -> None:
    view = await claim_factory("in_progress", items=["invoice", "customer_survey"])
    assert view.missing == ["results_and_recommendations", "partner_survey"]
    assert view.proof.customer_survey.status == "completed"


async def test_clock_advances_virtual_time_and_fires_the_deadline(
    claim_factory: ClaimFactory, claims_clock: VirtualClock, mailbox: Mailbox, claims: ClaimsClient
) -> None:
    start = await claims_clock.now()
    view = await claim_factory("in_progress")
    now = await claims_clock.advance(days=91)
    assert (now - start).days >= 91
    assert (await claims.get_claim(view.engagement_id)).status == "auto_rejected"
    mails = await mailbox.wait_for(count=2, kind="auto_rejected", engagement_id=view.engagement_id)
    assert "90 days" in mailbox.text(mails[0])


INNER_TEST = """
import json, os
from pathlib import Path

async def test_fails_after_using_every_fixture(claims_env, claim_factory, mailbox):
    view = await claim_factory("in_progress")
    Path(os.environ["KIT_PROBE"]).write_text(json.dumps({
        "smtp_port": mailbox.port,
        "temporal": claims_env.temporal.client.service_client.config.target_host,
    }))
    assert view.status == "paid", "this test fails on purpose"
"""


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@pytest.mark.slow  # a pytest run in a subprocess (~8 s)
def test_fixtures_clean_up_servers_and_ports_even_when_a_test_fails(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(test_inner=textwrap.dedent(INNER_TEST))
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    probe = tmp_path / "probe.json"
    os.environ["KIT_PROBE"] = str(probe)
    try:
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    finally:
        del os.environ["KIT_PROBE"]
    result.assert_outcomes(failed=1)
    seen = json.loads(probe.read_text())
    host, port = seen["temporal"].rsplit(":", 1)
    assert not _listening("127.0.0.1", seen["smtp_port"]), "the SMTP server was left running"
    assert not _listening(host, int(port)), "the Temporal test server was left running"
    leftovers = [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit() and "temporal-test-server" in _cmdline(pid) and port in _cmdline(pid)
    ]
    assert leftovers == []


def _cmdline(pid: str) -> str:
    try:
        return (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
