"""Expressions stage: the resource limits of one JSONata evaluation.

In: every value an expression node produces (jsonata-python's ``__evaluate_exit`` hook) and
the arguments of the built-ins that allocate in one call (``$pad``, ``$join``, ``$replace``).
Out: ``LimitExceeded`` (a JSONata code and message) before memory runs out; the adapter
turns it into the States.QueryEvaluationError AWS raises when an expression exceeds its
evaluation limits.

AWS bounds JSONata evaluation but documents no figures; ours (deliberately far above the
256 KiB payload limit any result must fit in, so no useful expression meets them):

- a sequence or array of more than ``MAX_SEQUENCE`` items: JSONata's guardrail code D2015,
  "The maximum sequence length of 1000000 was exceeded." (jsonata-js's wording);
- a string of more than ``MAX_STRING`` characters: "The maximum string length of 10000000
  characters was exceeded." (no JSONata code exists for it);
- JSONata's range operator keeps its own 1e7 limit (D2014); recursion deeper than Python's
  stack is D1011 and an evaluation over ``adapter.EVALUATION_TIMEOUT_SECONDS`` is D1012.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

MAX_SEQUENCE: Final = 1_000_000
MAX_STRING: Final = 10_000_000
OUT_OF_MEMORY: Final = "The expression ran out of memory while evaluating."
SEQUENCE_TOO_LONG: Final = f"The maximum sequence length of {MAX_SEQUENCE} was exceeded."
STRING_TOO_LONG: Final = f"The maximum string length of {MAX_STRING} characters was exceeded."


class LimitExceeded(Exception):
    """An evaluation went over one of the limits above: ``code`` (or None) and ``message``."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _too_long_sequence() -> LimitExceeded:
    return LimitExceeded("D2015", SEQUENCE_TOO_LONG)


def _too_long_string() -> LimitExceeded:
    return LimitExceeded(None, STRING_TOO_LONG)


def check_result(expr: Any, input: Any, environment: Any, result: Any) -> None:
    """jsonata-python's ``__evaluate_exit`` hook: refuse a node value over the limits."""
    kind = type(result)
    if kind is str:
        if len(result) > MAX_STRING:
            raise _too_long_string()
    elif isinstance(result, list) and len(result) > MAX_SEQUENCE and not _is_lazy_range(result):
        raise _too_long_sequence()


@functools.cache
def _range_type() -> type:
    from jsonata import utils

    kind: type = utils.Utils.RangeList
    return kind


def _is_lazy_range(value: Any) -> bool:
    # [1..n] is a lazy list (JSONata allows n up to 1e7); it costs memory only once mapped.
    return isinstance(value, _range_type())


def _pad(string: Any = None, width: Any = None, *rest: Any) -> None:
    if isinstance(width, (int, float)) and abs(width) > MAX_STRING:
        raise _too_long_string()


def _join(strings: Any = None, separator: Any = None, *rest: Any) -> None:
    if isinstance(strings, list):
        size = sum(len(s) for s in strings if isinstance(s, str))
        if isinstance(separator, str):
            size += len(separator) * max(len(strings) - 1, 0)
        if size > MAX_STRING:
            raise _too_long_string()


def _replace(string: Any = None, pattern: Any = None, replacement: Any = None,
             limit: Any = None, *rest: Any) -> None:
    if not isinstance(string, str) or not isinstance(replacement, str):
        return
    matches = string.count(pattern) if isinstance(pattern, str) and pattern else len(string) + 1
    if isinstance(limit, (int, float)) and limit >= 0:
        matches = min(matches, int(limit))
    if len(string) + matches * len(replacement) > MAX_STRING:
        raise _too_long_string()


#: Built-in name -> check of its arguments, run before it allocates (compat.py wraps them).
ARGUMENT_CHECKS: Final[dict[str, Callable[..., None]]] = {"pad": _pad, "join": _join, "replace": _replace}
