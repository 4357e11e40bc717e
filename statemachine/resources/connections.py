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
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from statemachine.errors import StatesError
from statemachine.values import JSON

NOT_CONFIGURED: Final = "Http.ConnectionNotConfigured"
FILE_VARIABLE: Final = "SM_CONNECTIONS_FILE"
_ARN_NAME = re.compile(r":connection/([^/]+)(?:/|$)")


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
        data = yaml.safe_load(Path(path).read_text()) or {}
        entries = data.get("connections", {}) if isinstance(data, dict) else {}
        if not isinstance(entries, dict):
            raise ValueError(f"{path}: 'connections' must be an object")
        return cls(entries)

    @classmethod
    def from_environment(cls) -> ConnectionStore:
        """The file named by $SM_CONNECTIONS_FILE (if set) plus $SM_CONNECTION_<NAME> variables."""
        path = os.environ.get(FILE_VARIABLE)
        if not path:
            return cls()
        try:
            return cls.from_file(path)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise StatesError(NOT_CONFIGURED, f"cannot read ${FILE_VARIABLE} ({path}): {exc}") from exc

    def get(self, arn: str) -> Connection:
        name = connection_name(arn)
        for key in (arn, name):
            if key in self.entries:
                return Connection(name, self.entries[key])
        variable = env_variable(name)
        if variable in self.environ:
            try:
                return Connection(name, json.loads(self.environ[variable]))
            except ValueError as exc:
                raise StatesError(NOT_CONFIGURED, f"{variable} is not JSON: {exc}") from exc
        raise StatesError(
            NOT_CONFIGURED,
            f"connection {arn!r} is not configured locally: add {name!r} to the file named by "
            f"${FILE_VARIABLE} or set ${variable}",
        )
