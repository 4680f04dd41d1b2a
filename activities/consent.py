"""The consent request's activities: mail the customer contact, record the outcome.

Both are idempotent: a mail's Message-ID comes from its stable key and the
sent-mail ledger skips what already went out; the outcome is written for its
own request only (activities/engagements.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from email.message import Message
from typing import Any

from temporalio import activity

from activities.consent_links import ConsentLinkRef
from activities.consent_links import ConsentLinks
from activities.engagements import EngagementRegistry
from activities.mail import MailSender
from activities.mail import Outgoing
from activities.mail import SentLedger
from activities.mail import SmtpConfig
from activities.mail import TemplateRenderer
from activities.mail import format_date as mail_date
from activities.store import ClaimStore
from workflows.engagements import ConsentMail
from workflows.engagements import ConsentOutcome
from workflows.messages import DeliveryReport


class ConsentMailer(MailSender):
    """Renders `templates/<kind>.{txt,html}.j2` in the contact's language, with the link."""

    def __init__(self, smtp: SmtpConfig, links: ConsentLinks) -> None:
        super().__init__(smtp)
        self._renderer = TemplateRenderer()
        self._links = links

    def build(self, mail: ConsentMail, index: int) -> Message:
        request = mail.request
        contact = request.contact
        lang = contact.locale
        workshop = request.workshop_nl if lang == "nl" else request.workshop
        rendered = self._renderer.render_pair(
            mail.kind,
            {
                "r": request,
                "n": {
                    "engagement_id": request.engagement_id,
                    "workshop": workshop,
                    "customer_name": request.customer_name,
                },
                "recipient": contact,
                "lang": lang,
                "workshop": workshop,
                "link": self._links.url(ConsentLinkRef(request.engagement_id, request.request)),
                "lapses": mail_date(mail.lapses_at, lang),
                "days_left": mail.days_left,
            },
        )
        headers = {"X-Claim-Engagement": request.engagement_id, "X-Claim-Notification": mail.kind}
        return self.compose(contact, rendered, self.message_id(mail.key, index), headers)


class ConsentActivities:
    def __init__(
        self,
        registry: EngagementRegistry,
        mailer: ConsentMailer,
        sent_mail: SentLedger | None = None,
    ) -> None:
        self._registry = registry
        self._mailer = mailer
        self._sent_mail = sent_mail

    @property
    def all(self) -> list[Callable[..., Any]]:
        return [self.send_consent_mail, self.record_consent_outcome]

    @activity.defn(name="send_consent_mail")
    async def send_consent_mail(self, mail: ConsentMail) -> DeliveryReport:
        outgoing = Outgoing(
            key=mail.key,
            filed_under=mail.request.engagement_id,
            recipients=[mail.request.contact.email],
            build=lambda index: self._mailer.build(mail, index),
        )
        return await self._mailer.send(outgoing, ledger=self._sent_mail)

    @activity.defn(name="record_consent_outcome")
    async def record_consent_outcome(self, outcome: ConsentOutcome) -> bool:
        return await self._registry.record_consent_outcome(outcome, datetime.now(UTC))


def consent_activities(
    store: ClaimStore, smtp: SmtpConfig, secret_key: bytes, public_url: str
) -> ConsentActivities:
    """The consent request's activities on the claims database and mail server (one
    sent-mail ledger for every mail)."""
    mailer = ConsentMailer(smtp, ConsentLinks(secret_key, public_url))
    return ConsentActivities(EngagementRegistry(store.engine), mailer, sent_mail=store)
