"""The data converter of claims: pydantic JSON, with bad input refused as `InvalidInput`.

The stock pydantic converter reports a payload that fails validation as a
decoding `RuntimeError`: an update is then rejected with a message nobody can
show a user, and a workflow start retries its first task forever. Raising a
Temporal `ApplicationError` from the converter instead makes the SDK reject
the update (or fail the start) cleanly, with the field and the rule named.
Payloads stay plain JSON, so a caller with the default converter, plain dicts
and ISO-8601 timestamps is understood too.

Workers and clients take their converter from `data_converter(settings)`: this
one as is, or, when CLAIMS_ENCRYPTION_KEYS is set, with every payload
encrypted by the codec of starter/codec.py (docs/security.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import temporalio.api.common.v1
from pydantic import ValidationError
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import CompositePayloadConverter
from temporalio.converter import DataConverter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.converter import DefaultPayloadConverter
from temporalio.converter import JSONPlainPayloadConverter
from temporalio.exceptions import ApplicationError

from starter.codec import EncryptionCodec
from starter.codec import EncryptionKey
from workflows.messages import Outbound
from workflows.messages import describe_validation_error

if TYPE_CHECKING:
    from starter.settings import Settings


class ClaimsJSONPayloadConverter(PydanticJSONPlainPayloadConverter):
    """Pydantic JSON whose validation errors become non-retryable `InvalidInput` failures."""

    def from_payload(
        self,
        payload: temporalio.api.common.v1.Payload,
        type_hint: type | None = None,
    ) -> Any:
        try:
            if isinstance(type_hint, type) and issubclass(type_hint, Outbound):
                # What a claim reports was accepted once: read it leniently.
                return type_hint.model_validate_json(payload.data, context={"lenient": True})
            return super().from_payload(payload, type_hint)
        except ValidationError as err:
            raise ApplicationError(
                describe_validation_error(err), type="InvalidInput", non_retryable=True
            ) from None


class ClaimsPayloadConverter(CompositePayloadConverter):
    """The SDK's default encodings, with JSON handled by :class:`ClaimsJSONPayloadConverter`."""

    def __init__(self) -> None:
        json_converter = ClaimsJSONPayloadConverter()
        super().__init__(
            *(
                json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


claims_data_converter = DataConverter(payload_converter_class=ClaimsPayloadConverter)
"""Use on every client and worker of claims (it is `pydantic_data_converter` plus refusals)."""


def encrypted_data_converter(keys: Sequence[EncryptionKey]) -> DataConverter:
    """`claims_data_converter` with every payload encrypted (see starter/codec.py).

    Failures are converted with their message and stack trace moved into an
    encoded (so encrypted) attribute too: an activity's error text can hold an
    e-mail address (a mail server's refusal quotes the recipient), and the
    failure's plain fields are stored in history as they are. Clients with
    this converter read the original messages; others see "Encoded failure".
    """
    return dataclasses.replace(
        claims_data_converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter(settings: Settings) -> DataConverter:
    """The converter every worker and client of a deployment uses, from its settings.

    Without CLAIMS_ENCRYPTION_KEYS it is `claims_data_converter`: plain JSON, the
    contract for callers in any language. With keys, payloads are encrypted and
    every client of the deployment needs the same keys (or the codec server).
    """
    if not settings.encryption_keys:
        return claims_data_converter
    return encrypted_data_converter(settings.encryption_keys)
