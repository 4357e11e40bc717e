"""Expressions stage: ASL fields holding JSONata (``{% ... %}`` at any depth) and AWS's causes.

In: a field's JSON value from the definition and the ASL field name ("Output", "Arguments",
"Items", ...). Out at run time: the field's JSON value computed from a ``Scope``, or
``StatesError("States.QueryEvaluationError", cause)`` with AWS's cause text, without the
interpreter's "An error occurred while executing the state ..." prefix.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Mapping
from typing import Literal

from statemachine.errors import QUERY_EVALUATION_ERROR, StatesError
from statemachine.expressions.jsonata.adapter import (
    JsonataEvaluationError,
    JsonataExpression,
    UnsupportedResultError,
    compile_jsonata,
    expression_text,
    is_jsonata_expression,
    states_bindings,
)
from statemachine.expressions.jsonata.fastpath import FALLBACK
from statemachine.expressions.memo import memoized
from statemachine.expressions.scope import Scope
from statemachine.values import JSON, MISSING

ExpectedType = Literal["array", "number", "integer", "string", "object", "boolean"]


def _quoted(text: str, field: str) -> str:
    return f"The JSONata expression '{text}' specified for the field '{field}'"


class _Env:
    """What one template evaluation reads: a Scope, and the bindings built from it only
    when an expression needs jsonata-python (simple ones read the Scope directly)."""

    __slots__ = ("_bindings", "scope")

    def __init__(self, scope: Scope | None, bindings: Mapping[str, JSON] | None = None) -> None:
        self.scope = scope
        self._bindings = bindings

    def bindings(self) -> Mapping[str, JSON]:
        if self._bindings is None:
            assert self.scope is not None
            self._bindings = states_bindings(self.scope)
        return self._bindings


@dataclasses.dataclass(frozen=True, slots=True)
class _Literal:
    value: JSON

    def evaluate(self, env: _Env, rng: random.Random | None) -> JSON:
        return self.value


@dataclasses.dataclass(frozen=True, slots=True)
class _Expression:
    expression: JsonataExpression
    field: str

    def evaluate(self, env: _Env, rng: random.Random | None) -> JSON:
        fast = self.expression.fast
        if fast is not None and env.scope is not None:
            value = fast.evaluate_scope(env.scope)
            if value is not FALLBACK:
                return value
        value = self.evaluate_any(env.bindings(), rng)
        if value is MISSING:
            raise self.error("returned nothing (undefined).")
        return value

    def evaluate_any(self, bindings: Mapping[str, JSON], rng: random.Random | None) -> JSON:
        try:
            return self.expression.evaluate(bindings, rng=rng)
        except JsonataEvaluationError as exc:
            raise self.error(f"threw an error during evaluation. {exc.describe()}") from None
        except UnsupportedResultError:
            raise self.error("returned an unsupported result type.") from None

    def error(self, what: str) -> StatesError:
        return StatesError(
            QUERY_EVALUATION_ERROR, f"{_quoted(self.expression.text, self.field)} {what}"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class _Object:
    items: tuple[tuple[str, _Node], ...]

    def evaluate(self, env: _Env, rng: random.Random | None) -> JSON:
        return {key: node.evaluate(env, rng) for key, node in self.items}


@dataclasses.dataclass(frozen=True, slots=True)
class _Array:
    items: tuple[_Node, ...]

    def evaluate(self, env: _Env, rng: random.Random | None) -> JSON:
        return [node.evaluate(env, rng) for node in self.items]


_Node = _Literal | _Expression | _Object | _Array


def _compile_node(value: JSON, field: str) -> _Node:
    if is_jsonata_expression(value):
        return _Expression(memoized(expression_text(value), compile_jsonata), field)
    if isinstance(value, dict):
        items = tuple((key, _compile_node(item, f"{field}/{key}")) for key, item in value.items())
        if all(isinstance(node, _Literal) for _, node in items):
            return _Literal(value)
        return _Object(items)
    if isinstance(value, list):
        nodes = tuple(_compile_node(item, f"{field}/{index}") for index, item in enumerate(value))
        if all(isinstance(node, _Literal) for node in nodes):
            return _Literal(value)
        return _Array(nodes)
    return _Literal(value)


def compile_jsonata_template(value: JSON, *, field: str) -> JsonataTemplate:
    """Compile an ASL field value that may hold ``{% %}`` strings at any depth.

    ``field`` is the ASL field name used in messages ("Output", "Arguments", "Items");
    nested positions extend it AWS's way ("Output/result"). Raises JsonataSyntaxError.
    """
    return JsonataTemplate(field=field, root=_compile_node(value, field))


#: Type names as AWS reports them in "Expected 'array', but was 'boolean'".
def _type_name(value: JSON) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


_TYPE_CHECKS: Mapping[str, Callable[[JSON], bool]] = {
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


@dataclasses.dataclass(frozen=True, slots=True)
class JsonataTemplate:
    """A compiled ASL field: literal JSON with ``{% %}`` expressions at any depth."""

    field: str
    root: _Node

    @property
    def is_literal(self) -> bool:
        """True when the template holds no expression at all."""
        return isinstance(self.root, _Literal)

    @property
    def expression(self) -> JsonataExpression | None:
        """The expression when the whole field is one ``{% %}`` string, else None."""
        return self.root.expression if isinstance(self.root, _Expression) else None

    def evaluate(self, scope: Scope, rng: random.Random | None = None) -> JSON:
        """The field's value in ``scope``; raises StatesError(States.QueryEvaluationError)."""
        if isinstance(self.root, _Literal):
            return self.root.value
        return self.root.evaluate(_Env(scope), rng)

    def evaluate_bindings(
        self, bindings: Mapping[str, JSON], rng: random.Random | None = None
    ) -> JSON:
        """Like ``evaluate`` with bindings built once by ``states_bindings`` and reused."""
        return self.root.evaluate(_Env(None, bindings), rng)

    def evaluate_as(
        self, scope: Scope, expected: ExpectedType, rng: random.Random | None = None
    ) -> JSON:
        """Evaluate a field whose value must have one JSON type (Items: 'array', ...).

        A literal field is returned as is (its type is the validator's business).
        """
        value = self.evaluate(scope, rng)
        if isinstance(self.root, _Expression) and not _TYPE_CHECKS[expected](value):
            shown = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            raise self.root.error(
                "returned an unexpected result type. "
                f"Expected '{expected}', but was '{_type_name(value)}' for value: {shown}"
            )
        return value
