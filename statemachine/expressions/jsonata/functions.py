"""Expressions stage: the functions AWS adds to JSONata, and JSONata's error messages.

In: jsonata-python's module (passed in, it is imported lazily) and the execution's
``random.Random``. Out: function objects to bind into an expression's environment, and
error texts as JSONata 2.0.6 (JavaScript) words them, which is what AWS quotes in causes.

AWS's functions (Step Functions "JSONata functions provided by Step Functions"):
``$partition(array, size)``, ``$range(start, end, step)``, ``$hash(data, algorithm)``,
``$random([seed])``, ``$uuid()`` and ``$parse(jsonString)``; JSONata's ``$eval`` is not
available.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from statemachine.randomness import JavaRandom, java_long

STACK_OVERFLOW = (
    "Stack overflow. Check for non-terminating recursive function.  "
    "Consider rewriting as tail-recursive"
)
#: States.ArrayRange's limit, which $range shares.
_MAX_RANGE_ITEMS = 1000
_HASHES: Mapping[str, str] = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
#: jsonata-python's catalogue is a port of JSONata's in which "function" became "Object".
_OBJECT_WORD = re.compile(r"\bObject\b")
#: JSONata names array subtypes in T0412 ("must be an array of \"numbers\"").
_SUBTYPES: Mapping[str, str] = {
    "a": "arrays",
    "b": "booleans",
    "f": "functions",
    "n": "numbers",
    "o": "objects",
    "s": "strings",
}
#: ``{{name}}`` inserts JSON.stringify(value), ``{{{name}}}`` inserts the value as is.
_INSERT = re.compile(r"\{\{(\{?)\w+\}?\}\}")


class _Call:
    """Adapts a plain Python function to jsonata-python's ``call(input, args)`` protocol."""

    __slots__ = ("function",)

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    def call(self, input: Any, args: Any) -> Any:
        return self.function(*(args or ()))


def _define(lib: ModuleType, function: Callable[..., Any], signature: str) -> Any:
    return lib.Jsonata.JFunction(_Call(function), signature)


def _fail(lib: ModuleType, message: str) -> Exception:
    # D3137 is JSONata's code for errors raised with a free text ($error()).
    error: Exception = lib.JException("D3137", -1, message)
    return error


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == int(value)


def _partition(lib: ModuleType, array: Any, size: Any) -> Any:
    if array is None or size is None:
        return None
    if not _is_integer(size) or size <= 0:
        raise _fail(lib, "The chunk size argument of $partition must be a positive integer")
    step = int(size)
    return [list(array[start : start + step]) for start in range(0, len(array), step)]


def _range(lib: ModuleType, start: Any, end: Any, step: Any) -> Any:
    if start is None or end is None or step is None:
        return None
    if not all(_is_integer(v) for v in (start, end, step)) or step == 0:
        raise _fail(lib, "The arguments of $range must be integers and the step must not be 0")
    stop = int(end) + (1 if step > 0 else -1)
    values = range(int(start), stop, int(step))
    if len(values) > _MAX_RANGE_ITEMS:
        raise _fail(lib, f"$range would return more than {_MAX_RANGE_ITEMS} items")
    # A sequence, as JSONata's own functions return: one item reads as that item.
    return lib.Utils.create_sequence_from_iter(values)


def _hash(lib: ModuleType, data: Any, algorithm: Any) -> Any:
    if data is None or algorithm is None:
        return None
    name = _HASHES.get(algorithm)
    if name is None:
        known = ", ".join(_HASHES)
        raise _fail(lib, f"The hash algorithm '{algorithm}' is not supported; use one of {known}")
    return hashlib.new(name, data.encode("utf-8")).hexdigest()


def _parse(lib: ModuleType, text: Any) -> Any:
    if text is None:
        return None
    try:  # JSON.parse: NaN/Infinity are not JSON (Python's json accepts them)
        value = json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise _fail(lib, f"The argument of $parse is not valid JSON: {text}") from None
    return lib.Utils.NULL_VALUE if value is None else value


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


@functools.cache
def _aws_functions(lib: ModuleType) -> tuple[tuple[str, Any], ...]:
    return (
        ("partition", _define(lib, functools.partial(_partition, lib), "<a-n:a>")),
        ("range", _define(lib, functools.partial(_range, lib), "<nnn:a<n>>")),
        ("hash", _define(lib, functools.partial(_hash, lib), "<s-s:s>")),
        ("parse", _define(lib, functools.partial(_parse, lib), "<s-:x>")),
        # AWS: "$eval is not available - use $parse instead"; unbound, it is not a function.
        ("eval", None),
    )


def aws_functions(lib: ModuleType) -> dict[str, Any]:
    """``name -> function`` for the AWS functions that need no randomness (None: removed)."""
    return dict(_aws_functions(lib))


def random_functions(lib: ModuleType, rng: random.Random | None) -> dict[str, Any]:
    """``$random([seed])`` and ``$uuid()`` drawing from ``rng`` (AWS's $random takes a seed)."""
    source = rng if rng is not None else random.Random()

    def random_(seed: Any = None) -> float:
        # AWS: $random(42) = 0.7275636800328681 = new java.util.Random(42).nextDouble().
        if seed is None:
            return source.random()
        if seed is lib.Utils.NULL_VALUE:  # JSONata's signature check: null is not a number
            raise lib.JException("T0410", -1, 1, "random")
        return JavaRandom(java_long(seed)).next_double()

    def uuid_() -> str:
        return str(uuid.UUID(int=source.getrandbits(128), version=4))

    return {
        "random": _define(lib, random_, "<(ns)?:n>"),
        "uuid": _define(lib, uuid_, "<:s>"),
    }


def _stringify(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def message(exc: Any) -> str:
    """The JavaScript JSONata message of a jsonata-python ``JException``."""
    template = type(exc).error_codes.get(exc.error)
    if template is None:
        return str(exc)
    template = _OBJECT_WORD.sub("function", template)
    extra = _SUBTYPES.get(exc.extra, exc.extra) if exc.error == "T0412" else exc.extra
    inserts = iter((exc.current, exc.expected, extra))

    def fill(match: re.Match[str]) -> str:
        value = next(inserts, None)
        if match.group(1):
            return "" if value is None else str(value)
        return _stringify(value)

    return _INSERT.sub(fill, template)
