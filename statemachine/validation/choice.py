"""Stage 2, validation (Choice rules): the shape of each rule, which the schema leaves open.
In: a walked ``Machine``. Out: Diagnostics. A JSONPath rule has exactly one comparison
operator with a ``Variable``, or exactly one of And/Or/Not; only top-level rules have
``Next`` (the schema says so); a JSONata rule has a ``Condition`` and no JSONPath operators.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from statemachine.errors import Diagnostic
from statemachine.loader import pointer_join
from statemachine.validation.fields import is_timestamp
from statemachine.validation.walk import JSONATA, Machine, StateRef, finding

__all__ = ["CHOICE_RULES", "OPERATORS"]

#: Every ASL comparison operator (the ...Path forms compare with another path's value).
OPERATORS = frozenset(
    [f"{kind}{op}{suffix}" for kind in ("String", "Numeric", "Timestamp")
     for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
     for suffix in ("", "Path")]
    + ["BooleanEquals", "BooleanEqualsPath", "StringMatches", "IsPresent", "IsNull", "IsNumeric",
       "IsString", "IsBoolean", "IsTimestamp"]
)
_COMBINATORS = ("And", "Or", "Not")
_TIMESTAMP_OPERATORS = frozenset(op for op in OPERATORS if op.startswith("Timestamp") and not op.endswith("Path"))


def _rules(state: StateRef) -> Iterator[tuple[str, Mapping[str, object]]]:
    choices = state.body.get("Choices")
    if state.type == "Choice" and isinstance(choices, list):
        for index, rule in enumerate(choices):
            if isinstance(rule, Mapping):
                yield state.at("Choices", index), rule


def choice_rule_shape(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        for pointer, rule in _rules(state):
            if state.language == JSONATA:
                yield from _jsonata_rule(state, pointer, rule)
            else:
                yield from _jsonpath_rule(state, pointer, rule, top=True)


def _jsonata_rule(state: StateRef, pointer: str, rule: Mapping[str, object]) -> Iterator[Diagnostic]:
    if "Condition" not in rule:
        message = "a Choice rule of a JSONata state needs 'Condition' (a \"{% ... %}\" boolean expression)"
        yield finding("invalid-choice-rule", message, pointer, state.name)
    for field in rule:
        if field in OPERATORS or field in _COMBINATORS or field == "Variable":
            message = f"'{field}' is a JSONPath Choice field and this state uses JSONata (use 'Condition')"
            yield finding("jsonpath-field-in-jsonata", message, pointer_join(pointer, field), state.name)


def _jsonpath_rule(state: StateRef, pointer: str, rule: Mapping[str, object], *, top: bool) -> Iterator[Diagnostic]:
    if "Condition" in rule:
        message = "'Condition' is a JSONata field and this state uses JSONPath (set \"QueryLanguage\": \"JSONata\")"
        yield finding("jsonata-field-in-jsonpath", message, pointer_join(pointer, "Condition"), state.name)
        return
    operators = [field for field in rule if field in OPERATORS or field in _COMBINATORS]
    if len(operators) != 1:
        found = ", ".join(operators) if operators else "none"
        message = f"a Choice rule needs exactly one comparison operator or And/Or/Not (found: {found})"
        yield finding("invalid-choice-rule", message, pointer, state.name)
        return
    yield from _operands(state, pointer, rule, operators[0])


def _operands(state: StateRef, pointer: str, rule: Mapping[str, object], operator: str) -> Iterator[Diagnostic]:
    if operator in OPERATORS:
        if "Variable" not in rule:
            yield finding("invalid-choice-rule", f"a Choice rule with '{operator}' needs 'Variable' (the path to compare)", pointer, state.name)
        return
    if "Variable" in rule:
        yield finding("invalid-choice-rule", f"'Variable' is not allowed beside '{operator}'", pointer_join(pointer, "Variable"), state.name)
    nested = rule[operator]
    items = [nested] if operator == "Not" else nested if isinstance(nested, list) else []
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            where = pointer_join(pointer, operator) if operator == "Not" else pointer_join(pointer_join(pointer, operator), index)
            yield from _jsonpath_rule(state, where, item, top=False)


def _nested(pointer: str, rule: Mapping[str, object]) -> Iterator[tuple[str, Mapping[str, object]]]:
    """A rule and every rule nested in it through And/Or/Not."""
    yield pointer, rule
    for field in ("And", "Or"):
        items = rule.get(field)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping):
                yield from _nested(pointer_join(pointer_join(pointer, field), index), item)
    inner = rule.get("Not")
    if isinstance(inner, Mapping):
        yield from _nested(pointer_join(pointer, "Not"), inner)


def choice_timestamp_literal(machine: Machine) -> Iterator[Diagnostic]:
    """Timestamp comparisons against a literal need an RFC 3339 timestamp."""
    for state in machine.states:
        for top_pointer, top in _rules(state):
            for pointer, rule in _nested(top_pointer, top):
                for field, value in rule.items():
                    if field in _TIMESTAMP_OPERATORS and isinstance(value, str) and not is_timestamp(value):
                        message = f"'{field}' needs an RFC 3339 timestamp such as 2016-03-14T01:59:00Z, not {value!r}"
                        yield finding("invalid-timestamp", message, pointer_join(pointer, field), state.name)


CHOICE_RULES = {"invalid-choice-rule": choice_rule_shape, "invalid-choice-timestamp": choice_timestamp_literal}
