"""The local stack in one command: `python -m devstack` (what `./scripts/run` calls).

Starts, each with a progress line: the Temporal dev server (state kept in
<data>/temporal.db, custom search attributes registered, UI on
http://127.0.0.1:8233), a mail catcher on smtp://127.0.0.1:1025 keeping every
mail in <data>/mail/, a web page over those mails on http://127.0.0.1:8025,
the claims worker, and the portal API on http://127.0.0.1:8000 when
uvicorn is there. `--demo` then seeds demo claims in every
state. Ctrl-C (or SIGTERM) stops everything in reverse order; a second Ctrl-C
stops what is left at once. A secret key for survey links is made once and
kept in <data>/secret_key, so links in old mails keep working across restarts.

A part that exits is reported and started again; `python -m devstack hold PART`
(temporal, mail, worker or api) from another terminal stops one part and keeps it
stopped, to rehearse an outage, and `python -m devstack release PART` starts it again.

Every part gets a fixed port (options below), so a newcomer's bookmarks work
and a test can give free ones. The dev server still opens three internal
cluster ports of its own choosing; they go away with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import importlib.util
import os
import secrets
import signal
import sys
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from pathlib import Path
from typing import IO
from typing import TypeVar
from urllib.parse import quote

from temporalio.client import Client

from activities.links import SurveyLinks
from activities.store import ClaimStore
from claims_testing.processes import ChildProcess
from claims_testing.processes import DevServerPorts
from claims_testing.processes import DevServerProcess
from claims_testing.processes import MailCatcherProcess
from claims_testing.processes import ProcessExited
from claims_testing.processes import WorkerProcess
from claims_testing.processes import port_open
from claims_testing.processes import wait_listening
from devstack.demo import Seeder
from devstack.demo_engagements import DEMO_CATALOGUE_JSON
from devstack.demo_engagements import demo_keys
from devstack.demo_engagements import keys_text
from devstack.demo_engagements import seed_engagements
from devstack.mailview import MailView
from devstack.supervise import PART_NAMES
from devstack.supervise import Part
from devstack.supervise import Supervisor
from devstack.supervise import hold
from devstack.supervise import release
from starter.client import ClaimsClient
from starter.payments import setup_schedule
from starter.process import exit_now
from starter.schedules import setup_reconcile_schedule
from starter.settings import Settings
from starter.settings import SettingsError
from starter.settings import load_settings
from starter.temporal import connect

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STOP_GRACE = 40.0
"""Seconds a part gets to stop after SIGTERM (the worker lets activities finish for 30)."""
PARTS = 5
T = TypeVar("T")


class StackError(RuntimeError):
    """A part did not start or died; the message says which and where its log is."""


def _port(default: int, purpose: str) -> int:
    """A port of the stack, with the help text of its `--<name>-port` option."""
    port: int = field(default=default, metadata={"help": purpose})
    return port


@dataclass(frozen=True)
class Ports:
    """The stack's ports; each field is also the command-line option `--<field>-port`."""

    temporal: int = _port(7233, "gRPC")
    ui: int = _port(8233, "Temporal UI")
    http: int = _port(7243, "Temporal HTTP API")
    metrics: int = _port(7244, "/metrics")
    smtp: int = _port(1025, "mail catcher")
    mail_ui: int = _port(8025, "mail page")
    api: int = _port(8000, "portal API")
    worker_metrics: int = _port(9464, "the worker's Prometheus metrics")
    portal_metrics: int = _port(9465, "the portal's Prometheus metrics")

    @staticmethod
    def option(name: str) -> str:
        return f"--{name.replace('_', '-')}-port"

    def named(self) -> dict[str, int]:
        """The options that give a child process these ports (the mail catcher, the stack)."""
        return {self.option(f.name): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def add_options(cls, parser: argparse.ArgumentParser) -> None:
        defaults = cls()
        for f in fields(cls):
            parser.add_argument(
                cls.option(f.name),
                type=int,
                default=getattr(defaults, f.name),
                help=f.metadata["help"],
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Ports:
        return cls(**{f.name: getattr(args, f"{f.name}_port") for f in fields(cls)})


def progress(text: str) -> None:
    """One progress line; a closed terminal (after SIGHUP) must not stop the clean-up."""
    with contextlib.suppress(OSError):
        print(text, flush=True)


def _secret_key(data: Path) -> str:
    path = data / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def api_unavailable() -> str | None:
    """Why the portal API can't run here, or None when it can."""
    for module in ("uvicorn", "fastapi"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install {module})"
    return None


class Stack:
    """Starts the parts in order and stops whatever was started in reverse order."""

    def __init__(self, data: Path, ports: Ports, demo: bool) -> None:
        self.data = data.resolve()
        self.ports = ports
        self.demo = demo
        self.children: list[ChildProcess] = []
        self._stoppers: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self._lock: IO[str] | None = None
        # Set by a second Ctrl-C: kill instead of waiting for a graceful stop.
        self.hurry = asyncio.Event()
        self.supervisor = Supervisor(self.data, progress, grace=STOP_GRACE, hurry=self.hurry)

    # --- starting ---------------------------------------------------------------------------

    def _spawn(
        self, part: str, child: ChildProcess, ready: Callable[[], Awaitable[object]]
    ) -> ChildProcess:
        """Start a part (in a session of its own: Ctrl-C in the terminal reaches only this
        launcher, which then stops the parts in order instead of all of them at once);
        from then on the supervisor restarts it when it exits. `ready` waits until a
        start of it serves."""
        child.start()
        self.children.append(child)
        self._stoppers.append((child.name, lambda: child.stop_async(STOP_GRACE, self.hurry)))
        self.supervisor.add(Part(part, child, ready))
        return child

    async def _ready(self, waiting: Awaitable[T]) -> T:
        """Await a part's readiness, its failure told as a StackError."""
        try:
            return await waiting
        except (ProcessExited, TimeoutError) as err:
            raise StackError(str(err)) from None

    async def _ports_free(self, api: bool) -> None:
        """Fail before starting anything if a port is taken (another stack still running?)."""
        for option, port in self.ports.named().items():
            if option == "--api-port" and not api:
                continue
            if await port_open(port):
                raise StackError(
                    f"port {port} is already in use (another stack running?); "
                    f"stop it or choose another with {option}"
                )

    async def _temporal(self, settings: Settings) -> Client:
        progress(f"[1/{PARTS}] Temporal dev server ...")
        server = DevServerProcess(
            self.data,
            db_file=self.data / "temporal.db",
            ports=DevServerPorts(
                self.ports.temporal, self.ports.http, self.ports.metrics, ui=self.ports.ui
            ),
            headless=False,
            log_level="warn",
            numbered_logs=False,
        )
        self._spawn("temporal", server, lambda: wait_listening(server, self.ports.temporal, 60))
        # The worker's own way to connect: the claims data converter (with the payload
        # codec too when CLAIMS_ENCRYPTION_KEYS is set), so what the demo writes the
        # worker reads.
        client = await self._ready(server.connect(60, connect=lambda: connect(settings)))
        added = server.search_attributes_added
        registered = f"registered {', '.join(added)}" if added else "already registered"
        progress(
            f"      temporal {HOST}:{self.ports.temporal} (pid {server.pid}, "
            f"state in {self.data / 'temporal.db'}); search attributes {registered}"
        )
        progress(f"      Temporal UI: http://{HOST}:{self.ports.ui}")
        return client

    async def _mail(self) -> None:
        progress(f"[2/{PARTS}] mail catcher ...")
        folder = self.data / "mail"
        catcher = MailCatcherProcess(self.ports.smtp, folder, self.data)
        self._spawn("mail", catcher, lambda: catcher.wait_ready(30))
        await self._ready(catcher.wait_ready(30))
        progress(
            f"      smtp://{HOST}:{self.ports.smtp} (pid {catcher.pid}); mails saved in {folder}/"
        )

        progress(f"[3/{PARTS}] mail page ...")
        view = MailView(folder, self.ports.mail_ui).start()

        async def stop_view() -> None:
            await asyncio.to_thread(view.stop)

        self._stoppers.append(("mail page", stop_view))
        progress(f"      caught mails: {view.url}")

    async def _worker(self, env: dict[str, str], client: Client, task_queue: str) -> None:
        progress(f"[4/{PARTS}] claims worker ...")
        worker = WorkerProcess(
            "worker",
            env,
            self.data,
            client,
            task_queue=task_queue,
            log_name="worker",
            numbered_logs=False,
        )
        self._spawn("worker", worker, lambda: worker.wait_ready(60))
        await self._ready(worker.wait_ready(60))
        progress(f"      worker polling (pid {worker.pid}, log: {worker.log_path})")
        progress(f"      worker metrics: http://{HOST}:{self.ports.worker_metrics}/metrics")

    async def _api(self, env: dict[str, str], why_not: str | None) -> None:
        progress(f"[5/{PARTS}] portal API ...")
        if why_not is not None:
            progress(f"      skipped: {why_not}; survey links in mails won't open")
            return
        keys = self.data / "api-keys.json"
        api_env = {
            **env,
            "CLAIMS_API_KEYS_FILE": str(keys),
            "CLAIMS_BLOB_DIR": str(self.data / "blobs"),
            "CLAIMS_PORTAL_METRICS_BIND": f"{HOST}:{self.ports.portal_metrics}",
        }
        api = ChildProcess(
            "api",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "portal.app:app",
                "--host",
                HOST,
                "--port",
                str(self.ports.api),
            ],
            self.data,
            environ=api_env,
            cwd=ROOT,
            numbered_logs=False,
        )
        self._spawn("api", api, lambda: wait_listening(api, self.ports.api, 60))
        await self._ready(wait_listening(api, self.ports.api, 60))
        progress(
            f"      http://{HOST}:{self.ports.api} (pid {api.pid}, log: {api.log_path}); "
            f"make an API key with: CLAIMS_API_KEYS_FILE={keys} python -m starter.keys "
            "create --user you@example.com --role reviewer"
        )
        progress(f"      portal metrics: http://{HOST}:{self.ports.portal_metrics}/metrics")

    def _child_env(self, secret_key: str) -> dict[str, str]:
        """The worker's environment: the caller's, pointed at this stack's parts."""
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": f"{HOST}:{self.ports.temporal}",
            "TEMPORAL_NAMESPACE": "default",
            "CLAIMS_DATABASE_URL": f"sqlite+aiosqlite:///{self.data / 'claims.db'}",
            "CLAIMS_SMTP_HOST": HOST,
            "CLAIMS_SMTP_PORT": str(self.ports.smtp),
            "CLAIMS_SMTP_STARTTLS": "false",
            "CLAIMS_PUBLIC_URL": f"http://{HOST}:{self.ports.api}",
            "CLAIMS_SECRET_KEY": secret_key,
            "CLAIMS_METRICS_BIND": f"{HOST}:{self.ports.worker_metrics}",
        }
        for name in ("CLAIMS_SMTP_USERNAME", "CLAIMS_SMTP_PASSWORD"):
            env.pop(name, None)  # the mail catcher takes no login
        if not (env.get("CLAIMS_WORKSHOPS") or env.get("CLAIMS_WORKSHOPS_FILE")):
            env["CLAIMS_WORKSHOPS"] = DEMO_CATALOGUE_JSON  # the demo's workshop types
        return env

    def _lock_data(self) -> None:
        """One stack per data folder: two dev servers on one SQLite file would corrupt it."""
        self._lock = (self.data / "devstack.lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackError(
                f"another stack is running on {self.data}; stop it or choose another --data"
            ) from None

    async def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self._lock_data()
        if lifted := self.supervisor.clear_holds():
            progress(f"lifted the holds an earlier run left: {', '.join(lifted)}")
        secret_key = os.environ.get("CLAIMS_SECRET_KEY") or _secret_key(self.data)
        env = self._child_env(secret_key)
        try:
            settings = load_settings(env)
        except SettingsError as err:
            raise StackError(f"configuration error: {err}") from None
        why_not_api = api_unavailable()
        await self._ports_free(api=why_not_api is None)

        client = await self._temporal(settings)
        for line in (
            await setup_schedule(client, settings),
            await setup_reconcile_schedule(client, settings.task_queue),
        ):
            progress(f"      {line}")
        await self._mail()
        await self._worker(env, client, settings.task_queue)
        await self._api(env, why_not_api)

        if self.demo:
            progress("seeding demo claims ...")
            links = SurveyLinks(settings.secret_key, settings.public_url)
            claims = ClaimsClient(client, task_queue=settings.task_queue, links=links)
            blobs = self.data / "blobs" if why_not_api is None else None
            await Seeder(claims, blob_dir=blobs).seed(report=lambda seeded: progress(seeded.line()))
            await self._demo_engagements(settings, client, api=why_not_api is None)

        claims_query = quote("WorkflowType = 'WorkshopClaim'")
        progress(
            f"Ready. Temporal UI: http://{HOST}:{self.ports.ui}/namespaces/default/workflows"
            f"?query={claims_query}  mails: http://{HOST}:{self.ports.mail_ui}/  "
            "Ctrl-C stops everything."
        )
        progress(
            "A part that exits is started again; to rehearse an outage, hold one from another "
            f"terminal: python -m devstack hold worker --data {self.data} (release to restart)"
        )

    async def _demo_engagements(self, settings: Settings, client: Client, *, api: bool) -> None:
        """The demo's engagement registry, and a program key and a partner key to try it."""
        progress("seeding demo engagements ...")
        store = ClaimStore.from_url(settings.database_url)
        try:
            await seed_engagements(store, client, settings.task_queue, progress)
        finally:
            await store.close()
        if api:
            keys = await asyncio.to_thread(demo_keys, self.data / "api-keys.json")
            for line in keys_text(keys, f"http://{HOST}:{self.ports.api}"):
                progress(line)

    # --- stopping ---------------------------------------------------------------------------

    async def stop(self) -> None:
        while self._stoppers:
            name, stop = self._stoppers.pop()
            await stop()
            progress(f"stopped {name}")


async def _main(args: argparse.Namespace) -> int:
    ports = Ports.from_args(args)
    stack = Stack(args.data, ports, args.demo)
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            stack.hurry.set()
        stop.set()

    loop = asyncio.get_running_loop()
    # SIGHUP too: closing the terminal must not leave the parts (own sessions) running.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, on_signal)
    code = 0
    stopping = asyncio.create_task(stop.wait())
    try:
        starting = asyncio.create_task(stack.start())
        await asyncio.wait({starting, stopping}, return_when="FIRST_COMPLETED")
        if not starting.done():  # Ctrl-C while starting: stop what is there
            starting.cancel()
            progress("stopping before the stack was ready ...")
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        while not stop.is_set():
            checking = asyncio.create_task(stack.supervisor.check())
            await asyncio.wait({checking, stopping}, return_when="FIRST_COMPLETED")
            if not checking.done():  # Ctrl-C while a part restarts
                checking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checking
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1)
    except (StackError, OSError) as err:
        print(f"devstack: {err}", file=sys.stderr, flush=True)
        code = 1
    except Exception as err:  # e.g. a demo claim refused: still stop every part first
        print(f"devstack: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        code = 1
    finally:
        stopping.cancel()
        await stack.stop()
    return code


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data", type=Path, default=ROOT / ".data", help="state folder (default .data)"
    )
    Ports.add_options(parser)
    parser.add_argument(
        "--demo", action="store_true", help="seed demo claims in every state once it is up"
    )
    return parser.parse_args(argv)


def hold_or_release(argv: list[str]) -> int:
    """`python -m devstack hold|release PART [--data DIR]`: asks the stack running on the
    data folder to stop a part and keep it stopped, or to start it again."""
    parser = argparse.ArgumentParser(
        prog=f"python -m devstack {argv[0]}",
        description="hold: stop one part of the running stack and keep it stopped "
        "(an outage to rehearse); release: start it again.",
    )
    parser.add_argument("part", choices=PART_NAMES)
    parser.add_argument("--data", type=Path, default=ROOT / ".data", help="the stack's folder")
    args = parser.parse_args(argv[1:])
    data: Path = args.data.resolve()
    if argv[0] == "hold":
        hold(data, args.part)
        progress(f"{args.part}: held; the stack on {data} stops it within a few seconds")
    elif release(data, args.part):
        progress(f"{args.part}: released; the stack on {data} starts it within a few seconds")
    else:
        progress(f"{args.part} was not held")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["hold"], ["release"]):
        return hold_or_release(argv)
    return asyncio.run(_main(parse_args(argv)))


if __name__ == "__main__":
    exit_now(main())
