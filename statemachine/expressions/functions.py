"""Expression stage: the table of intrinsic functions (``States.Format``, ``States.Hash``, ...).

``FUNCTIONS`` maps each AWS function name to a ``FunctionSpec``: its declared parameter types
and its implementation. The parser (intrinsics.py) checks names and argument counts against
the table at compile time; ``FunctionSpec.call`` checks argument types centrally at run time
and raises ``StatesError("States.IntrinsicFailure", message)`` for wrong arguments, so the
implementations below only ever see values of the declared types.

Semantics follow AWS (the conformance corpus wins over the docs): ``States.Format`` renders
objects the way Java's ``Map.toString`` does (``{a=1, b=[]}``), ``States.MathAdd`` rounds
each operand half-up first (Java ``Math.round``), ``States.StringSplit`` splits on any of
the delimiter's characters and drops empty pieces (Java ``StringTokenizer``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import decimal
import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Literal

from statemachine import errors
from statemachine.errors import StatesError
from statemachine.randomness import JavaRandom, java_long
from statemachine.values import JSON

ArgType = Literal["any", "string", "number", "integer", "array", "object", "boolean"]
Impl = Callable[[list[JSON], "random.Random | None"], JSON]

_MAX_TEXT = 10_000  # AWS: Base64Encode/Decode and Hash accept at most 10,000 characters
_MAX_RANGE = 1_000  # AWS: States.ArrayRange may produce at most 1,000 items
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1  # AWS: MathAdd operands are Java ints


@dataclasses.dataclass(frozen=True, slots=True)
class FormatTemplate:
    """A ``States.Format`` template given as a literal: the text around its ``{}`` placeholders
    (escaped ``\\{`` / ``\\}`` are already plain braces inside the pieces)."""

    pieces: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class FunctionSpec:
    """Declared signature and implementation of one intrinsic function."""

    name: str
    params: tuple[ArgType, ...]
    impl: Impl
    optional: int = 0                 # how many trailing ``params`` may be left out
    variadic: ArgType | None = None   # type of any further arguments (States.Array, Format)

    def arity_error(self, count: int) -> str | None:
        """A message when ``count`` arguments do not fit the signature, else None."""
        low, high = len(self.params) - self.optional, len(self.params)
        if count < low or (self.variadic is None and count > high):
            expected = str(low) if low == high else f"{low} to {high}"
            if self.variadic is not None:
                expected = f"at least {low}"
            return f"The function {self.name} expects {expected} argument(s) but was given {count}"
        return None

    def call(self, args: list[JSON], rng: random.Random | None = None) -> JSON:
        """Check the argument types, then run the implementation."""
        if self.params == _TWO_NUMBERS and len(args) == 2 and type(args[0]) is int \
                and type(args[1]) is int:  # States.MathAdd of two ints: nothing to check
            return self.impl(args, rng)
        for position, value in enumerate(args):
            declared = self.params[position] if position < len(self.params) else self.variadic
            if declared is not None and declared != "any" and not _CHECKS[declared](value):
                raise failure(self.name, f"argument {position + 1} must be {_article(declared)}, "
                                         f"but was {_json_type(value)}: {_short(value)}")
        return self.impl(args, rng)


def failure(name: str, reason: str) -> StatesError:
    """The States.IntrinsicFailure raised for bad arguments to ``name``."""
    return StatesError(errors.INTRINSIC_FAILURE, f"Invalid arguments in {name}: {reason}")


#: a signature whose two int arguments need no check (States.MathAdd)
_TWO_NUMBERS = ("number", "number")
_NUMBERS = (int, float)  # a tuple: ``int | float`` would build a union object per call


def _is_number(v: JSON) -> bool:
    kind = type(v)
    if kind is int or kind is float:
        return True
    return isinstance(v, _NUMBERS) and not isinstance(v, bool)


def _is_integer(v: JSON) -> bool:
    return _is_number(v) and (isinstance(v, int) or float(v).is_integer())


_CHECKS: Mapping[str, Callable[[JSON], bool]] = {
    "any": lambda v: True,
    "string": lambda v: isinstance(v, str | FormatTemplate),
    "number": _is_number,
    "integer": _is_integer,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "boolean": lambda v: isinstance(v, bool),
}


def _article(declared: str) -> str:
    return ("an " if declared[0] in "aeiou" else "a ") + declared


def _json_type(v: JSON) -> str:
    if v is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(v), type(v).__name__)


def _short(v: JSON) -> str:
    text = compact_json(v) if not isinstance(v, FormatTemplate) else "{}".join(v.pieces)
    return text if len(text) <= 200 else text[:197] + "..."


def compact_json(value: JSON) -> str:
    """JSON text the way AWS prints values: no spaces, non-ASCII kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_equal(a: JSON, b: JSON) -> bool:
    """JSON equality: numbers by value, but ``true`` is not ``1``; containers element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


# --- generic and JSON ------------------------------------------------------------------------


def java_string(value: JSON) -> str:
    """How AWS renders a value inside States.Format: strings bare, objects as Java maps."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(java_string(v) for v in value) + "]"
    return "{" + ", ".join(f"{k}={java_string(v)}" for k, v in value.items()) + "}"


def _java_double(value: float) -> str:
    if math.isfinite(value) and (value == 0 or 1e-3 <= abs(value) < 1e7):
        return repr(value)
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    sign, digits, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{len(digits) + int(exponent) - 1}"


def _format(args: list[JSON], rng: random.Random | None) -> JSON:
    template, values = args[0], args[1:]
    pieces = template.pieces if isinstance(template, FormatTemplate) else tuple(template.split("{}"))
    if len(pieces) - 1 != len(values):
        raise failure("States.Format", f"the format string has {len(pieces) - 1} placeholder(s) "
                                       f"but {len(values)} argument(s) were given")
    out = [pieces[0]]
    for value, piece in zip(values, pieces[1:], strict=True):
        out += [java_string(value), piece]
    return "".join(out)


def _string_to_json(args: list[JSON], rng: random.Random | None) -> JSON:
    text = args[0].strip()
    if not text:
        return None  # AWS: "" and blank strings parse to null
    try:
        return json.loads(text, parse_constant=_not_json)
    except ValueError:
        raise failure("States.StringToJson", f"the string is not valid JSON: {_short(args[0])}") from None


def _not_json(constant: str) -> JSON:
    raise ValueError(f"{constant} is not JSON")  # Python's json accepts NaN/Infinity; JSON does not


def _json_merge(args: list[JSON], rng: random.Random | None) -> JSON:
    left, right, deep = args
    if deep:
        raise failure("States.JsonMerge", "deep merging is not supported; the third argument must be false")
    return {**left, **right}


# --- arrays ----------------------------------------------------------------------------------


def _partition(args: list[JSON], rng: random.Random | None) -> JSON:
    items, size = args[0], int(args[1])
    if size <= 0:
        raise failure("States.ArrayPartition", f"the chunk size must be a positive integer, but was {size}")
    return [items[i:i + size] for i in range(0, len(items), size)]


def _contains(args: list[JSON], rng: random.Random | None) -> JSON:
    return any(json_equal(item, args[1]) for item in args[0])


def _range(args: list[JSON], rng: random.Random | None) -> JSON:
    start, end, step = (int(a) for a in args)
    if step == 0:
        raise failure("States.ArrayRange", "the step must not be 0")
    items = range(start, end + (1 if step > 0 else -1), step)
    if len(items) > _MAX_RANGE:
        raise failure("States.ArrayRange", f"the range would have {len(items)} items; at most {_MAX_RANGE} are allowed")
    return list(items)


def _get_item(args: list[JSON], rng: random.Random | None) -> JSON:
    items, index = args[0], int(args[1])
    if not 0 <= index < len(items):
        raise failure("States.ArrayGetItem", f"index {index} is out of bounds for an array of length {len(items)}")
    return items[index]


def _unique(args: list[JSON], rng: random.Random | None) -> JSON:
    kept: list[JSON] = []
    for item in args[0]:
        if not any(json_equal(item, seen) for seen in kept):
            kept.append(item)
    return kept


# --- encoding, hashing, strings --------------------------------------------------------------


def _limited(name: str, text: str) -> str:
    if len(text) > _MAX_TEXT:
        raise failure(name, f"the input has {len(text)} characters; at most {_MAX_TEXT} are allowed")
    return text


def _b64encode(args: list[JSON], rng: random.Random | None) -> JSON:
    text = _limited("States.Base64Encode", args[0])
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _b64decode(args: list[JSON], rng: random.Random | None) -> JSON:
    text = _limited("States.Base64Decode", args[0])
    try:
        return base64.b64decode(text.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise failure("States.Base64Decode", f"the input is not valid base64: {_short(text)}") from None


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _hash(args: list[JSON], rng: random.Random | None) -> JSON:
    data, algorithm = args
    text = _limited("States.Hash", data if isinstance(data, str) else compact_json(data))
    if algorithm not in _HASHES:
        raise failure("States.Hash", f"the hashing algorithm must be one of {', '.join(_HASHES)}, but was {algorithm!r}")
    return hashlib.new(_HASHES[algorithm], text.encode("utf-8")).hexdigest()


def _split(args: list[JSON], rng: random.Random | None) -> JSON:
    text, delimiters = args
    if not delimiters:
        return [text] if text else []
    pieces: list[str] = []
    current: list[str] = []
    for char in text:
        if char in delimiters:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return [p for p in pieces if p]


# --- math and randomness ---------------------------------------------------------------------


def _java_round(value: float) -> int:
    return math.floor(value + 0.5)


def _add(args: list[JSON], rng: random.Random | None) -> JSON:
    left, right = args
    if type(left) is int and type(right) is int and _INT_MIN <= left <= _INT_MAX \
            and _INT_MIN <= right <= _INT_MAX:  # the common case: nothing to round or refuse
        return left + right
    left, right = (_java_round(a) for a in args)
    for operand in (left, right):
        if not _INT_MIN <= operand <= _INT_MAX:
            raise failure("States.MathAdd", f"the operand {operand} is outside the integer range")
    return left + right


def _random(args: list[JSON], rng: random.Random | None) -> JSON:
    start, end = int(args[0]), int(args[1])
    if start >= end:
        raise failure("States.MathRandom", f"the start ({start}) must be less than the end ({end})")
    if len(args) > 2:  # seeded: Java's generator, as AWS's seeded $random (statemachine.randomness)
        java = JavaRandom(java_long(args[2]))
        span = end - start
        return start + (java.next_int(span) if span < 2**31 else int(span * java.next_double()))
    return (rng or random.Random()).randrange(start, end)


def _uuid(args: list[JSON], rng: random.Random | None) -> JSON:
    if rng is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _spec(name: str, params: Sequence[ArgType], impl: Impl, *, optional: int = 0,
          variadic: ArgType | None = None) -> tuple[str, FunctionSpec]:
    return name, FunctionSpec(name, tuple(params), impl, optional, variadic)


#: Every intrinsic function AWS documents, by name.
FUNCTIONS: Mapping[str, FunctionSpec] = MappingProxyType(dict([
    _spec("States.Format", ["string"], _format, variadic="any"),
    _spec("States.StringToJson", ["string"], _string_to_json),
    _spec("States.JsonToString", ["any"], lambda a, r: compact_json(a[0])),
    _spec("States.Array", [], lambda a, r: list(a), variadic="any"),
    _spec("States.ArrayPartition", ["array", "integer"], _partition),
    _spec("States.ArrayContains", ["array", "any"], _contains),
    _spec("States.ArrayRange", ["integer", "integer", "integer"], _range),
    _spec("States.ArrayGetItem", ["array", "integer"], _get_item),
    _spec("States.ArrayLength", ["array"], lambda a, r: len(a[0])),
    _spec("States.ArrayUnique", ["array"], _unique),
    _spec("States.Base64Encode", ["string"], _b64encode),
    _spec("States.Base64Decode", ["string"], _b64decode),
    _spec("States.Hash", ["any", "string"], _hash),
    _spec("States.JsonMerge", ["object", "object", "boolean"], _json_merge),
    _spec("States.MathRandom", ["number", "number", "number"], _random, optional=1),
    _spec("States.MathAdd", ["number", "number"], _add),
    _spec("States.StringSplit", ["string", "string"], _split),
    _spec("States.UUID", [], _uuid),
]))
