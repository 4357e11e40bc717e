"""Server stage, request parameters: typed reads of an operation's JSON object with AWS's
constraints and error messages.

In: the decoded request body. Out: Python values; ``AwsError`` (ValidationException for a
broken constraint, SerializationException for a wrong JSON type, InvalidName, InvalidArn)
with AWS's wording, e.g. ``1 validation error detected: Value '0' at 'maxResults' failed to
satisfy constraint: Member must have value greater than or equal to 0``.
"""

from __future__ import annotations

import re
from typing import Any, Final

from statemachine.server.protocol import AwsError

__all__ = ["NAME_RULE", "Params", "check_name"]

#: AWS names (state machines, executions, activities): 1-80 characters without whitespace,
#: brackets, wildcards, these punctuation characters or control characters.
NAME_RULE: Final = re.compile(r'^[^\s<>{}\[\]?*"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$')


def check_name(name: str, what: str = "Name") -> str:
    """``name`` when it is a valid AWS name; InvalidName otherwise."""
    if not NAME_RULE.match(name):
        raise AwsError("InvalidName", f"Invalid {what}: '{name}'")
    return name


def _constraint(value: Any, key: str, rule: str) -> AwsError:
    shown = value if isinstance(value, (str, int, float)) else "..."
    return AwsError("ValidationException", f"1 validation error detected: Value '{shown}' at "
                    f"'{key}' failed to satisfy constraint: {rule}")


class Params:
    """The parameters of one request (a JSON object)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def _get(self, key: str, kind: type | tuple[type, ...], required: bool) -> Any:
        value = self.data.get(key)
        if value is None:
            if required:
                raise _constraint(None, key, "Member must not be null")
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise AwsError("SerializationException",
                           f"'{key}' must be a JSON {_JSON_NAMES.get(want, want)}, not "
                           f"{_JSON_NAMES.get(type(value).__name__, type(value).__name__)}")
        return value

    def text(self, key: str, *, required: bool = False, max_len: int | None = None,
             min_len: int = 0) -> str | None:
        """A string parameter; its length counts characters, as AWS's constraints do."""
        value: str | None = self._get(key, str, required)
        if value is None:
            return None
        if len(value) < min_len:
            raise _constraint(value, key, f"Member must have length greater than or equal to {min_len}")
        if max_len is not None and len(value) > max_len:
            raise _constraint(value[:64] + "...", key,
                              f"Member must have length less than or equal to {max_len}")
        return value

    def required_text(self, key: str, *, max_len: int | None = None, min_len: int = 1) -> str:
        value = self.text(key, required=True, max_len=max_len, min_len=min_len)
        assert value is not None
        return value

    def integer(self, key: str, *, low: int, high: int) -> int | None:
        value: int | None = self._get(key, int, False)
        if value is None:
            return None
        if value < low:
            raise _constraint(value, key, f"Member must have value greater than or equal to {low}")
        if value > high:
            raise _constraint(value, key, f"Member must have value less than or equal to {high}")
        return value

    def flag(self, key: str) -> bool | None:
        value: bool | None = self._get(key, bool, False)
        return value

    def mapping(self, key: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self._get(key, dict, False)
        return value

    def items(self, key: str, *, required: bool = False) -> list[Any] | None:
        value: list[Any] | None = self._get(key, list, required)
        return value

    def choice(self, key: str, choices: tuple[str, ...], *, default: str | None = None
               ) -> str | None:
        value = self.text(key)
        if value is None:
            return default
        if value not in choices:
            raise _constraint(value, key, "Member must satisfy enum value set: "
                              f"[{', '.join(choices)}]")
        return value


_JSON_NAMES: Final = {"str": "string", "int": "number", "float": "number", "bool": "boolean",
                      "dict": "object", "list": "array", "NoneType": "null"}
