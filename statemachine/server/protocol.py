"""Server stage, wire format: AWS's JSON 1.0 protocol as Step Functions speaks it.

In: an HTTP request (``POST /``, ``X-Amz-Target: AWSStepFunctions.<Operation>``,
``Content-Type: application/x-amz-json-1.0``, a JSON object body). Out: the operation's
name and its parameters, or an ``AwsError``; responses as JSON with AWS's content type.
Errors are ``{"__type": "<Code>", "message": "..."}`` with a 4xx status (botocore reads
the code from ``__type``), so every SDK raises its usual exception class
(``client.exceptions.StateMachineDoesNotExist``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from statemachine.errors import StateMachineError

__all__ = ["CONTENT_TYPE", "TARGET_PREFIX", "AwsError", "error_body", "parse_body",
           "parse_target"]

CONTENT_TYPE: Final = "application/x-amz-json-1.0"
TARGET_PREFIX: Final = "AWSStepFunctions."
#: A ``\\uD800``-``\\uDFFF`` escape: where a JSON text may hide a lone UTF-16 surrogate.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


class AwsError(StateMachineError):
    """An error answered in AWS's shape: ``code`` (``__type``), ``message``, HTTP ``status``
    (400 for client errors, as AWS; 403 for a refused token; 413 for a body too large)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, str]:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, str]:
    """AWS's JSON 1.0 error document."""
    return {"__type": code, "message": message}


def validation(message: str) -> AwsError:
    """ValidationException (AWS's error for a request that breaks a parameter's constraints)."""
    return AwsError("ValidationException", message)


def parse_target(headers: Mapping[str, str]) -> str:
    """The operation named by ``X-Amz-Target``. Raises UnknownOperationException when the
    header is missing or not ``AWSStepFunctions.<Operation>``."""
    target = headers.get("x-amz-target", "")
    if not target.startswith(TARGET_PREFIX) or len(target) == len(TARGET_PREFIX):
        raise AwsError("UnknownOperationException",
                       f"X-Amz-Target must be AWSStepFunctions.<Operation>, not {target!r}"
                       if target else "missing X-Amz-Target header (AWSStepFunctions.<Operation>)")
    return target[len(TARGET_PREFIX):]


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request's parameters: a JSON object (an empty body is ``{}``). Raises
    SerializationException (AWS's code for a body it cannot read) otherwise: not UTF-8, not
    JSON, a lone UTF-16 surrogate (``"\\ud800"``: no UTF-8 text holds one) or nesting
    deeper than the parser goes."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
        value = json.loads(text)
        if _SURROGATE_ESCAPE.search(text):
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError) as error:
        raise AwsError("SerializationException", f"the request body is not JSON: {error}") from None
    except RecursionError:
        raise AwsError("SerializationException",
                       "the request body is not JSON: nested too deep") from None
    if not isinstance(value, dict):
        raise AwsError("SerializationException",
                       f"the request body must be a JSON object, not {type(value).__name__}")
    return value
