"""Stage 2, validation (Choice rules): every rule is compiled with the compiler's own Choice
grammar (expressions/choice.py) and a ``ChoiceRuleError`` becomes a diagnostic, so a rule
that validates is a rule that loads. In: a walked ``Machine``. Out: Diagnostics.

A JSONPath rule has exactly one comparison operator with a ``Variable`` path (never an
intrinsic call), or exactly one of And/Or/Not; timestamp operands follow the one timestamp
grammar (expressions/timestamps.py); a JSONata rule has a ``Condition`` (true, false or a
"{% %}" expression) and no JSONPath operators. Only top-level rules have ``Next`` (the schema
says so).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from statemachine.errors import Diagnostic
from statemachine.expressions.choice import (
    OPERATORS,
    ChoiceRuleError,
    compile_choice_rule,
    compile_condition,
)
from statemachine.expressions.memo import memoized_object
from statemachine.loader import pointer_join
from statemachine.validation.schema import closest
from statemachine.validation.walk import JSONATA, Machine, StateRef, finding

__all__ = ["CHOICE_RULES", "OPERATORS"]

_COMBINATORS = ("And", "Or", "Not")


def _rules(state: StateRef) -> Iterator[tuple[str, Mapping[str, object]]]:
    choices = state.body.get("Choices")
    if state.type == "Choice" and isinstance(choices, list):
        for index, rule in enumerate(choices):
            if isinstance(rule, Mapping):
                yield state.at("Choices", index), rule


def invalid_choice_rule(machine: Machine) -> Iterator[Diagnostic]:
    """Compile every Choice rule; each one that does not compile gives one diagnostic."""
    for state in machine.states:
        for pointer, rule in _rules(state):
            if state.language == JSONATA:
                yield from _jsonata_rule(state, pointer, rule)
                continue
            try:
                memoized_object(rule, "Choice rule", lambda: compile_choice_rule(rule))  # noqa: B023 - called at once
            except ChoiceRuleError as exc:
                yield finding(exc.code, exc.message, pointer + exc.pointer, state.name)


#: The fields of a JSONata Choice rule.
_JSONATA_RULE_FIELDS = ("Condition", "Next", "Output", "Assign", "Comment")


def _jsonata_rule(state: StateRef, pointer: str, rule: Mapping[str, object]) -> Iterator[Diagnostic]:
    wrong = [field for field in rule if field in OPERATORS or field in _COMBINATORS or field == "Variable"]
    for field in wrong:
        message = f"'{field}' is a JSONPath Choice field and this state uses JSONata (use 'Condition')"
        yield finding("jsonpath-field-in-jsonata", message, pointer_join(pointer, field), state.name)
    if "Condition" not in rule:
        if not any(field not in _JSONATA_RULE_FIELDS and closest(str(field), list(_JSONATA_RULE_FIELDS)) == "Condition"
                   for field in rule):  # a misspelt Condition is the schema's unknown field, with its hint
            message = "a Choice rule of a JSONata state needs 'Condition' (a \"{% ... %}\" boolean expression)"
            yield finding("invalid-choice-rule", message, pointer, state.name)
        return
    try:
        compile_condition(rule["Condition"])
    except ChoiceRuleError as exc:
        yield finding(exc.code, exc.message, pointer + exc.pointer, state.name)
    except ValueError:
        pass  # a JSONata syntax error: reported by invalid-jsonata (expressions.py)


CHOICE_RULES = {"invalid-choice-rule": invalid_choice_rule}
