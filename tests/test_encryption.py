"""Personal data stays out of Temporal: payload encryption, key rotation, the codec server.

A claim is driven on the real dev server by a worker and client whose data
converter encrypts (`starter.converter.encrypted_data_converter`); its raw
history, description and query answers are then read as Temporal stores them,
and no contact name, e-mail address, comment or survey answer may appear
there. The same bytes decrypt with the right key, fail with a wrong one, and
stay readable after a rotation. The codec server decodes for an operator's
token only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.common.v1 import Payloads
from temporalio.api.common.v1 import SearchAttributes
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import History
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import QueryWorkflowRequest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from codec_server import app as codec_server
from codec_server.app import SESSION_COOKIE
from codec_server.app import CodecServerConfig
from codec_server.app import OperatorTokens
from codec_server.app import Sessions
from codec_server.app import create_app
from codec_server.app import token_sha256
from starter.client import ClaimsClient
from starter.client import workflow_id
from starter.codec import ENCODING
from starter.codec import KEY_ID_METADATA
from starter.codec import EncryptionCodec
from starter.codec import EncryptionKey
from starter.codec import PayloadDecryptionError
from starter.converter import claims_data_converter
from starter.converter import data_converter
from starter.converter import encrypted_data_converter
from starter.settings import SettingsError
from starter.settings import load_encryption_keys
from starter.settings import load_settings
from tests.builders import REVIEWER
from tests.builders import attach
from tests.builders import claim_input
from tests.helpers import plain_json_client
from tests.helpers import settled
from worker import create_worker
from workflows.messages import Actor
from workflows.messages import AddComment
from workflows.messages import Contact
from workflows.messages import RequestInfo
from workflows.messages import SendSurvey
from workflows.messages import Submit

KEY_A = EncryptionKey("key-a", os.urandom(32))
KEY_B = EncryptionKey("key-b", os.urandom(32))

# Personal data of one claim, each string distinctive enough to be searched for in raw bytes.
ACTOR = Actor(user="pia.private@partner-secret.example", role="incentives_admin")
PARTNER_CONTACT = Contact(name="Zelda Zijlstra", email="zelda.zijlstra@partner-secret.example")
CUSTOMER_CONTACT = Contact(name="Quentin Quist", email="quentin.quist@customer-secret.example")
COMMENT = "Confidential: Quentin asked for a discount on invoice 77-XJQ"
ANSWER = "Workshop was great, says Yolanda Yardley"
RESPONDENT = "yolanda.yardley@customer-secret.example"

PERSONAL_DATA = [
    ACTOR.user,
    PARTNER_CONTACT.name,
    PARTNER_CONTACT.email,
    CUSTOMER_CONTACT.name,
    CUSTOMER_CONTACT.email,
    COMMENT,
    ANSWER,
    RESPONDENT,
]


def key_env(*keys: EncryptionKey) -> str:
    return ",".join(f"{k.key_id}:{base64.b64encode(k.key).decode()}" for k in keys)


def with_converter(client: Client, converter: DataConverter) -> Client:
    """Another client on the same connection, with its own data converter."""
    return Client(client.service_client, namespace=client.namespace, data_converter=converter)


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every payload inside a protobuf message, except search attributes (never encoded)."""
    if isinstance(message, Payload):
        yield message
        return
    if isinstance(message, SearchAttributes):
        return
    for descriptor, value in message.ListFields():
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        entry = descriptor.message_type
        assert entry is not None
        if entry.GetOptions().map_entry:
            if entry.fields_by_name["value"].type != FieldDescriptor.TYPE_MESSAGE:
                continue
            children: Any = value.values()
        elif descriptor.is_repeated:
            children = value
        else:
            children = [value]
        for child in children:
            yield from payloads_in(child)


SDK_BOOKKEEPING = {("core_local_activity", "data"), ("core_patch", "patch-data")}
"""Marker details the SDK core writes itself (sequence numbers, activity type, timestamps,
patch ids) as plain JSON, never through the codec; they carry no application data."""


def application_payloads(event: HistoryEvent) -> Iterator[Payload]:
    """The payloads of an event that hold application data: all of them must be encrypted."""
    if event.HasField("marker_recorded_event_attributes"):
        marker = event.marker_recorded_event_attributes
        for key, payloads in marker.details.items():
            if (marker.marker_name, key) not in SDK_BOOKKEEPING:
                yield from payloads.payloads
        return
    yield from payloads_in(event)


def assert_no_personal_data(raw: bytes, where: str) -> None:
    found = [text for text in PERSONAL_DATA if text.encode() in raw]
    assert not found, f"plaintext personal data in {where}: {found}"


async def drive_claim(claims: ClaimsClient, now: Any) -> str:
    """A claim carrying every kind of personal data: contacts, comments, survey answers."""
    claim = claim_input(
        now,
        partner_contacts=[PARTNER_CONTACT],
        customer_contact=CUSTOMER_CONTACT,
        actor=ACTOR,
    )
    eid = claim.engagement_id
    await claims.start_claim(claim)
    await claims.attach_document(eid, attach("results_and_recommendations", actor=ACTOR))
    await claims.attach_document(eid, attach("invoice", actor=ACTOR))
    for kind in ("partner", "customer"):
        await claims.send_survey(eid, SendSurvey(kind=kind, actor=ACTOR))
        token = claims.links.token_from_url(await claims.survey_link(eid, kind))
        await claims.complete_survey(token, RESPONDENT, {"q1": ANSWER, "q2": 9})
    await claims.add_comment(eid, AddComment(text=COMMENT, actor=ACTOR))
    await claims.submit(eid, Submit(actor=ACTOR))
    await claims.request_info(eid, RequestInfo(question="Which sessions ran?", actor=REVIEWER))
    return eid


@pytest.fixture
async def encrypted_claims(
    dev_env: WorkflowEnvironment, activities: ClaimActivities, links: SurveyLinks, task_queue: str
) -> AsyncIterator[ClaimsClient]:
    """A worker and a ClaimsClient on the dev server that encrypt with key A."""
    client = with_converter(dev_env.client, encrypted_data_converter([KEY_A]))
    async with create_worker(client, task_queue, activities):
        yield ClaimsClient(client, task_queue=task_queue, links=links)


# --- on the dev server ---------------------------------------------------------------------


async def test_history_description_and_queries_hold_no_plaintext_personal_data(
    dev_env: WorkflowEnvironment, encrypted_claims: ClaimsClient
) -> None:
    eid = await drive_claim(encrypted_claims, await dev_env.get_current_time())
    view = await encrypted_claims.get_claim(eid)
    assert [c.text for c in view.comments] == [COMMENT]  # the client with the key reads it all
    handle = plain_json_client(dev_env.client).get_workflow_handle(workflow_id(eid))
    await settled(handle)

    history = await handle.fetch_history()
    raw = History(events=history.events).SerializeToString()
    assert_no_personal_data(raw, "the workflow history")
    payloads = [p for event in history.events for p in application_payloads(event)]
    assert len(payloads) > 20
    assert {p.metadata["encoding"] for p in payloads} == {ENCODING}
    assert {p.metadata[KEY_ID_METADATA] for p in payloads} == {KEY_A.key_id.encode()}

    # Search attributes are never encoded: they hold ids, dates and states only.
    description = await handle.describe()
    assert_no_personal_data(description.raw_description.SerializeToString(), "the description")
    # The SDK sends the static summary and details through the whole data converter,
    # codec included (temporalio.client._helpers._encode_user_metadata): encrypted too.
    metadata = description.raw_description.execution_config.user_metadata
    assert metadata.summary.metadata["encoding"] == ENCODING
    assert metadata.details.metadata["encoding"] == ENCODING

    # Query answers (the view; current details for the UI) leave the worker encrypted.
    for query in ("get_claim", "__temporal_workflow_metadata"):
        answer = await dev_env.client.workflow_service.query_workflow(
            QueryWorkflowRequest(
                namespace=dev_env.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id(eid)),
                query=WorkflowQuery(query_type=query),
            )
        )
        assert [p.metadata["encoding"] for p in answer.query_result.payloads] == [ENCODING]
        assert_no_personal_data(answer.query_result.SerializeToString(), f"the {query} answer")

    # What operators read once decoded is free of personal data by design.
    secure = encrypted_claims.client
    described = await secure.get_workflow_handle(workflow_id(eid)).describe()
    texts = [await described.static_summary(), await described.static_details()]
    assert texts[0] is not None
    assert texts[0].startswith(f"Workshop claim {eid}")
    details = await encrypted_claims.handle(eid).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    assert details.current_details.startswith("**Status:**")
    texts.append(details.current_details)
    for text in texts:
        assert_no_personal_data(str(text).encode(), "operator texts (workflows/operator_text.py)")


async def test_history_decrypts_with_the_right_key_and_fails_with_a_wrong_one(
    dev_env: WorkflowEnvironment, encrypted_claims: ClaimsClient
) -> None:
    eid = await drive_claim(encrypted_claims, await dev_env.get_current_time())
    handle = plain_json_client(dev_env.client).get_workflow_handle(workflow_id(eid))
    await settled(handle)
    events = (await handle.fetch_history()).events
    payloads = [p for e in events for p in application_payloads(e)]

    decoded = await EncryptionCodec([KEY_A]).decode(payloads)
    plain = b"".join(p.SerializeToString() for p in decoded)
    for text in PERSONAL_DATA:
        assert text.encode() in plain, text
    assert {p.metadata["encoding"] for p in decoded} >= {b"json/plain"}

    same_id_other_key = EncryptionCodec([EncryptionKey(KEY_A.key_id, os.urandom(32))])
    with pytest.raises(PayloadDecryptionError, match="failed authentication with key 'key-a'"):
        await same_id_other_key.decode(payloads[:1])
    with pytest.raises(PayloadDecryptionError, match="key 'key-a', which is not configured"):
        await EncryptionCodec([KEY_B]).decode(payloads[:1])


async def test_claims_written_with_an_old_key_go_on_after_rotation(
    dev_env: WorkflowEnvironment,
    activities: ClaimActivities,
    links: SurveyLinks,
    task_queue: str,
) -> None:
    """Key B becomes the encrypting key, A stays listed: old history replays, new data uses B."""
    old = with_converter(dev_env.client, encrypted_data_converter([KEY_A]))
    async with create_worker(old, task_queue, activities):
        claims = ClaimsClient(old, task_queue=task_queue, links=links)
        claim = claim_input(await dev_env.get_current_time(), actor=ACTOR)
        eid = claim.engagement_id
        await claims.start_claim(claim)
        await claims.add_comment(eid, AddComment(text=COMMENT, actor=ACTOR))
        await settled(claims.handle(eid))

    rotated = with_converter(dev_env.client, encrypted_data_converter([KEY_B, KEY_A]))
    async with create_worker(rotated, task_queue, activities):
        claims = ClaimsClient(rotated, task_queue=task_queue, links=links)
        await claims.add_comment(eid, AddComment(text="after rotation", actor=ACTOR))
        view = await claims.get_claim(eid)
        assert [c.text for c in view.comments] == [COMMENT, "after rotation"]
        await settled(claims.handle(eid))

    events = (await claims.handle(eid).fetch_history()).events
    payloads = [p for e in events for p in application_payloads(e)]
    key_ids = [p.metadata[KEY_ID_METADATA].decode() for p in payloads]
    assert key_ids[0] == "key-a"  # the start input
    assert key_ids[-1] == "key-b"  # written after the rotation
    # Dropping key A too early would make the old half of the history unreadable.
    with pytest.raises(PayloadDecryptionError, match="key-a"):
        await EncryptionCodec([KEY_B]).decode(payloads)


# --- the codec ------------------------------------------------------------------------------


async def test_every_encoding_uses_a_fresh_nonce_and_names_its_key() -> None:
    codec = EncryptionCodec([KEY_B, KEY_A])
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b'{"name": "Zelda"}')
    first, second = await codec.encode([payload, payload])
    assert first.data != second.data
    assert first.data[:12] != second.data[:12]
    assert b"Zelda" not in first.data
    assert dict(first.metadata) == {"encoding": ENCODING, KEY_ID_METADATA: b"key-b"}
    assert await codec.decode([first]) == [payload]


async def test_a_tampered_payload_is_refused() -> None:
    codec = EncryptionCodec([KEY_A])
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"{}")])
    for index in (0, 12, len(sealed.data) - 1):  # nonce, ciphertext, tag
        altered = bytearray(sealed.data)
        altered[index] ^= 0x01
        tampered = Payload(metadata=sealed.metadata, data=bytes(altered))
        with pytest.raises(PayloadDecryptionError, match="altered"):
            await codec.decode([tampered])
    with pytest.raises(PayloadDecryptionError, match="too short"):
        await codec.decode([Payload(metadata=sealed.metadata, data=sealed.data[:20])])
    no_id = Payload(metadata={"encoding": ENCODING}, data=sealed.data)
    with pytest.raises(PayloadDecryptionError, match=KEY_ID_METADATA):
        await codec.decode([no_id])


async def test_payloads_written_before_encryption_pass_through_decoding() -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"text": "old"}')
    assert await EncryptionCodec([KEY_A]).decode([plain]) == [plain]


def test_keys_must_be_aes_256_with_unique_well_formed_ids() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        EncryptionKey("k", os.urandom(16))
    with pytest.raises(ValueError, match="key id"):
        EncryptionKey("bad id", os.urandom(32))
    with pytest.raises(ValueError, match="duplicate"):
        EncryptionCodec([KEY_A, EncryptionKey(KEY_A.key_id, os.urandom(32))])
    assert "key=" not in repr(KEY_A)


# --- configuration --------------------------------------------------------------------------


def test_encryption_is_off_unless_keys_are_configured() -> None:
    settings = load_settings({"CLAIMS_SECRET_KEY": "s" * 40})
    assert settings.encryption_keys == ()
    assert data_converter(settings) is claims_data_converter


def test_configured_keys_make_an_encrypting_converter_whose_first_key_encrypts() -> None:
    urlsafe = f"{KEY_A.key_id}:{base64.urlsafe_b64encode(KEY_A.key).decode()}"
    env = {
        "CLAIMS_SECRET_KEY": "s" * 40,
        "CLAIMS_ENCRYPTION_KEYS": f" {key_env(KEY_B)} , {urlsafe} ",
    }
    settings = load_settings(env)
    assert settings.encryption_keys == (KEY_B, KEY_A)
    converter = data_converter(settings)
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.payload_codec.encrypting_key_id == "key-b"
    assert converter.payload_converter_class is claims_data_converter.payload_converter_class
    assert KEY_B.key.hex() not in repr(settings)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("just-a-key", "entry 1 must be keyid:base64key"),
        (f"{key_env(KEY_A)},", "entry 2 must be keyid:base64key"),
        ("k1:not base64!", "the key of 'k1' is not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "must be 32 bytes"),
        (f"{key_env(KEY_A)},{key_env(KEY_A)}", "'key-a' is listed twice"),
        (f"bad id:{base64.b64encode(KEY_A.key).decode()}", "key id 'bad id'"),
    ],
    ids=["no id", "empty entry", "bad base64", "short key", "duplicate id", "bad id"],
)
def test_a_malformed_key_setting_names_the_variable_and_never_the_key(
    value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match="CLAIMS_ENCRYPTION_KEYS") as refused:
        load_encryption_keys({"CLAIMS_ENCRYPTION_KEYS": value})
    assert message in str(refused.value)
    assert base64.b64encode(KEY_A.key).decode() not in str(refused.value)


# --- the codec server -----------------------------------------------------------------------

UI = "http://127.0.0.1:8233"


@pytest.fixture
def operator_token() -> str:
    """A fresh random token per test: never hard-coded."""
    return secrets.token_urlsafe(32)


@pytest.fixture
def tokens_file(tmp_path: Path, operator_token: str) -> Path:
    path = tmp_path / "operators.json"
    entries = [{"token_sha256": token_sha256(operator_token), "operator": "Olga Operator"}]
    path.write_text(json.dumps(entries))
    return path


@pytest.fixture
async def codec_http(tokens_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    config = CodecServerConfig(
        codec=EncryptionCodec([KEY_B, KEY_A]),
        operators=OperatorTokens.from_file(tokens_file),
        cors_origins=frozenset([UI]),
    )
    transport = httpx.ASGITransport(app=create_app(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://codec.test") as client:
        yield client


def payloads_json(payloads: Sequence[Payload]) -> dict[str, Any]:
    as_json: dict[str, Any] = json_format.MessageToDict(Payloads(payloads=payloads))
    return as_json


def from_json(body: dict[str, Any]) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


SECRET = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(COMMENT).encode())


async def test_codec_server_decodes_for_an_operator(
    codec_http: httpx.AsyncClient, operator_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    sealed = await EncryptionCodec([KEY_A]).encode([SECRET])
    auth = {"Authorization": f"Bearer {operator_token}", "Origin": UI}
    with caplog.at_level(logging.INFO, logger="claims.codec_server"):
        for path in ("/decode", "/default/decode"):
            response = await codec_http.post(path, json=payloads_json(sealed), headers=auth)
            assert response.status_code == 200, response.text
            assert from_json(response.json()) == [SECRET]
            assert response.headers["access-control-allow-origin"] == UI
            assert response.headers["cache-control"] == "no-store"
    assert "decode of 1 payloads for operator Olga Operator (namespace default)" in caplog.text
    assert COMMENT not in caplog.text

    encoded = await codec_http.post("/encode", json=payloads_json([SECRET]), headers=auth)
    [again] = from_json(encoded.json())
    assert again.metadata[KEY_ID_METADATA] == b"key-b"
    assert await EncryptionCodec([KEY_B]).decode([again]) == [SECRET]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Basic b2xnYTpwdw=="}, 401),
        ({"Authorization": "Bearer "}, 401),
        ({"Authorization": "Bearer not-an-operator-token"}, 403),
    ],
    ids=["no token", "not bearer", "empty token", "unknown token"],
)
async def test_codec_server_refuses_everyone_else_and_returns_nothing(
    codec_http: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    sealed = await EncryptionCodec([KEY_A]).encode([SECRET])
    for path in ("/decode", "/encode", "/default/decode"):
        response = await codec_http.post(path, json=payloads_json(sealed), headers=headers)
        assert response.status_code == status
        assert "payloads" not in response.json()
        assert COMMENT.encode() not in response.content
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_codec_server_answers_the_ui_origin_only(
    codec_http: httpx.AsyncClient, operator_token: str
) -> None:
    preflight = {
        "Origin": UI,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    allowed = await codec_http.options("/default/decode", headers=preflight)
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == UI
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    assert "x-namespace" in allowed.headers["access-control-allow-headers"]

    evil = {**preflight, "Origin": "https://evil.example"}
    refused = await codec_http.options("/default/decode", headers=evil)
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers

    sealed = await EncryptionCodec([KEY_A]).encode([SECRET])
    stolen = await codec_http.post(
        "/decode",
        json=payloads_json(sealed),
        headers={"Authorization": f"Bearer {operator_token}", "Origin": "https://evil.example"},
    )
    assert stolen.status_code == 403
    assert COMMENT.encode() not in stolen.content


async def test_codec_server_refuses_bad_bodies_and_undecryptable_payloads(
    codec_http: httpx.AsyncClient, operator_token: str
) -> None:
    auth = {"Authorization": f"Bearer {operator_token}"}
    for body in (b"not json", b'{"payloads": 3}', b'{"unknown": []}'):
        response = await codec_http.post("/decode", content=body, headers=auth)
        assert response.status_code == 400
        assert "Payloads as protobuf JSON" in response.json()["error"]
    foreign = await EncryptionCodec([EncryptionKey("key-x", os.urandom(32))]).encode([SECRET])
    response = await codec_http.post("/decode", json=payloads_json(foreign), headers=auth)
    assert response.status_code == 400
    assert "'key-x', which is not configured" in response.json()["error"]
    assert (await codec_http.get("/decode", headers=auth)).status_code == 405


async def test_an_operator_signed_in_at_login_decodes_from_the_ui_with_the_session_cookie(
    codec_http: httpx.AsyncClient, operator_token: str
) -> None:
    """The UI without its own login can send cookies only ("include cross-origin credentials")."""
    sealed = payloads_json(await EncryptionCodec([KEY_A]).encode([SECRET]))
    assert (await codec_http.get("/login")).headers["x-frame-options"] == "DENY"
    refused = await codec_http.post("/login", data={"token": "guess"})
    assert refused.status_code == 403
    assert SESSION_COOKIE not in refused.cookies

    signed_in = await codec_http.post("/login", data={"token": operator_token})
    assert signed_in.status_code == 200
    assert "Signed in as Olga Operator" in signed_in.text
    set_cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in set_cookie
    assert "samesite=strict" in set_cookie
    assert operator_token not in signed_in.headers["set-cookie"]

    from_ui = await codec_http.post("/default/decode", json=sealed, headers={"Origin": UI})
    assert from_ui.status_code == 200
    assert from_json(from_ui.json()) == [SECRET]
    assert from_ui.headers["access-control-allow-credentials"] == "true"
    # A cookie travels by itself: without the UI's origin (or from another one) it counts for
    # nothing, so no other page or script can decode with an operator's session.
    assert (await codec_http.post("/decode", json=sealed)).status_code == 401
    elsewhere = await codec_http.post("/decode", json=sealed, headers={"Origin": "https://x.test"})
    assert elsewhere.status_code == 403

    await codec_http.post("/logout")
    signed_out = await codec_http.post("/decode", json=sealed, headers={"Origin": UI})
    assert signed_out.status_code == 401


async def test_a_session_expires_and_a_forged_one_counts_for_nothing(
    tokens_file: Path, operator_token: str
) -> None:
    operators = OperatorTokens.from_file(tokens_file)
    now = [1_000_000.0]
    sessions = Sessions(operators, lifetime=timedelta(hours=8), clock=lambda: now[0])
    olga = operators.find(operator_token)
    assert olga is not None
    value, expires = sessions.issue(olga)
    assert sessions.operator(value) == olga
    assert expires == datetime.fromtimestamp(now[0] + 8 * 3600, UTC)
    stamp, digest, mac = value.split(".")
    assert sessions.operator(f"{int(stamp) + 3600}.{digest}.{mac}") is None  # extended
    assert sessions.operator(f"{stamp}.{'0' * 64}.{mac}") is None  # someone else
    assert Sessions(operators, clock=lambda: now[0]).operator(value) is None  # after a restart
    now[0] += 8 * 3600
    assert sessions.operator(value) is None  # expired


async def test_codec_server_configuration_errors_name_the_variable(
    tmp_path: Path, tokens_file: Path
) -> None:
    keys = {"CLAIMS_ENCRYPTION_KEYS": key_env(KEY_A)}
    cases: list[tuple[dict[str, str], str]] = [
        ({}, "CLAIMS_ENCRYPTION_KEYS is required"),
        (keys, "CLAIMS_CODEC_OPERATOR_TOKENS_FILE is required"),
        (
            {**keys, "CLAIMS_CODEC_OPERATOR_TOKENS_FILE": str(tmp_path / "missing.json")},
            "CLAIMS_CODEC_OPERATOR_TOKENS_FILE",
        ),
        (
            {
                **keys,
                "CLAIMS_CODEC_OPERATOR_TOKENS_FILE": str(tokens_file),
                "CLAIMS_CODEC_CORS_ORIGINS": "*",
            },
            "CLAIMS_CODEC_CORS_ORIGINS",
        ),
    ]
    for env, message in cases:
        with pytest.raises(SettingsError, match=message):
            codec_server.load_config(env)
    bad_entries = tmp_path / "bad.json"
    bad_entries.write_text(json.dumps([{"token_sha256": "abc", "operator": "x"}]))
    with pytest.raises(SettingsError, match="entry 0: token_sha256"):
        OperatorTokens.from_file(bad_entries)
    config = codec_server.load_config(
        {**keys, "CLAIMS_CODEC_OPERATOR_TOKENS_FILE": str(tokens_file)}
    )
    assert config.cors_origins == {"http://127.0.0.1:8233", "http://localhost:8233"}


async def test_the_uvicorn_app_stops_at_start_up_on_bad_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CLAIMS_ENCRYPTION_KEYS", raising=False)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        sent.append(message)

    await codec_server._ConfiguredAtStartup()({"type": "lifespan"}, receive, send)
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "CLAIMS_ENCRYPTION_KEYS" in sent[0]["message"]


# --- codec server hardening (issue 15) ------------------------------------------------------


def codec_client(config: CodecServerConfig, client: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(config), client=(client, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://codec.test")


def codec_config(tokens_file: Path, proxies: frozenset[str] = frozenset()) -> CodecServerConfig:
    return CodecServerConfig(
        codec=EncryptionCodec([KEY_A]),
        operators=OperatorTokens.from_file(tokens_file),
        cors_origins=frozenset([UI]),
        trusted_proxies=proxies,
    )


async def test_operator_tokens_are_read_again_when_the_file_changes(
    codec_http: httpx.AsyncClient, operator_token: str, tokens_file: Path
) -> None:
    sealed = payloads_json(await EncryptionCodec([KEY_A]).encode([SECRET]))
    olga = {"Authorization": f"Bearer {operator_token}"}
    assert (await codec_http.post("/decode", json=sealed, headers=olga)).status_code == 200
    await codec_http.post("/login", data={"token": operator_token})
    session = {"Origin": UI}
    assert (await codec_http.post("/decode", json=sealed, headers=session)).status_code == 200

    pia_token = secrets.token_urlsafe(32)
    entries = [{"token_sha256": token_sha256(pia_token), "operator": "Pia, new on call"}]
    await asyncio.to_thread(tokens_file.write_text, json.dumps(entries))  # Olga off, Pia on
    assert (await codec_http.post("/decode", json=sealed, headers=olga)).status_code == 403
    assert (await codec_http.post("/decode", json=sealed, headers=session)).status_code == 401
    pia = {"Authorization": f"Bearer {pia_token}"}
    assert (await codec_http.post("/decode", json=sealed, headers=pia)).status_code == 200

    await asyncio.to_thread(tokens_file.write_text, "[{broken")  # refuses all, not the old list
    assert (await codec_http.post("/decode", json=sealed, headers=pia)).status_code == 403


@pytest.mark.parametrize(
    ("proxies", "client", "forwarded", "secure"),
    [
        (frozenset({"127.0.0.1"}), "127.0.0.1", "https", True),
        (frozenset(), "127.0.0.1", "https", False),
        (frozenset({"10.0.0.5"}), "127.0.0.1", "https", False),
        (frozenset({"127.0.0.1"}), "127.0.0.1", "http", False),
    ],
    ids=["trusted proxy", "no proxy trusted", "another address", "plain http"],
)
async def test_the_session_cookie_is_secure_behind_a_trusted_tls_proxy(
    tokens_file: Path,
    operator_token: str,
    proxies: frozenset[str],
    client: str,
    forwarded: str,
    secure: bool,
) -> None:
    async with codec_client(codec_config(tokens_file, proxies), client) as http:
        signed_in = await http.post(
            "/login", data={"token": operator_token}, headers={"X-Forwarded-Proto": forwarded}
        )
    assert signed_in.status_code == 200
    assert ("secure" in signed_in.headers["set-cookie"].lower().split("; ")) is secure


@pytest.mark.parametrize("origin", ["https://evil.example", "http://[", "null"])
async def test_sign_in_and_sign_out_from_another_origin_are_refused(
    codec_http: httpx.AsyncClient, operator_token: str, origin: str
) -> None:
    refused = await codec_http.post(
        "/login", data={"token": operator_token}, headers={"Origin": origin}
    )
    assert refused.status_code == 403
    assert SESSION_COOKIE not in refused.cookies
    for own in ("http://codec.test", UI):
        signed_in = await codec_http.post(
            "/login", data={"token": operator_token}, headers={"Origin": own}
        )
        assert signed_in.status_code == 200
    assert (await codec_http.post("/logout", headers={"Origin": origin})).status_code == 403
    sealed = payloads_json(await EncryptionCodec([KEY_A]).encode([SECRET]))
    still = await codec_http.post("/decode", json=sealed, headers={"Origin": UI})
    assert still.status_code == 200  # the forged sign-out ended nothing


async def test_a_namespace_from_the_path_or_header_is_sanitised_before_logging(
    codec_http: httpx.AsyncClient, operator_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    sealed = payloads_json(await EncryptionCodec([KEY_A]).encode([SECRET]))
    auth = {"Authorization": f"Bearer {operator_token}"}
    with caplog.at_level(logging.INFO, logger="claims.codec_server"):
        forged = "/x%0A2026-01-01 INFO operator Mallory signed in/decode"
        assert (await codec_http.post(forged, json=sealed, headers=auth)).status_code == 200
        headers = {**auth, "X-Namespace": "ns\rforged"}
        assert (await codec_http.post("/decode", json=sealed, headers=headers)).status_code == 200
    assert "Mallory" not in caplog.text
    assert "forged" not in caplog.text
    assert caplog.text.count("(namespace (not a namespace name))") == 2


def test_trusted_proxies_must_be_ip_addresses(tokens_file: Path) -> None:
    env = {
        "CLAIMS_ENCRYPTION_KEYS": key_env(KEY_A),
        "CLAIMS_CODEC_OPERATOR_TOKENS_FILE": str(tokens_file),
    }
    with pytest.raises(SettingsError, match="CLAIMS_CODEC_TRUSTED_PROXIES"):
        codec_server.load_config({**env, "CLAIMS_CODEC_TRUSTED_PROXIES": "proxy.example"})
    config = codec_server.load_config({**env, "CLAIMS_CODEC_TRUSTED_PROXIES": "10.0.0.5, ::1"})
    assert config.trusted_proxies == {"10.0.0.5", "::1"}
