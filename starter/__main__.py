"""`python -m starter`: drive claims from a shell, JSON in and JSON out.

Operators, scripts and support staff need to start a claim, look at one, or
send it any message of the contract without writing Python or a portal. This
command line is a thin shell around :class:`starter.client.ClaimsClient`: it
reads the same environment variables as the worker, validates the JSON
payload against the contract's message model before anything reaches
Temporal, prints the claim view as JSON on standard output, and turns every
expected failure (bad JSON, a refusal, an unknown claim, bad configuration,
no Temporal server) into one line on standard error and a non-zero exit:
2 for a usage, input or configuration problem, 1 for what the claim or
Temporal refused.

Examples::

    python -m starter start --file claim.json
    python -m starter show eng-42
    echo '{"text": "on site", "actor": {...}}' | python -m starter add-comment eng-42
    python -m starter survey-link eng-42 partner
    python -m starter engagements import engagements.csv
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Generic
from typing import TypeVar
from typing import cast
from typing import get_args

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.client import WorkflowUpdateFailedError
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from activities.links import InvalidSurveyLink
from activities.links import SurveyLinks
from starter import engagements
from starter import payments
from starter import render
from starter.client import ClaimAlreadyFinished
from starter.client import ClaimNotFound
from starter.client import ClaimRefused
from starter.client import ClaimsClient
from starter.client import SurveyLinkExpired
from starter.client import parse_message
from starter.process import exit_now
from starter.queries import claims_query
from starter.queries import parse_duration
from starter.schedules import setup_reconcile_schedule
from starter.settings import Settings
from starter.settings import SettingsError
from starter.settings import load_settings
from starter.temporal import connect
from starter.temporal import ensure_search_attributes
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import AttachDocument
from workflows.messages import Cancel
from workflows.messages import ClaimInput
from workflows.messages import ClaimStatus
from workflows.messages import ClaimView
from workflows.messages import Dispute
from workflows.messages import PaymentIssued
from workflows.messages import ProofItem
from workflows.messages import Reject
from workflows.messages import RequestInfo
from workflows.messages import ResendNotification
from workflows.messages import RespondInfo
from workflows.messages import SendSurvey
from workflows.messages import Submit
from workflows.messages import SurveyCompleted
from workflows.messages import SurveyKind
from workflows.messages import UpdateContacts

PROG = "python -m starter"
DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for Temporal before giving up (a claim with no worker never answers)."""

EXIT_REFUSED = 1
"""The claim or Temporal said no: a refusal, an unknown or finished claim, no connection."""
EXIT_USAGE = 2
"""The command itself is wrong: arguments, JSON, configuration (argparse uses 2 too)."""

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class MessageCommand(Generic[M]):
    """A command that sends one message of the contract to an engagement's claim."""

    model: type[M]
    call: Callable[..., Awaitable[ClaimView | None]]
    """The ClaimsClient method; an update returns the view, a signal returns None."""
    signal: bool = False

    @property
    def help(self) -> str:
        kind = "signal" if self.signal else "update"
        prints = "prints nothing" if self.signal else "prints the claim view"
        return f"send the {kind} `{self.call.__name__}` (JSON {self.model.__name__}); {prints}"


MESSAGE_COMMANDS: Mapping[str, MessageCommand[Any]] = {
    # updates: each returns the claim view after the change
    "attach-document": MessageCommand(AttachDocument, ClaimsClient.attach_document),
    "send-survey": MessageCommand(SendSurvey, ClaimsClient.send_survey),
    "update-contacts": MessageCommand(UpdateContacts, ClaimsClient.update_contacts),
    "add-comment": MessageCommand(AddComment, ClaimsClient.add_comment),
    "submit": MessageCommand(Submit, ClaimsClient.submit),
    "cancel": MessageCommand(Cancel, ClaimsClient.cancel),
    "respond-info": MessageCommand(RespondInfo, ClaimsClient.respond_info),
    "dispute": MessageCommand(Dispute, ClaimsClient.dispute),
    "request-info": MessageCommand(RequestInfo, ClaimsClient.request_info),
    "approve": MessageCommand(Approve, ClaimsClient.approve),
    "reject": MessageCommand(Reject, ClaimsClient.reject),
    "resend": MessageCommand(ResendNotification, ClaimsClient.resend_notification),
    # signals: fire and forget; a refused submit-signal shows up in the view's history
    "submit-signal": MessageCommand(Submit, ClaimsClient.submit_signal, signal=True),
    "survey-completed": MessageCommand(SurveyCompleted, ClaimsClient.survey_completed, signal=True),
    "payment-issued": MessageCommand(PaymentIssued, ClaimsClient.payment_issued, signal=True),
}
"""Every message command: its name on the command line, its payload model, its method."""

NEEDS_SECRET_KEY = frozenset({"complete-survey", "survey-link"})
"""Commands that make or check survey links, and so need CLAIMS_SECRET_KEY."""


class UsageError(Exception):
    """Bad input that no server saw: unreadable or malformed JSON (exit 2)."""


class SetupRefused(Exception):
    """The server does not let this client register search attributes (exit 1)."""


class TemporalUnreachable(Exception):
    """The Temporal frontend could not be reached (exit 1)."""


# --- arguments ------------------------------------------------------------------------------


def _add_json_input(parser: argparse.ArgumentParser, what: str) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--json", metavar="TEXT", help=f"{what} as JSON text")
    source.add_argument(
        "--file",
        metavar="PATH",
        help=f"read {what} as JSON from a file ('-' for standard input, the default)",
    )


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Start and drive workshop claims. Configured by the worker's environment "
            "variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, CLAIMS_TASK_QUEUE, "
            "CLAIMS_PUBLIC_URL, CLAIMS_SECRET_KEY). JSON payloads come from --json, "
            "--file or standard input; results are printed as JSON."
        ),
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up waiting for Temporal after this long (default {DEFAULT_TIMEOUT:g})",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    start = commands.add_parser(
        "start",
        help="start an engagement's claim (JSON ClaimInput), or show the running one",
        description="Start a claim; if the engagement's claim already runs, print that one. "
        "Whether it was created is said on standard error.",
    )
    _add_json_input(start, "the ClaimInput")

    show = commands.add_parser(
        "show", help="show a claim: status, proof checklist, deadline, history"
    )
    show.add_argument("engagement", metavar="ENGAGEMENT")
    show.add_argument("--json", action="store_true", help="print the claim view as JSON")

    found = commands.add_parser(
        "list",
        help="list claims by status, partner, deadline or missing item (visibility query)",
        description="List claims from Temporal's visibility store (needs a server with "
        "visibility and the search attributes of `setup`). Filters combine with AND.",
    )
    found.add_argument("--status", choices=get_args(ClaimStatus))
    found.add_argument("--partner", metavar="PARTNER_ID")
    found.add_argument("--customer", metavar="CUSTOMER_ID")
    found.add_argument("--missing", choices=get_args(ProofItem), metavar="ITEM")
    found.add_argument(
        "--expiring-within",
        type=_duration,
        metavar="DURATION",
        help="e.g. 7d: in progress, deadline within this time",
    )
    found.add_argument(
        "--in-status-longer-than",
        type=_duration,
        metavar="DURATION",
        help="e.g. 14d with --status submitted: waiting for review longer than 14 days",
    )
    found.add_argument(
        "--mail-waiting",
        action="store_true",
        help="claims whose mail can't go out right now (PendingNotifications > 0)",
    )
    found.add_argument(
        "--all",
        action="store_true",
        help="closed claims too (paid, rejected, ...); without it and without --status, only "
        "open claims are listed",
    )
    found.add_argument(
        "--print-query",
        action="store_true",
        help="print the visibility query first (on standard error), to paste into the "
        "Temporal UI's search",
    )
    found.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    found.add_argument("--json", action="store_true", help="print JSON instead of a table")

    commands.add_parser(
        "setup",
        help="register the claims' search attributes on the namespace and create or update "
        "the payment and reconciliation schedules (idempotent)",
    )
    payments.add_payment_commands(commands)
    engagements.add_engagement_commands(commands)

    for name, command in MESSAGE_COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        sub.add_argument("engagement", metavar="ENGAGEMENT")
        _add_json_input(sub, f"the {command.model.__name__} payload")
        if not command.signal:
            sub.add_argument(
                "--update-id",
                metavar="ID",
                help="the Temporal update id (made and printed when absent): the same id "
                "again acts once, so a retry after a timeout is safe",
            )

    complete = commands.add_parser(
        "complete-survey",
        help="record a respondent's answers through a survey link (needs CLAIMS_SECRET_KEY)",
        description="Complete a survey through its link: TOKEN is the token or the whole "
        "link; the JSON is an object of question id to string or number.",
    )
    complete.add_argument("token", metavar="TOKEN")
    complete.add_argument("--email", required=True, help="the respondent's e-mail address")
    _add_json_input(complete, "the answers object")

    link = commands.add_parser(
        "survey-link",
        help="print the current link of a survey (needs CLAIMS_SECRET_KEY)",
    )
    link.add_argument("engagement", metavar="ENGAGEMENT")
    link.add_argument("kind", choices=get_args(SurveyKind))
    return parser


# --- input ----------------------------------------------------------------------------------


def read_json(args: argparse.Namespace) -> Any:
    """The command's JSON payload from --json, --file or standard input."""
    if args.json is not None:
        text, source = args.json, "--json"
    elif args.file is not None and args.file != "-":
        source = args.file
        try:
            with open(args.file, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"cannot read {args.file}: {err}") from None
    else:
        source = "standard input"
        if sys.stdin.isatty():
            print("reading JSON from standard input (end with Ctrl-D)", file=sys.stderr)
        text = sys.stdin.read()
    if not text.strip():
        raise UsageError(f"invalid JSON: {source} is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"invalid JSON: {err}") from None


# --- running --------------------------------------------------------------------------------


def _print_view(view: ClaimView) -> None:
    print(view.model_dump_json(indent=2))


async def _connect(settings: Settings, within: float) -> Client:
    try:
        async with asyncio.timeout(within):
            return await connect(settings)
    except Exception as err:  # the SDK reports an unreachable server as a RuntimeError
        detail = "timed out" if isinstance(err, TimeoutError) else str(err)
        raise TemporalUnreachable(
            f"cannot connect to Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}): {detail}"
        ) from None


@dataclass(frozen=True)
class Payload:
    """What the user typed, checked before any connection is made."""

    message: BaseModel | None = None
    answers: dict[str, Any] | None = None


def read_payload(args: argparse.Namespace) -> Payload:
    """Read and validate the command's JSON, if it takes any."""
    name: str = args.command
    if name == "start":
        return Payload(message=parse_message(ClaimInput, read_json(args)))
    if name in MESSAGE_COMMANDS:
        return Payload(message=parse_message(MESSAGE_COMMANDS[name].model, read_json(args)))
    if name == "complete-survey":
        answers = read_json(args)
        if not isinstance(answers, dict):
            raise ClaimRefused.of("InvalidInput", "answers: must be a JSON object")
        return Payload(answers=answers)
    return Payload()


async def execute(args: argparse.Namespace, settings: Settings, payload: Payload) -> None:
    """Connect, then carry out the command within the timeout."""
    if args.command == "payments":  # `payments batches` reads the database only
        async with asyncio.timeout(args.timeout):
            await payments.run_payment_command(
                args, settings, lambda: _connect(settings, args.timeout)
            )
        return
    links = SurveyLinks(settings.secret_key, settings.public_url) if settings.secret_key else None
    temporal = await _connect(settings, args.timeout)
    client = ClaimsClient(temporal, task_queue=settings.task_queue, links=links)
    async with asyncio.timeout(args.timeout):
        await _carry_out(args, client, payload, settings)


async def _carry_out(
    args: argparse.Namespace, client: ClaimsClient, payload: Payload, settings: Settings
) -> None:
    name: str = args.command
    if name == "start":
        started = await client.start_claim(cast(ClaimInput, payload.message))
        _print_view(started.view)
        engagement = started.view.engagement_id
        if started.created:
            print(f"started the claim for engagement {engagement}", file=sys.stderr)
        else:
            print(
                f"the claim for engagement {engagement} already existed and is running; "
                "nothing was started",
                file=sys.stderr,
            )
    elif name == "show":
        view = await client.get_claim(args.engagement)
        if args.json:
            _print_view(view)
        else:
            print(render.claim_text(view, datetime.now(UTC)))
    elif name == "list":
        now = datetime.now(UTC)
        query = claims_query(
            now=now,
            status=args.status,
            partner=args.partner,
            customer=args.customer,
            missing=args.missing,
            expiring_within=args.expiring_within,
            in_status_longer_than=args.in_status_longer_than,
            open_only=not args.all and args.status is None,
            mail_waiting=args.mail_waiting,
        )
        if args.print_query:
            print(f"query: {query}", file=sys.stderr)
        claims = await client.find_claims(query, limit=args.limit)
        print(render.claims_json(claims) if args.json else render.claims_table(claims, now))
    elif name == "setup":
        try:
            added = await ensure_search_attributes(client.client)
        except PermissionError as err:
            raise SetupRefused(str(err)) from None
        print(
            f"search attributes registered: {', '.join(added)}"
            if added
            else "search attributes: all already registered"
        )
        print(await payments.setup_schedule(client.client, settings))
        print(await setup_reconcile_schedule(client.client, settings.task_queue))
    elif name in MESSAGE_COMMANDS:
        command = MESSAGE_COMMANDS[name]
        if command.signal:
            await command.call(client, args.engagement, payload.message)
            return
        answer = await command.call(
            client, args.engagement, payload.message, update_id=args.update_id
        )
        assert answer is not None, "an update answers the claim's view"
        # Printed once it is done (a timeout's one-line error names it, to retry with).
        print(f"update id: {args.update_id}", file=sys.stderr)
        _print_view(answer)
    elif name == "complete-survey":
        token: str = args.token
        if "/surveys/" in token:  # the whole link, as `survey-link` prints it
            token = client.links.token_from_url(token)
        _print_view(await client.complete_survey(token, args.email, payload.answers or {}))
    elif name == "survey-link":
        print(await client.survey_link(args.engagement, args.kind))
    else:  # pragma: no cover - argparse lets only known commands through
        raise AssertionError(f"unhandled command {name}")


def _no_answer(args: argparse.Namespace, settings: Settings) -> str:
    """What an operator needs when a command timed out: a message already sent may still
    take effect once a worker polls again, so a blind retry could act twice."""
    text = (
        f"no answer from Temporal at {settings.temporal_address} within {args.timeout:g}s "
        f"(is a claims worker polling task queue {settings.task_queue!r}?)"
    )
    engagement = getattr(args, "engagement", None)
    if args.command in MESSAGE_COMMANDS and engagement is not None:
        text += (
            f"; the {args.command} may still take effect when a worker answers: check with "
            f"`{PROG} show {engagement}`"
        )
        update_id = getattr(args, "update_id", None)
        text += (
            f", or send it again with --update-id {update_id} (it acts once)"
            if update_id
            else " before sending it again"
        )
    return text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _fail(code: int, text: str) -> int:
    print(f"error: {_one_line(text)}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (argparse exits 2 itself on bad usage)."""
    args = build_parser().parse_args(argv)
    if getattr(args, "update_id", "absent") is None:  # an update without one: make it
        args.update_id = f"cli-{uuid.uuid4()}"
    try:
        settings = load_settings(require_secret_key=args.command in NEEDS_SECRET_KEY)
    except SettingsError as err:
        return _fail(EXIT_USAGE, f"configuration: {err}")
    try:
        if args.command == "engagements":  # the registry: the database only
            return asyncio.run(engagements.run_engagement_command(args, settings))
        payload = read_payload(args)
        asyncio.run(execute(args, settings, payload))
    except UsageError as err:
        return _fail(EXIT_USAGE, str(err))
    except ClaimRefused as err:
        return _fail(EXIT_REFUSED, f"{err.type}: {err.message}")
    except ClaimNotFound as err:
        engagement = err.args[0] if err.args else getattr(args, "engagement", "?")
        return _fail(EXIT_REFUSED, f"no claim for engagement {engagement}")
    except (ClaimAlreadyFinished, SurveyLinkExpired, InvalidSurveyLink) as err:
        return _fail(EXIT_REFUSED, str(err))
    except (
        TemporalUnreachable,
        SetupRefused,
        payments.PaymentsError,
        engagements.EngagementsError,
    ) as err:
        return _fail(EXIT_REFUSED, str(err))
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return _fail(EXIT_REFUSED, _no_answer(args, settings))
    except WorkflowUpdateFailedError as err:  # a failure that is not a refusal
        return _fail(EXIT_REFUSED, f"update failed: {err.cause}")
    except RPCError as err:
        return _fail(EXIT_REFUSED, f"Temporal at {settings.temporal_address}: {err}")
    except BrokenPipeError:  # whoever read the output went away; nobody to tell
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return _fail(130, "interrupted")
    return 0


if __name__ == "__main__":
    exit_now(main())
