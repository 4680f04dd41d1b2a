"""Regenerate the replay corpus: `.venv/bin/python scripts/record_histories.py`.

Runs every scenario of tests/scenarios.py against a fresh time-skipping server
with the current workflow code, a real mail catcher and a temporary SQLite
read model, and writes each workflow's history to tests/histories/<name>.json
(with `--release R`, to <name>@R.json beside the older files: claims of every
release still running must replay).
Run it when a scenario is added, and commit the new files; never regenerate
the files of scenarios that already exist to "fix" a failing replay: a failing
replay means the change needs `workflow.patched` (docs/versioning.md).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from activities.claim_activities import ClaimActivities  # noqa: E402
from activities.links import SurveyLinks  # noqa: E402
from activities.mail import Mailer  # noqa: E402
from activities.mail import MailRenderer  # noqa: E402
from activities.mail import SmtpConfig  # noqa: E402
from activities.payments import PaymentActivities  # noqa: E402
from activities.payments import RemittanceMailer  # noqa: E402
from activities.payments import RemittanceRenderer  # noqa: E402
from activities.store import ClaimStore  # noqa: E402
from claims_testing.servers import start_time_skipping_server  # noqa: E402
from devstack.mailcatcher import MailCatcher  # noqa: E402
from starter.client import ClaimsClient  # noqa: E402
from tests.scenarios import SCENARIOS  # noqa: E402
from worker import create_worker  # noqa: E402
from workflows.payments_messages import Tariff  # noqa: E402

CORPUS = ROOT / "tests" / "histories"
TARIFFS = {"Cloud adoption workshop": Tariff(amount="1500.00", currency="EUR")}
"""What the payment cycle scenario pays for the test data's workshop."""


async def record(names: list[str], only_missing: bool, release: str | None) -> None:
    CORPUS.mkdir(exist_ok=True)
    links = SurveyLinks(secrets.token_bytes(32), "http://claims.test")
    mailbox = MailCatcher().start()
    with tempfile.TemporaryDirectory() as scratch:
        store = ClaimStore.from_url(f"sqlite+aiosqlite:///{scratch}/claims.db")
        await store.migrate()
        smtp = SmtpConfig(host=mailbox.host, port=mailbox.port, mail_from="Claims <c@claims.test>")
        activities = ClaimActivities(
            store, Mailer(smtp, MailRenderer(links)), review_mail="review-desk@claims.test"
        )
        try:
            for name in names:
                target = CORPUS / (f"{name}@{release}.json" if release else f"{name}.json")
                if only_missing and target.exists():
                    continue
                async with await start_time_skipping_server() as env:
                    queue = f"record-{uuid.uuid4()}"
                    payments = PaymentActivities(
                        store.engine,
                        env.client,
                        TARIFFS,
                        RemittanceMailer(smtp, RemittanceRenderer()),
                        sent_mail=store,
                    )
                    async with create_worker(env.client, queue, activities, payments):
                        claims = ClaimsClient(env.client, task_queue=queue, links=links)
                        workflow = await SCENARIOS[name](env, claims)
                        history = await env.client.get_workflow_handle(workflow).fetch_history()
                target.write_text(history.to_json())
                print(f"wrote {target.relative_to(ROOT)} ({len(history.events)} events)")
        finally:
            await store.close()
            mailbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *SCENARIOS], default=[])
    parser.add_argument("--only-missing", action="store_true", help="keep existing files")
    parser.add_argument(
        "--release",
        help="record beside the existing files as <scenario>@<release>.json: a release "
        "whose claims send different messages adds its histories, keeping the older ones",
    )
    args = parser.parse_args()
    asyncio.run(record(args.names or list(SCENARIOS), args.only_missing, args.release))


if __name__ == "__main__":
    main()
