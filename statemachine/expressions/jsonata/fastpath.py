"""Expressions stage: a fast path for the simplest JSONata expressions, next to jsonata-python.

In: the AST jsonata-python parsed for one expression (parsing stays jsonata-python's job: it
checks the syntax and remains the fallback). Out: a ``FastPath`` when the expression is one
of a small, safe subset, else ``None``:

- a literal: a number, a string, ``true``, ``false``, ``null`` (its value is computed once,
  by jsonata-python itself, and shared);
- a variable followed by plain name steps: ``$x``, ``$myVar.a.b``, ``$states.input.last.step``;
- a comparison (``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``) of two such paths or number and
  string literals, decided here only when both values are numbers or both are strings.

A fast path walks plain dicts directly. Whenever it cannot be sure to give exactly what the
full evaluation gives, it answers ``FALLBACK`` and the caller evaluates with jsonata-python:
a variable that is not bound (a built-in function, or undefined), an intermediate value that
is not a dict (JSONata maps over arrays and flattens; ``null`` has no fields), a missing key
(undefined), a list as the result (sequence rules), a comparison of anything but two numbers
or two strings (JSONata's type errors, deep equality), anything that is not plain JSON.
What it does return is normalised the way ``adapter.JsonataExpression.evaluate`` does it:
integral floats become ints (``to_json``), a dict that is one of the bindings is shared as is.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import sys
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
#: Comparison operators, applied the way jsonata-python applies them to two numbers (both
#: made floats: its evaluate_equality/comparison_expression) or two strings (as they are).
_COMPARISONS: Mapping[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
#: Larger integers would lose precision as floats: left to jsonata-python.
_MAX_SAFE_INTEGER = 2**53
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

    ``constant`` is the value of a literal (``MISSING`` otherwise); a path is ``variable``
    followed by ``steps``. For ``evaluate_scope``, ``scope_root`` reads the path's first
    value from a Scope (``$states.input`` -> ``scope.input``; MISSING when there is none)
    and ``scope_steps`` are the steps after it. A comparison has an ``operator`` and two
    ``operands`` (literals or paths).
    """

    constant: JSON
    variable: str = ""
    steps: tuple[str, ...] = ()
    #: ``adapter.to_json``: integral floats -> int, in nested values too (shares what it can).
    normalise: Callable[[Any], JSON] = dataclasses.field(
        default=lambda value: value, repr=False, compare=False
    )
    scope_root: Callable[[Scope], Any] = dataclasses.field(
        default=lambda scope: MISSING, repr=False, compare=False
    )
    scope_steps: tuple[str, ...] = ()
    operator: str = ""
    operands: tuple[FastPath, ...] = ()

    def evaluate(self, bindings: Mapping[str, JSON]) -> JSON | _Fallback:
        """The value with ``bindings`` as ``$name`` variables (the adapter's interface)."""
        if self.constant is not MISSING:
            return self.constant
        if self.operator:
            lhs, rhs = self.operands
            return _compare(self.operator, lhs.evaluate(bindings), rhs.evaluate(bindings))
        value = bindings.get(self.variable, MISSING)
        for name in self.steps:
            if type(value) is not dict:
                return FALLBACK  # MISSING (an unbound name, a missing key) lands here too
            value = value.get(name, MISSING)
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is dict and is_bound_value(value, bindings):
            return value  # the adapter shares a binding's value as it is
        return self._finish(value, kind)

    def evaluate_scope(self, scope: Scope) -> JSON | _Fallback:
        """The value with the bindings ``adapter.states_bindings(scope)`` would build, read
        straight from ``scope`` without building them."""
        if self.constant is not MISSING:
            return self.constant
        if self.operator:
            lhs, rhs = self.operands
            return _compare(self.operator, lhs.evaluate_scope(scope), rhs.evaluate_scope(scope))
        value = self.scope_root(scope)
        for name in self.scope_steps:
            if type(value) is not dict:
                return FALLBACK
            value = value.get(name, MISSING)
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is dict and _bound_in_scope(value, scope):
            return value
        return self._finish(value, kind)

    def _finish(self, value: Any, kind: type) -> JSON | _Fallback:
        if kind is float or kind is dict:
            return self.normalise(value)
        return FALLBACK  # lists (sequences), MISSING, anything else


def _compare(operator: str, lhs: Any, rhs: Any) -> bool | _Fallback:
    lkind, rkind = type(lhs), type(rhs)
    if lkind is str and rkind is str:
        return _COMPARISONS[operator](lhs, rhs)
    if (lkind is int or lkind is float) and (rkind is int or rkind is float):
        if (lkind is int and abs(lhs) > _MAX_SAFE_INTEGER) or (
            rkind is int and abs(rhs) > _MAX_SAFE_INTEGER
        ):
            return FALLBACK
        return _COMPARISONS[operator](float(lhs), float(rhs))
    return FALLBACK  # FALLBACK operands, null, booleans, objects, mixed types


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
    if _is_literal(ast):
        value = literal_value()
        return None if value is MISSING else FastPath(value)
    if ast.type == "binary" and ast.value in _COMPARISONS and _is_plain(ast, ("lhs", "rhs")):
        lhs, rhs = _operand(ast.lhs, normalise), _operand(ast.rhs, normalise)
        if lhs is None or rhs is None:
            return None
        return FastPath(MISSING, operator=ast.value, operands=(lhs, rhs))
    return _reference(ast, normalise)


def _operand(node: Any, normalise: Callable[[Any], JSON]) -> FastPath | None:
    """A comparison's side: a path, or a number or string literal (its value as parsed)."""
    if _is_literal(node):
        if node.type == "string" and type(node.value) is str:
            return FastPath(node.value)
        if node.type == "number" and type(node.value) in (int, float):
            return FastPath(normalise(node.value))
        return None
    return _reference(node, normalise)


def _reference(ast: Any, normalise: Callable[[Any], JSON]) -> FastPath | None:
    """``$name`` or ``$name.step.step``, else None."""
    if _is_variable(ast):
        return _path(ast.value, (), normalise)
    if ast.type != "path" or not _is_plain(ast, ("steps",)) or not ast.steps:
        return None
    first, *rest = ast.steps
    if not _is_variable(first) or not all(_is_name(step) for step in rest):
        return None
    return _path(first.value, tuple(step.value for step in rest), normalise)


@functools.lru_cache(maxsize=4096)
def _path(variable: str, steps: tuple[str, ...], normalise: Callable[[Any], JSON]) -> FastPath:
    # Cached: a chain of states repeating ``$states.input.last.step`` shares one FastPath (and
    # interned names), which stays in the CPU cache instead of a thousand cold copies.
    variable = sys.intern(variable)
    steps = tuple(sys.intern(step) for step in steps)
    if variable == "states":  # $states is built from the Scope's fields
        attribute = _STATES_SLOTS.get(steps[0]) if steps else None
        if attribute is None:  # $states itself, $states.other: always the full evaluation
            return FastPath(MISSING, variable, steps, normalise)
        root: Callable[[Scope], Any] = operator.attrgetter(attribute)
        return FastPath(MISSING, variable, steps, normalise, root, steps[1:])

    def variable_root(scope: Scope) -> Any:
        return scope.variables.get(variable, MISSING)

    return FastPath(MISSING, variable, steps, normalise, variable_root, steps)


def _is_plain(node: Any, allowed: tuple[str, ...]) -> bool:
    """No attribute beyond id/value/type/position (and ``allowed``) differs from its default."""
    for key, value in vars(node).items():
        if key in _PLAIN_ATTRIBUTES or key in allowed:
            continue
        if value is not None and value is not False and not (type(value) is int and value == 0):
            return False
    return True


def _is_literal(node: Any) -> bool:
    return node.id == "(literal)" and node.type in _LITERAL_TYPES and _is_plain(node, ())


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
