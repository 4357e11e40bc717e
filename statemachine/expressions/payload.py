"""Expression stage: payload templates (Parameters, ResultSelector, ItemSelector, Assign, ...)
-> compiled ``PayloadTemplate``.

A key ending in ``.$`` takes a JSONPath (``$...``, ``$$...``, ``$var...``) or an intrinsic
call, and the output key drops the ``.$``; every other value is literal, in nested objects
and arrays alike. Compilation precomputes a flat plan per object: each entry is (output key,
kind, item) with kind one of the ``_CONST``/``_PATH``/``_CALL``/``_OBJECT``/``_ARRAY`` codes, and
subtrees without any ``.$`` key collapse into one shared constant (copied once at compile
time, never mutated afterwards: the interpreter treats values as immutable).
"""

from __future__ import annotations

import copy
import dataclasses
import random
from typing import Any

from statemachine import errors
from statemachine.errors import StatesError
from statemachine.expressions.functions import compact_json
from statemachine.expressions.intrinsics import (
    IntrinsicSyntaxError,
    is_intrinsic,
    parse_intrinsic,
)
from statemachine.expressions.jsonpath import PathNotFound, PathSyntaxError, compile_path
from statemachine.expressions.scope import Scope
from statemachine.values import JSON

__all__ = ["PayloadSyntaxError", "PayloadTemplate", "compile_payload", "path_not_found_cause"]

_CONST, _PATH, _CALL, _OBJECT, _ARRAY = range(5)
#: (kind, item): item is the constant, the JsonPath, the IntrinsicCall, or the child plan.
_Node = tuple[int, Any]
#: (output key, key as written, kind, item) for each entry of an object.
_Entry = tuple[str, str, int, Any]


class PayloadSyntaxError(ValueError):
    """A bad ``.$`` value; ``pointer`` is the JSON pointer of the key inside the template."""

    def __init__(self, message: str, pointer: str) -> None:
        super().__init__(f"{message} (at {pointer or '/'})")
        self.message = message
        self.pointer = pointer


def path_not_found_cause(path: str, field: str, input_value: JSON) -> str:
    """AWS's States.Runtime cause when a path in a ``.$`` key (or ErrorPath, CausePath, ...)
    matches nothing: the input is printed as compact JSON."""
    return (f"The JSONPath '{path}' specified for the field '{field}' could not be found "
            f"in the input '{compact_json(input_value)}'")


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class PayloadTemplate:
    """A compiled template; ``field`` is the ASL field it came from (for messages)."""

    field: str
    root: _Node

    @property
    def is_constant(self) -> bool:
        return self.root[0] == _CONST

    def evaluate(self, scope: Scope, rng: random.Random | None = None) -> JSON:
        """Build the payload. Raises StatesError: States.Runtime when a path matches nothing
        (cause as AWS writes it, without the interpreter's "An error occurred..." prefix),
        States.IntrinsicFailure for bad intrinsic arguments."""
        return _evaluate(self.root, scope, rng)


def compile_payload(template: JSON, *, field: str) -> PayloadTemplate:
    """Compile ``template`` once; raises PayloadSyntaxError for bad paths or intrinsic calls."""
    return PayloadTemplate(field, _compile(template, ""))


# --- compilation -----------------------------------------------------------------------------


def _compile(value: JSON, pointer: str) -> _Node:
    if isinstance(value, dict):
        entries = [_compile_entry(key, item, f"{pointer}/{_escape(key)}") for key, item in value.items()]
        if all(kind == _CONST for _, _, kind, _ in entries):
            return _CONST, copy.deepcopy(value)
        return _OBJECT, tuple(entries)
    if isinstance(value, list):
        nodes = [_compile(item, f"{pointer}/{i}") for i, item in enumerate(value)]
        if all(kind == _CONST for kind, _ in nodes):
            return _CONST, copy.deepcopy(value)
        return _ARRAY, tuple(nodes)
    return _CONST, value


def _compile_entry(key: str, value: JSON, pointer: str) -> _Entry:
    if not key.endswith(".$"):
        kind, item = _compile(value, pointer)
        return key, key, kind, item
    kind, item = _compile_dynamic(key, value, pointer)
    return key[:-2], key, kind, item


def _compile_dynamic(key: str, value: JSON, pointer: str) -> _Node:
    invalid = f"The value for the field '{key}' must be a valid JSONPath or a valid intrinsic function call"
    if not isinstance(value, str):
        raise PayloadSyntaxError(invalid, pointer)
    try:
        if value.startswith("$"):
            return _PATH, compile_path(value)
        if is_intrinsic(value):
            return _CALL, parse_intrinsic(value)
    except (PathSyntaxError, IntrinsicSyntaxError) as exc:
        raise PayloadSyntaxError(f"{invalid}: {exc.message}", pointer) from None
    raise PayloadSyntaxError(invalid, pointer)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


# --- evaluation ------------------------------------------------------------------------------


def _evaluate(node: _Node, scope: Scope, rng: random.Random | None) -> JSON:
    """Value of a constant, object or array node (path and call nodes only occur as entries)."""
    kind, item = node
    if kind == _CONST:
        return item
    if kind == _OBJECT:
        return _evaluate_object(item, scope, rng)
    return [_evaluate(child, scope, rng) for child in item]


def _evaluate_object(entries: tuple[_Entry, ...], scope: Scope, rng: random.Random | None) -> JSON:
    out = {}
    for name, written, kind, item in entries:
        if kind == _CONST:
            out[name] = item
        elif kind in (_PATH, _CALL):
            try:
                out[name] = item.evaluate(scope) if kind == _PATH else item.evaluate(scope, rng)
            except PathNotFound as exc:
                raise _not_found(exc, written, scope) from None
        else:
            out[name] = _evaluate((kind, item), scope, rng)
    return out


def _not_found(exc: PathNotFound, key: str, scope: Scope) -> StatesError:
    return StatesError(errors.RUNTIME, path_not_found_cause(exc.path, key, scope.input))
