"""Every message shape refuses bad input with a clear `InvalidInput`, and round-trips good input.

Property-based (hypothesis): valid JSON is generated for each inbound model of
workflows/messages.py, then broken in one place at a time: malformed JSON,
an oversized string, an unknown field, a value of the wrong type, a
timestamp without time zone. The converter every worker uses
(`ClaimsJSONPayloadConverter`) must refuse each as a non-retryable
`ApplicationError` of type `InvalidInput` whose message names the field;
that is what turns a bad update into a clean refusal instead of a stuck
workflow task (see starter/converter.py). One integration test sends such
payloads to a running claim with a plain-JSON client and checks the claim is
unchanged.

Documented leniency of pydantic's lax mode, which these tests do not count as
"wrong types": a numeric string or a boolean where an integer is expected
(`size_bytes: "12"`), a boolean survey answer (read as a number), and a Unix
time number for a timestamp (it is UTC, so not zone-less). JSON callers
write ISO-8601 strings; see the contract in docs/lifecycle.md.

Settings: bounded (200 examples per property, derandomized for a stable CI,
no example database), the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from decimal import Decimal
from typing import Any
from typing import get_args

import pytest
from hypothesis import HealthCheck
from hypothesis import assume
from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from starter.client import ClaimsClient
from starter.client import workflow_id
from starter.converter import ClaimsJSONPayloadConverter
from tests.builders import claim_input
from tests.helpers import plain_json_client
from workflows import messages
from workflows.messages import MAX_DOCUMENT_BYTES
from workflows.messages import Inbound

pytestmark = pytest.mark.claims_server("shared")

PURE = settings(max_examples=200, deadline=None, database=None, derandomize=True)

Path = tuple[str | int, ...]
JSON = Any

# --- valid messages, as a JSON caller writes them -------------------------------------------

_TEXT = st.characters(
    codec="utf-8", exclude_categories=("Cs", "Cc", "Cf", "Co", "Cn", "Zl", "Zp")
)  # what workflows.text allows in every text field


def _bounded_text(max_size: int) -> st.SearchStrategy[str]:
    """Non-blank text up to `max_size`, sometimes exactly at the limit (still valid)."""
    return st.one_of(
        st.text(_TEXT, min_size=1, max_size=min(max_size, 24)).filter(lambda s: s.strip() != ""),
        st.just("y" * max_size),
    )


names = _bounded_text(200)
long_texts = _bounded_text(4000)
identifiers = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)
emails = st.from_regex(r"[a-z0-9._%+-]{1,20}@[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True)
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-9, minutes=-30))]
)
aware_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=zones
).map(datetime.isoformat)
roles = st.sampled_from(["incentives_admin", "incentives_user", "reviewer"])

actors = st.fixed_dictionaries({"user": names, "role": roles})
parties = st.fixed_dictionaries({"id": identifiers, "name": names})
contacts = st.fixed_dictionaries(
    {"name": names, "email": emails}, optional={"locale": st.sampled_from(["en", "nl"])}
)
documents = st.fixed_dictionaries(
    {
        "filename": _bounded_text(255),
        "content_type": st.from_regex(r"[a-z]{1,20}/[a-z0-9.+-]{1,40}", fullmatch=True),
        "size_bytes": st.integers(1, MAX_DOCUMENT_BYTES),
        "sha256": st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
        "uri": st.from_regex(r"(https|s3|file)://[a-z0-9./-]{1,200}", fullmatch=True),
    }
)
answer_values = st.one_of(
    st.text(_TEXT, max_size=80),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)

VALID: dict[type[Inbound], st.SearchStrategy[dict[str, JSON]]] = {
    messages.Actor: actors,
    messages.Party: parties,
    messages.Contact: contacts,
    messages.Document: documents,
    messages.ClaimInput: st.fixed_dictionaries(
        {
            "engagement_id": identifiers,
            "partner": parties,
            "customer": parties,
            "workshop": names,
            "consent_at": aware_times,
            "partner_contacts": st.lists(contacts, min_size=1, max_size=3),
            "customer_contact": contacts,
            "actor": actors,
        }
    ),
    messages.AttachDocument: st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["results_and_recommendations", "invoice"]),
            "document": documents,
            "actor": actors,
        }
    ),
    messages.SendSurvey: st.fixed_dictionaries(
        {"kind": st.sampled_from(["partner", "customer"]), "actor": actors},
        optional={"channel": st.sampled_from(["email", "direct"])},
    ),
    messages.UpdateContacts: st.fixed_dictionaries(
        {"actor": actors},
        optional={
            "partner_contacts": st.lists(contacts, min_size=1, max_size=3),
            "customer_contact": contacts,
        },
    ),
    messages.AddComment: st.fixed_dictionaries({"text": long_texts, "actor": actors}),
    messages.Submit: st.fixed_dictionaries({"actor": actors}),
    messages.RequestInfo: st.fixed_dictionaries({"question": long_texts, "actor": actors}),
    messages.Approve: st.fixed_dictionaries({"actor": actors}, optional={"note": long_texts}),
    messages.Reject: st.fixed_dictionaries({"reason": long_texts, "actor": actors}),
    messages.Cancel: st.fixed_dictionaries({"reason": long_texts, "actor": actors}),
    messages.RespondInfo: st.fixed_dictionaries({"text": long_texts, "actor": actors}),
    messages.Dispute: st.fixed_dictionaries({"reason": long_texts, "actor": actors}),
    messages.ResendNotification: st.fixed_dictionaries(
        {"kind": st.sampled_from(get_args(messages.NotificationKind)), "actor": actors}
    ),
    messages.MailRetrying: st.fixed_dictionaries(
        {
            "key": st.text(
                st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=128
            ),
            "attempt": st.integers(1, 10**6),
            "since": aware_times,
            "error": st.text(max_size=300),
        }
    ),
    messages.SurveyCompleted: st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["partner", "customer"]),
            "link_version": st.integers(1, 10**6),
            "respondent_email": emails,
            "answers": st.dictionaries(
                st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True), answer_values, max_size=4
            ),
        }
    ),
    messages.PaymentIssued: st.fixed_dictionaries(
        {
            "reference": names,
            "amount": st.decimals(
                min_value=Decimal("0.01"), max_value=Decimal("1e12"), places=2
            ).map(str),
            "currency": st.from_regex(r"[A-Z]{3}", fullmatch=True),
            "paid_at": aware_times,
        }
    ),
}

MODELS = list(VALID)

STRING_LIMITS: dict[str, int] = {
    "user": 200,
    "name": 200,
    "workshop": 200,
    "reference": 200,
    "email": 254,
    "respondent_email": 254,
    "id": 64,
    "engagement_id": 64,
    "sha256": 64,
    "text": 4000,
    "question": 4000,
    "note": 4000,
    "reason": 4000,
    "answers": 2000,
    "filename": 255,
    "content_type": 255,
    "uri": 2048,
    "amount": 32,
    "currency": 3,
    "key": 128,
    "error": 300,
}
"""The longest accepted string per field (by its own name, or its parent's for answers)."""
CHOICES = {"role", "locale", "kind", "channel"}
"""Strings limited to a fixed set of values."""
TIMESTAMPS = {"consent_at", "paid_at", "since"}


def inbound_models() -> set[type[Inbound]]:
    """Every inbound message class the contract module defines (a `...Fields` base is a
    message without its actor, fuzzed through the message that adds it)."""
    found: set[type[Inbound]] = set()
    pending: list[type[Inbound]] = [Inbound]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if sub.__module__ == messages.__name__ and not sub.__name__.endswith("Fields"):
                found.add(sub)
    return found


def test_every_inbound_message_shape_is_fuzzed() -> None:
    assert inbound_models() == set(VALID)


# --- walking and breaking JSON ------------------------------------------------------------


def nodes(value: JSON, path: Path = ()) -> Iterator[tuple[Path, JSON]]:
    """Every value below the root, with its path."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*path, key), child
            yield from nodes(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*path, index), child
            yield from nodes(child, (*path, index))


def field_name(path: Path) -> str:
    """How `describe_validation_error` names the place: the dotted path."""
    return ".".join(str(part) for part in path)


def string_field(path: Path) -> str:
    """The field that bounds a string: its own key, or `answers` for an answer value."""
    if len(path) >= 2 and path[-2] == "answers":
        return "answers"
    return str(path[-1])


def replaced(value: JSON, path: Path, new: JSON) -> JSON:
    if not path:
        return new
    head, *rest = path
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], tuple(rest), new)}
    assert isinstance(value, list)
    assert isinstance(head, int)
    return [replaced(v, tuple(rest), new) if i == head else v for i, v in enumerate(value)]


def payload(data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


def refusal(model: type[Inbound], data: bytes) -> ApplicationError:
    """The converter's refusal of `data` as `model` (fails the test if it is accepted)."""
    with pytest.raises(ApplicationError) as refused:
        ClaimsJSONPayloadConverter().from_payload(payload(data), model)
    error = refused.value
    assert error.type == "InvalidInput"
    assert error.non_retryable
    assert error.message
    return error


Message = tuple[type[Inbound], dict[str, JSON]]
"""A message's model and a valid plain-JSON document of it, as a caller sends it."""


@st.composite
def valid_messages(draw: st.DrawFn) -> Message:
    model = draw(st.sampled_from(MODELS))
    event(f"model {model.__name__}")
    return model, draw(VALID[model])


def for_each_message(test: Callable[[Message, st.DataObject], None]) -> Callable[[], None]:
    """`test` as a PURE property of every valid message, with `data` to draw more from."""
    property_test: Callable[[], None] = PURE(given(valid_messages(), st.data())(test))
    return property_test


# --- properties ------------------------------------------------------------------------------


@PURE
@given(valid_messages())
def test_valid_messages_round_trip_through_the_converter(
    message: Message,
) -> None:
    model, document = message
    parsed = model.model_validate(document)  # a plain-JSON caller's dict, as sent
    converter = ClaimsJSONPayloadConverter()
    assert converter.from_payload(payload(json.dumps(document).encode()), model) == parsed
    assert converter.from_payload(converter.to_payload(parsed), model) == parsed  # type: ignore[arg-type]


@for_each_message
def test_malformed_json_is_refused(message: Message, data: st.DataObject) -> None:
    model, document = message
    text = json.dumps(document)
    cut = data.draw(st.integers(0, len(text) - 1), label="cut")
    junk = data.draw(st.sampled_from(["", "{", "}", "]", ",", ":", '"', "\\", "\x00"]))
    broken = text[:cut] + junk
    try:
        json.loads(broken)
    except ValueError:
        pass
    else:
        assume(False)  # still JSON (e.g. a cut after a whole number): not malformed
    error = refusal(model, broken.encode())
    assert error.message.startswith("payload: Invalid JSON"), error.message


@PURE
@given(st.sampled_from(MODELS), st.binary(max_size=64))
def test_arbitrary_bytes_are_refused_or_understood_never_crash(
    model: type[Inbound], data: bytes
) -> None:
    """Whatever arrives, the converter answers with a value or an InvalidInput refusal."""
    outcome: object
    try:
        outcome = ClaimsJSONPayloadConverter().from_payload(payload(data), model)
    except ApplicationError as error:
        outcome = error
    if isinstance(outcome, ApplicationError):
        assert outcome.type == "InvalidInput"
    else:
        assert isinstance(outcome, model)


@for_each_message
def test_an_oversized_string_is_refused_naming_its_field(
    message: Message, data: st.DataObject
) -> None:
    model, document = message
    strings = [(path, v) for path, v in nodes(document) if isinstance(v, str)]
    for path, _ in strings:  # every string of every message is bounded
        assert string_field(path) in STRING_LIMITS or path[-1] in CHOICES | TIMESTAMPS, path
    bounded = [path for path, _ in strings if string_field(path) in STRING_LIMITS]
    assume(bounded)
    path = data.draw(st.sampled_from(bounded), label="path")
    extra = data.draw(st.integers(1, 64), label="extra")
    too_long = "x" * (STRING_LIMITS[string_field(path)] + extra)
    error = refusal(model, json.dumps(replaced(document, path, too_long)).encode())
    assert field_name(path) in error.message, (path, error.message)


@for_each_message
def test_an_unknown_field_is_refused_naming_it(message: Message, data: st.DataObject) -> None:
    model, document = message
    objects: list[Path] = [()] + [
        path
        for path, v in nodes(document)
        if isinstance(v, dict) and path[-1] != "answers"  # answers take any question id
    ]
    path = data.draw(st.sampled_from(objects), label="object")
    key = "x_" + data.draw(st.from_regex(r"[a-z0-9_]{1,20}", fullmatch=True), label="key")
    target: Any = document
    for part in path:
        target = target[part]
    error = refusal(model, json.dumps(replaced(document, path, {**target, key: 1})).encode())
    assert f"{field_name((*path, key))}: is not a known field" in error.message, error.message


@for_each_message
def test_a_value_of_the_wrong_type_is_refused_naming_its_field(
    message: Message, data: st.DataObject
) -> None:
    model, document = message
    path, value = data.draw(st.sampled_from(list(nodes(document))), label="field")
    if isinstance(value, dict):
        wrong = data.draw(st.sampled_from(["text", 5, []]))
    elif isinstance(value, list):
        wrong = data.draw(st.sampled_from(["text", 5, {}]))
    else:  # a string or a number: no container is ever one
        wrong = data.draw(st.sampled_from([[], {}, [value], {"value": value}]))
    event(f"wrong {type(wrong).__name__} for {type(value).__name__}")
    error = refusal(model, json.dumps(replaced(document, path, wrong)).encode())
    assert field_name(path) in error.message, (path, error.message)


@PURE
@given(
    st.sampled_from([m for m in MODELS if set(m.model_fields) & TIMESTAMPS]),
    st.data(),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)),
)
def test_a_timestamp_without_time_zone_is_refused_naming_its_field(
    model: type[Inbound], data: st.DataObject, naive: datetime
) -> None:
    document = data.draw(VALID[model], label="message")
    field = next(f for f in TIMESTAMPS if f in document)
    error = refusal(model, json.dumps({**document, field: naive.isoformat()}).encode())
    assert f"{field}: Input should have timezone info" in error.message, error.message


def test_the_number_of_printable_characters_is_not_what_limits_text() -> None:
    """Limits count characters, not bytes: 4000 multi-byte characters are still one comment."""
    comment = {"text": "é" * 4000, "actor": {"user": "u", "role": "incentives_admin"}}
    converter = ClaimsJSONPayloadConverter()
    data = json.dumps(comment, ensure_ascii=False).encode()
    assert converter.from_payload(payload(data), messages.AddComment).text == "é" * 4000


# --- through a running claim --------------------------------------------------------------

UPDATES: dict[str, type[Inbound]] = {
    "attach_document": messages.AttachDocument,
    "send_survey": messages.SendSurvey,
    "update_contacts": messages.UpdateContacts,
    "add_comment": messages.AddComment,
    "submit": messages.Submit,
    "request_info": messages.RequestInfo,
    "approve": messages.Approve,
    "reject": messages.Reject,
}


@st.composite
def malformed_updates(draw: st.DrawFn) -> tuple[str, bytes]:
    """An update name and a payload that its message model refuses."""
    name = draw(st.sampled_from(list(UPDATES)))
    document = draw(VALID[UPDATES[name]])
    how = draw(st.sampled_from(["truncated", "unknown field", "oversized", "wrong type"]))
    if how == "truncated":
        text = json.dumps(document)
        return name, text[: draw(st.integers(0, len(text) - 2))].encode()
    if how == "unknown field":
        return name, json.dumps({**document, "x_extra": True}).encode()
    if how == "oversized":
        return name, json.dumps({**document, "actor": {"user": "u" * 201, "role": "x"}}).encode()
    return name, json.dumps({**document, "actor": ["not", "an", "actor"]}).encode()


async def test_malformed_updates_to_a_running_claim_are_refused_and_change_nothing(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    started = await claims.start_claim(claim_input(await env.get_current_time()))
    eid = started.view.engagement_id
    raw = plain_json_client(claims.client).get_workflow_handle(workflow_id(eid))
    before = await claims.get_claim(eid)
    sent: list[tuple[str, bytes]] = []

    @settings(
        max_examples=6,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(malformed_updates())
    def collect(case: tuple[str, bytes]) -> None:
        sent.append(case)

    # Hypothesis runs synchronous functions; the claim is async, so draw the cases first.
    collect()
    assert sent
    for update, data in sent:
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await raw.execute_update(update, RawValue(payload(data)))
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError), (update, data)
        assert cause.type == "InvalidInput", (update, data, cause.message)
    assert await claims.get_claim(eid) == before
