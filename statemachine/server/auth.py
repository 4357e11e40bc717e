"""Server stage, access token: who may use a server started with ``--token``.

In: a request's headers (and, for AWS Signature Version 4, its body). Out: allowed or an
``AwsError`` (403 ``UnrecognizedClientException`` / ``InvalidSignatureException``, AWS's
codes for a bad key and a bad signature). Clients present the token one of three ways:

- **AWS SDKs and the AWS CLI**: as the *secret access key* (any access key id):
  ``boto3.client("stepfunctions", endpoint_url=URL, aws_access_key_id="sm",
  aws_secret_access_key=TOKEN, region_name="us-east-1")``. The request's SigV4 signature
  is checked with the token, so the token itself never crosses the network, and a signature
  older than 15 minutes is refused.
- **Scripts**: ``Authorization: Bearer TOKEN`` (or the header ``X-SM-Token: TOKEN``).
- **Browsers** (the console): open any page once with ``?token=TOKEN``; the server answers
  with a cookie (``sm_token``, HttpOnly, SameSite=Strict) and the page without the query.

Without a token configured every request is allowed (the server listens on 127.0.0.1).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Final
from urllib.parse import parse_qsl, quote

from statemachine.server.protocol import AwsError

__all__ = ["COOKIE", "HEADER", "bearer_ok", "check_sigv4", "refused"]

COOKIE: Final = "sm_token"
HEADER: Final = "x-sm-token"
_SKEW: Final = timedelta(minutes=15)


def refused(message: str = "The security token included in the request is invalid.") -> AwsError:
    """403 UnrecognizedClientException: no token, or the wrong one."""
    return AwsError("UnrecognizedClientException", message, 403)


def bearer_ok(headers: Mapping[str, str], token: str) -> bool:
    """True when the headers carry the token as ``Authorization: Bearer``, ``X-SM-Token``
    or the ``sm_token`` cookie (constant-time comparisons)."""
    given: list[str] = []
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        given.append(authorization[7:].strip())
    if HEADER in headers:
        given.append(headers[HEADER].strip())
    cookie = headers.get("cookie")
    if cookie:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie)
        except Exception:  # a malformed Cookie header is no token
            jar = SimpleCookie()
        if COOKIE in jar:
            given.append(jar[COOKIE].value)
    return any(hmac.compare_digest(value.encode(), token.encode()) for value in given)


def check_sigv4(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
                token: str, *, now: datetime | None = None) -> None:
    """Check an ``Authorization: AWS4-HMAC-SHA256 ...`` header signed with ``token`` as the
    secret access key. Raises 403 InvalidSignatureException (bad signature, or a date more
    than 15 minutes away) or UnrecognizedClientException (no or malformed header)."""
    authorization = headers.get("authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        raise refused("Missing Authentication Token: sign with the server's token as the "
                      "secret access key, or send Authorization: Bearer TOKEN")
    fields = dict(part.strip().split("=", 1) for part in authorization[17:].split(",")
                  if "=" in part)
    try:
        _, date, region, service, terminal = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
        stamp = headers["x-amz-date"]
        moment = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except (KeyError, ValueError):
        raise refused("Malformed Authorization header") from None
    if abs((now or datetime.now(UTC)) - moment) > _SKEW:
        raise AwsError("InvalidSignatureException", "Signature expired: the request's date "
                       f"{stamp} is more than 15 minutes away from the server's clock", 403)
    canonical = "\n".join([
        method.upper(), quote(path or "/", safe="/~"), _canonical_query(query),
        "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed),
        ";".join(signed), hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{region}/{service}/{terminal}"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{token}".encode()
    for part in (date, region, service, terminal):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise AwsError("InvalidSignatureException", "The request signature we calculated does "
                       "not match the signature you provided: the secret access key must be "
                       "the server's token", 403)


def _canonical_query(query: str) -> str:
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
