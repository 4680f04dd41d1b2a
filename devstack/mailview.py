"""A read-only web page over the mail catcher's folder: `python -m devstack.mailview`.

The stack keeps every mail as an .eml file; a newcomer wants to read them and
click the survey links without a mail client. This serves one page on
loopback listing the mails (newest first: date, to, subject, engagement) with
each mail's text below, its http(s) links clickable, and `/raw/<name>` for the
file itself. Standard library only (http.server in a thread), so the stack
needs no extra dependency. Everything taken from a mail is escaped with
`html.escape`; the page allows no scripts (Content-Security-Policy), and only
names that are files of the folder are ever read.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html
import re
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit

from devstack.mailcatcher import body_html
from devstack.mailcatcher import body_text

URL = re.compile(r"https?://[^\s<>\"']+")
"""A link in a mail's text; only http(s), so a mail can't plant a javascript: link."""

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 72rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #ddd; }
section { border: 1px solid #ccc; border-radius: 6px; margin: 1.5rem 0; padding: 0 1rem; }
pre { white-space: pre-wrap; word-break: break-word; }
.meta { color: #555; }
"""


@dataclass(frozen=True)
class CaughtMail:
    """One .eml file of the folder, parsed for the page."""

    name: str
    subject: str
    to: str
    date: str
    engagement: str
    kind: str
    text: str


def linkify(text: str) -> str:
    """`text` escaped for HTML, with every http(s) URL made an <a href>."""
    parts: list[str] = []
    position = 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(".,;:)")
        end = match.start() + len(url)
        parts.append(html.escape(text[position : match.start()]))
        parts.append(f'<a href="{html.escape(url, quote=True)}">{html.escape(url)}</a>')
        position = end
    parts.append(html.escape(text[position:]))
    return "".join(parts)


def _text_of(message: EmailMessage) -> str:
    text = body_text(message)
    if text:
        return text
    # An HTML-only mail: show its markup as text (escaped later), links still found.
    return body_html(message) or "(this mail has no text part)"


def read_mail(path: Path) -> CaughtMail:
    """Parse one .eml file; an unreadable file is listed with what could be read."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    raw_date = str(message["Date"] or "")
    try:
        date = parsedate_to_datetime(raw_date).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except (TypeError, ValueError):
        date = raw_date
    return CaughtMail(
        name=path.name,
        subject=str(message["Subject"] or "(no subject)"),
        to=str(message["To"] or ""),
        date=date,
        engagement=str(message["X-Claim-Engagement"] or ""),
        kind=str(message["X-Claim-Notification"] or ""),
        text=_text_of(message),
    )


def mail_files(folder: Path) -> list[Path]:
    """The .eml files of the folder, newest first (names start with a timestamp and count)."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.glob("*.eml") if p.is_file()), reverse=True)


def render_index(folder: Path) -> str:
    """The whole page: a table of every mail, then each mail's text."""
    mails = [read_mail(path) for path in mail_files(folder)]
    rows = "".join(
        f"<tr><td>{html.escape(m.date)}</td><td>{html.escape(m.to)}</td>"
        f'<td><a href="#{html.escape(m.name, quote=True)}">{html.escape(m.subject)}</a></td>'
        f"<td>{html.escape(m.engagement)}</td><td>{html.escape(m.kind)}</td></tr>"
        for m in mails
    )
    sections = "".join(
        f'<section id="{html.escape(m.name, quote=True)}"><h2>{html.escape(m.subject)}</h2>'
        f'<p class="meta">To: {html.escape(m.to)}<br>Date: {html.escape(m.date)}<br>'
        f'File: <a href="/raw/{quote(m.name)}">{html.escape(m.name)}</a></p>'
        f"<pre>{linkify(m.text)}</pre></section>"
        for m in mails
    )
    empty = "" if mails else "<p>No mails caught yet. Reload this page after a claim mails.</p>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Caught mails ({len(mails)})</title><style>{STYLE}</style></head><body>"
        f"<h1>Caught mails ({len(mails)})</h1>"
        f'<p class="meta">Folder {html.escape(str(folder))}; newest first. Reload to see new '
        "mails.</p>"
        f"{empty}<table><thead><tr><th>Date</th><th>To</th><th>Subject</th><th>Engagement</th>"
        f"<th>Kind</th></tr></thead><tbody>{rows}</tbody></table>{sections}</body></html>"
    )


class _Handler(BaseHTTPRequestHandler):
    """GET / (the page) and GET /raw/<name>.eml; nothing else, nothing written."""

    server: MailViewServer

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        folder = self.server.folder
        if path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", render_index(folder).encode())
            return
        if path.startswith("/raw/"):
            wanted = path.removeprefix("/raw/")
            # Only a name that is one of the listed files: no path ever built from input.
            for candidate in mail_files(folder):
                if candidate.name == wanted:
                    self._send(HTTPStatus.OK, "text/plain; charset=utf-8", candidate.read_bytes())
                    return
        self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in PAGE_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the stack's terminal is for progress lines, not access logs."""


class MailViewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, folder: Path, port: int, host: str = "127.0.0.1") -> None:
        self.folder = folder
        super().__init__((host, port), _Handler)


class MailView:
    """The mail page served from a background thread, on loopback only."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self._server: MailViewServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> MailView:
        """Bind now (so a taken port fails here, loudly) and serve in a thread."""
        self._server = MailViewServer(self.folder, self.port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mailview", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket, so the port is free when this returns."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--folder", type=Path, default=Path(".data/mail"))
    args = parser.parse_args()
    view = MailView(args.folder, args.port)
    view.start()
    print(f"caught mails of {args.folder}/ at {view.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        view.stop()


if __name__ == "__main__":
    main()
