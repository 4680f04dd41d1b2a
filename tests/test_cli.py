"""The command line, run as a real subprocess against the time-skipping server.

The test process keeps running the claims worker (the `claims` fixture) while
`python -m starter ...` runs in a subprocess with the worker's environment
variables, so every call is awaited without blocking the event loop. The
survey-link key is shared: the `secret_key` fixture is overridden with a
printable key that the worker's links and the subprocess both use.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import typing
from collections.abc import Mapping
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.links import SurveyLinkRef
from activities.links import SurveyLinks
from claims_testing.data import PUBLIC_URL
from devstack.mailcatcher import free_port
from starter.__main__ import MESSAGE_COMMANDS
from starter.__main__ import main
from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN
from tests.builders import attach
from tests.builders import claim_input
from tests.helpers import run_cli
from tests.helpers import start_claim_now
from workflows.bounds import compact
from workflows.messages import SendSurvey

pytestmark = pytest.mark.claims_server("shared")

REPO_ROOT = Path(__file__).resolve().parent.parent
ACTOR = PARTNER_ADMIN.model_dump(mode="json")


@pytest.fixture
def claims_secret_key() -> bytes:
    """Overrides conftest's random bytes: the subprocess gets the key as text."""
    return secrets.token_urlsafe(48).encode()


def _clean_environment() -> dict[str, str]:
    """This process's environment without any Temporal or claims setting of the caller's."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TEMPORAL_", "CLAIMS_"))
    }


@pytest.fixture
def cli_env(env: WorkflowEnvironment, task_queue: str, secret_key: bytes) -> dict[str, str]:
    """The worker's settings, pointing at the test server and the test's task queue."""
    return _clean_environment() | {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "CLAIMS_TASK_QUEUE": task_queue,
        "CLAIMS_SECRET_KEY": secret_key.decode(),
        "CLAIMS_PUBLIC_URL": PUBLIC_URL,
    }


def _without_secret_key(env: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if name != "CLAIMS_SECRET_KEY"}


def _unreachable_env() -> dict[str, str]:
    """Settings that name a Temporal address nobody listens on."""
    return _clean_environment() | {
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "CLAIMS_SECRET_KEY": secrets.token_urlsafe(48),
    }


# --- against the time-skipping server, with the worker running ---------------------------------


async def test_start_reads_stdin_and_a_second_start_returns_the_running_claim(
    env: WorkflowEnvironment, claims: ClaimsClient, cli_env: dict[str, str]
) -> None:
    claim = claim_input(await env.get_current_time())

    first = await run_cli("start", env=cli_env, stdin=claim.model_dump_json())

    view = first.view()
    assert view.engagement_id == claim.engagement_id
    assert view.status == "in_progress"
    assert first.stderr.splitlines() == [f"started the claim for engagement {claim.engagement_id}"]
    assert (await claims.get_claim(claim.engagement_id)).status == "in_progress"

    second = await run_cli("start", "--file", "-", env=cli_env, stdin=claim.model_dump_json())

    assert second.view() == view
    [line] = second.stderr.splitlines()
    assert "already existed" in line
    assert claim.engagement_id in line


@pytest.mark.slow  # many command-line subprocesses (~9 s)
async def test_show_and_updates_take_json_from_an_option_or_a_file(
    env: WorkflowEnvironment, claims: ClaimsClient, cli_env: dict[str, str], tmp_path: Path
) -> None:
    eid = await start_claim_now(env, claims)

    # Commands that make no survey link need no secret key.
    shown = await run_cli("show", eid, "--json", env=_without_secret_key(cli_env))
    assert shown.view() == await claims.get_claim(eid)
    assert shown.stderr == ""

    payload = attach("results_and_recommendations").model_dump_json()
    attached = await run_cli("attach-document", eid, "--json", payload, env=cli_env)
    assert attached.view().proof.results_and_recommendations.status == "attached"
    assert re.fullmatch(r"update id: cli-[0-9a-f-]{36}\n", attached.stderr)  # made, printed

    comment_file = tmp_path / "comment.json"
    comment_file.write_text(json.dumps({"text": "Delivered on site.", "actor": ACTOR}))
    commented = await run_cli("add-comment", eid, "--file", str(comment_file), env=cli_env)
    assert commented.view().comments == []  # an update answers without its growing lists
    assert [c.text for c in (await claims.get_claim(eid)).comments] == ["Delivered on site."]

    refused = await run_cli("submit", eid, "--json", json.dumps({"actor": ACTOR}), env=cli_env)
    assert refused.code == 1
    assert refused.error_line().startswith("error: Incomplete: ")

    unknown_field = {"text": "Hello", "actor": ACTOR, "mood": "cheerful"}
    invalid = await run_cli("add-comment", eid, "--json", json.dumps(unknown_field), env=cli_env)
    assert invalid.code == 1
    line = invalid.error_line()
    assert line.startswith("error: InvalidInput: ")
    assert "mood" in line

    after = await claims.get_claim(eid)
    assert compact(after) == commented.view()  # the refusals changed nothing


async def test_an_update_sent_again_with_its_update_id_acts_once(
    env: WorkflowEnvironment, claims: ClaimsClient, cli_env: dict[str, str]
) -> None:
    eid = await start_claim_now(env, claims)
    comment = json.dumps({"text": "Delivered on site.", "actor": ACTOR})
    retry = ("add-comment", eid, "--json", comment, "--update-id", "op-42-comment")

    first = await run_cli(*retry, env=cli_env)
    again = await run_cli(*retry, env=cli_env)

    assert (first.code, again.code) == (0, 0)
    assert first.stderr == again.stderr == "update id: op-42-comment\n"
    assert [c.text for c in (await claims.get_claim(eid)).comments] == ["Delivered on site."]


async def test_cancel_from_the_command_line_and_show_says_the_status_in_words(
    env: WorkflowEnvironment, claims: ClaimsClient, cli_env: dict[str, str]
) -> None:
    eid = await start_claim_now(env, claims)
    reason = json.dumps({"reason": "Wrong engagement.", "actor": ACTOR})

    cancelled = await run_cli("cancel", eid, "--json", reason, env=cli_env)
    shown = await run_cli("show", eid, env=cli_env)

    assert cancelled.view().status == "cancelled"
    assert "Status: cancelled (Wrong engagement.)" in shown.stdout


async def test_show_of_an_unknown_engagement_says_there_is_no_claim(
    cli_env: dict[str, str],
) -> None:
    result = await run_cli("show", "eng-never-started", env=cli_env)

    assert result.code == 1
    assert result.error_line() == "error: no claim for engagement eng-never-started"


@pytest.mark.slow  # many command-line subprocesses (~8 s)
async def test_survey_link_and_complete_survey_complete_the_partner_survey(
    env: WorkflowEnvironment, claims: ClaimsClient, cli_env: dict[str, str], links: SurveyLinks
) -> None:
    eid = await start_claim_now(env, claims)
    send = {"kind": "partner", "channel": "direct", "actor": ACTOR}
    sent = await run_cli("send-survey", eid, "--json", json.dumps(send), env=cli_env)
    assert sent.view().proof.partner_survey.status == "sent"

    link = await run_cli("survey-link", eid, "partner", env=cli_env)

    assert link.code == 0, link.stderr
    url = link.stdout.strip()
    assert url.startswith(PUBLIC_URL + "/surveys/")
    assert url == links.url(SurveyLinkRef(eid, "partner", 1))  # the worker's key and link
    token = links.token_from_url(url)

    tampered = await run_cli(
        "complete-survey", token[:-2] + "xx", "--email", "a@b.example", "--json", "{}", env=cli_env
    )
    assert tampered.code == 1
    assert tampered.error_line().startswith("error: survey link token is")

    answers = json.dumps({"q1": 5, "q2": "useful"})
    completed = await run_cli(
        "complete-survey", token, "--email", "anna@partner.example", env=cli_env, stdin=answers
    )

    assert completed.view().proof.partner_survey.status == "completed"
    assert (await claims.get_claim(eid)).proof.partner_survey.status == "completed"

    again = await run_cli(
        "complete-survey", url, "--email", "anna@partner.example", "--json", answers, env=cli_env
    )
    assert again.code == 1
    assert again.error_line() == "error: the partner survey is already completed"


async def test_a_refused_submit_signal_exits_0_and_shows_in_the_history(
    env: WorkflowEnvironment, claims: ClaimsClient, cli_env: dict[str, str]
) -> None:
    eid = await start_claim_now(env, claims)
    await claims.send_survey(eid, SendSurvey(kind="partner", channel="direct", actor=PARTNER_ADMIN))

    signalled = await run_cli(
        "submit-signal", eid, "--json", json.dumps({"actor": ACTOR}), env=cli_env
    )

    assert (signalled.code, signalled.stdout, signalled.stderr) == (0, "", "")
    view = (await run_cli("show", eid, "--json", env=cli_env)).view()
    assert view.status == "in_progress"
    refusal = view.history[-1]
    assert refusal.event == "submit_refused"
    assert refusal.detail["type"] == "Incomplete"


# --- failures that happen before any claim is touched --------------------------------------


async def test_malformed_json_exits_2_before_connecting() -> None:
    result = await run_cli("add-comment", "eng-1", "--json", '{"text": ', env=_unreachable_env())

    assert result.code == 2
    assert result.error_line().startswith("error: invalid JSON: ")


async def test_survey_link_without_a_secret_key_is_a_configuration_error(
    cli_env: dict[str, str],
) -> None:
    result = await run_cli("survey-link", "eng-1", "partner", env=_without_secret_key(cli_env))

    assert result.code == 2
    line = result.error_line()
    assert line.startswith("error: configuration: ")
    assert "CLAIMS_SECRET_KEY" in line


async def test_an_unreachable_temporal_exits_1_naming_the_address() -> None:
    env = _unreachable_env()

    result = await run_cli("show", "eng-1", env=env)

    assert result.code == 1
    line = result.error_line()
    assert line.startswith("error: cannot connect to Temporal at ")
    assert env["TEMPORAL_ADDRESS"] in line


# --- argument parsing, in process ----------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["frobnicate"], id="unknown-command"),
        pytest.param([], id="no-command"),
        pytest.param(["submit"], id="missing-engagement"),
        pytest.param(["submit", "e", "--json", "{}", "--file", "x"], id="two-inputs"),
        pytest.param(["survey-link", "e", "supplier"], id="unknown-survey-kind"),
        pytest.param(["complete-survey", "token"], id="missing-email"),
        pytest.param(["--timeout", "0", "show", "e"], id="zero-timeout"),
    ],
)
def test_bad_usage_exits_2_with_argparse_message(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error:" in captured.err.splitlines()[-1]


def test_every_message_command_sends_the_model_its_client_method_takes() -> None:
    for name, command in MESSAGE_COMMANDS.items():
        assert typing.get_type_hints(command.call)["msg"] is command.model, name
    messages = {
        name
        for name, attr in vars(ClaimsClient).items()
        if callable(attr) and not name.startswith("_") and "msg" in typing.get_type_hints(attr)
    }
    assert {command.call.__name__ for command in MESSAGE_COMMANDS.values()} == messages
