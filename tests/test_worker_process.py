"""`python worker.py` as operators run it: configured from the environment, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.links import SurveyLinks
from claims_testing.processes import ROOT as PROJECT_ROOT
from claims_testing.processes import polling
from claims_testing.servers import start_dev_server
from devstack.mailcatcher import MailCatcher
from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN
from tests.builders import claim_input
from tests.helpers import worker_process_environ
from workflows.messages import SendSurvey


def worker_env(
    env: WorkflowEnvironment, mailbox: MailCatcher, tmp_path: Path, task_queue: str, key: str
) -> dict[str, str]:
    return worker_process_environ(
        env,
        mailbox,
        task_queue=task_queue,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}",
        secret_key=key,
        mail_from="Claims <claims@claims.test>",
    )


async def run_worker(environ: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "worker.py",
        cwd=PROJECT_ROOT,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_worker_process_runs_claims_and_stops_cleanly_on_sigterm(
    env: WorkflowEnvironment,
    mailbox: MailCatcher,
    tmp_path: Path,
    task_queue: str,
    secret: str,
) -> None:
    process = await run_worker(worker_env(env, mailbox, tmp_path, task_queue, secret))
    try:
        claims = ClaimsClient(
            env.client,
            task_queue=task_queue,
            links=SurveyLinks(secret.encode(), "http://claims.test"),
        )
        started = await claims.start_claim(claim_input(await env.get_current_time()))
        eid = started.view.engagement_id
        await claims.send_survey(eid, SendSurvey(kind="partner", actor=PARTNER_ADMIN))
        mails = await mailbox.wait_for(count=2, kind="survey_invitation", engagement_id=eid)
        # The worker signed the link with the configured key: our copy of the key verifies it.
        link = await claims.survey_link(eid, "partner")
        assert link in mails[0].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert (tmp_path / "worker.db").exists()  # schema made at start-up
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert "worker stopped" in stderr.decode()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"CLAIMS_SECRET_KEY": ""}, "CLAIMS_SECRET_KEY"),
        ({"CLAIMS_SMTP_PORT": "smtp"}, "CLAIMS_SMTP_PORT"),
        ({"CLAIMS_DATABASE_URL": "mysql://db"}, "CLAIMS_DATABASE_URL"),
    ],
    ids=["missing secret key", "malformed port", "unsupported database"],
)
async def test_worker_refuses_to_start_with_a_bad_setting_naming_it(
    env: WorkflowEnvironment,
    mailbox: MailCatcher,
    tmp_path: Path,
    task_queue: str,
    secret: str,
    change: dict[str, str],
    named: str,
) -> None:
    environ = worker_env(env, mailbox, tmp_path, task_queue, secret) | change
    process = await run_worker(environ)
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert named in lines[0]


async def test_readiness_says_not_yet_while_the_server_cannot_be_reached() -> None:
    """A readiness check (pollers on the task queue) that meets a server it can't
    reach this moment answers "not yet" and lets its bounded wait go on, instead of
    failing the stack that asked (devstack's start once did so on a busy machine)."""
    async with await start_dev_server() as env:
        client = env.client
        assert await polling(client, f"q-{uuid.uuid4()}", os.getpid()) is False
    # The server is gone now.
    assert await polling(client, f"q-{uuid.uuid4()}", os.getpid()) is False
