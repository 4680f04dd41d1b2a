"""The local stack in one command: `python -m devstack` (what `./scripts/run` calls).

Starts, each with a progress line: the Temporal dev server (state kept in
.data/temporal.db, UI on http://127.0.0.1:8233), a mail catcher on
smtp://127.0.0.1:1025 keeping every mail in .data/mail/, and the claims
worker on its embedded defaults. Ctrl-C (or SIGTERM) stops everything.
A secret key for survey links is made once and kept in .data/secret_key.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path

from devstack.binaries import temporal_cli

ROOT = Path(__file__).resolve().parent.parent


def _wait_for_port(port: int, process: asyncio.subprocess.Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"exited with code {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f}s")


def _secret_key(data: Path) -> str:
    path = data / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


class Stack:
    def __init__(self, data: Path, temporal_port: int, ui_port: int, smtp_port: int) -> None:
        self.data = data
        self.temporal_port = temporal_port
        self.ui_port = ui_port
        self.smtp_port = smtp_port
        self.processes: list[tuple[str, asyncio.subprocess.Process]] = []

    async def _spawn(
        self, name: str, *argv: str, env: dict[str, str] | None = None
    ) -> asyncio.subprocess.Process:
        log = (self.data / f"{name}.log").open("ab")  # the child process writes to it
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append((name, process))
        return process

    async def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        print("[1/3] Temporal dev server ...", flush=True)
        server = await self._spawn(
            "temporal",
            temporal_cli(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.data / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.temporal_port),
            "--ui-port",
            str(self.ui_port),
            "--log-level",
            "warn",
        )
        await asyncio.to_thread(_wait_for_port, self.temporal_port, server, 60)
        print(
            f"      Temporal on 127.0.0.1:{self.temporal_port}; UI: http://127.0.0.1:{self.ui_port}",
            flush=True,
        )

        print("[2/3] mail catcher ...", flush=True)
        catcher = await self._spawn(
            "mailcatcher",
            sys.executable,
            "-m",
            "devstack.mailcatcher",
            "--port",
            str(self.smtp_port),
            "--folder",
            str(self.data / "mail"),
        )
        await asyncio.to_thread(_wait_for_port, self.smtp_port, catcher, 30)
        print(
            f"      smtp://127.0.0.1:{self.smtp_port}; mails saved in {self.data / 'mail'}/",
            flush=True,
        )

        print("[3/3] claims worker ...", flush=True)
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
            "CLAIMS_DATABASE_URL": f"sqlite+aiosqlite:///{self.data / 'claims.db'}",
            "CLAIMS_SMTP_HOST": "127.0.0.1",
            "CLAIMS_SMTP_PORT": str(self.smtp_port),
            "CLAIMS_SECRET_KEY": os.environ.get("CLAIMS_SECRET_KEY") or _secret_key(self.data),
        }
        await self._spawn("worker", sys.executable, "worker.py", env=env)
        await asyncio.sleep(2)
        self.check_alive()
        print(f"      worker running (log: {self.data / 'worker.log'})", flush=True)
        print("Ready. Ctrl-C stops everything.", flush=True)

    def check_alive(self) -> None:
        for name, process in self.processes:
            if process.returncode is not None:
                log = self.data / f"{name}.log"
                raise RuntimeError(f"{name} exited with code {process.returncode}; see {log}")

    async def stop(self) -> None:
        for name, process in reversed(self.processes):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 40)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            print(f"stopped {name}", flush=True)


async def _main(args: argparse.Namespace) -> int:
    stack = Stack(args.data, args.temporal_port, args.ui_port, args.smtp_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        await stack.start()
        while not stop.is_set():
            stack.check_alive()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1)
    except RuntimeError as err:
        print(f"devstack: {err}", file=sys.stderr)
        code = 1
    finally:
        await stack.stop()
    return code


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT / ".data")
    parser.add_argument("--temporal-port", type=int, default=7233)
    parser.add_argument("--ui-port", type=int, default=8233)
    parser.add_argument("--smtp-port", type=int, default=1025)
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
