"""The one-command local stack, started for real as a newcomer would: `python -m devstack --demo`.

One stack per module on free ports and a fresh data folder (started by
tests/stack_process.py); its tests look at it from outside (HTTP, the operator
command line) and the last one stops it with Ctrl-C (SIGINT). The fixture kills
whatever is left even when a test fails, so a broken stack never outlives the
test run.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from devstack.mailcatcher import free_port
from devstack.mailview import MailView
from devstack.mailview import render_index
from tests.stack_process import READY_WITHIN
from tests.stack_process import STOP_WITHIN
from tests.stack_process import RunningStack
from tests.stack_process import alive
from tests.stack_process import kill_leftovers
from tests.stack_process import processes_mentioning
from tests.stack_process import ready_demo_stack
from tests.stack_process import start_stack

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SUBMITTED_DEMO_CLAIM = "DEMO-1004"
WAITING_ON_CUSTOMER_SURVEY = "DEMO-1003"


def port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_get(url: str, within: float = 10.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=within) as response:
        return int(response.status), response.read().decode("utf-8", "replace")


def test_mail_page_escapes_mail_text_and_links_only_http_urls(tmp_path: Path) -> None:
    mail = EmailMessage()
    mail["Subject"] = "<script>alert(1)</script> survey"
    mail["To"] = "Carla <carla@customer.example>"
    mail["Date"] = "Fri, 27 Nov 2026 09:00:00 +0000"
    mail["X-Claim-Engagement"] = "DEMO-1"
    mail.set_content(
        "Open https://claims.example/surveys/abc?x=1&y=2.\n"
        'Not this: javascript:alert(1) nor <b onmouseover="x">bold</b>\n'
    )
    (tmp_path / "20261127T090000-00001.eml").write_bytes(bytes(mail))

    page = render_index(tmp_path)

    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; survey" in page
    assert '<a href="https://claims.example/surveys/abc?x=1&amp;y=2">' in page
    assert 'href="javascript' not in page
    assert "&lt;b onmouseover=&quot;x&quot;&gt;" in page
    assert "Carla &lt;carla@customer.example&gt;" in page


def test_mail_page_serves_only_files_of_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "20261127T090000-00001.eml").write_bytes(b"Subject: hi\r\n\r\nbody\r\n")
    (tmp_path / "secret_key").write_text("not for the page")
    view = MailView(folder, free_port()).start()
    try:
        status, raw = http_get(f"{view.url}raw/20261127T090000-00001.eml")
        assert status == 200
        assert "body" in raw
        for path in ("raw/../secret_key", "raw/%2e%2e%2fsecret_key", "raw/secret_key"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                http_get(view.url + path)
            assert refused.value.code == 404
    finally:
        view.stop()
    assert not port_answers(view.port)


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The demo stack, ready; killed whole at the end whatever the tests did to it."""
    with ready_demo_stack(tmp_path_factory.mktemp("devstack") / "data") as stack:
        yield stack


@pytest.fixture
def stack(running_stack: RunningStack) -> RunningStack:
    if running_stack.process.poll() is not None:
        pytest.fail(f"the stack is not running (exit code {running_stack.process.poll()})")
    return running_stack


@pytest.mark.timeout(READY_WITHIN + 30)
def test_stack_prints_a_progress_line_per_part_and_its_temporal_ui_answers(
    stack: RunningStack,
) -> None:
    for part in ("Temporal dev server", "mail catcher", "mail page", "claims worker", "portal API"):
        stack.wait_for_line(rf"^\[\d/5\] {part} \.\.\.$", 1)
    ui = stack.ports["--ui-port"]
    assert f"Temporal UI: http://127.0.0.1:{ui}" in stack.output
    assert "search attributes registered" in stack.output
    status, page = http_get(f"http://127.0.0.1:{ui}/")
    assert status == 200
    assert "<html" in page.lower()


@pytest.mark.timeout(READY_WITHIN + 30)
def test_demo_prints_one_line_per_seeded_claim_in_distinct_states(stack: RunningStack) -> None:
    seeded = dict(re.findall(r"^\s+(DEMO-\d{4})\s+(\w+)", stack.output, flags=re.M))
    assert seeded == {
        "DEMO-1001": "in_progress",
        "DEMO-1002": "in_progress",
        "DEMO-1003": "in_progress",
        "DEMO-1004": "submitted",
        "DEMO-1005": "info_requested",
        "DEMO-1006": "approved",
        "DEMO-1007": "auto_rejected",
        "DEMO-1008": "submitted",
    }


@pytest.mark.timeout(READY_WITHIN + 30)
def test_demo_seeds_engagements_and_prints_keys_a_newcomer_can_claim_with(
    stack: RunningStack,
) -> None:
    stack.wait_for_line(r"^\s+partner key \(Contoso", 60)
    partner = re.search(r"partner key \(Contoso, P-100\): (wck_\S+)", stack.output)
    program = re.search(r"program key \(program_admin\): (wck_\S+)", stack.output)
    assert partner is not None
    assert program is not None
    api = f"http://127.0.0.1:{stack.ports['--api-port']}/api/v1"

    def call(method: str, path: str, key: str, body: object = None) -> tuple[int, dict[str, Any]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{api}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            return int(response.status), json.loads(response.read())

    _, eligible = call("GET", "/engagements?eligible=true", partner.group(1))
    assert [item["engagement_id"] for item in eligible["items"]] == ["DEMO-2001", "DEMO-2002"]
    _, pending = call("GET", "/engagements/DEMO-2004", program.group(1))
    assert pending["consent_status"] == "pending"
    _, claimed = call("GET", "/engagements/DEMO-1004", program.group(1))
    assert claimed["claim_status"] == "submitted"
    body = {
        "engagement_id": "DEMO-2001",
        "partner_contacts": [{"name": "Anna Admin", "email": "anna@contoso.example"}],
    }
    status, view = call("POST", "/claims", partner.group(1), body)
    assert (status, view["workshop"], view["workshop_type"]) == (
        201,
        "Cloud adoption workshop",
        "cloud-adoption",
    )


@pytest.mark.timeout(READY_WITHIN + 30)
def test_the_worker_serves_its_metrics_where_the_stack_says(stack: RunningStack) -> None:
    url = f"http://127.0.0.1:{stack.ports['--worker-metrics-port']}/metrics"
    assert f"worker metrics: {url}" in stack.output
    status, text = http_get(url)
    assert status == 200
    # The demo's claims each entered in_progress; the SDK's own metrics are there too.
    entered = re.findall(
        r'^claims_status_transitions_total\{[^}]*to="in_progress"[^}]*\} (\S+)$', text, re.M
    )
    assert sum(float(value) for value in entered) >= 7
    assert re.search(r"^temporal_\w+", text, re.M)


@pytest.mark.timeout(READY_WITHIN + 30)
def test_the_portal_serves_its_metrics_where_the_stack_says(stack: RunningStack) -> None:
    url = f"http://127.0.0.1:{stack.ports['--portal-metrics-port']}/metrics"
    assert f"portal metrics: {url}" in stack.output
    http_get(f"http://127.0.0.1:{stack.ports['--api-port']}/openapi.json")
    counted = re.compile(r'^portal_requests_total\{[^\n]*route="/openapi.json"', re.M)
    # The request is counted once its answer is sent, a moment after the client has it.
    deadline = time.monotonic() + 30
    while True:
        status, text = http_get(url)
        assert status == 200
        if counted.search(text):
            break
        assert time.monotonic() < deadline, f"the request was never counted:\n{text}"
        time.sleep(0.2)


@pytest.mark.timeout(READY_WITHIN + 60)
def test_mail_page_lists_the_demo_mails_with_clickable_survey_links(stack: RunningStack) -> None:
    mail_page = f"http://127.0.0.1:{stack.ports['--mail-ui-port']}/"
    assert f"caught mails: {mail_page}" in stack.output
    api = f"http://127.0.0.1:{stack.ports['--api-port']}"
    link = re.compile(rf'<a href="({re.escape(api)}/surveys/[^"]+)"')
    deadline = time.monotonic() + 30  # mails go out from activities, after "Ready"
    while True:
        status, page = http_get(mail_page)
        assert status == 200
        if "please complete the customer survey (DEMO-1003)" in page and link.search(page):
            break
        assert time.monotonic() < deadline, f"the demo's mails are not on the page:\n{page}"
        time.sleep(0.5)
    assert "<script" not in page.lower()
    if stack.api_running:  # a newcomer's click opens the real survey page
        section = page[page.index("please complete the customer survey (DEMO-1003)</h2>") :]
        found = link.search(section)
        assert found is not None, section
        status, survey = http_get(html.unescape(found.group(1)))
        assert status == 200
        assert "survey" in survey.lower()


@pytest.mark.timeout(READY_WITHIN + 60)
def test_operator_command_line_lists_the_seeded_submitted_claim(stack: RunningStack) -> None:
    deadline = time.monotonic() + 20
    while True:
        listed = subprocess.run(
            [sys.executable, "-m", "starter", "list", "--status", "submitted"],
            cwd=ROOT,
            env=stack.env_for_commands(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert listed.returncode == 0, listed.stderr
        if SUBMITTED_DEMO_CLAIM in listed.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert [SUBMITTED_DEMO_CLAIM, "submitted"] in [row[:2] for row in rows], listed.stdout
    assert WAITING_ON_CUSTOMER_SURVEY not in listed.stdout

    # DEMO-1008 has waited for review 20 days: the operators' "waiting too long" search.
    too_long = ["--status", "submitted", "--in-status-longer-than", "14d"]
    waiting = subprocess.run(
        [sys.executable, "-m", "starter", "list", *too_long],
        cwd=ROOT,
        env=stack.env_for_commands(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    rows = [line.split() for line in waiting.stdout.splitlines()[1:-1]]
    assert [(row[0], row[-1]) for row in rows] == [("DEMO-1008", "(20d)")], waiting.stdout


@pytest.mark.timeout(60)
def test_a_second_stack_on_the_same_data_folder_or_ports_refuses_to_start(
    stack: RunningStack, tmp_path: Path
) -> None:
    same_folder = start_stack(stack.data)
    try:
        assert same_folder.process.wait(30) == 1
        same_folder.collect_rest()
        assert f"another stack is running on {stack.data}" in same_folder.output
    finally:  # not kill_leftovers: everything mentioning this folder is the running stack
        if same_folder.process.poll() is None:
            os.killpg(same_folder.process.pid, signal.SIGKILL)
            same_folder.process.wait(10)

    taken = stack.ports["--smtp-port"]
    same_port = start_stack(tmp_path / "data", smtp_port=taken)
    try:
        assert same_port.process.wait(30) == 1
        same_port.collect_rest()
        assert f"port {taken} is already in use" in same_port.output
        assert "[1/5]" not in same_port.output  # refused before anything started
    finally:
        kill_leftovers(same_port)
    assert stack.process.poll() is None  # the running stack is untouched


@pytest.mark.timeout(READY_WITHIN + STOP_WITHIN + 30)
def test_ctrl_c_stops_every_part_in_reverse_order_and_frees_every_port(
    stack: RunningStack,
) -> None:
    """Runs last in this module: it stops the module's stack."""
    pids = stack.child_pids
    assert len(pids) == 4, stack.output  # dev server, mail catcher, worker, API
    assert all(alive(pid) for pid in pids)

    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(STOP_WITHIN) == 0, stack.output
    stack.collect_rest()

    stopped = re.findall(r"^stopped (.+)$", stack.output, flags=re.M)
    assert stopped == ["api", "worker", "mail page", "mailcatcher", "temporal"]
    assert [port for port in stack.ports.values() if port_answers(port)] == []
    assert [pid for pid in pids if alive(pid)] == []
    assert processes_mentioning(str(stack.data)) == []
