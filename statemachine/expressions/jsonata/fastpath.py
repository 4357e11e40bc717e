"""Expressions stage: a fast path for the simplest JSONata expressions, next to jsonata-python.

In: the AST jsonata-python parsed for one expression (parsing stays jsonata-python's job: it
checks the syntax and remains the fallback). Out: a ``FastPath`` when the expression is one
of a small, safe subset, else ``None``:

- a literal: a number, a string, ``true``, ``false``, ``null`` (its value is computed once,
  by jsonata-python itself, and shared);
- a variable followed by plain name steps: ``$x``, ``$myVar.a.b``, ``$states.input.last.step``.

A fast path walks plain dicts directly. Whenever it cannot be sure to give exactly what the
full evaluation gives, it answers ``FALLBACK`` and the caller evaluates with jsonata-python:
a variable that is not bound (a built-in function, or undefined), an intermediate value that
is not a dict (JSONata maps over arrays and flattens), a missing key (undefined), ``null``
anywhere on the way, a list as the result (sequence rules), anything that is not plain JSON.
What it does return is normalised the way ``adapter.JsonataExpression.evaluate`` does it:
integral floats become ints (``to_json``), a dict that is one of the bindings is shared as is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Final

from statemachine.expressions.scope import Scope
from statemachine.values import JSON, MISSING


class _Fallback:
    """Sentinel: the fast path cannot decide; evaluate with jsonata-python."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "FALLBACK"


FALLBACK: Final = _Fallback()

#: AST attributes that may differ from their defaults in a plain node; any other attribute
#: set (predicate, stages, group, focus, index, keep_array, ...) takes the expression off the
#: fast path.
_PLAIN_ATTRIBUTES = frozenset({"_outer_instance", "id", "value", "type", "position"})
_LITERAL_TYPES = frozenset({"number", "string", "value"})
#: Names the adapter binds itself in jsonata-python's frame ("$" is the context value).
_RESERVED_NAMES = frozenset({"", "$", "__evaluate_entry", "__evaluate_exit"})
#: ``$states.<slot>`` -> the Scope attribute ``adapter.states_bindings`` copies it from.
_STATES_SLOTS: Mapping[str, str] = {
    "input": "input",
    "context": "context",
    "result": "result",
    "errorOutput": "error_output",
}


@dataclasses.dataclass(frozen=True, slots=True)
class FastPath:
    """A compiled simple expression; ``evaluate*`` return JSON or ``FALLBACK``, never undefined.

    ``constant`` is the value of a literal (``MISSING`` for a path); a path is ``variable``
    followed by ``steps``.
    """

    constant: JSON
    variable: str = ""
    steps: tuple[str, ...] = ()
    #: ``adapter.to_json``: integral floats -> int, in nested values too (shares what it can).
    normalise: Callable[[Any], JSON] = dataclasses.field(
        default=lambda v: v, repr=False, compare=False
    )

    def evaluate(self, bindings: Mapping[str, JSON]) -> JSON | _Fallback:
        """The value with ``bindings`` as ``$name`` variables (the adapter's interface)."""
        if self.constant is not MISSING:
            return self.constant
        value = bindings.get(self.variable, MISSING)
        if value is MISSING:
            return FALLBACK
        return _walk(value, self.steps, self.normalise, lambda found: is_bound_value(found, bindings))

    def evaluate_scope(self, scope: Scope) -> JSON | _Fallback:
        """The value with the bindings ``adapter.states_bindings(scope)`` would build, read
        straight from ``scope`` without building them."""
        if self.constant is not MISSING:
            return self.constant
        steps = self.steps
        if self.variable == "states":
            attribute = _STATES_SLOTS.get(steps[0]) if steps else None
            if attribute is None:
                return FALLBACK
            value = getattr(scope, attribute)
            steps = steps[1:]
        else:
            value = scope.variables.get(self.variable, MISSING)
        if value is MISSING:
            return FALLBACK
        return _walk(value, steps, self.normalise, lambda found: _bound_in_scope(found, scope))


def _walk(
    value: Any,
    steps: tuple[str, ...],
    normalise: Callable[[Any], JSON],
    is_bound: Callable[[Any], bool],
) -> Any:
    for name in steps:
        if type(value) is not dict:
            return FALLBACK
        value = value.get(name, MISSING)
        if value is MISSING:
            return FALLBACK
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        return normalise(value)
    if kind is dict:
        # The adapter shares a value that is one of the bindings and normalises others.
        return value if is_bound(value) else normalise(value)
    return FALLBACK  # None (null), lists (sequences), anything else


def is_bound_value(value: Any, bindings: Mapping[str, JSON]) -> bool:
    """Is ``value`` (by identity) a top-level binding or one of ``$states``' values?"""
    states = bindings.get("states")
    nested = states.values() if isinstance(states, dict) else ()
    return any(value is bound for bound in bindings.values()) or any(value is v for v in nested)


def _bound_in_scope(value: Any, scope: Scope) -> bool:
    # is_bound_value over states_bindings(scope): every variable except one named "states" (the
    # $states object replaces it), and $states' input, context, result and errorOutput.
    if value is scope.input or value is scope.context:
        return True
    if value is scope.result or value is scope.error_output:
        return True
    return any(value is bound for name, bound in scope.variables.items() if name != "states")


def compile_fast_path(
    ast: Any, literal_value: Callable[[], JSON], normalise: Callable[[Any], JSON]
) -> FastPath | None:
    """A FastPath for jsonata-python's ``ast`` when it is in the subset, else None.

    ``literal_value`` evaluates the expression with jsonata-python (called for literals
    only, once), so a literal's value is by construction the full evaluation's;
    ``normalise`` is ``adapter.to_json``.
    """
    if _is_plain(ast, ()) and ast.id == "(literal)" and ast.type in _LITERAL_TYPES:
        value = literal_value()
        return None if value is MISSING else FastPath(value)
    if _is_variable(ast):
        return FastPath(MISSING, ast.value, (), normalise)
    if ast.type != "path" or not _is_plain(ast, ("steps",)) or not ast.steps:
        return None
    first, *rest = ast.steps
    if not _is_variable(first) or not all(_is_name(step) for step in rest):
        return None
    return FastPath(MISSING, first.value, tuple(step.value for step in rest), normalise)


def _is_plain(node: Any, allowed: tuple[str, ...]) -> bool:
    """No attribute beyond id/value/type/position (and ``allowed``) differs from its default."""
    for key, value in vars(node).items():
        if key in _PLAIN_ATTRIBUTES or key in allowed:
            continue
        if value is not None and value is not False and not (type(value) is int and value == 0):
            return False
    return True


def _is_variable(node: Any) -> bool:
    return (
        node.type == "variable"
        and node.id == "(name)"
        and isinstance(node.value, str)
        and node.value not in _RESERVED_NAMES
        and _is_plain(node, ())
    )


def _is_name(node: Any) -> bool:
    return (
        node.type == "name"
        and node.id == "(name)"
        and isinstance(node.value, str)
        and _is_plain(node, ())
    )
