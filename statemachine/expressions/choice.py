"""Expressions stage (sub-language): Choice rules, compiled once into picklable predicates.

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
    compile_condition(value) -> ChoicePredicate       a JSONata rule's ``Condition`` (true/false or
                                                      a "{% %}" boolean expression)
    (timestamps: expressions/timestamps.py, the one grammar validation also uses)

A predicate is a frozen dataclass called as ``predicate(scope, rng=None) -> bool``: the paths,
the operand and the operator are bound at compile time, so a call costs one path lookup, one
type check and one comparison. Predicates are plain data (no closures, no lambdas), so a
compiled machine pickles. Validation compiles every rule with this module and turns a
``ChoiceRuleError`` into a diagnostic, so what validates also loads.

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
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from statemachine import errors
from statemachine.errors import StatesError
from statemachine.expressions.jsonpath import JsonPath, PathNotFound, compile_path
from statemachine.expressions.scope import Scope
from statemachine.expressions.timestamps import INVALID_TIMESTAMP, is_timestamp, parse_timestamp
from statemachine.values import JSON

__all__ = [
    "ChoicePredicate",
    "ChoiceRuleError",
    "ChoiceTable",
    "compile_choice_rule",
    "compile_choices",
    "compile_condition",
    "evaluate_choices",
    "is_timestamp",
    "parse_timestamp",
]


class ChoicePredicate(Protocol):
    def __call__(self, scope: Scope, rng: Any = None) -> bool: ...


class ChoiceRuleError(ValueError):
    """A Choice rule that cannot be compiled; ``pointer`` is a JSON pointer inside the rule."""

    def __init__(self, message: str, pointer: str = "", *, code: str = "invalid-choice-rule") -> None:
        super().__init__(f"{message} ({pointer})" if pointer else message)
        self.message = message
        self.pointer = pointer
        self.code = code  # the validation diagnostic's code


# --------------------------------------------------------------------------------------------
# Values: each kind maps a JSON value to a comparable key, or None when the type does not fit.

Key = Callable[[JSON], Any]
Compare = Callable[[Any, Any], bool]


def _string(value: JSON) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: JSON) -> int | float | None:
    kind = type(value)
    if kind is int or kind is float:
        return value  # type: ignore[no-any-return]  # `type(v) is int` does not narrow for mypy
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


def _boolean(value: JSON) -> bool | None:
    return value if isinstance(value, bool) else None


def _timestamp(value: JSON) -> int | None:
    return parse_timestamp(value) if isinstance(value, str) else None


def _is_null(value: JSON) -> bool:
    return value is None


def _is_numeric(value: JSON) -> bool:
    return _number(value) is not None


def _is_string(value: JSON) -> bool:
    return isinstance(value, str)


def _is_boolean(value: JSON) -> bool:
    return isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# Operator tables.


@dataclasses.dataclass(frozen=True, slots=True)
class _Comparison:
    kind: str  # what the operand must be, for messages: "a string", "a number", ...
    key: Key
    compare: Compare  # an ``operator`` function (picklable by reference)
    utf16: bool = False  # order strings by UTF-16 code units (Java's String.compareTo)

    def holds(self, left: Any, right: Any) -> bool:
        """``compare(left, right)`` for two keys of this kind.

        Code-point order differs from UTF-16 order only where a character beyond U+FFFF meets
        one in U+E000-U+FFFF; when either string is ASCII that cannot happen, so the common
        case skips the encoding."""
        if not self.utf16 or left.isascii() or right.isascii():
            return self.compare(left, right)
        return self.compare(left.encode("utf-16-be", "surrogatepass"),
                            right.encode("utf-16-be", "surrogatepass"))


_KINDS: tuple[tuple[str, str, Key], ...] = (
    ("String", "a string", _string),
    ("Numeric", "a number", _number),
    ("Timestamp", "a timestamp string", _timestamp),
)
_RELATIONS: tuple[tuple[str, Compare], ...] = (
    ("LessThan", operator.lt),
    ("GreaterThan", operator.gt),
    ("LessThanEquals", operator.le),
    ("GreaterThanEquals", operator.ge),
)


def _comparison_table() -> dict[str, _Comparison]:
    table = {"BooleanEquals": _Comparison("a boolean", _boolean, operator.eq)}
    for prefix, kind, key in _KINDS:
        table[prefix + "Equals"] = _Comparison(kind, key, operator.eq)
        for suffix, compare in _RELATIONS:
            table[prefix + suffix] = _Comparison(kind, key, compare, utf16=prefix == "String")
    return table


#: Binary comparisons by name; each also exists as ``<name>Path`` with a path operand.
COMPARISONS: Mapping[str, _Comparison] = _comparison_table()

#: Type tests by name (``IsPresent`` is separate: it looks at presence, not at a value).
TYPE_TESTS: Mapping[str, Callable[[JSON], bool]] = {
    "IsNull": _is_null,
    "IsNumeric": _is_numeric,
    "IsString": _is_string,
    "IsBoolean": _is_boolean,
    "IsTimestamp": is_timestamp,
}

#: Every JSONPath comparison operator name (what validation's did-you-mean offers).
OPERATORS: frozenset[str] = frozenset(
    [*COMPARISONS, *(name + "Path" for name in COMPARISONS), *TYPE_TESTS, "IsPresent", "StringMatches"]
)

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
# Predicates: frozen dataclasses over compiled paths and operands.


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


@dataclasses.dataclass(frozen=True, slots=True)
class _LiteralComparison:
    variable: JsonPath
    op: _Comparison
    operand: Any  # the operand's key (a str, number, bool or epoch nanoseconds)

    def __call__(self, scope: Scope, rng: Any = None) -> bool:
        try:  # inlined _select: the hot path of a Choice loop
            value = self.variable.evaluate(scope)
        except PathNotFound:
            raise _missing(self.variable) from None
        op = self.op
        left = op.key(value)
        if left is None:
            return False
        if op.utf16:
            return op.holds(left, self.operand)
        return op.compare(left, self.operand)


@dataclasses.dataclass(frozen=True, slots=True)
class _PathComparison:
    variable: JsonPath
    op: _Comparison
    operand: JsonPath

    def __call__(self, scope: Scope, rng: Any = None) -> bool:
        try:  # inlined _select and holds, as in _LiteralComparison
            left = self.variable.evaluate(scope)
        except PathNotFound:
            raise _missing(self.variable) from None
        try:
            right = self.operand.evaluate(scope)
        except PathNotFound:
            raise _missing(self.operand) from None
        op = self.op
        key = op.key
        left = key(left)
        right = key(right)
        if left is None or right is None:
            return False
        if op.utf16:
            return op.holds(left, right)
        return op.compare(left, right)


@dataclasses.dataclass(frozen=True, slots=True)
class _TypeTest:
    variable: JsonPath
    test: Callable[[JSON], bool]
    expected: bool

    def __call__(self, scope: Scope, rng: Any = None) -> bool:
        try:
            value = self.variable.evaluate(scope)
        except PathNotFound:
            raise _missing(self.variable) from None
        return bool(self.test(value)) == self.expected


@dataclasses.dataclass(frozen=True, slots=True)
class _IsPresent:
    variable: JsonPath
    expected: bool

    def __call__(self, scope: Scope, rng: Any = None) -> bool:
        try:
            self.variable.evaluate(scope)
        except PathNotFound:
            return not self.expected
        return self.expected


@dataclasses.dataclass(frozen=True, slots=True)
class _StringMatches:
    variable: JsonPath
    glob: _Glob

    def __call__(self, scope: Scope, rng: Any = None) -> bool:
        value = _select(self.variable, scope)
        return isinstance(value, str) and self.glob.matches(value)


@dataclasses.dataclass(frozen=True, slots=True)
class _All:
    operands: tuple[ChoicePredicate, ...]

    def __call__(self, scope: Scope, rng: Any = None) -> bool:
        for operand in self.operands:  # noqa: SIM110 - a loop: no generator object per call
            if not operand(scope, rng):
                return False
        return True


@dataclasses.dataclass(frozen=True, slots=True)
class _Any:
    operands: tuple[ChoicePredicate, ...]

    def __call__(self, scope: Scope, rng: Any = None) -> bool:
        for operand in self.operands:  # noqa: SIM110 - a loop: no generator object per call
            if operand(scope, rng):
                return True
        return False


@dataclasses.dataclass(frozen=True, slots=True)
class _Not:
    operand: ChoicePredicate

    def __call__(self, scope: Scope, rng: Any = None) -> bool:
        return not self.operand(scope, rng)


@dataclasses.dataclass(frozen=True, slots=True)
class _Constant:
    """A JSONata ``Condition`` written as a literal ``true``/``false``."""

    value: bool

    def __call__(self, scope: Scope, rng: Any = None) -> bool:
        return self.value


@dataclasses.dataclass(frozen=True, slots=True)
class _JsonataCondition:
    """A JSONata ``Condition``: the expression must give a boolean (States.QueryEvaluationError
    otherwise, raised by the template)."""

    template: Any  # expressions.jsonata.JsonataTemplate

    def __call__(self, scope: Scope, rng: Any = None) -> bool:
        return self.template.evaluate_as(scope, "boolean", rng) is True


# --------------------------------------------------------------------------------------------
# The compiler.


def compile_choice_rule(rule: Mapping[str, JSON]) -> ChoicePredicate:
    """Compile one Choice rule (a ``Choices`` entry or a nested And/Or/Not operand).

    Raises ChoiceRuleError (``.code``, ``.message``, ``.pointer`` inside the rule)."""
    return _compile(rule, "")


def compile_condition(value: JSON) -> ChoicePredicate:
    """Compile a JSONata Choice rule's ``Condition``: a boolean literal or a "{% %}" expression.

    Raises ChoiceRuleError for anything else, JsonataSyntaxError for a bad expression."""
    if isinstance(value, bool):
        return _Constant(value)
    if not (isinstance(value, str) and value.startswith("{%") and value.endswith("%}")):
        raise ChoiceRuleError("'Condition' must be true, false or a JSONata expression \"{% ... %}\"",
                              "/Condition")
    from statemachine.expressions.jsonata import compile_jsonata_template

    return _JsonataCondition(compile_jsonata_template(value, field="Condition"))


def _compile(rule: JSON, pointer: str) -> ChoicePredicate:
    if not isinstance(rule, Mapping):
        raise ChoiceRuleError("a Choice rule must be an object", pointer)
    if "Condition" in rule:
        raise ChoiceRuleError("'Condition' is a JSONata field and this state uses JSONPath "
                              "(set \"QueryLanguage\": \"JSONata\")", pointer + "/Condition",
                              code="jsonata-field-in-jsonpath")
    combinators = [name for name in _COMBINATORS if name in rule]
    operators = [k for k in rule if k in OPERATORS]
    if not combinators:
        return _compile_comparison(rule, pointer)
    if len(combinators) + len(operators) > 1:
        found = ", ".join([*combinators, *operators])
        raise ChoiceRuleError("a Choice rule needs exactly one comparison operator or And/Or/Not "
                              f"(found: {found})", pointer)
    name = combinators[0]
    if "Variable" in rule:
        raise ChoiceRuleError(f"'Variable' is not allowed beside '{name}'", pointer + "/Variable")
    return _compile_combinator(name, rule[name], f"{pointer}/{name}")


def _compile_combinator(name: str, operand: JSON, pointer: str) -> ChoicePredicate:
    if name == "Not":
        return _Not(_compile(operand, pointer))
    if not isinstance(operand, list) or not operand:
        raise ChoiceRuleError(f"'{name}' must be a non-empty array of Choice rules", pointer)
    operands = tuple(_compile(r, f"{pointer}/{i}") for i, r in enumerate(operand))
    if len(operands) == 1:
        return operands[0]
    return _All(operands) if name == "And" else _Any(operands)


def _compile_comparison(rule: Mapping[str, JSON], pointer: str) -> ChoicePredicate:
    names = [k for k in rule if k not in _IGNORED and k != "Variable"]
    unknown = [k for k in names if k not in OPERATORS]
    if unknown:
        raise ChoiceRuleError(f"unknown comparison operator '{unknown[0]}'", f"{pointer}/{unknown[0]}")
    operators = names
    if len(operators) != 1:
        found = ", ".join(operators) or "none"
        raise ChoiceRuleError("a Choice rule needs exactly one comparison operator or And/Or/Not "
                              f"(found: {found})", pointer)
    name = operators[0]
    if "Variable" not in rule:
        raise ChoiceRuleError(f"a Choice rule with '{name}' needs 'Variable' (the path to compare)",
                              pointer)
    variable = _path(rule["Variable"], f"{pointer}/Variable")
    return _compile_operator(name, rule[name], variable, f"{pointer}/{name}")


def _compile_operator(name: str, operand: JSON, variable: JsonPath, where: str) -> ChoicePredicate:
    if name == "IsPresent":
        return _IsPresent(variable, _expect(operand, bool, "a boolean", where))
    if name in TYPE_TESTS:
        return _TypeTest(variable, TYPE_TESTS[name], _expect(operand, bool, "a boolean", where))
    if name == "StringMatches":
        return _StringMatches(variable, _Glob.parse(_expect(operand, str, "a string", where)))
    if name in COMPARISONS:
        op = COMPARISONS[name]
        key = op.key(operand)
        if key is None and op.key is _timestamp and isinstance(operand, str):
            raise ChoiceRuleError(f"{INVALID_TIMESTAMP}: '{name}' needs an RFC 3339 timestamp such as "
                                  f"2016-03-14T01:59:00Z, not {_shown(operand)}", where,
                                  code="invalid-timestamp")
        if key is None:
            raise ChoiceRuleError(f"'{name}' needs {op.kind}, got {_shown(operand)}", where)
        return _LiteralComparison(variable, op, key)
    return _PathComparison(variable, COMPARISONS[name[:-4]], _path(operand, where))


def _shown(value: JSON) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expect(operand: JSON, kind: type, description: str, where: str) -> Any:
    if not isinstance(operand, kind) or (kind is not bool and isinstance(operand, bool)):
        raise ChoiceRuleError(f"the operand must be {description}, got {_shown(operand)}", where)
    return operand


def _path(text: JSON, where: str) -> JsonPath:
    field = where.rsplit("/", 1)[-1]
    if not isinstance(text, str):
        raise ChoiceRuleError(f"'{field}' must be a JSONPath string, got {_shown(text)}", where,
                              code="invalid-path")
    try:
        return compile_path(text)
    except ValueError as exc:  # PathSyntaxError; an intrinsic call is no path here
        detail = getattr(exc, "message", str(exc))
        raise ChoiceRuleError(f"'{field}' is not a valid JSONPath: {detail}", where,
                              code="invalid-path") from None


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
            raise ChoiceRuleError(exc.message, f"/{index}{exc.pointer}", code=exc.code) from None
    return ChoiceTable(tuple(predicates))


def evaluate_choices(predicates: Sequence[ChoicePredicate], scope: Scope) -> int | None:
    """Index of the first predicate that holds for ``scope``, None when none does.

    Raises StatesError(States.Runtime, body) when a rule it reaches reads a missing path.
    """
    for index, predicate in enumerate(predicates):
        if predicate(scope, None):
            return index
    return None
