"""A mail catcher on loopback: an SMTP server that keeps every message it receives.

Used by the local stack (`python -m devstack.mailcatcher`, mails saved as .eml
files in a folder) and by the tests (in memory, with helpers to wait for and
find mails). Recipients can be set to be refused with a 5xx reply, to show
how the claims treat an undeliverable address.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import random
import socket
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from typing import Self
from typing import get_args

from aiosmtpd.controller import Controller

from workflows.messages import NotificationKind

MAIL_KINDS: tuple[str, ...] = (
    *get_args(NotificationKind),
    "remittance",
    "consent_request",
    "consent_reminder",
)
"""What `X-Claim-Notification` can say: every notification kind, the remittance and the
consent request's mails."""

HOLD_AT_MOST = 60.0
"""Seconds a held mail waits for `MailCatcher.release` before it is answered anyway."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, from below the kernel's ephemeral range.

    A port the kernel hands out for `bind(host, 0)` comes from that range, and so do
    the internal ports a Temporal dev server picks for itself the same way: a port
    chosen there for the dev server's frontend can be picked again by the server for
    one of its own services before the frontend binds it, and the server then dies
    ("bind: address already in use"). Below the range, no such choice can meet it.
    """
    low = _ephemeral_low()
    for _ in range(200 if low - PORTS_FROM >= 1000 else 0):
        port = random.randrange(PORTS_FROM, low)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # everything below the range taken: any free one
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def distinct_free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` free ports, all different (two calls to free_port may give the same one)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(host)
        if port not in ports:
            ports.append(port)
    return ports


PORTS_FROM = 20000
"""The lowest port `free_port` chooses (above the well-known and most registered ones)."""


def _ephemeral_low() -> int:
    """The kernel's first ephemeral port (Linux; 32768, its default, elsewhere)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768
    return low


class MailSink:
    """aiosmtpd handler: keeps messages in memory and, if given a folder, on disk."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.refused: set[str] = set()
        self.deferred: set[str] = set()
        self.held: set[str] = set()
        self.released = threading.Event()
        self._messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.lower() in self.refused:
            return "550 5.1.1 mailbox unavailable"
        if address.lower() in self.deferred:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.held & {address.lower() for address in envelope.rcpt_tos}:
            # A slow mail server: answer only once released (or after a minute).
            await asyncio.to_thread(self.released.wait, HOLD_AT_MOST)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._messages.append(message)
            count = len(self._messages)
        if self.folder is not None:
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{count:05d}.eml"
            (self.folder / name).write_bytes(envelope.content)
        return "250 Message accepted"


class MailCatcher:
    """A running SMTP server on loopback around a :class:`MailSink`."""

    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        self.sink = MailSink(folder)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._controller = Controller(self.sink, hostname=self.host, port=self.port)

    def start(self) -> Self:
        self._controller.start()
        return self

    def stop(self) -> None:
        self.release()
        self._controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        return self.sink.messages

    def refuse(self, addresses: Iterable[str]) -> None:
        """Answer RCPT for these addresses with 550 from now on."""
        self.sink.refused.update(a.lower() for a in addresses)

    def defer(self, addresses: Iterable[str]) -> None:
        """Answer RCPT for these addresses with 451 (try again later) until `undefer`."""
        self.sink.deferred.update(a.lower() for a in addresses)

    def undefer(self) -> None:
        self.sink.deferred.clear()

    def hold(self, addresses: Iterable[str]) -> None:
        """Keep mails to these addresses waiting for the server's answer to DATA (a slow
        mail server) until `release`."""
        self.sink.released.clear()
        self.sink.held.update(a.lower() for a in addresses)

    def release(self) -> None:
        """Answer the held mails and hold no more."""
        self.sink.held.clear()
        self.sink.released.set()

    def find(
        self,
        *,
        to: str | None = None,
        kind: str | None = None,
        engagement_id: str | None = None,
    ) -> list[EmailMessage]:
        """Mails received so far, filtered by recipient (the exact address, any case),
        notification kind and engagement. An unknown `kind` is a ValueError at once."""
        if kind is not None and kind not in MAIL_KINDS:
            raise ValueError(f"unknown mail kind {kind!r}: use one of {', '.join(MAIL_KINDS)}")
        found = []
        for message in self.messages:
            if to is not None and to.lower() not in _recipients(message):
                continue
            if kind is not None and message["X-Claim-Notification"] != kind:
                continue
            if engagement_id is not None and message["X-Claim-Engagement"] != engagement_id:
                continue
            found.append(message)
        return found

    async def wait_for(
        self,
        predicate: Callable[[list[EmailMessage]], bool] | None = None,
        *,
        count: int = 1,
        within: float = 15.0,
        **filters: str,
    ) -> list[EmailMessage]:
        """Wait (real time) until `count` mails match the filters (or `predicate` holds for
        the matching mails), and return them; on timeout, fail listing what did arrive."""
        deadline = time.monotonic() + within
        while True:
            found = self.find(**filters)
            if predicate(found) if predicate else len(found) >= count:
                return found
            if time.monotonic() > deadline:
                wanted = "the predicate to hold" if predicate else f"{count} mail(s)"
                raise TimeoutError(
                    f"waited {within:g}s for {wanted} matching {filters or 'anything'}, "
                    f"found {len(found)}; arrived: {self.arrived()}"
                )
            await asyncio.sleep(0.05)

    def assert_no_mail(self, **filters: str) -> None:
        """Fail if any mail received so far matches the filters, listing what arrived.

        Mails leave a claim in order, so call it once a later mail of the same claim
        has arrived (`wait_for`), or the claim is over: then an unwanted mail would
        already be here."""
        found = self.find(**filters)
        if found:
            raise AssertionError(
                f"expected no mail matching {filters or 'anything'}, got {len(found)}; "
                f"arrived: {self.arrived()}"
            )

    def arrived(self) -> str:
        """Every mail received so far, one short line each (for failure messages)."""
        lines = [
            f"{message['X-Claim-Notification'] or '?'} to {', '.join(sorted(_recipients(message)))}"
            f" ({message['X-Claim-Engagement'] or '-'})"
            for message in self.messages
        ]
        return "; ".join(lines) or "nothing"


def _recipients(message: EmailMessage) -> set[str]:
    """The exact addresses a mail is to, lower-cased."""
    header = message["To"]
    addresses = getattr(header, "addresses", ())
    return {address.addr_spec.lower() for address in addresses}


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def body_html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    return part.get_content() if part is not None else ""


def survey_link(message: EmailMessage) -> str:
    """The survey link a mail carries (its text part has it on a line of its own)."""
    return _link(message, "/surveys/")


def consent_link(message: EmailMessage) -> str:
    """The consent link a consent request's mail carries."""
    return _link(message, "/consent/")


def _link(message: EmailMessage, path: str) -> str:
    for line in body_text(message).splitlines():
        if path in line:
            return line.strip()
    raise LookupError(f"no {path.strip('/')} link in mail {message['Subject']!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--folder", type=Path, default=Path(".data/mail"))
    args = parser.parse_args()
    catcher = MailCatcher(args.folder, args.port).start()
    print(f"mail catcher on smtp://127.0.0.1:{catcher.port}, mails saved in {args.folder}/")
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        catcher.stop()


if __name__ == "__main__":
    main()
