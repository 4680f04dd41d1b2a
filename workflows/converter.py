"""The data converter of claims: pydantic JSON, with bad input refused as `InvalidInput`.

The stock pydantic converter reports a payload that fails validation as a
decoding `RuntimeError`: an update is then rejected with a message nobody can
show a user, and a workflow start retries its first task forever. Raising a
Temporal `ApplicationError` from the converter instead makes the SDK reject
the update (or fail the start) cleanly, with the field and the rule named.
Payloads stay plain JSON, so a caller with the default converter, plain dicts
and ISO-8601 timestamps is understood too.
"""

from __future__ import annotations

from typing import Any

import temporalio.api.common.v1
from pydantic import ValidationError
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalio.exceptions import ApplicationError

from workflows.messages import describe_validation_error


class ClaimsJSONPayloadConverter(PydanticJSONPlainPayloadConverter):
    """Pydantic JSON whose validation errors become non-retryable `InvalidInput` failures."""

    def from_payload(
        self,
        payload: temporalio.api.common.v1.Payload,
        type_hint: type | None = None,
    ) -> Any:
        try:
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
