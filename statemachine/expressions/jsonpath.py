"""Expression stage: JSONPath text -> compiled ``JsonPath`` / ``ReferencePath`` (AWS semantics).

AWS evaluates JSONPath with Jayway semantics, so this module follows them:

- A *definite* path (only single names and single indexes) yields the value itself and raises
  ``PathNotFound`` when it matches nothing, with Jayway's detail text ("No results for path:
  $['x']" for a missing leaf, "Missing property in path $['no']" for a missing inner name).
- Any other path (``[*]``, ``..``, filters ``[?(@.x > 1)]``, slices, unions) yields a list of
  the matches in document order, possibly empty; it never raises.
- ``.length()`` (and min/max/avg/sum/stddev/keys/first/last) at the end of a path applies to
  what the path selected; after a leading deep scan ``length()`` counts the children of every
  match, as Jayway does (``$..book.length()`` is the number of books).
- Jayway's grammar is looser than Goessner's, and real definitions use it: a dot may stand
  before a bracket or a wildcard (``$.[0]``, ``$.Snapshots.[0].State``, ``$.[?(@.OU > 0)]``,
  ``$.[*].['bucket', 'key']``; same meaning as without the dot, since Jayway's dot token only
  hands over to the next token), and a name may follow a bracket without a dot (``$['a']b``).
- Several quoted names in one bracket at the END of a path (``$.x['a', 'b']``) select one
  object holding those of the properties that exist (Jayway's "multi-property merge"), and
  such a path is definite; in the middle of a path they select each property in turn.
- Filters compare with bare words: ``[?(@.Name==Receipt)]`` (see ``_Parser.literal``).

Roots: ``$`` (state input), ``$$`` (context object), ``$name`` (workflow variable ``name``).
Definite paths compile to a tuple of keys walked by a tight loop (the hot path, ~0.3 µs for
``$.last.step``); everything else goes through the selector table ``_SELECTORS``. The
parser is a small hand-written one (``_Parser``), shared with the filter sub-language.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Literal, NoReturn

from statemachine import errors
from statemachine.errors import StatesError
from statemachine.expressions import regexes
from statemachine.expressions.scope import Scope
from statemachine.values import JSON, MISSING

__all__ = [
    "JsonPath",
    "PathNotFound",
    "PathSyntaxError",
    "ReferencePath",
    "compile_path",
    "compile_reference_path",
]

Root = Literal["input", "context", "variable"]
Predicate = Callable[[JSON, JSON], bool]
_NOTHING: object = object()


class PathSyntaxError(ValueError):
    """A JSONPath that cannot be parsed; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class PathNotFound(Exception):
    """A definite path matched nothing. ``detail`` is Jayway's text, ``path`` the path as written."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.detail = detail

    def invalid_path_message(self) -> str:
        """AWS's cause for InputPath/OutputPath failures: ``Invalid path '$.x' : No results ...``."""
        return f"Invalid path '{self.path}' : {self.detail}"


@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    """One step of a path. ``kind`` picks the selector in ``_SELECTORS``."""

    kind: Literal["name", "index", "wildcard", "slice", "filter", "scan", "merge"]
    keys: tuple[str | int, ...] = ()
    bounds: tuple[int | None, int | None, int | None] = (None, None, None)
    predicate: Predicate | None = None
    inner: Segment | None = None

    @property
    def single(self) -> bool:
        return self.kind in ("name", "index") and len(self.keys) == 1


@dataclasses.dataclass(frozen=True, slots=True)
class _Parsed:
    root: Literal["input", "context", "variable", "current"]
    variable: str | None
    segments: tuple[Segment, ...]
    function: str | None


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class JsonPath:
    """A compiled JSONPath. ``keys`` is set for definite paths (names are str, indexes int)."""

    text: str
    root: Root
    variable: str | None
    definite: bool
    segments: tuple[Segment, ...]
    keys: tuple[str | int, ...] | None
    function: str | None = None

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickles as its text (filters hold closures); unpickling compiles it again."""
        return compile_path, (self.text,)

    def evaluate(self, scope: Scope) -> JSON:
        """Apply the path to the scope's input, context object or variable; raises PathNotFound."""
        if self.root == "input":
            return self.select(scope.input)
        if self.root == "context":
            return self.select(scope.context)
        value = scope.variables.get(self.variable, _NOTHING)  # type: ignore[arg-type]  # root 'variable' always has a name
        if value is _NOTHING:
            raise PathNotFound(self.text, f"Variable '${self.variable}' is not defined")
        return self.select(value)

    def select(self, value: JSON) -> JSON:
        """Apply the path to ``value``; raises PathNotFound for a definite path matching nothing."""
        keys = self.keys
        if keys is None:
            found = list(_select_all(value, self.segments, value))
            if self.definite:  # names/indexes ending in a multi-property merge: one object
                if not found:
                    raise PathNotFound(self.text, _merge_failure(value, self.segments))
                return found[0] if self.function is None else _apply_function(self.function, found[0])
            if self.function == "length" and self.segments[0].kind == "scan":
                # Jayway reads $..book.length() as length($..book[*]): it counts the children
                # of every match (its documented "number of books"), not the matches.
                return sum(len(match) for match in found if isinstance(match, list | dict))
            return found if self.function is None else _apply_function(self.function, found)
        current = value
        for key in keys:
            if key.__class__ is str:
                if current.__class__ is dict and key in current:
                    current = current[key]
                    continue
            elif current.__class__ is list and -len(current) <= key < len(current):  # type: ignore[operator]  # a key that is not str is an int; `__class__ is` (fast) does not narrow
                current = current[key]  # type: ignore[index]  # as above: an int
                continue
            raise PathNotFound(self.text, _definite_failure(value, keys))
        return current if self.function is None else _apply_function(self.function, current)

    def find(self, value: JSON) -> JSON:
        """Like ``select`` but returns ``MISSING`` instead of raising (Choice's IsPresent)."""
        try:
            return self.select(value)
        except PathNotFound:
            return MISSING


@functools.lru_cache(maxsize=4096)
def compile_path(text: str, *, allow_context: bool = True, allow_variables: bool = True) -> JsonPath:
    """Compile a JSONPath (``$...``, ``$$...``, ``$name...``); raises PathSyntaxError.

    Compiled paths are immutable, so equal texts share one object.
    """
    parsed = _parse(text)
    if parsed.root == "context" and not allow_context:
        raise PathSyntaxError(f"The context object ('$$') is not allowed here: {text}", 0)
    if parsed.root == "variable" and not allow_variables:
        raise PathSyntaxError(f"Variables are not allowed here: {text}", 0)
    segments = parsed.segments
    definite = _is_definite(segments)
    keys = tuple(seg.keys[0] for seg in segments) if all(seg.single for seg in segments) else None
    root: Root = parsed.root  # type: ignore[assignment]  # 'current' (@) is parsed inside filters only
    return JsonPath(text, root, parsed.variable, definite, parsed.segments, keys, parsed.function)


def _is_definite(segments: tuple[Segment, ...]) -> bool:
    """Single names and indexes only, the last step possibly a multi-property merge (Jayway)."""
    return all(seg.single for seg in segments[:-1]) and (
        not segments or segments[-1].single or segments[-1].kind == "merge")


def normalized(keys: tuple[str | int, ...]) -> str:
    """Jayway's normalized form of a definite path: ``$['a'][0]``."""
    return "$" + "".join(f"[{k}]" if isinstance(k, int) else f"['{k}']" for k in keys)


# --- definite-path failure texts (slow path, only on failure) -------------------------------

_JAVA_TYPES = {dict: "java.util.LinkedHashMap", list: "net.minidev.json.JSONArray",
               str: "java.lang.String", bool: "java.lang.Boolean", int: "java.lang.Integer",
               float: "java.lang.Double"}


def _definite_failure(value: JSON, keys: tuple[str | int, ...]) -> str:
    """Jayway's PathNotFoundException text for the first step of ``keys`` that fails."""
    current, walked = value, "$"
    for position, key in enumerate(keys):
        step = normalized((key,))[1:]
        if isinstance(key, str):
            if not isinstance(current, dict):
                found = "null" if current is None else _JAVA_TYPES.get(type(current), "java.lang.Object")
                return (f"Expected to find an object with property {step} in path {walked} but found "
                        f"'{found}'. This is not a json object according to the JsonProvider: "
                        "'com.jayway.jsonpath.spi.json.JsonSmartJsonProvider'.")
            if key not in current:
                if position == len(keys) - 1:
                    break
                return f"Missing property in path {walked}{step}"
        else:
            if current is None:
                return f"The path {walked} is null"
            if not isinstance(current, list):
                return f"Filter: {step} can only be applied to arrays. Current context is: {_compact(current)}"
            if not -len(current) <= key < len(current):
                break
        current, walked = current[key], walked + step
    return f"No results for path: {normalized(keys)}"


def _merge_failure(value: JSON, segments: tuple[Segment, ...]) -> str:
    """Jayway's text when a definite path ending in ``['a','b']`` finds no object to merge from."""
    prefix = tuple(seg.keys[0] for seg in segments[:-1])
    current, walked = value, "$"
    for key in prefix:
        found = _step(current, key)
        if found is MISSING:  # the prefix fails: same text as any inner step of a definite path
            return _definite_failure(value, (*prefix, ""))
        current = found
        walked += normalized((key,))[1:]
    names = ",".join(f"'{k}'" for k in segments[-1].keys)
    found = "null" if current is None else _JAVA_TYPES.get(type(current), "java.lang.Object")
    return (f"Expected to find an object with property [{names}] in path {walked} but found '{found}'. "
            "This is not a json object according to the JsonProvider: "
            "'com.jayway.jsonpath.spi.json.JsonSmartJsonProvider'.")


def _step(current: JSON, key: str | int) -> JSON:
    """One definite step (a name of an object, an index of an array), or MISSING."""
    if isinstance(current, dict) and isinstance(key, str):
        return current.get(key, MISSING)
    if isinstance(current, list) and isinstance(key, int) and -len(current) <= key < len(current):
        return current[key]
    return MISSING


def _compact(value: JSON) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- generic (non-definite) evaluation ------------------------------------------------------


def _select_all(value: JSON, segments: tuple[Segment, ...], root: JSON) -> Iterator[JSON]:
    """Every match of ``segments`` under ``value``, in document order (never raises)."""
    if not segments:
        yield value
        return
    head, rest = segments[0], segments[1:]
    for child in _SELECTORS[head.kind](value, head, root):
        yield from _select_all(child, rest, root)


def _select_name(value: JSON, seg: Segment, root: JSON) -> Iterator[JSON]:
    if isinstance(value, dict):
        yield from (value[k] for k in seg.keys if k in value)


def _select_merge(value: JSON, seg: Segment, root: JSON) -> Iterator[JSON]:
    """``['a','b']`` as the last step: one object with those of the names that exist (Jayway)."""
    if isinstance(value, dict):
        yield {k: value[k] for k in seg.keys if k in value}


def _select_index(value: JSON, seg: Segment, root: JSON) -> Iterator[JSON]:
    if isinstance(value, list):
        yield from (value[i] for i in seg.keys if -len(value) <= i < len(value))  # type: ignore[operator,index]  # an index segment's keys are ints


def _select_wildcard(value: JSON, seg: Segment, root: JSON) -> Iterator[JSON]:
    if isinstance(value, dict):
        yield from value.values()
    elif isinstance(value, list):
        yield from value


def _select_slice(value: JSON, seg: Segment, root: JSON) -> Iterator[JSON]:
    if isinstance(value, list):
        yield from value[slice(*seg.bounds)]


def _select_filter(value: JSON, seg: Segment, root: JSON) -> Iterator[JSON]:
    assert seg.predicate is not None
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    yield from (item for item in items if seg.predicate(item, root))


def _select_scan(value: JSON, seg: Segment, root: JSON) -> Iterator[JSON]:
    """``..x``: apply the inner selector to ``value`` and to every container below it."""
    assert seg.inner is not None
    yield from _SELECTORS[seg.inner.kind](value, seg.inner, root)
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        if isinstance(child, dict | list):
            yield from _select_scan(child, seg, root)


_SELECTORS: Mapping[str, Callable[[JSON, Segment, JSON], Iterator[JSON]]] = MappingProxyType({
    "name": _select_name,
    "index": _select_index,
    "wildcard": _select_wildcard,
    "slice": _select_slice,
    "filter": _select_filter,
    "scan": _select_scan,
    "merge": _select_merge,
})


def _numbers(values: JSON) -> list[float]:
    items = values if isinstance(values, list) else [values]
    nums = [v for v in items if isinstance(v, int | float) and not isinstance(v, bool)]
    if not nums:
        raise ValueError("aggregation function attempted to calculate value using empty array")
    return nums


def _stddev(values: JSON) -> float:
    nums = _numbers(values)
    mean = sum(nums) / len(nums)
    return math.sqrt(sum((n - mean) ** 2 for n in nums) / len(nums))


#: Jayway's path functions (``$.items.length()``): name -> implementation.
PATH_FUNCTIONS: Mapping[str, Callable[[JSON], JSON]] = MappingProxyType({
    "length": lambda v: len(v) if isinstance(v, list | dict | str) else None,
    "size": lambda v: len(v) if isinstance(v, list | dict | str) else None,
    "min": lambda v: min(_numbers(v)),
    "max": lambda v: max(_numbers(v)),
    "sum": lambda v: sum(_numbers(v)),
    "avg": lambda v: sum(_numbers(v)) / len(_numbers(v)),
    "stddev": _stddev,
    "keys": lambda v: list(v) if isinstance(v, dict) else None,
    "first": lambda v: v[0] if isinstance(v, list) and v else None,
    "last": lambda v: v[-1] if isinstance(v, list) and v else None,
})


def _apply_function(name: str, value: JSON) -> JSON:
    try:
        return PATH_FUNCTIONS[name](value)
    except (TypeError, ValueError) as exc:
        raise StatesError(errors.RUNTIME, f"Function {name}() cannot be applied: {exc}") from None


def _relative(path: _Parsed, item: JSON, root: JSON) -> JSON:
    """Value of ``@...`` / ``$...`` inside a filter: MISSING when absent (never raises)."""
    start = item if path.root == "current" else root
    found = list(_select_all(start, path.segments, root))
    value: JSON = found if found else MISSING  # an indefinite path without matches is absent
    if found and _is_definite(path.segments):
        value = found[0]
    if path.function is not None and value is not MISSING:
        return _apply_function(path.function, value)
    return value


# --- filter predicates ----------------------------------------------------------------------


def _is_number(v: JSON) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _equal(a: JSON, b: JSON) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _ordered(test: Callable[[JSON, JSON], bool]) -> Callable[[JSON, JSON], bool]:
    def compare(a: JSON, b: JSON) -> bool:
        if (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
            return test(a, b)
        return False
    return compare


def _contains(a: JSON, b: JSON) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return b in a
    return isinstance(a, list) and any(_equal(x, b) for x in a)


#: Seconds one ``=~`` match may take (our bound: AWS runs Jayway JSONPath, which has none).
REGEX_SECONDS = 10.0


def _regex_too_slow() -> Exception:
    return StatesError("States.Runtime", f"A JSONPath regular expression match ran over {REGEX_SECONDS:g} seconds")


def _matches(a: JSON, b: JSON) -> bool:
    if not (isinstance(a, str) and isinstance(b, regexes.BoundedPattern)):
        return False
    return regexes.fullmatch(b, a, regexes.Budget(REGEX_SECONDS, _regex_too_slow))


def _sized(a: JSON) -> int | None:
    return len(a) if isinstance(a, list | str | dict) else None


#: Filter operators (Jayway): name -> test on (left value, right value); MISSING never matches.
OPERATORS: Mapping[str, Callable[[JSON, JSON], bool]] = MappingProxyType({
    "==": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
    "=~": _matches,
    "in": lambda a, b: isinstance(b, list) and any(_equal(a, x) for x in b),
    "nin": lambda a, b: isinstance(b, list) and not any(_equal(a, x) for x in b),
    "contains": _contains,
    "size": lambda a, b: _sized(a) is not None and _sized(a) == b,
    "empty": lambda a, b: _sized(a) is not None and (_sized(a) == 0) == b,
    "anyof": lambda a, b: isinstance(a, list) and isinstance(b, list) and any(_contains(b, x) for x in a),
    "noneof": lambda a, b: isinstance(a, list) and isinstance(b, list) and not any(_contains(b, x) for x in a),
    "subsetof": lambda a, b: isinstance(a, list) and isinstance(b, list) and all(_contains(b, x) for x in a),
})
_WORD_OPERATORS = ("subsetof", "contains", "noneof", "anyof", "empty", "size", "nin", "in")
_SYMBOL_OPERATORS = ("==", "!=", "<=", ">=", "=~", "<", ">")
Operand = Callable[[JSON, JSON], JSON]


# --- parser ---------------------------------------------------------------------------------

_NAME_STOP = frozenset(".[()") | frozenset(" \t\r\n")
_FILTER_NAME_STOP = _NAME_STOP | frozenset("=!<>&|,]")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: A literal without quotes in a filter: a number, true/false/null, or a bare word.
_BARE = re.compile(r"[^\s()\[\]{}&|,'\"=!<>~/]+")
_INTEGER = re.compile(r"-?\d+")
_JSON = json.JSONDecoder()
_KEYWORDS: Mapping[str, JSON] = MappingProxyType({"true": True, "false": False, "null": None})



def _parse(text: str) -> _Parsed:
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathSyntaxError(f"A JSONPath must start with '$': {text!r}", 0)
    parser = _Parser(text)
    parsed = parser.path(in_filter=False)
    if parser.pos != len(text):
        parser.fail(f"Unexpected character {text[parser.pos]!r}")
    return parsed


class _Parser:
    """Recursive descent over the path text; ``pos`` only moves forward."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str) -> NoReturn:
        raise PathSyntaxError(f"{message} at position {self.pos} in path {self.text!r}", self.pos)

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def eat(self, token: str) -> bool:
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.eat(token):
            self.fail(f"Expected {token!r}")

    def spaces(self) -> None:
        while self.peek() in (" ", "\t", "\n", "\r") and self.peek():
            self.pos += 1

    def eat_spaced(self, token: str) -> bool:
        self.spaces()
        return self.eat(token)

    def path(self, *, in_filter: bool) -> _Parsed:
        root, variable = self.root(in_filter)
        segments: list[Segment] = []
        function = None
        stop = _FILTER_NAME_STOP if in_filter else _NAME_STOP
        glued = False  # Jayway: after a bracket or a wildcard, a name may follow without a dot
        while self.pos < len(self.text) and function is None:
            if self.eat(".."):
                segments.append(Segment("scan", inner=self.after_scan(in_filter)))
                glued = segments[-1].inner is not None and segments[-1].inner.kind != "name"
                continue
            dotted = self.eat(".")
            char = self.peek()
            if char == "[":
                # Jayway: "$.[0]" is "$[0]" -- its dot token only hands over to the next token
                segments.append(self.bracket())
                glued = True
            elif char == "*" and (dotted or glued):
                self.pos += 1
                segments.append(Segment("wildcard"))
                glued = True
            elif dotted or (glued and char and char not in stop):
                name = self.name(in_filter)
                if self.eat("()"):
                    if name not in PATH_FUNCTIONS:
                        self.fail(f"Unknown function {name}()")
                    function = name
                else:
                    segments.append(Segment("name", (name,)))
                glued = False
            else:
                break
        if segments and segments[-1].kind == "name" and len(segments[-1].keys) > 1:
            segments[-1] = Segment("merge", segments[-1].keys)  # Jayway: a leaf multi-property merges
        return _Parsed(root, variable, tuple(segments), function)

    def root(self, in_filter: bool) -> tuple[Literal["input", "context", "variable", "current"], str | None]:
        if in_filter and self.eat("@"):
            return "current", None
        self.expect("$")
        if self.eat("$"):
            return "context", None
        match = _VARIABLE.match(self.text, self.pos)
        if match is None or in_filter:
            return "input", None
        self.pos = match.end()
        return "variable", match.group()

    def name(self, in_filter: bool) -> str:
        stop = _FILTER_NAME_STOP if in_filter else _NAME_STOP
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in stop:
            self.pos += 1
        if self.pos == start:
            self.fail("Expected a property name")
        return self.text[start:self.pos]

    def after_scan(self, in_filter: bool) -> Segment:
        if self.eat("*"):
            return Segment("wildcard")
        if self.peek() == "[":
            return self.bracket()
        return Segment("name", (self.name(in_filter),))

    def bracket(self) -> Segment:
        self.expect("[")
        self.spaces()
        if self.eat("*"):
            segment = Segment("wildcard")
        elif self.eat("?"):
            self.expect("(")
            segment = Segment("filter", predicate=self.disjunction())
            self.spaces()
            self.expect(")")
        elif self.peek() in ("'", '"'):
            segment = Segment("name", tuple(self.string_list()))
        else:
            segment = self.numeric()
        self.spaces()
        self.expect("]")
        return segment

    def string_list(self) -> list[str | int]:
        names: list[str | int] = [self.string()]
        self.spaces()
        while self.eat(","):
            self.spaces()
            names.append(self.string())
            self.spaces()
        return names

    def string(self) -> str:
        """A quoted name; only ``\\<quote>`` is an escape (AWS keeps other backslashes as is)."""
        quote = self.peek()
        if quote not in ("'", '"'):
            self.fail("Expected a quoted string")
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.peek(2) == "\\" + quote:
                out.append(quote)
                self.pos += 2
            elif char == quote:
                self.pos += 1
                return "".join(out)
            else:
                out.append(char)
                self.pos += 1
        self.fail("Unterminated string")

    def numeric(self) -> Segment:
        end = self.text.find("]", self.pos)
        if end < 0:
            self.fail("Expected ']'")
        body = self.text[self.pos:end].replace(" ", "")
        try:
            if ":" in body:
                parts = body.split(":")
                if len(parts) > 3:
                    raise ValueError(body)
                bounds = [int(p) if p else None for p in parts] + [None] * (3 - len(parts))
                if bounds[2] == 0:
                    raise ValueError(body)
                segment = Segment("slice", bounds=(bounds[0], bounds[1], bounds[2]))
            else:
                segment = Segment("index", tuple(int(p) for p in body.split(",")))
        except ValueError:
            self.fail(f"Invalid array selector [{body}]")
        self.pos = end
        return segment

    # filter expressions: disjunction := conjunction ('||' conjunction)* ...

    def disjunction(self) -> Predicate:
        terms = [self.conjunction()]
        while self.eat_spaced("||"):
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else lambda item, root: any(t(item, root) for t in terms)

    def conjunction(self) -> Predicate:
        terms = [self.unary()]
        while self.eat_spaced("&&"):
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else lambda item, root: all(t(item, root) for t in terms)

    def unary(self) -> Predicate:
        self.spaces()
        if self.eat("!"):
            inner = self.unary()
            return lambda item, root: not inner(item, root)
        if self.eat("("):
            inner = self.disjunction()
            self.spaces()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        self.spaces()
        left_is_path = self.peek() in ("@", "$")
        left = self.operand()
        self.spaces()
        name = next((op for op in _SYMBOL_OPERATORS if self.eat(op)), None)
        if name is None:
            name = next((op for op in _WORD_OPERATORS if self.word(op)), None)
        if name is None:
            if not left_is_path:  # Jayway: a literal alone is no test ("Expected path node")
                self.fail("Expected a comparison operator after a value")
            return lambda item, root: _present(left(item, root))
        right, test = self.operand(), OPERATORS[name]
        if name in ("!=", "nin"):  # Jayway: "not equal"/"not in" negate ==/in, so an absent left matches
            return lambda item, root: test(left(item, root), right(item, root))
        return lambda item, root: _both(left(item, root), right(item, root), test)

    def word(self, op: str) -> bool:
        after = self.pos + len(op)
        if self.text.startswith(op, self.pos) and (after >= len(self.text) or not self.text[after].isalnum()):
            self.pos = after
            return True
        return False

    def operand(self) -> Operand:
        self.spaces()
        char = self.peek()
        if char in ("@", "$"):
            parsed = self.path(in_filter=True)
            return lambda item, root: _relative(parsed, item, root)
        value = self.literal()
        return lambda item, root: value

    def literal(self) -> JSON:
        char = self.peek()
        if char in ("'", '"'):
            return self.string()
        if char == "/":
            return self.regex()
        if char == "{":  # Jayway: a JSON object literal, [?(@.limits == {"max": 3})]
            try:
                value, self.pos = _JSON.raw_decode(self.text, self.pos)
            except ValueError:
                self.fail("Invalid JSON object literal")
            return value
        if char == "[":
            self.pos += 1
            values = [self.literal_after_spaces()]
            while self.eat_spaced(","):
                values.append(self.literal_after_spaces())
            self.spaces()
            self.expect("]")
            return values
        match = _BARE.match(self.text, self.pos)
        if match is None:
            self.fail("Expected a value")
        self.pos = match.end()
        word = match.group()
        if word in _KEYWORDS:
            return _KEYWORDS[word]
        if _NUMBER.fullmatch(word):
            return int(word) if _INTEGER.fullmatch(word) else float(word)
        # A bare word: AWS accepts [?(@.Name==Receipt)] (deployed samples rely on it) though
        # Jayway 2.x's FilterCompiler refuses it (it reads a number and fails on the letter).
        # What AWS does with it at run time is not documented; we pick the reading of Jayway
        # 2.0's Criteria parser, which kept an unquoted right-hand side as text: the string.
        return word

    def literal_after_spaces(self) -> JSON:
        self.spaces()
        return self.literal()

    def regex(self) -> regexes.BoundedPattern:
        end = self.pos + 1
        while end < len(self.text) and (self.text[end] != "/" or self.text[end - 1] == "\\"):
            end += 1
        if end >= len(self.text):
            self.fail("Unterminated regular expression")
        body, self.pos = self.text[self.pos + 1:end], end + 1
        flags = 0
        while self.peek() in ("i", "m", "s") and self.peek():
            flags |= {"i": re.I, "m": re.M, "s": re.S}[self.peek()]
            self.pos += 1
        try:
            return regexes.BoundedPattern(body, flags)  # stops at abort, timeouts, REGEX_SECONDS
        except re.error as exc:
            self.fail(f"Invalid regular expression: {exc}")


def _present(value: JSON) -> bool:
    """``[?(@.x)]``: the property exists (Jayway's existence test), whatever its value."""
    return value is not MISSING


def _both(left: JSON, right: JSON, test: Callable[[JSON, JSON], bool]) -> bool:
    return left is not MISSING and right is not MISSING and test(left, right)


# --- reference paths (ResultPath) -----------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class ReferencePath:
    """A ResultPath writer: ``apply`` returns a new value with ``value`` placed at the path."""

    text: str
    keys: tuple[str | int, ...]

    def apply(self, target: JSON, value: JSON) -> JSON:
        """Copy only the containers along the path; create missing objects; ``$`` replaces all.

        Raises StatesError(States.ResultPathMatchFailure) when the path crosses a value that is
        not an object (or an array, for an index step) or an index beyond the end.
        """
        if not self.keys:
            return value
        return self._write(target, 0, value)

    def _write(self, container: JSON, depth: int, value: JSON) -> JSON:
        key = self.keys[depth]
        last = depth == len(self.keys) - 1
        if isinstance(key, str):
            if not isinstance(container, dict):
                raise self._mismatch(key, container)
            copy = dict(container)
            copy[key] = value if last else self._write(container.get(key, {}), depth + 1, value)
            return copy
        if not isinstance(container, list) or not -len(container) <= key < len(container):
            raise self._mismatch(key, container)
        items = list(container)
        items[key] = value if last else self._write(container[key], depth + 1, value)
        return items

    def _mismatch(self, key: str | int, container: JSON) -> StatesError:
        return StatesError(errors.RESULT_PATH_MATCH_FAILURE,
                           f"Unable to apply step \"{key}\" to input {_compact(container)}")


@functools.lru_cache(maxsize=1024)
def compile_reference_path(text: str) -> ReferencePath:
    """Compile a ResultPath: ``$`` or a definite path of names and indexes under ``$``.

    Raises PathSyntaxError for anything else (``$$``, variables, wildcards, filters, slices).
    """
    parsed = _parse(text)
    if parsed.root != "input":
        raise PathSyntaxError(f"A reference path must start with '$': {text}", 0)
    if parsed.function is not None or not all(s.single for s in parsed.segments):
        raise PathSyntaxError(f"A reference path must be definite (no wildcards, filters or slices): {text}", 0)
    return ReferencePath(text, tuple(seg.keys[0] for seg in parsed.segments))
