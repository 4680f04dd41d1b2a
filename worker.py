"""Runs the claims worker: `python worker.py`, configured from the environment.

It builds the worker from settings and nothing else: the database schema is
brought up to date first, then the worker polls its task queue until SIGTERM
or SIGINT, when it stops polling and lets in-flight activities finish.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Iterable
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxRestrictions

from activities.claim_activities import ClaimActivities
from activities.consent import ConsentActivities
from activities.consent import consent_activities
from activities.links import SurveyLinks
from activities.mail import Mailer
from activities.mail import MailRenderer
from activities.payments import PaymentActivities
from activities.payments import RemittanceMailer
from activities.payments import RemittanceRenderer
from activities.reconcile import ReconcileActivities
from activities.store import ClaimStore
from starter.settings import Settings
from starter.settings import SettingsError
from starter.settings import load_settings
from starter.telemetry import configure_logging
from starter.telemetry import metrics_runtime
from starter.temporal import connect
from starter.temporal import ensure_search_attributes
from workflows.claim import WorkshopClaimWorkflow
from workflows.consent import ConsentRequestWorkflow
from workflows.payment_cycle import PaymentCycleWorkflow
from workflows.reconcile import ReconcileClaimsWorkflow
from workflows.tracing import UpdateTraceInterceptor

log = logging.getLogger("claims.worker")

GRACEFUL_SHUTDOWN = timedelta(seconds=30)
"""How long in-flight activities get to finish after SIGTERM."""


def build_activities(settings: Settings, store: ClaimStore) -> ClaimActivities:
    links = SurveyLinks(settings.secret_key, settings.public_url)
    return ClaimActivities(
        store, Mailer(settings.smtp, MailRenderer(links)), review_mail=settings.review_mail
    )


def build_payment_activities(
    settings: Settings, store: ClaimStore, client: Client
) -> PaymentActivities:
    """The payment cycle's activities: they signal claims through `client`."""
    mailer = RemittanceMailer(settings.smtp, RemittanceRenderer())
    return PaymentActivities(store.engine, client, settings.catalogue, mailer, sent_mail=store)


def build_consent_activities(settings: Settings, store: ClaimStore) -> ConsentActivities:
    return consent_activities(store, settings.smtp, settings.secret_key, settings.public_url)


def workflow_runner(workflows: Iterable[type]) -> SandboxedWorkflowRunner:
    """The sandbox the workflows run in, their own modules passed through.

    By default the sandbox imports a workflow's own module afresh for every workflow
    run it holds, to keep runs from sharing module state. Ours keep none (their
    logic and models already live in passed-through modules), so the fresh copy
    only cost memory and a start: the module's code objects, classes and functions
    again for each of the up to `max_cached_workflows` claims a worker keeps
    (docs/performance.md). What the sandbox's fresh import would have caught is
    checked instead by tests/test_workflow_determinism.py (no clock, randomness or
    I/O in workflows/) and by replaying the recorded histories in the stock sandbox
    as well as with this runner (docs/versioning.md)."""
    modules = sorted({workflow_class.__module__ for workflow_class in workflows})
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*modules)
    )


def create_worker(
    client: Client,
    task_queue: str,
    activities: ClaimActivities,
    payments: PaymentActivities | None = None,
    consent: ConsentActivities | None = None,
    reconcile: ReconcileActivities | None = None,
    claim_workflow: type = WorkshopClaimWorkflow,
) -> Worker:
    """The one place that says which workflows and activities a claims worker runs.

    With `payments`, it also runs the payment cycle (`PaymentCycle` and its activities);
    with `consent`, the consent requests (`ConsentRequest` and its activities);
    with `reconcile`, the reconciliation of claims ended from outside (`ReconcileClaims`).
    `claim_workflow` is for the upgrade test, which runs the previous release's class.
    """
    workflows = [
        claim_workflow,
        *([PaymentCycleWorkflow] if payments else []),
        *([ConsentRequestWorkflow] if consent else []),
        *([ReconcileClaimsWorkflow] if reconcile else []),
    ]
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        workflow_runner=workflow_runner(workflows),
        activities=[
            activities.store_claim,
            activities.send_notification,
            *(payments.all if payments else []),
            *(consent.all if consent else []),
            *([reconcile.mark_claims_ended_from_outside] if reconcile else []),
        ],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        # A request's trace reaches the mail it leads to (workflows/tracing.py); with
        # tracing on, the client's OpenTelemetry interceptor traces the rest.
        interceptors=[UpdateTraceInterceptor()],
        max_cached_workflows=int(os.environ.get("CLAIMS_MAX_CACHED_WORKFLOWS", "1000")),
    )


async def run(settings: Settings) -> None:
    store = ClaimStore.from_url(settings.database_url)
    await store.migrate()
    runtime = metrics_runtime(settings.metrics_bind) if settings.metrics_bind else None
    client = await connect(settings, runtime=runtime)
    try:
        await ensure_search_attributes(client)
    except PermissionError as err:
        log.error("%s", err)
    worker = create_worker(
        client,
        settings.task_queue,
        build_activities(settings, store),
        build_payment_activities(settings, store, client),
        consent=build_consent_activities(settings, store),
        reconcile=ReconcileActivities(client, store),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker polling task queue %r on %s (namespace %s)",
        settings.task_queue,
        settings.temporal_address,
        settings.temporal_namespace,
    )
    if settings.metrics_bind:
        log.info("metrics served at http://%s/metrics", settings.metrics_bind)
    try:
        async with worker:
            await stop.wait()
            log.info("stopping: no new work taken, in-flight activities may finish")
    finally:
        await store.close()
    log.info("worker stopped")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings()
    except SettingsError as err:
        print(f"worker: configuration error: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format)
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
