"""Resources stage: AWS's HTTP Task, ``arn:aws:states:::http:invoke``, run locally with httpx.

Parameters as on AWS: ``ApiEndpoint``, ``Method``, ``Headers``, ``QueryParameters``,
``RequestBody``, ``Transform`` (``RequestBodyEncoding: NONE | URL_ENCODED`` and
``RequestEncodingOptions.ArrayFormat: INDICES | REPEAT | COMMAS | BRACKETS``) and
``Authentication.ConnectionArn`` (``InvocationConfig.ConnectionArn`` also accepted). Secrets
never come from the definition: the connection is looked up in the local connections file
(``$SM_CONNECTIONS_FILE``, format in ``connections.py``) or in ``$SM_CONNECTION_<NAME>``.

Result: ``{"Headers": {name: [values]}, "ResponseBody": <JSON if the response is JSON, text
otherwise>, "StatusCode": int, "StatusText": str}``. Errors:

- ``States.Http.StatusCode.<NNN>`` for a non-2xx response; the cause is the result as JSON text;
- ``States.Http.Socket`` when no response arrives (connection refused, DNS, TLS, read timeout;
  AWS's HTTP Task gives up after 60 seconds, so does this one);
- ``States.Runtime`` for malformed parameters; ``Http.ConnectionNotConfigured`` when the
  ConnectionArn has no local configuration.

A traced execution (``run(telemetry=...)``) sends its W3C trace context (``traceparent``,
``tracestate``) with the request, so the called service joins the trace; a header of the same
name in ``Headers`` wins.

TLS certificates are verified (``SSL_CERT_FILE`` picks a CA bundle). The request is async:
a task timeout or an abort cancels it. Redirects are not followed (a 3xx is a StatusCode error),
so connection credentials never go to a host the definition did not name.

Secrets never reach a cause (and so never the history, ``--json`` or logs): every value the
connection supplies (credentials, its header, query and body values) is replaced by ``*****``
in the cause of every error this handler raises, written as is, URL-encoded or JSON-escaped;
a header name or value that could split the request (CR, LF, NUL) is refused by name, never
quoted. The result of a successful call is the server's answer, passed on unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlencode

from statemachine.errors import RUNTIME, StatesError
from statemachine.resources.base import TaskRequest
from statemachine.resources.connections import NOT_CONFIGURED, Connection, ConnectionStore, redact
from statemachine.values import JSON

SOCKET_ERROR: Final = "States.Http.Socket"
STATUS_ERROR_PREFIX: Final = "States.Http.StatusCode."
MAX_SECONDS: Final = 60.0
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"})
_TOKEN = re.compile(r"\A[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")  # RFC 9110 field-name
_SPLITTERS = re.compile(r"[\r\n\0]")


def _runtime(message: str) -> StatesError:
    return StatesError(RUNTIME, message)


def _scalar(value: JSON) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def url_encode(data: Mapping[str, JSON], array_format: str = "INDICES") -> str:
    """Form-encode an object; arrays as AWS's ArrayFormat options describe."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        if not isinstance(value, list):
            pairs.append((key, _scalar(value)))
        elif array_format == "COMMAS":
            pairs.append((key, ",".join(_scalar(v) for v in value)))
        elif array_format == "REPEAT":
            pairs.extend((key, _scalar(v)) for v in value)
        elif array_format == "BRACKETS":
            pairs.extend((f"{key}[]", _scalar(v)) for v in value)
        else:
            pairs.extend((f"{key}[{i}]", _scalar(v)) for i, v in enumerate(value))
    return urlencode(pairs)


def _headers(params: Mapping[str, JSON], connection: Connection | None) -> dict[str, str]:
    given = params.get("Headers") or {}
    if not isinstance(given, dict):
        raise _runtime(f"Headers must be an object, got {given!r}")
    headers = {str(k): _scalar(v) for k, v in given.items()}
    _check_headers(headers, None)
    if connection is not None:
        extra = connection.headers()
        _check_headers(extra, connection)
        headers.update(extra)
    return headers


def _check_headers(headers: Mapping[str, str], connection: Connection | None) -> None:
    """Refuse names that are not tokens and values with CR/LF/NUL, quoting neither value."""
    for name, value in headers.items():
        bad_name = not _TOKEN.match(name)
        if bad_name or _SPLITTERS.search(value):
            what = "name is not a valid header name" if bad_name else "value holds CR, LF or NUL"
            label = repr(name) if not bad_name else "(not shown)"
            if connection is None:
                raise _runtime(f"Headers: header {label}: its {what}")
            raise StatesError(NOT_CONFIGURED, f"connection {connection.name!r}: header {label}: its {what}")


def _body(params: Mapping[str, JSON], headers: dict[str, str],
          connection: Connection | None) -> bytes | None:
    body = params.get("RequestBody")
    extra = connection.body if connection is not None else {}
    if body is None and not extra:
        return None
    if isinstance(body, dict) or body is None:
        body = {**(body or {}), **extra}
    transform = params.get("Transform") or {}
    lower = {k.lower() for k in headers}
    if isinstance(transform, dict) and transform.get("RequestBodyEncoding") == "URL_ENCODED":
        if not isinstance(body, dict):
            raise _runtime("URL_ENCODED RequestBody must be an object")
        options = transform.get("RequestEncodingOptions") or {}
        array_format = options.get("ArrayFormat", "INDICES") if isinstance(options, dict) else "INDICES"
        if "content-type" not in lower:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return url_encode(body, str(array_format)).encode()
    if isinstance(body, str):
        return body.encode()
    if "content-type" not in lower:
        headers["Content-Type"] = "application/json"
    return json.dumps(body).encode()


def _url(params: Mapping[str, JSON], connection: Connection | None) -> str:
    endpoint = params.get("ApiEndpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise _runtime(f"ApiEndpoint must be an http(s) URL, got {endpoint!r}")
    query = params.get("QueryParameters") or {}
    if not isinstance(query, dict):
        raise _runtime(f"QueryParameters must be an object, got {query!r}")
    merged = {**query, **(connection.query if connection is not None else {})}
    if not merged:
        return endpoint
    return endpoint + ("&" if "?" in endpoint else "?") + url_encode(merged, "REPEAT")


def response_document(response: Any) -> dict[str, JSON]:
    """The HTTP Task result for an httpx response."""
    headers: dict[str, list[str]] = {}
    for raw_name, raw_value in response.headers.raw:
        headers.setdefault(raw_name.decode("latin-1"), []).append(raw_value.decode("latin-1"))
    text = response.text
    body: JSON = text
    if "json" in response.headers.get("content-type", "") and text:
        try:
            body = json.loads(text)
        except ValueError:
            body = text
    return {"Headers": headers, "ResponseBody": body, "StatusCode": response.status_code,
            "StatusText": response.reason_phrase}


def _connection_arn(params: Mapping[str, JSON]) -> str | None:
    for key in ("Authentication", "InvocationConfig"):
        section = params.get(key)
        arn = section.get("ConnectionArn") if isinstance(section, dict) else None
        if isinstance(arn, str):
            return arn
    return None


class HttpInvokeHandler:
    """``arn:aws:states:::http:invoke`` (async; httpx is imported on first use)."""

    def __init__(self, connections: ConnectionStore | None = None, *, verify: bool = True) -> None:
        self._connections = connections
        self.verify = verify

    @property
    def connections(self) -> ConnectionStore:
        """The given store, or the one $SM_CONNECTIONS_FILE names (read on first use)."""
        if self._connections is None:
            self._connections = ConnectionStore.from_environment()
        return self._connections

    def __repr__(self) -> str:
        return "HttpInvokeHandler()"

    async def __call__(self, request: TaskRequest) -> JSON:
        params = request.input
        if not isinstance(params, dict):
            raise _runtime(f"http:invoke Parameters must be an object, got {params!r}")
        method = params.get("Method")
        if not isinstance(method, str) or method.upper() not in _METHODS:
            raise _runtime(f"Method must be one of {sorted(_METHODS)}, got {method!r}")
        arn = _connection_arn(params)
        connection = self.connections.get(arn) if arn is not None else None
        if connection is None:
            return await self._invoke(request, params, method, None)
        try:
            return await self._invoke(request, params, method, connection)
        except StatesError as exc:  # no value of the connection leaves in a cause
            raise StatesError(exc.name, redact(exc.cause or "", connection.secrets())) from None

    async def _invoke(self, request: TaskRequest, params: Mapping[str, JSON], method: str,
                      connection: Connection | None) -> JSON:
        headers = _headers(params, connection)
        if request.trace_context:
            given = {name.lower() for name in headers}
            headers = {**{k: v for k, v in request.trace_context.items() if k.lower() not in given},
                       **headers}
        body = _body(params, headers, connection)
        url = _url(params, connection)
        timeout = min(request.timeout_seconds or MAX_SECONDS, MAX_SECONDS)
        document = await self._send(method.upper(), url, headers, body, timeout, connection)
        code = document["StatusCode"]
        if not 200 <= code < 300:
            raise StatesError(f"{STATUS_ERROR_PREFIX}{code}", json.dumps(document))
        return document

    async def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeout: float, connection: Connection | None) -> dict[str, JSON]:
        import httpx

        auth = connection.basic_auth() if connection is not None else None
        try:
            async with httpx.AsyncClient(verify=self.verify, timeout=timeout,
                                         follow_redirects=False) as client:
                response = await client.request(method, url, headers=headers, content=body,
                                                auth=auth)
        except httpx.HTTPError as exc:
            raise StatesError(SOCKET_ERROR, f"{type(exc).__name__}: {str(exc) or 'no response'} "
                                            f"({method} {url})") from exc
        return response_document(response)
