"""Encryption of every Temporal payload of claims: AES-256-GCM with key ids, so keys rotate.

Why: a claim's payloads carry personal data (contact names and e-mail
addresses, comments, survey answers and respondents). Temporal stores
payloads as they are given and shows them to anyone who can open the UI or
call the service, so the worker and every client encrypt them before they
leave the process; only holders of a key (workers, clients, the codec server
of `codec_server`) read them back. See docs/security.md.

Format, per payload: the whole original payload (metadata and data,
serialised as protobuf) is encrypted with AES-256-GCM under a fresh random
12-byte nonce; the new payload's data is ``nonce || ciphertext-with-tag`` and
its metadata is ``encoding: binary/encrypted`` plus ``encryption-key-id``,
the id of the key used. That is the layout of Temporal's own encryption
samples (temporalio/samples-python ``encryption/codec.py`` and its Go and
TypeScript twins), so a codec written in another language from those samples
reads these payloads given the same key. The key id is what makes rotation
work: the first configured key encrypts, every configured key decrypts, and
each payload names the key it needs.

Decoding passes through payloads that are not ``binary/encrypted``: histories
written before encryption was switched on stay readable (and replayable).

References used: Temporal docs "Payload encryption - Python SDK"
(docs.temporal.io/develop/python/data-handling/data-encryption), the
`temporalio.converter.PayloadCodec` API reference, and the samples above.

This module uses ``os.urandom`` and the ``cryptography`` package: it runs in
clients and in the worker's codec, outside the workflow sandbox, and no
workflow module imports it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
"""The `encoding` metadata of an encrypted payload (the value Temporal's samples use)."""
KEY_ID_METADATA = "encryption-key-id"
"""Metadata naming the key a payload was encrypted with."""
KEY_BYTES = 32
"""AES-256."""
NONCE_BYTES = 12
"""The GCM nonce size recommended by NIST SP 800-38D, random per payload."""
TAG_BYTES = 16

KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
"""Key ids go in payload metadata and in configuration (`id:base64key`, comma-separated)."""


class PayloadDecryptionError(ValueError):
    """An encrypted payload can't be read: unknown key id, wrong key, or altered bytes.

    Never retried into success by waiting: a worker that raises it has the wrong
    keys configured (add the missing key, keep old keys until nothing needs them).
    """


@dataclass(frozen=True)
class EncryptionKey:
    """One AES-256 key and the id that payloads encrypted with it carry."""

    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not KEY_ID_PATTERN.fullmatch(self.key_id):
            raise ValueError(f"key id {self.key_id!r} must be 1-64 characters of A-Z a-z 0-9 . _ -")
        if len(self.key) != KEY_BYTES:
            raise ValueError(
                f"key {self.key_id!r} must be {KEY_BYTES} bytes (AES-256), got {len(self.key)}"
            )


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM payload codec: the first key encrypts, any listed key decrypts."""

    def __init__(self, keys: Sequence[EncryptionKey]) -> None:
        if not keys:
            raise ValueError("an encryption codec needs at least one key")
        ids = [k.key_id for k in keys]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate encryption key ids: {', '.join(duplicates)}")
        self._encrypting_id = keys[0].key_id
        self._ciphers = {k.key_id: AESGCM(k.key) for k in keys}

    @property
    def encrypting_key_id(self) -> str:
        """The id new payloads are encrypted with."""
        return self._encrypting_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every id this codec can decrypt."""
        return tuple(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._encrypting_id]
        key_id = self._encrypting_id.encode()
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(payload) for payload in payloads]

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # not encrypted: written before encryption was configured
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_id is None:
            raise PayloadDecryptionError(
                f"encrypted payload has no {KEY_ID_METADATA} metadata: it can't be decrypted"
            )
        key_id = raw_id.decode("utf-8", errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload was encrypted with key {key_id!r}, which is not configured "
                f"(known key ids: {', '.join(self._ciphers)}); add it to "
                "CLAIMS_ENCRYPTION_KEYS after the current key"
            )
        data = payload.data
        if len(data) < NONCE_BYTES + TAG_BYTES:
            raise PayloadDecryptionError(
                f"encrypted payload (key {key_id!r}) is too short to be genuine: it was altered"
            )
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], None)
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload failed authentication with key {key_id!r}: it was altered, "
                "or the key configured under that id is not the one it was encrypted with"
            ) from None
        try:
            return Payload.FromString(plain)
        except DecodeError:  # pragma: no cover - authenticated bytes we wrote ourselves
            raise PayloadDecryptionError(
                f"payload decrypted with key {key_id!r} is not a Temporal payload"
            ) from None
