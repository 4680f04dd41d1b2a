"""Notification e-mail: rendering in both languages, and delivery over real SMTP."""

from __future__ import annotations

import email.policy
import re
from datetime import UTC
from datetime import datetime
from email.header import decode_header
from email.header import make_header
from email.message import EmailMessage
from typing import Any
from typing import get_args

import aiosmtplib
import pytest

from activities.links import SurveyLinkRef
from activities.links import SurveyLinks
from activities.mail import Attachment
from activities.mail import Mailer
from activities.mail import MailRenderer
from activities.mail import MailSender
from activities.mail import RenderedMail
from activities.mail import SmtpConfig
from activities.mail import message_id
from activities.mail import wire
from activities.payments import RemittanceMailer
from activities.payments import RemittanceRenderer
from activities.store import ClaimStore
from claims_testing.data import MAIL_FROM
from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import body_html
from devstack.mailcatcher import body_text
from devstack.mailcatcher import free_port
from devstack.mailcatcher import survey_link
from workflows.messages import Contact
from workflows.messages import DeliveryReport
from workflows.messages import Locale
from workflows.messages import Notification
from workflows.messages import NotificationKind
from workflows.messages import Payment
from workflows.messages import ProofItem
from workflows.messages import RefusedRecipient
from workflows.messages import SurveyKind
from workflows.payments_messages import RemittanceAdvice
from workflows.texts import ITEM_LABELS

ENGAGEMENT = "eng-x"
DEADLINE = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
ANNA = Contact(name="Anna Admin", email="anna@partner.example", locale="en")
JOOST = Contact(name="Joost de Vries", email="joost@partner.example", locale="nl")
CARLA = Contact(name="Carla Customer", email="carla@customer.example", locale="en")
LOCALES: tuple[Locale, ...] = get_args(Locale)
ALL_MISSING: list[ProofItem] = list(get_args(ProofItem))


def notification(kind: NotificationKind, **changes: Any) -> Notification:
    """A complete notification of `kind`, with what that kind's template needs."""
    fields: dict[str, Any] = {
        "key": f"{ENGAGEMENT}.n1",
        "kind": kind,
        "engagement_id": ENGAGEMENT,
        "partner_name": "Contoso Consulting",
        "customer_name": "Fabrikam BV",
        "workshop": "Cloud adoption workshop",
        "recipients": [ANNA, JOOST],
        "deadline_at": DEADLINE,
    }
    if kind == "survey_invitation":
        fields |= {"survey_kind": "partner", "link_version": 1}
    if kind == "reminder":
        fields |= {"days_left": 7, "missing": ["partner_survey", "invoice"]}
    if kind == "auto_rejected":
        fields |= {"missing": ["invoice"]}
    if kind in (
        "info_requested",
        "rejected",
        "approved",
        "cancelled",
        "rejected_final",
        "payment_held",
    ):
        fields |= {"text": "Please add the attendee list."}
    if kind == "reply_reminder":
        fields |= {"days_left": 7, "until": DEADLINE, "text": "Who attended?"}
    if kind in ("dispute_received", "review_escalation"):
        fields |= {"to_review_desk": True, "status": "disputed", "text": "It was eligible."}
    if kind == "paid":
        fields |= {
            "payment": Payment(
                reference="PAY-2025-001",
                amount="1250.00",
                currency="EUR",
                paid_at=datetime(2025, 4, 2, tzinfo=UTC),
            )
        }
    fields |= changes
    return Notification(**fields)


def contact(locale: Locale) -> Contact:
    return JOOST if locale == "nl" else ANNA


# Every notification kind, with the survey invitation for both surveys.
CASES: list[tuple[NotificationKind, dict[str, Any]]] = [
    ("survey_invitation", {"survey_kind": "partner", "link_version": 1}),
    ("survey_invitation", {"survey_kind": "customer", "link_version": 1, "recipients": [CARLA]}),
    ("reminder", {}),
    ("info_requested", {}),
    ("approved", {}),
    ("rejected", {}),
    ("auto_rejected", {}),
    ("paid", {}),
    ("reply_reminder", {}),
    ("expired", {}),
    ("cancelled", {}),
    ("dispute_received", {}),
    ("rejected_final", {}),
    ("review_escalation", {}),
    ("payment_held", {}),
]
CASE_IDS = [
    f"{kind}-{changes['survey_kind']}" if kind == "survey_invitation" else kind
    for kind, changes in CASES
]


def test_the_cases_cover_every_notification_kind() -> None:
    assert {kind for kind, _ in CASES} == set(get_args(NotificationKind))


@pytest.fixture
def renderer(links: SurveyLinks) -> MailRenderer:
    return MailRenderer(links)


# --- rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("kind", "changes"), CASES, ids=CASE_IDS)
def test_every_notification_renders_in_both_languages_with_the_engagement_in_the_subject(
    renderer: MailRenderer, kind: NotificationKind, changes: dict[str, Any], locale: Locale
) -> None:
    recipient = Contact(name="Sam Sample", email="sam@example.com", locale=locale)

    mail = renderer.render(notification(kind, **changes), recipient)

    assert ENGAGEMENT in mail.subject
    assert "\n" not in mail.subject
    assert mail.text.strip()
    assert mail.html.strip()
    assert "Sam Sample" in mail.text
    assert "Sam Sample" in mail.html
    assert f'<html lang="{locale}">' in mail.html
    assert "None" not in mail.text


@pytest.mark.parametrize(("kind", "changes"), CASES, ids=CASE_IDS)
def test_dutch_mail_is_written_in_dutch_and_english_mail_in_english(
    renderer: MailRenderer, kind: NotificationKind, changes: dict[str, Any]
) -> None:
    dutch = renderer.render(notification(kind, **changes), JOOST)
    english = renderer.render(notification(kind, **changes), ANNA)

    assert dutch.text.startswith("Beste Joost de Vries,")
    assert "Beste Joost de Vries," in dutch.html
    assert "Dear" not in dutch.text
    assert english.text.startswith("Dear Anna Admin,")
    assert "Dear Anna Admin," in english.html
    assert "Beste" not in english.text
    assert dutch.subject != english.subject


@pytest.mark.parametrize(
    ("kind", "english", "dutch"),
    [
        pytest.param("rejected", "dispute the rejection", "bezwaar maken", id="dispute-window"),
        pytest.param(
            "info_requested", "otherwise the claim expires", "verloopt", id="reply-window"
        ),
    ],
)
def test_a_mail_about_a_window_says_until_when_in_the_recipients_language(
    renderer: MailRenderer, kind: NotificationKind, english: str, dutch: str
) -> None:
    windowed = notification(kind, until=datetime(2025, 5, 2, tzinfo=UTC))

    assert "2 May 2025" in renderer.render(windowed, ANNA).text
    assert english in renderer.render(windowed, ANNA).text
    assert "2 mei 2025" in renderer.render(windowed, JOOST).text
    assert dutch in renderer.render(windowed, JOOST).html
    assert "2 May 2025" not in renderer.render(notification(kind), ANNA).text


def test_dates_are_written_in_the_recipients_language(renderer: MailRenderer) -> None:
    dutch = renderer.render(notification("reminder"), JOOST)
    english = renderer.render(notification("reminder"), ANNA)

    assert "31 maart 2025" in dutch.text
    assert "31 March 2025" in english.text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("survey_kind", ["partner", "customer"])
@pytest.mark.parametrize("link_version", [1, 3])
def test_a_survey_invitation_carries_exactly_the_link_survey_links_make(
    renderer: MailRenderer,
    links: SurveyLinks,
    locale: Locale,
    survey_kind: SurveyKind,
    link_version: int,
) -> None:
    ref = SurveyLinkRef(ENGAGEMENT, survey_kind, link_version)
    expected = links.url(ref)
    invitation = notification(
        "survey_invitation", survey_kind=survey_kind, link_version=link_version
    )

    mail = renderer.render(invitation, contact(locale))

    assert expected in mail.text.splitlines()
    assert f'href="{expected}"' in mail.html
    assert links.verify(links.token_from_url(expected)) == ref


def test_html_escapes_what_the_claim_data_contains(renderer: MailRenderer) -> None:
    hostile = "<script>alert('x')</script> & co"
    invitation = notification(
        "survey_invitation", workshop=hostile, partner_name=hostile, customer_name=hostile
    )

    mail = renderer.render(invitation, contact("en"))

    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert "&amp; co" in mail.html
    assert hostile in mail.text


def test_html_escapes_the_reviewers_text(renderer: MailRenderer) -> None:
    question = notification("info_requested", text='<img src=x onerror="alert(1)">')

    mail = renderer.render(question, contact("nl"))

    assert "<img" not in mail.html
    assert "&lt;img" in mail.html
    assert '<img src=x onerror="alert(1)">' in mail.text


@pytest.mark.parametrize("locale", LOCALES)
def test_a_reminder_lists_the_missing_items_in_the_recipients_language(
    renderer: MailRenderer, locale: Locale
) -> None:
    other: Locale = "en" if locale == "nl" else "nl"
    reminder = notification("reminder", missing=ALL_MISSING, days_left=30)

    mail = renderer.render(reminder, contact(locale))

    for item in ALL_MISSING:
        label = ITEM_LABELS[locale][item]
        assert f"- {label}" in mail.text
        assert f"<li>{label}</li>" in mail.html
        if ITEM_LABELS[other][item] != label:
            assert ITEM_LABELS[other][item] not in mail.text
    assert "30" in mail.subject


def test_a_reminder_lists_only_the_items_still_missing(renderer: MailRenderer) -> None:
    reminder = notification("reminder", missing=["customer_survey"])

    mail = renderer.render(reminder, ANNA)

    assert "- customer survey" in mail.text
    assert "invoice" not in mail.text
    assert "partner survey" not in mail.text


def test_a_reminder_with_one_day_left_says_day_not_days(renderer: MailRenderer) -> None:
    english = renderer.render(notification("reminder", days_left=1), ANNA)
    dutch = renderer.render(notification("reminder", days_left=1), JOOST)

    assert "1 day left" in english.subject
    assert "nog 1 dag " in dutch.subject


def test_the_message_id_is_stable_per_notification_and_recipient() -> None:
    first = notification("approved")
    retried = notification("approved")

    assert message_id(first, 0, MAIL_FROM) == message_id(retried, 0, MAIL_FROM)
    assert message_id(first, 0, MAIL_FROM) == f"<{ENGAGEMENT}.n1.r0@claims.test>"
    assert message_id(first, 0, MAIL_FROM) != message_id(first, 1, MAIL_FROM)
    assert message_id(first, 0, MAIL_FROM) != message_id(
        notification("approved", key=f"{ENGAGEMENT}.n2"), 0, MAIL_FROM
    )


def test_building_the_same_mail_twice_gives_the_same_message_id(renderer: MailRenderer) -> None:
    mailer = Mailer(SmtpConfig(host="127.0.0.1", port=1, mail_from=MAIL_FROM), renderer)
    approved = notification("approved")

    first = mailer.build(approved, 0)
    again = mailer.build(approved, 0)
    other = mailer.build(approved, 1)

    assert first["Message-ID"] == again["Message-ID"] == f"<{ENGAGEMENT}.n1.r0@claims.test>"
    assert other["Message-ID"] == f"<{ENGAGEMENT}.n1.r1@claims.test>"


# --- delivery over real SMTP -------------------------------------------------------------


@pytest.fixture
def mailer(mailbox: MailCatcher, renderer: MailRenderer) -> Mailer:
    smtp = SmtpConfig(host=mailbox.host, port=mailbox.port, mail_from=MAIL_FROM, timeout=5)
    return Mailer(smtp, renderer)


async def test_deliver_sends_one_mail_per_recipient_with_the_claim_headers(
    mailer: Mailer, mailbox: MailCatcher, renderer: MailRenderer, links: SurveyLinks
) -> None:
    invitation = notification("survey_invitation", survey_kind="partner", link_version=2)
    sent: list[int] = []

    report = await mailer.deliver(invitation, on_progress=lambda r: sent.append(r.handled))

    assert report.key == invitation.key
    assert report.delivered == 2
    assert report.refused == []
    assert sent == [1, 2]
    mails = mailbox.messages
    assert len(mails) == 2
    expected_link = links.url(SurveyLinkRef(ENGAGEMENT, "partner", 2))
    for index, (mail, recipient) in enumerate(zip(mails, [ANNA, JOOST], strict=True)):
        assert mail["To"].addresses[0].addr_spec == recipient.email
        assert mail["To"].addresses[0].display_name == recipient.name
        assert mail["From"] == MAIL_FROM
        assert mail["Subject"] == renderer.render(invitation, recipient).subject
        assert ENGAGEMENT in mail["Subject"]
        assert mail["Message-ID"] == f"<{ENGAGEMENT}.n1.r{index}@claims.test>"
        assert mail["X-Claim-Notification"] == "survey_invitation"
        assert mail["X-Claim-Engagement"] == ENGAGEMENT
        assert mail["X-Claim-Survey"] == "partner"
        assert mail["Date"] is not None
        assert survey_link(mail) == expected_link
        assert f'href="{expected_link}"' in body_html(mail)
    assert body_text(mails[1]).startswith("Beste Joost de Vries,")
    assert "vul de partnerenquête in" in mails[1]["Subject"]


async def test_a_mail_without_a_survey_has_no_survey_header(
    mailer: Mailer, mailbox: MailCatcher
) -> None:
    await mailer.deliver(notification("approved", recipients=[ANNA]))

    (mail,) = await mailbox.wait_for(kind="approved", engagement_id=ENGAGEMENT)
    assert mail["X-Claim-Survey"] is None
    assert mail["X-Claim-Notification"] == "approved"


async def test_a_recipient_refused_for_good_is_reported_and_the_others_still_get_mail(
    mailer: Mailer, mailbox: MailCatcher
) -> None:
    bounced = Contact(name="Gone Away", email="gone@partner.example", locale="en")
    mailbox.refuse([bounced.email])
    rejected = notification("rejected", recipients=[ANNA, bounced, JOOST])
    sent: list[int] = []

    report = await mailer.deliver(rejected, on_progress=lambda r: sent.append(r.handled))

    assert report.delivered == 2
    assert [r.email for r in report.refused] == [bounced.email]
    assert report.refused[0].reason.startswith("550")
    assert sent == [1, 2, 3]
    received = {m["To"].addresses[0].addr_spec: m["Message-ID"] for m in mailbox.messages}
    assert received == {
        ANNA.email: f"<{ENGAGEMENT}.n1.r0@claims.test>",
        JOOST.email: f"<{ENGAGEMENT}.n1.r2@claims.test>",
    }


async def test_a_resumed_delivery_skips_the_recipients_already_handled_and_keeps_refusals(
    mailer: Mailer, mailbox: MailCatcher
) -> None:
    paid = notification("paid", recipients=[ANNA, JOOST, CARLA])
    earlier_refusal = RefusedRecipient(email=ANNA.email, reason="550 mailbox unavailable")
    progress = DeliveryReport(key=paid.key, delivered=0, refused=[earlier_refusal], handled=1)
    sent: list[int] = []

    report = await mailer.deliver(
        paid, resume=progress, on_progress=lambda r: sent.append(r.handled)
    )

    assert report.delivered == 2
    assert report.refused == [earlier_refusal]
    assert sent == [2, 3]
    assert [m["To"].addresses[0].addr_spec for m in mailbox.messages] == [
        JOOST.email,
        CARLA.email,
    ]
    assert [m["Message-ID"] for m in mailbox.messages] == [
        f"<{ENGAGEMENT}.n1.r1@claims.test>",
        f"<{ENGAGEMENT}.n1.r2@claims.test>",
    ]
    assert mailbox.find(to=ANNA.email) == []


async def test_a_retry_sends_the_same_message_ids_again(
    mailer: Mailer, mailbox: MailCatcher
) -> None:
    approved = notification("approved")

    await mailer.deliver(approved)
    await mailer.deliver(approved)

    ids = [m["Message-ID"] for m in mailbox.messages]
    assert ids[:2] == ids[2:]
    assert len(set(ids)) == 2


async def test_a_mail_server_that_cannot_be_reached_raises_so_the_send_is_retried(
    renderer: MailRenderer,
) -> None:
    closed = SmtpConfig(host="127.0.0.1", port=free_port(), mail_from=MAIL_FROM, timeout=5)
    mailer = Mailer(closed, renderer)
    sent: list[int] = []

    with pytest.raises(aiosmtplib.SMTPConnectError):
        await mailer.deliver(notification("approved"), on_progress=lambda r: sent.append(r.handled))

    assert sent == []


async def test_each_mail_declares_the_recipients_language(
    mailer: Mailer, mailbox: MailCatcher
) -> None:
    await mailer.deliver(notification("approved"))

    assert [m["Content-Language"] for m in mailbox.messages] == ["en", "nl"]


async def test_a_remittance_goes_through_the_same_sender_and_its_ledger_mails_it_once(
    mailbox: MailCatcher, store: ClaimStore
) -> None:
    smtp = SmtpConfig(host=mailbox.host, port=mailbox.port, mail_from=MAIL_FROM, timeout=5)
    mailer = RemittanceMailer(smtp, RemittanceRenderer())
    advice = RemittanceAdvice(
        batch_id="2025-04-01",
        partner_id="partner-42",
        partner_name="Contoso Consulting",
        cycle_date=datetime(2025, 4, 1, tzinfo=UTC),
        lines=[],
        contacts=[ANNA, JOOST],
    )

    first = await mailer.deliver(advice, ledger=store)
    # A retry that lost its progress (a crash after the server accepted) sends nothing again.
    again = await mailer.deliver(advice, ledger=store)

    assert first.delivered == again.delivered == 2
    assert len(mailbox.messages) == 2
    assert {m["Message-ID"] for m in mailbox.messages} == {
        "<remittance.2025-04-01.partner-42.r0@claims.test>",
        "<remittance.2025-04-01.partner-42.r1@claims.test>",
    }
    assert {m["Message-ID"] for m in mailbox.messages} <= await store.mail_ledger_ids()


async def test_names_and_subjects_outside_ascii_arrive_exactly_as_written(
    mailer: Mailer, mailbox: MailCatcher, renderer: MailRenderer
) -> None:
    # A long name outside ASCII: encoded (RFC 2047) and folded, yet read back whole.
    zoe = Contact(
        name="Zoë van der Vriës-Ångström de la Vallée Poussin",
        email="zoe@partner.example",
        locale="nl",
    )
    invitation = notification(
        "survey_invitation", survey_kind="partner", link_version=1, recipients=[zoe]
    )

    await mailer.deliver(invitation)

    [mail] = mailbox.messages
    assert rfc2047(mail, "To") == f"{zoe.name} <{zoe.email}>"
    assert mail["To"].addresses[0].addr_spec == zoe.email
    assert mail["Subject"] == renderer.render(invitation, zoe).subject
    assert "partnerenquête" in mail["Subject"]
    assert mail.get_content_type() == "multipart/alternative"
    assert body_text(mail).startswith(f"Beste {zoe.name},")
    assert zoe.name in body_html(mail)


# --- the message on the wire --------------------------------------------------------------


def _sender(mail_from: str = MAIL_FROM) -> MailSender:
    """A sender that only composes (nothing listens on its port)."""
    return MailSender(SmtpConfig(host="127.0.0.1", port=25, mail_from=mail_from))


def _over_the_wire(
    rendered: RenderedMail,
    *,
    mail_from: str = MAIL_FROM,
    recipient: Contact = ANNA,
    mid: str = "<eng-1.n1.r0@claims.test>",
    attachment: Attachment | None = None,
) -> tuple[bytes, EmailMessage]:
    """The bytes `MailSender` sends for one message, and how a mail reader parses them."""
    raw = wire(_sender(mail_from).compose(recipient, rendered, mid, {}, attachment))
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


def rfc2047(mail: EmailMessage, name: str) -> str:
    """A header as RFC 2047 reads it: adjacent encoded words joined without the folding
    space between them (the stdlib's address parser keeps that space in a display name,
    so it can't check a long name exactly)."""
    raw = dict(mail.raw_items())[name]
    return str(make_header(decode_header(str(raw))))


PLAIN = RenderedMail(subject="Workshop claim eng-1", text="Hello\n", html="<p>Hello</p>")


def test_a_body_line_starting_with_from_arrives_as_written() -> None:
    # ">From " escaping is for mbox files; a reviewer's question may well start so.
    rendered = RenderedMail(
        subject=PLAIN.subject, text="Hello,\nFrom now on, attach the invoice.\n", html="<p/>"
    )
    csv = Attachment(text="From,To\n1,2\n", subtype="csv", filename="advice.csv")

    _, mail = _over_the_wire(rendered, attachment=csv)

    assert "\nFrom now on, attach the invoice." in body_text(mail)
    [attached] = list(mail.iter_attachments())
    assert attached.get_content().startswith("From,To")


def test_a_sender_name_outside_ascii_keeps_its_address() -> None:
    _, mail = _over_the_wire(PLAIN, mail_from="Workshopprogramma Zoë <claims@claims.test>")

    assert mail["From"].addresses[0].addr_spec == "claims@claims.test"
    assert rfc2047(mail, "From") == "Workshopprogramma Zoë <claims@claims.test>"


def test_a_long_name_outside_ascii_is_folded_into_short_encoded_words() -> None:
    long_name = "Zoë-Ångström " * 12
    recipient = Contact(name=long_name.strip(), email="zoe@partner.example", locale="nl")

    raw, mail = _over_the_wire(PLAIN, recipient=recipient)

    to_header = raw.split(b"\r\nTo: ", 1)[1].split(b"\r\nSubject: ", 1)[0].split(b"\r\n")
    assert len(to_header) > 1, to_header  # folded
    assert all(len(line) <= 78 for line in to_header), to_header
    assert all(len(word) <= 75 for word in re.findall(rb"=\?utf-8\?[qb]\?[^?]*\?=", raw, re.I))
    assert rfc2047(mail, "To") == f"{recipient.name} <{recipient.email}>"


def test_a_long_message_id_stays_one_token() -> None:
    # The ledger and the recipients' mail programs match it character for character.
    mid = f"<{'eng-' + 'x' * 70}.n1.r0@claims.test>"

    _, mail = _over_the_wire(PLAIN, mid=mid)

    assert mail["Message-ID"] == mid


@pytest.mark.parametrize(
    ("field", "rendered", "recipient"),
    [
        ("Subject", RenderedMail("Claim\r\nBcc: all@example.com", "x", "x"), ANNA),
        # Contact refuses such a name; one accepted before that rule must still not pass.
        ("To", PLAIN, Contact.model_construct(name="Anna\nBcc: x", email=ANNA.email, locale="en")),
    ],
)
def test_a_line_break_in_a_header_fails_the_build_not_the_send(
    field: str, rendered: RenderedMail, recipient: Contact
) -> None:
    with pytest.raises(ValueError, match=f"the {field} header would contain a line break"):
        _sender().compose(recipient, rendered, "<eng-1.n1.r0@claims.test>", {})
