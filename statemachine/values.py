"""Shared value types: JSON values and the MISSING sentinel (presence is not truthiness), and
what counts as JSON at the edges (``check_json``/``parse_json``: no NaN/Infinity, no lone
surrogates, nesting bounded by ``MAX_DEPTH``)."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias, Union

#: A JSON value as Python's json module reads it. Kept as ``Any`` inside the engine because
#: recursive aliases cost mypy more than they give there; the public API names the precise
#: types below.
JSON: TypeAlias = Any

#: A JSON value the engine gives back (an execution's output, a history event's fields):
#: what ``json.loads`` returns. Narrow it before indexing (``isinstance(out, dict)``).
JSONValue: TypeAlias = Union[dict[str, "JSONValue"], list["JSONValue"], str, int, float, bool, None]  # noqa: UP007 - a string forward reference cannot use |

#: A JSON value the engine accepts (an execution input, a task result): any mapping with
#: string keys and any sequence will do (read-only, so ``dict[str, int]`` fits).
JSONInput: TypeAlias = Union[Mapping[str, "JSONInput"], Sequence["JSONInput"], str, int, float, bool, None]  # noqa: UP007 - as above

#: An execution's status, spelled as AWS's DescribeExecution spells it.
ExecutionStatus: TypeAlias = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]

#: A state machine's type (AWS's CreateStateMachine ``type``).
MachineType: TypeAlias = Literal["STANDARD", "EXPRESS"]


class _Missing(enum.Enum):
    """A single-member enum so that ``MISSING`` is a typed, picklable singleton."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:  # pragma: no cover - guard against truthiness checks
        raise TypeError("MISSING has no truth value; compare with `is MISSING`")


#: Marks an absent optional field or an undefined value (a JSONata expression that returned
#: nothing). ``Result: 0`` or ``Result: null`` are real values and never MISSING.
MISSING: Final = _Missing.MISSING
Missing: TypeAlias = _Missing


#: Deepest nesting of arrays/objects accepted in an execution input (our limit; AWS documents
#: none). Values are walked recursively in many places (JSON encoding, JSONata, history), and
#: Python's recursion limit (1,000 frames) must also hold the interpreter's own frames.
MAX_DEPTH: Final = 512


class InvalidJsonError(ValueError):
    """A value given as JSON is not JSON: a NaN or infinite number, a lone UTF-16 surrogate, a
    non-string object key, a type JSON lacks, or nesting deeper than ``MAX_DEPTH``. ``message``
    names the problem and where (``$.a[0]``); AWS refuses such input (InvalidExecutionInput)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _has_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _scalar_problem(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        return "a lone UTF-16 surrogate in a string" if _has_surrogate(value) else None
    if kind is float:
        return None if math.isfinite(value) else f"{value!r} is not a JSON number"
    if value is None or kind is bool or kind is int:
        return None
    if isinstance(value, (str, int, float)):  # subclasses (IntEnum, str enums...) as JSON does
        return _scalar_problem(kind.__mro__[-2](value))
    return f"a {kind.__name__} is not a JSON value"


def json_problem(value: Any) -> str | None:
    """What makes ``value`` not JSON, with where (``"nan is not a JSON number at $.a"``), or None.

    Iterative, so arbitrarily deep values are measured without recursion; paths are built
    only once a problem is known to exist.
    """
    if _walk(value, False) is None:
        return None
    return _walk(value, True)


def _walk(value: Any, where: bool) -> str | None:
    stack: list[tuple[Any, str, int]] = [(value, "$", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} levels deep"
            for key, child in item.items():
                if type(key) is not str:
                    return f"an object key must be a string, not {key!r}, at {path}"
                if _has_surrogate(key):
                    return f"a lone UTF-16 surrogate in an object key at {path}"
                stack.append((child, f"{path}.{key}" if where else path, depth + 1))
        elif isinstance(item, (list, tuple)):
            if depth >= MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} levels deep"
            stack.extend((child, f"{path}[{index}]" if where else path, depth + 1)
                         for index, child in enumerate(item))
        else:
            problem = _scalar_problem(item)
            if problem is not None:
                return f"{problem} at {path}"
    return None


def depth_problem(value: Any) -> str | None:
    """``"nested more than MAX_DEPTH levels deep"`` when ``value`` is, else None (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth >= MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list, tuple)))
    return None


def check_json(value: Any, what: str = "input") -> None:
    """Raise InvalidJsonError("<what> is not valid JSON: <problem>") unless ``value`` is JSON."""
    problem = json_problem(value)
    if problem is not None:
        raise InvalidJsonError(f"{what} is not valid JSON: {problem}")


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON number")


def parse_json(text: str, what: str = "input") -> JSON:
    """Strict JSON text -> value: NaN/Infinity, lone surrogates and over-deep nesting are
    refused with InvalidJsonError (Python's json module accepts the first two)."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidJsonError(f"{what} is not valid JSON: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        raise InvalidJsonError(f"{what} is not valid JSON: {exc}") from None
    check_json(value, what)
    return value


def dumps(value: Any, *, separators: tuple[str, str] | None = None, ensure_ascii: bool = True,
          indent: int | None = None) -> str:
    """``json.dumps`` that also writes values nested deeper than Python's recursion limit.

    The json module encodes recursively and raises RecursionError past ~1,000 levels (less
    inside a busy stack); such a value (an execution's data may grow deeper while it runs,
    one ``{"x.$": "$"}`` per transition) is then written by ``_dumps_deep``, which keeps the
    same separators and escapes and uses no recursion. ``indent`` is honoured only by the fast
    path (deep values are written compactly). Raises ValueError/TypeError as json.dumps does.
    """
    try:
        return json.dumps(value, separators=separators, ensure_ascii=ensure_ascii, indent=indent)
    except RecursionError:
        item_sep, key_sep = separators if separators is not None else (", ", ": ")
        return _dumps_deep(value, item_sep, key_sep, ensure_ascii)


def _dumps_deep(value: Any, item_sep: str, key_sep: str, ensure_ascii: bool) -> str:
    scalar = json.JSONEncoder(ensure_ascii=ensure_ascii, allow_nan=True)
    out: list[str] = []
    # the stack holds values still to write, or literal text (closing brackets, separators)
    stack: list[tuple[bool, Any]] = [(False, value)]
    while stack:
        is_text, item = stack.pop()
        if is_text:
            out.append(item)
        elif isinstance(item, dict):
            out.append("{")
            stack.append((True, "}"))
            for index, (key, child) in enumerate(reversed(list(item.items()))):
                stack.append((False, child))
                stack.append((True, scalar.encode(str(key)) + key_sep))
                if index < len(item) - 1:
                    stack.append((True, item_sep))
        elif isinstance(item, (list, tuple)):
            out.append("[")
            stack.append((True, "]"))
            for index, child in enumerate(reversed(item)):
                stack.append((False, child))
                if index < len(item) - 1:
                    stack.append((True, item_sep))
        else:
            out.append(scalar.encode(item))
    return "".join(out)

