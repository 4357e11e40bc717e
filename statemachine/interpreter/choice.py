"""Interpreter stage: the Choice state's rule language (JSONPath mode), compiled once into predicates.

Public surface (used by the compiler and the Choice state handler)::

    compile_choice_rule(rule) -> ChoicePredicate      one entry of ``Choices`` or a nested rule;
                                                      ``Next``/``Comment``/``Assign`` are ignored
    compile_choices(rules) -> ChoiceTable             every entry of ``Choices``, in order
    ChoiceTable.first_match(scope) -> int | None      index of the first rule that holds; None
                                                      means "take Default" (or fail with
                                                      States.NoChoiceMatched: the caller's job)
    evaluate_choices(predicates, scope) -> int | None the same over a plain sequence
    ChoiceRuleError                                   a malformed rule; ``.pointer`` is relative
                                                      to the rule (``/And/1/NumericEquals``)
    parse_timestamp(text) -> int | None               AWS timestamp -> epoch nanoseconds

A predicate is a plain closure ``(scope) -> bool``: the paths, the operand and the operator are
bound at compile time, so a call costs one path lookup, one type check and one comparison.

AWS semantics (the corpus ``choice_operators.*`` is the ground truth):

- A value of the wrong type makes a comparison false, never an error (``NumericEquals`` on
  ``"1"``, ``BooleanEquals`` on ``0``, ``TimestampEquals`` on a string that is no timestamp).
- Numbers compare by value (``1 == 1.0``); booleans are not numbers.
- A ``Variable`` (or a ``...Path`` operand) that selects nothing fails the state with
  ``States.Runtime``: "Invalid path '$.x': The choice state's condition path references an
  invalid value." (the interpreter adds its "An error occurred while executing the state ..."
  prefix). ``IsPresent`` is the exception: a missing path is simply "not present"; a path to
  ``null`` is present.
- Strings order by UTF-16 code units, like Java's ``String.compareTo`` (AWS runs on the JVM);
  this differs from Python's code-point order only for characters beyond U+FFFF.
- ``StringMatches``: ``*`` matches any run of characters (also empty); ``\\*`` is a literal
  star and ``\\\\`` a literal backslash; no other character is special, so a backslash before
  anything else stays a backslash. Matched without regular expressions (no backtracking).
- Timestamps are RFC 3339 with AWS's restrictions (docs: upper-case ``T``, upper-case ``Z``
  unless a numeric ``+hh:mm``/``-hh:mm`` offset is given), a fraction of 1-9 digits (the corpus's
  Wait cases accept nanoseconds; AWS parses "ISO-8601 extended offset date-time" strings with
  java.time, hence also its offset range of +-18:00 and no leap second), a real calendar date.
  They compare as instants (offsets applied, nanosecond precision).
- ``And``/``Or`` evaluate left to right and stop at the first deciding operand, so a later
  operand's missing path does not fail the state.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from statemachine import errors
from statemachine.errors import StatesError
from statemachine.expressions.jsonpath import JsonPath, PathNotFound, compile_path
from statemachine.expressions.scope import Scope
from statemachine.values import JSON

__all__ = [
    "ChoicePredicate",
    "ChoiceRuleError",
    "ChoiceTable",
    "compile_choice_rule",
    "compile_choices",
    "evaluate_choices",
    "is_timestamp",
    "parse_timestamp",
]


class ChoicePredicate(Protocol):
    def __call__(self, scope: Scope) -> bool: ...


class ChoiceRuleError(ValueError):
    """A Choice rule that cannot be compiled; ``pointer`` is a JSON pointer inside the rule."""

    def __init__(self, message: str, pointer: str = "") -> None:
        super().__init__(f"{message} ({pointer})" if pointer else message)
        self.message = message
        self.pointer = pointer


# --------------------------------------------------------------------------------------------
# Values: each kind maps a JSON value to a comparable key, or None when the type does not fit.

Key = Callable[[JSON], Any]
Compare = Callable[[Any, Any], bool]


def _string(value: JSON) -> str | None:
    return value if isinstance(value, str) else None


def _utf16(compare: Compare) -> Compare:
    """``compare`` on strings in UTF-16 code-unit order (Java's String.compareTo).

    Code-point order differs only where a character beyond U+FFFF meets one in U+E000-U+FFFF;
    when either string is ASCII that cannot happen, so the common case skips the encoding.
    """

    def ordered(left: str, right: str) -> bool:
        if left.isascii() or right.isascii():
            return compare(left, right)
        return compare(
            left.encode("utf-16-be", "surrogatepass"), right.encode("utf-16-be", "surrogatepass")
        )

    return ordered


def _number(value: JSON) -> int | float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


def _boolean(value: JSON) -> bool | None:
    return value if isinstance(value, bool) else None


def _timestamp(value: JSON) -> int | None:
    return parse_timestamp(value) if isinstance(value, str) else None


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_EPOCH = datetime.datetime(1970, 1, 1)


@functools.lru_cache(maxsize=4096)
def parse_timestamp(text: str) -> int | None:
    """Nanoseconds since the epoch for an AWS timestamp string, None when it is not one."""
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    try:
        local = datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    offset = 0
    if m.group(8) is not None:
        off_h, off_m = int(m.group(9)), int(m.group(10))
        if off_m > 59 or off_h * 60 + off_m > 18 * 60:  # java.time's ZoneOffset range
            return None
        offset = (off_h * 3600 + off_m * 60) * (1 if m.group(8) == "+" else -1)
    delta = local - _EPOCH
    seconds = delta.days * 86400 + delta.seconds - offset
    return seconds * 1_000_000_000 + int((m.group(7) or "").ljust(9, "0"))


def is_timestamp(value: JSON) -> bool:
    """Does ``IsTimestamp`` hold for ``value``?"""
    return isinstance(value, str) and parse_timestamp(value) is not None


# --------------------------------------------------------------------------------------------
# Operator tables.


@dataclasses.dataclass(frozen=True, slots=True)
class _Comparison:
    kind: str  # what the operand must be, for messages: "a string", "a number", ...
    key: Key
    compare: Compare


_KINDS: tuple[tuple[str, str, Key, Callable[[Compare], Compare]], ...] = (
    # prefix, operand description, key, how the ordering relations compare two keys
    ("String", "a string", _string, _utf16),
    ("Numeric", "a number", _number, lambda compare: compare),
    ("Timestamp", "a timestamp string", _timestamp, lambda compare: compare),
)
_RELATIONS: tuple[tuple[str, Compare], ...] = (
    ("LessThan", operator.lt),
    ("GreaterThan", operator.gt),
    ("LessThanEquals", operator.le),
    ("GreaterThanEquals", operator.ge),
)


def _comparison_table() -> dict[str, _Comparison]:
    table = {"BooleanEquals": _Comparison("a boolean", _boolean, operator.eq)}
    for prefix, kind, key, ordering in _KINDS:
        table[prefix + "Equals"] = _Comparison(kind, key, operator.eq)
        for suffix, compare in _RELATIONS:
            table[prefix + suffix] = _Comparison(kind, key, ordering(compare))
    return table


#: Binary comparisons by name; each also exists as ``<name>Path`` with a path operand.
COMPARISONS: Mapping[str, _Comparison] = _comparison_table()

#: Type tests by name (``IsPresent`` is separate: it looks at presence, not at a value).
TYPE_TESTS: Mapping[str, Callable[[JSON], bool]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": lambda v: _number(v) is not None,
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": is_timestamp,
}

#: Fields of a rule that are not part of its condition.
_IGNORED = frozenset({"Next", "Comment", "Assign", "Output"})
_COMBINATORS = ("And", "Or", "Not")


# --------------------------------------------------------------------------------------------
# StringMatches: literal segments between unescaped stars, matched greedily left to right.


@dataclasses.dataclass(frozen=True, slots=True)
class _Glob:
    head: str  # literal text before the first star (the whole pattern when there is no star)
    middle: tuple[str, ...]  # literal segments between stars
    tail: str | None  # literal text after the last star; None when the pattern has no star

    @classmethod
    def parse(cls, pattern: str) -> _Glob:
        segments, current, i = [], [], 0
        while i < len(pattern):
            ch = pattern[i]
            if ch == "\\" and pattern[i + 1 : i + 2] in ("*", "\\"):
                current.append(pattern[i + 1])
                i += 2
                continue
            if ch == "*":
                segments.append("".join(current))
                current = []
            else:
                current.append(ch)
            i += 1
        segments.append("".join(current))
        if len(segments) == 1:
            return cls(segments[0], (), None)
        return cls(segments[0], tuple(segments[1:-1]), segments[-1])

    def matches(self, text: str) -> bool:
        if self.tail is None:
            return text == self.head
        end = len(text) - len(self.tail)
        if end < len(self.head) or not text.startswith(self.head) or not text.endswith(self.tail):
            return False
        pos = len(self.head)
        for segment in self.middle:
            found = text.find(segment, pos, end)
            if found < 0:
                return False
            pos = found + len(segment)
        return True


# --------------------------------------------------------------------------------------------
# Predicates: closures over compiled paths and operands.


def _missing(path: JsonPath) -> StatesError:
    return StatesError(
        errors.RUNTIME,
        f"Invalid path '{path.text}': The choice state's condition path references an invalid value.",
    )


def _select(path: JsonPath, scope: Scope) -> JSON:
    try:
        return path.evaluate(scope)
    except PathNotFound:
        raise _missing(path) from None


def _literal_comparison(variable: JsonPath, op: _Comparison, operand: Any) -> ChoicePredicate:
    evaluate, key, compare = variable.evaluate, op.key, op.compare

    def predicate(scope: Scope) -> bool:
        try:
            value = evaluate(scope)
        except PathNotFound:
            raise _missing(variable) from None
        left = key(value)
        return left is not None and compare(left, operand)

    return predicate


def _path_comparison(variable: JsonPath, op: _Comparison, operand: JsonPath) -> ChoicePredicate:
    key, compare = op.key, op.compare

    def predicate(scope: Scope) -> bool:
        left = key(_select(variable, scope))
        right = key(_select(operand, scope))
        return left is not None and right is not None and compare(left, right)

    return predicate


def _type_test(variable: JsonPath, test: Callable[[JSON], bool], expected: bool) -> ChoicePredicate:
    evaluate = variable.evaluate

    def predicate(scope: Scope) -> bool:
        try:
            value = evaluate(scope)
        except PathNotFound:
            raise _missing(variable) from None
        return bool(test(value)) == expected

    return predicate


def _is_present(variable: JsonPath, expected: bool) -> ChoicePredicate:
    evaluate = variable.evaluate

    def predicate(scope: Scope) -> bool:
        try:
            evaluate(scope)
        except PathNotFound:
            return not expected
        return expected

    return predicate


def _string_matches(variable: JsonPath, glob: _Glob) -> ChoicePredicate:
    evaluate, matches = variable.evaluate, glob.matches

    def predicate(scope: Scope) -> bool:
        try:
            value = evaluate(scope)
        except PathNotFound:
            raise _missing(variable) from None
        return isinstance(value, str) and matches(value)

    return predicate


def _all(operands: tuple[ChoicePredicate, ...]) -> ChoicePredicate:
    def predicate(scope: Scope) -> bool:
        for operand in operands:  # noqa: SIM110 - a loop: no generator object per call
            if not operand(scope):
                return False
        return True

    return predicate


def _any(operands: tuple[ChoicePredicate, ...]) -> ChoicePredicate:
    def predicate(scope: Scope) -> bool:
        for operand in operands:  # noqa: SIM110 - a loop: no generator object per call
            if operand(scope):
                return True
        return False

    return predicate


def _not(operand: ChoicePredicate) -> ChoicePredicate:
    def predicate(scope: Scope) -> bool:
        return not operand(scope)

    return predicate


# --------------------------------------------------------------------------------------------
# The compiler.


def compile_choice_rule(rule: Mapping[str, JSON]) -> ChoicePredicate:
    """Compile one Choice rule (a ``Choices`` entry or a nested And/Or/Not operand)."""
    return _compile(rule, "")


def _compile(rule: JSON, pointer: str) -> ChoicePredicate:
    if not isinstance(rule, Mapping):
        raise ChoiceRuleError("a Choice rule must be an object", pointer)
    if "Condition" in rule:
        raise ChoiceRuleError("'Condition' belongs to JSONata Choice rules", pointer + "/Condition")
    combinators = [name for name in _COMBINATORS if name in rule]
    if not combinators:
        return _compile_comparison(rule, pointer)
    extra = [k for k in rule if k not in _IGNORED and k != combinators[0]]
    if extra:
        raise ChoiceRuleError(f"'{combinators[0]}' cannot be combined with '{extra[0]}'", pointer)
    return _compile_combinator(combinators[0], rule[combinators[0]], f"{pointer}/{combinators[0]}")


def _compile_combinator(name: str, operand: JSON, pointer: str) -> ChoicePredicate:
    if name == "Not":
        return _not(_compile(operand, pointer))
    if not isinstance(operand, list) or not operand:
        raise ChoiceRuleError(f"'{name}' must be a non-empty array of Choice rules", pointer)
    operands = tuple(_compile(r, f"{pointer}/{i}") for i, r in enumerate(operand))
    if len(operands) == 1:
        return operands[0]
    return _all(operands) if name == "And" else _any(operands)


def _compile_comparison(rule: Mapping[str, JSON], pointer: str) -> ChoicePredicate:
    names = [k for k in rule if k not in _IGNORED and k != "Variable"]
    if len(names) != 1:
        found = ", ".join(repr(n) for n in names) or "none"
        raise ChoiceRuleError(f"a comparison needs exactly one operator (found {found})", pointer)
    if "Variable" not in rule:
        raise ChoiceRuleError("a comparison needs a 'Variable' path", pointer)
    variable = _path(rule["Variable"], f"{pointer}/Variable")
    name = names[0]
    return _compile_operator(name, rule[name], variable, f"{pointer}/{name}")


def _compile_operator(name: str, operand: JSON, variable: JsonPath, where: str) -> ChoicePredicate:
    if name == "IsPresent":
        return _is_present(variable, _expect(operand, bool, "a boolean", where))
    if name in TYPE_TESTS:
        return _type_test(variable, TYPE_TESTS[name], _expect(operand, bool, "a boolean", where))
    if name == "StringMatches":
        return _string_matches(variable, _Glob.parse(_expect(operand, str, "a string", where)))
    if name in COMPARISONS:
        op = COMPARISONS[name]
        key = op.key(operand)
        if key is None:
            raise ChoiceRuleError(f"'{name}' needs {op.kind}, got {operand!r}", where)
        return _literal_comparison(variable, op, key)
    if name.endswith("Path") and name[:-4] in COMPARISONS:
        return _path_comparison(variable, COMPARISONS[name[:-4]], _path(operand, where))
    raise ChoiceRuleError(f"unknown comparison operator '{name}'", where)


def _expect(operand: JSON, kind: type, description: str, where: str) -> Any:
    if not isinstance(operand, kind) or (kind is not bool and isinstance(operand, bool)):
        raise ChoiceRuleError(f"the operand must be {description}, got {operand!r}", where)
    return operand


def _path(text: JSON, where: str) -> JsonPath:
    if not isinstance(text, str):
        raise ChoiceRuleError(f"a path must be a string, got {text!r}", where)
    try:
        return compile_path(text)
    except ValueError as exc:  # PathSyntaxError
        raise ChoiceRuleError(f"invalid path '{text}': {exc}", where) from exc


# --------------------------------------------------------------------------------------------
# A Choice state's whole rule list.


@dataclasses.dataclass(frozen=True, slots=True)
class ChoiceTable:
    """The compiled ``Choices`` of one state, in definition order."""

    predicates: tuple[ChoicePredicate, ...]

    def first_match(self, scope: Scope) -> int | None:
        """Index of the first rule that holds, None when none does."""
        return evaluate_choices(self.predicates, scope)


def compile_choices(rules: Sequence[Mapping[str, JSON]]) -> ChoiceTable:
    """Compile every rule of ``Choices``; error pointers are relative to the array."""
    predicates = []
    for index, rule in enumerate(rules):
        try:
            predicates.append(compile_choice_rule(rule))
        except ChoiceRuleError as exc:
            raise ChoiceRuleError(exc.message, f"/{index}{exc.pointer}") from None
    return ChoiceTable(tuple(predicates))


def evaluate_choices(predicates: Sequence[ChoicePredicate], scope: Scope) -> int | None:
    """Index of the first predicate that holds for ``scope``, None when none does.

    Raises StatesError(States.Runtime, body) when a rule it reaches reads a missing path.
    """
    for index, predicate in enumerate(predicates):
        if predicate(scope):
            return index
    return None
