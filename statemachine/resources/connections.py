"""Resources stage: local stand-ins for EventBridge connections used by the HTTP Task.

A definition names a connection by ARN (``Authentication.ConnectionArn``); the secrets live
outside the definition, in a connections file (``$SM_CONNECTIONS_FILE``) or an environment
variable ``SM_CONNECTION_<NAME>`` holding the same entry as JSON, where NAME is the
connection's name (``arn:aws:events:<region>:<acct>:connection/<Name>/<id>``) upper-cased
with every other character turned into ``_``::

    connections:
      Stripe:                          # the connection name, or its full ARN
        api_key: {name: Authorization, value_env: STRIPE_KEY}    # or value: "..."
        basic: {username_env: USER, password_env: PASS}
        oauth: {token_env: TOKEN}      # sent as "Authorization: Bearer <token>"
        headers: {X-Extra: "1"}        # InvocationHttpParameters
        query: {}
        body: {}

Values given as ``*_env`` are read from the environment when the task runs.

Secrets never reach a cause: messages about a connection name fields and variables, never
values; a file that does not parse is reported by line and column only (YAML's own messages
quote the offending line); ``Connection.secrets()`` lists every value the connection supplies
so the HTTP Task can take them out of any text it reports (``redact``).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, quote_plus

import yaml

from statemachine.errors import StatesError
from statemachine.values import JSON

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

NOT_CONFIGURED: Final = "Http.ConnectionNotConfigured"
FILE_VARIABLE: Final = "SM_CONNECTIONS_FILE"
_ARN_NAME = re.compile(r":connection/([^/]+)(?:/|$)")
#: What replaces a secret in reported text.
REDACTED: Final = "*****"
#: Shorter values are not searched for in text (a header value "1" would blank every "1").
MIN_SECRET_LENGTH: Final = 4


def connection_name(arn: str) -> str:
    """``Stripe`` for ``arn:aws:events:us-east-1:1:connection/Stripe/81210c42-...``."""
    match = _ARN_NAME.search(arn)
    return match.group(1) if match else arn


def env_variable(name: str) -> str:
    return "SM_CONNECTION_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _secret(section: Mapping[str, Any], key: str, where: str) -> str:
    if f"{key}_env" in section:
        variable = str(section[f"{key}_env"])
        if variable not in os.environ:
            raise StatesError(NOT_CONFIGURED, f"{where}: environment variable {variable} is not set")
        return os.environ[variable]
    if key in section:
        return str(section[key])
    raise StatesError(NOT_CONFIGURED, f"{where}: missing {key} (or {key}_env)")


def _try_secret(section: Mapping[str, Any], key: str) -> str:
    try:
        return _secret(section, key, "")
    except StatesError:
        return ""


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield value


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (as written, URL-encoded or JSON-escaped) replaced by *****."""
    forms = {form for secret in secrets if len(secret) >= MIN_SECRET_LENGTH
             for form in (secret, quote(secret, safe=""), quote_plus(secret), quote(secret),
                          json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1])}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where a YAML file fails to parse, without its text (YAML's messages quote the line)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML{where} ({type(exc).__name__})"


@dataclasses.dataclass(frozen=True)
class Connection:
    """One connection's authorization and invocation parameters."""

    name: str
    spec: Mapping[str, Any]

    @property
    def query(self) -> dict[str, JSON]:
        return dict(self.spec.get("query") or {})

    @property
    def body(self) -> dict[str, JSON]:
        return dict(self.spec.get("body") or {})

    def headers(self) -> dict[str, str]:
        headers = {str(k): str(v) for k, v in (self.spec.get("headers") or {}).items()}
        where = f"connection {self.name!r}"
        if isinstance(self.spec.get("api_key"), dict):
            key = self.spec["api_key"]
            headers[str(key.get("name", "Authorization"))] = _secret(key, "value", where)
        if isinstance(self.spec.get("oauth"), dict):
            headers["Authorization"] = "Bearer " + _secret(self.spec["oauth"], "token", where)
        return headers

    def secrets(self) -> list[str]:
        """Every value this connection supplies (credentials, header/query/body values), plus
        the encoded forms in which they travel (Basic auth's base64)."""
        found = [str(v) for v in _leaves({k: self.spec.get(k) for k in ("headers", "query", "body")})]
        for section, keys in (("api_key", ("value",)), ("oauth", ("token",)),
                              ("basic", ("username", "password"))):
            spec = self.spec.get(section)
            if isinstance(spec, dict):
                found += [_try_secret(spec, key) for key in keys]
        basic = self.basic_auth_or_none()
        if basic is not None:
            found.append(base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode())
        return [v for v in found if v]

    def basic_auth_or_none(self) -> tuple[str, str] | None:
        try:
            return self.basic_auth()
        except StatesError:
            return None

    def basic_auth(self) -> tuple[str, str] | None:
        basic = self.spec.get("basic")
        if not isinstance(basic, dict):
            return None
        where = f"connection {self.name!r}"
        return _secret(basic, "username", where), _secret(basic, "password", where)


class ConnectionStore:
    """Connections by name or ARN, from a file and/or the environment."""

    def __init__(self, entries: Mapping[str, Mapping[str, Any]] | None = None,
                 *, environ: Mapping[str, str] | None = None) -> None:
        self.entries = dict(entries or {})
        self.environ = environ if environ is not None else os.environ

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ConnectionStore:
        """Raises ValueError (never quoting the file's text) or OSError."""
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: {_yaml_problem(exc)}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not UTF-8 text") from None
        entries = data.get("connections", {}) if isinstance(data, dict) else {}
        if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
            raise ValueError(f"{path}: 'connections' must map names to objects")
        return cls(entries)

    @classmethod
    def from_environment(cls) -> ConnectionStore:
        """The file named by $SM_CONNECTIONS_FILE (if set) plus $SM_CONNECTION_<NAME> variables."""
        path = os.environ.get(FILE_VARIABLE)
        if not path:
            return cls()
        try:
            return cls.from_file(path)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise StatesError(NOT_CONFIGURED, f"cannot read ${FILE_VARIABLE} ({path}): {reason}") from None
        except ValueError as exc:
            raise StatesError(NOT_CONFIGURED, f"cannot read ${FILE_VARIABLE} ({exc})") from None

    def get(self, arn: str) -> Connection:
        name = connection_name(arn)
        for key in (arn, name):
            if key in self.entries:
                return Connection(name, self.entries[key])
        variable = env_variable(name)
        if variable in self.environ:
            try:
                spec = json.loads(self.environ[variable])
            except ValueError as exc:
                where = getattr(exc, "lineno", 0), getattr(exc, "colno", 0)
                raise StatesError(NOT_CONFIGURED, f"{variable} is not JSON (error at line {where[0]}, "
                                                  f"column {where[1]})") from None
            if not isinstance(spec, dict):
                raise StatesError(NOT_CONFIGURED, f"{variable} must hold a JSON object")
            return Connection(name, spec)
        raise StatesError(
            NOT_CONFIGURED,
            f"connection {arn!r} is not configured locally: add {name!r} to the file named by "
            f"${FILE_VARIABLE} or set ${variable}",
        )
