"""Notification e-mail: render with Jinja2 (text and HTML), send with aiosmtplib.

One e-mail per recipient, in the recipient's language. Every e-mail carries a
Message-ID derived from the notification's stable key and the recipient's
position, so a retried send is recognisable as the same message. A recipient
that the mail server refuses for good (a 5xx reply to RCPT) is reported back
instead of retried: the claim records it as undeliverable and goes on.

SMTP has no idempotent submission: a message the server accepted cannot be
told apart from one it never saw, so a worker killed between the server's
"250 accepted" and the activity's completion would mail the same people again
on retry. Two things keep that from happening: the activity heartbeats its
progress after each recipient, and a sent-ledger (`SentLedger`, a table keyed
by Message-ID) is written right after each acceptance and checked before each
send. What is left is the few milliseconds between the server's acceptance and
the ledger write (docs/reliability.md measures it).
"""

from __future__ import annotations

import asyncio
import email.policy
import io
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from email.charset import QP
from email.charset import Charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime
from email.utils import formataddr
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from typing import Protocol
from typing import TypedDict
from typing import TypeVar
from typing import Unpack

import aiosmtplib
import jinja2
from opentelemetry import trace

from activities.links import SurveyLinkRef
from activities.links import SurveyLinks
from workflows.messages import Contact
from workflows.messages import DeliveryReport
from workflows.messages import Locale
from workflows.messages import Notification
from workflows.messages import RefusedRecipient
from workflows.rules import REPLY_WINDOW_DAYS
from workflows.rules import REVIEW_CLOCK_DAYS
from workflows.rules import SUBMISSION_WINDOW_DAYS
from workflows.texts import ITEM_LABELS
from workflows.texts import status_words

TEMPLATES = Path(__file__).parent / "templates"

log = logging.getLogger("claims.mail")

T = TypeVar("T")

LEDGER_TIMEOUT = 5.0
"""Seconds a ledger read or write may take before the delivery goes on without it."""


class SentLedger(Protocol):
    """Where accepted messages are noted by Message-ID (activities.store.ClaimStore)."""

    async def sent_among(self, message_ids: Sequence[str]) -> set[str]:
        """Which of these Message-IDs the mail server already accepted."""
        ...

    async def record_sent(
        self, message_id: str, notification_key: str, engagement_id: str, recipient: str
    ) -> None:
        """Note that the mail server accepted this message."""
        ...


_MONTHS_NL = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
]


def format_date(moment: datetime, locale: Locale) -> str:
    """A date as people write it in the recipient's language (UTC)."""
    return _day(moment.astimezone(UTC), locale)


def _day(moment: datetime, locale: Locale) -> str:
    if locale == "nl":
        return f"{moment.day} {_MONTHS_NL[moment.month - 1]} {moment.year}"
    return moment.strftime("%d %B %Y").lstrip("0")


def format_deadline(moment: datetime, locale: Locale) -> str:
    """A moment people act by: date, time and zone, in the moment's own offset (a claim's
    deadline carries its consent's), so no one reads a day off; UTC said as UTC.

    "18 February 2027 at 23:30 (UTC-08:00)", "19 februari 2027 om 10:30 UTC"."""
    offset = moment.utcoffset()
    if offset is None:
        moment, offset = moment.replace(tzinfo=UTC), timedelta(0)
    day = _day(moment, locale)
    at = "om" if locale == "nl" else "at"
    if not offset:
        return f"{day} {at} {moment:%H:%M} UTC"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{day} {at} {moment:%H:%M} (UTC{sign}{minutes // 60:02d}:{minutes % 60:02d})"


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class TemplateRenderer:
    """Renders a mail from a template pair `templates/<name>.{txt,html}.j2`: the text
    template sets the subject, the HTML one is autoescaped."""

    def __init__(self) -> None:
        # Templates ship with the code and change only with a deploy, which restarts the
        # worker: no `auto_reload`, which checks each template file's time on every mail.
        loader = jinja2.FileSystemLoader(TEMPLATES)
        options: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "auto_reload": False,
        }
        self._text = jinja2.Environment(autoescape=False, **options)
        self._html = jinja2.Environment(autoescape=True, **options)

    def render_pair(self, name: str, context: dict[str, Any]) -> RenderedMail:
        text_module = self._text.get_template(f"{name}.txt.j2").make_module(context)
        html = self._html.get_template(f"{name}.html.j2").render(context)
        subject = " ".join(str(getattr(text_module, "subject", "")).split())
        if not subject:
            raise ValueError(f"template {name}.txt.j2 sets no subject")
        return RenderedMail(subject=subject, text=str(text_module).strip() + "\n", html=html)


class MailRenderer(TemplateRenderer):
    """Renders a notification for one recipient from `templates/<kind>.{txt,html}.j2`."""

    def __init__(self, links: SurveyLinks) -> None:
        super().__init__()
        self._links = links

    def context(self, notification: Notification, recipient: Contact) -> dict[str, Any]:
        lang = recipient.locale
        link = None
        if notification.survey_kind is not None and notification.link_version is not None:
            link = self._links.url(
                SurveyLinkRef(
                    notification.engagement_id, notification.survey_kind, notification.link_version
                )
            )
        return {
            "n": notification,
            "recipient": recipient,
            "lang": lang,
            "link": link,
            "deadline": format_deadline(notification.deadline_at, lang),
            "missing": [ITEM_LABELS[lang][item] for item in notification.missing],
            "window_days": SUBMISSION_WINDOW_DAYS,
            "until": None if notification.until is None else format_date(notification.until, lang),
            "status": None
            if notification.status is None
            else status_words(notification.status, lang),
            "reply_days": REPLY_WINDOW_DAYS,
            "review_days": REVIEW_CLOCK_DAYS,
        }

    def render(self, notification: Notification, recipient: Contact) -> RenderedMail:
        return self.render_pair(notification.kind, self.context(notification, recipient))


def message_id(notification: Notification, index: int, mail_from: str) -> str:
    """Stable per notification and recipient, so retries are recognisable."""
    return keyed_message_id(notification.key, index, mail_from)


def keyed_message_id(key: str, index: int, mail_from: str) -> str:
    """The Message-ID of recipient `index` of the mail whose stable key is `key`."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    return f"<{key}.r{index}@{domain}>"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    mail_from: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = 30.0


MAX_FAILURE_REASON = 200
"""The most of an error's own words a failure reason keeps."""


class NotificationUnbuildable(Exception):
    """A notification whose mail can't be built or rendered: no retry would ever build it,
    so it is reported (`notification_failed`) instead of blocking the claim's mail queue."""

    def __init__(self, message: str, error: str) -> None:
        super().__init__(message)
        self.error = error
        """The name of the error that stopped it (what operators are shown)."""


class MailDeferred(Exception):
    """The mail server refused a recipient for now (4xx): the activity is retried."""


_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # bodies stay readable in the raw message and 7-bit clean

WIRE = email.policy.compat32.clone(linesep="\r\n", max_line_length=998, mangle_from_=False)
"""How a message is written for SMTP: CRLF; a header folded only past RFC 5322's 998
characters, so a Message-ID always stays one token; no `>From ` escaping (that is for
mbox files: a body line starting with "From " arrives as written)."""


def wire(message: Message) -> bytes:
    """The message as it goes over SMTP (see `WIRE`)."""
    out = io.BytesIO()
    BytesGenerator(out, policy=WIRE).flatten(message)
    return out.getvalue()


def _single_line(name: str, value: str) -> str:
    """Refuse a line break in a header value: it would start a header of its own."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"the {name} header would contain a line break")
    return value


def _header_text(name: str, text: str) -> str:
    """A header value as is when ASCII, else encoded (RFC 2047) and folded knowing the
    header's name, in encoded words of at most 75 characters that any reader decodes."""
    _single_line(name, text)
    if text.isascii():
        return text
    # Folded to lines of at most 75 characters: each encoded word keeps within RFC 2047's 75.
    return Header(text, "utf-8", header_name=name).encode(maxlinelen=75)


def _address(name: str, display_name: str, address: str) -> str:
    """A `From`/`To` value: the display name quoted when ASCII, else encoded and folded
    like `_header_text`; the address itself is never encoded. An address outside ASCII
    raises `UnicodeEncodeError` here: mail goes out without SMTPUTF8, so such an address
    could never be delivered, and the mail fails while built (`notification_failed`)."""
    _single_line(name, address).encode("ascii")
    if display_name.isascii():
        return formataddr((_single_line(name, display_name), address))
    return f"{_header_text(name, display_name)} <{address}>"


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    """A `text/<subtype>` part in UTF-8, quoted-printable."""
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, _UTF8)
    return part


@dataclass(frozen=True)
class Attachment:
    """A text file attached to a mail (the remittance advice's CSV)."""

    text: str
    subtype: str
    filename: str


@dataclass(frozen=True)
class Outgoing:
    """One mail for several recipients, one message each: what `MailSender` sends."""

    key: str
    """Stable for this mail: the base of its Message-IDs and its key in the ledger."""
    filed_under: str
    """What the ledger files it under: the claim's engagement id (a remittance: its partner)."""
    recipients: Sequence[str]
    """E-mail addresses, in the order the messages are numbered."""
    build: Callable[[int], Message]
    """The message for recipient `index`, carrying its Message-ID."""


class Delivery(TypedDict, total=False):
    """How a send resumes and reports its progress (see `MailSender.send`); each may be
    left out."""

    resume: DeliveryReport | None
    on_progress: Callable[[DeliveryReport], None] | None
    ledger: SentLedger | None


class MailSender:
    """The one way mail leaves: one SMTP connection per mail, one message per recipient,
    progress reported after each, refusals for good reported rather than retried, and
    every accepted message noted in the sent-ledger so a retry never sends it again."""

    def __init__(self, smtp: SmtpConfig) -> None:
        self._smtp = smtp
        # The sender's name and address, parsed once: every message's From and envelope.
        self._sender_name, self._sender_address = parseaddr(smtp.mail_from)

    def message_id(self, key: str, index: int) -> str:
        return keyed_message_id(key, index, self._smtp.mail_from)

    def compose(
        self,
        recipient: Contact,
        rendered: RenderedMail,
        message_id: str,
        headers: Mapping[str, str],
        attachment: Attachment | None = None,
    ) -> Message:
        """One recipient's message, text and HTML, in their language, with its Message-ID
        and the `X-Claim-*` headers that say what it is about (and an attachment, if any).

        Built with the `email.mime` classes, not `EmailMessage`: that one parses every
        header it is given into structured objects, which made building a mail 4 times
        slower, the largest part of the mail activity's CPU (docs/performance.md). The
        MIME structure is the one `EmailMessage` made; the parts are quoted-printable
        (they were 8-bit), and what `EmailMessage` checked is checked here: a line break
        in any header value raises, so a bad mail fails while it is built (recorded as
        `notification_failed`), never half-way through its recipients; names and
        subjects outside ASCII are encoded (RFC 2047)."""
        body = MIMEMultipart("alternative")
        body.attach(_text_part(rendered.text, "plain"))
        body.attach(_text_part(rendered.html, "html"))
        mail: Message = body
        if attachment is not None:
            mail = MIMEMultipart("mixed")
            mail.attach(body)
            part = _text_part(attachment.text, attachment.subtype)
            part.add_header("Content-Disposition", "attachment", filename=attachment.filename)
            mail.attach(part)
        mail["From"] = _address("From", self._sender_name, self._sender_address)
        mail["To"] = _address("To", recipient.name, recipient.email)
        mail["Subject"] = _header_text("Subject", rendered.subject)
        mail["Message-ID"] = _single_line("Message-ID", message_id)
        mail["Date"] = format_datetime(datetime.now(UTC))
        for name, value in headers.items():
            mail[name] = _single_line(name, value)
        mail["Content-Language"] = recipient.locale
        return mail

    async def send(self, mail: Outgoing, **delivery: Unpack[Delivery]) -> DeliveryReport:
        """Send to every recipient not yet handled; report permanent refusals.

        Transient failures (connection refused, 4xx) raise, so the caller retries.
        `on_progress` gets the report after each recipient is handled, so a retry
        can `resume` from it instead of mailing the same people again. With a
        `ledger`, recipients whose Message-ID it lists are skipped as delivered
        (a crash lost the progress, not the mail) and each acceptance is noted
        in it. The ledger only ever prevents duplicates: if the database can't
        be reached, mail still goes out and the heartbeat progress is relied on.
        """
        resume, on_progress = delivery.get("resume"), delivery.get("on_progress")
        ledger = delivery.get("ledger")
        report = resume or DeliveryReport(key=mail.key, delivered=0)
        report = report.model_copy(deep=True)
        remaining = range(report.handled, len(mail.recipients))
        ids = {index: self.message_id(mail.key, index) for index in remaining}
        already: set[str] = set()
        if ledger is not None:
            reached, found = await _within_timeout(ledger.sent_among(list(ids.values())))
            if reached and found is not None:
                already = found
            else:
                ledger = None  # unreachable: don't wait on it for every recipient
        if all(mid in already for mid in ids.values()):
            # Everything went out before a crash lost the progress: no need to connect.
            report.delivered += len(ids)
            report.handled = len(mail.recipients)
            if on_progress is not None:
                on_progress(report)
            return report
        smtp = aiosmtplib.SMTP(
            hostname=self._smtp.host,
            port=self._smtp.port,
            timeout=self._smtp.timeout,
            start_tls=self._smtp.starttls,
            username=self._smtp.username,
            password=self._smtp.password,
        )
        async with smtp:
            for index in remaining:
                if ids[index] in already:
                    report.delivered += 1
                elif await self._traced_send(smtp, mail, index, report):
                    report.delivered += 1
                    if ledger is not None:
                        noted, _ = await _within_timeout(
                            ledger.record_sent(
                                ids[index], mail.key, mail.filed_under, mail.recipients[index]
                            )
                        )
                        if not noted:
                            ledger = None
                report.handled = index + 1
                if on_progress is not None:
                    on_progress(report)
        return report

    async def _traced_send(
        self, smtp: aiosmtplib.SMTP, mail: Outgoing, index: int, report: DeliveryReport
    ) -> bool:
        """One recipient's message, as a span of the request that led to it (no address in
        it: the Message-ID names the mail)."""
        with trace.get_tracer("workshop_claims").start_as_current_span(
            "smtp send", kind=trace.SpanKind.CLIENT
        ) as span:
            span.set_attribute("messaging.message.id", self.message_id(mail.key, index))
            message = wire(mail.build(index))
            return await self._send_one(smtp, message, mail.recipients[index], report)

    async def _send_one(
        self, smtp: aiosmtplib.SMTP, message: bytes, recipient: str, report: DeliveryReport
    ) -> bool:
        """Send one recipient's message: True once accepted, False (noted in `report`) if
        refused for good; transient refusals raise so that the activity is retried."""
        try:
            await smtp.sendmail(self._sender_address, [recipient], message)
        except aiosmtplib.SMTPRecipientsRefused as err:
            if any(r.code < 500 for r in err.recipients):
                codes = ", ".join(sorted({str(r.code) for r in err.recipients}))
                # Raised without the server's words, which name the recipient: the
                # SDK logs every failed attempt, and log lines carry no addresses.
                raise MailDeferred(
                    f"the mail server deferred {len(err.recipients)} recipient(s) ({codes}); "
                    "the send is retried"
                ) from None
            report.refused.extend(
                RefusedRecipient(email=r.recipient, reason=f"{r.code} {r.message}")
                for r in err.recipients
            )
            await smtp.rset()
            return False
        return True


class Mailer(MailSender):
    """Sends notifications: one message per recipient, in the recipient's language."""

    def __init__(self, smtp: SmtpConfig, renderer: MailRenderer) -> None:
        super().__init__(smtp)
        self._renderer = renderer

    def build(self, notification: Notification, index: int) -> Message:
        recipient = notification.recipients[index]
        headers = {
            "X-Claim-Engagement": notification.engagement_id,
            "X-Claim-Notification": notification.kind,
        }
        if notification.survey_kind is not None:
            headers["X-Claim-Survey"] = notification.survey_kind
        return self.compose(
            recipient,
            self._renderer.render(notification, recipient),
            self.message_id(notification.key, index),
            headers,
        )

    def _built(self, notification: Notification, index: int) -> Message:
        try:
            return self.build(notification, index)
        except Exception as err:  # rendering is deterministic: it would fail every time
            reason = f"{type(err).__name__}: {err}"[:MAX_FAILURE_REASON]
            raise NotificationUnbuildable(
                f"the {notification.kind.replace('_', ' ')} mail to recipient {index + 1} "
                f"could not be built ({reason})",
                type(err).__name__,
            ) from err

    async def deliver(
        self, notification: Notification, **delivery: Unpack[Delivery]
    ) -> DeliveryReport:
        """Send a notification to its recipients (see `MailSender.send`). Every message is
        built before the first is sent: one that can't be built fails the whole notification
        (`NotificationUnbuildable`), before anyone got half of it."""
        built = [self._built(notification, index) for index in range(len(notification.recipients))]
        mail = Outgoing(
            key=notification.key,
            filed_under=notification.engagement_id,
            recipients=[contact.email for contact in notification.recipients],
            build=built.__getitem__,
        )
        return await self.send(mail, **delivery)


async def _within_timeout(call: Awaitable[T]) -> tuple[bool, T | None]:
    """Await a ledger call within LEDGER_TIMEOUT: (True, its result), or (False, None)
    with a warning if the database fails or is too slow."""
    try:
        return True, await asyncio.wait_for(call, LEDGER_TIMEOUT)
    except Exception as err:  # any database trouble: go on without the ledger
        log.warning("mail ledger unavailable, relying on heartbeat progress: %r", err)
        return False, None
