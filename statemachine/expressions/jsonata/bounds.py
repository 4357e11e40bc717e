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
- the process's resident memory growing by more than ``MAX_MEMORY_GROWTH`` bytes while one
  evaluation runs (values that are each under the limits above can still add up: a million
  arrays of a million items), checked every 1,024 nodes and after each value of more than
  ``BIG_VALUE`` items or characters: "The expression ran out of memory
  while evaluating.";
- JSONata's range operator keeps its own 1e7 limit (D2014); recursion deeper than Python's
  stack is D1011 and an evaluation over ``adapter.EVALUATION_TIMEOUT_SECONDS`` is D1012.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, Final

MAX_SEQUENCE: Final = 1_000_000
MAX_MEMORY_GROWTH: Final = 1 << 30
#: A string or list this long also triggers the memory check when it is made.
BIG_VALUE: Final = 100_000
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


def out_of_memory() -> LimitExceeded:
    return LimitExceeded(None, OUT_OF_MEMORY)


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


_STATM: list[int] = []  # [pid, fd] of /proc/self/statm, kept open (a read costs ~1 us)


def resident_bytes() -> int | None:
    """The process's resident memory now (Linux /proc), None where it cannot be read."""
    try:
        pid = os.getpid()
        if not _STATM or _STATM[0] != pid:  # first use, or a forked child (its own /proc/self)
            fd = os.open("/proc/self/statm", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            _STATM[:] = [pid, fd]
        return int(os.pread(_STATM[1], 128, 0).split()[1]) * _PAGE
    except (OSError, ValueError, IndexError, AttributeError):
        return None


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
