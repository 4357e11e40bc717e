"""Stage 2, validation (forgotten ``.$``): a warning for a payload-template key without the
``.$`` suffix whose value reads as a path or an intrinsic call. In: a walked ``Machine``.
Out: Diagnostics (code ``missing-path-suffix``, severity warning).

ASL evaluates a template value only when its key ends in ``.$``; ``{"orderId": "$.orderId"}``
is valid and yields the literal text ``"$.orderId"``, which is almost never what was meant.
The templates are every field AWS evaluates that way in a JSONPath state: Parameters (Pass,
Task, Map, Parallel, ItemReader, ResultWriter), ResultSelector, ItemSelector, Credentials and
Assign (of the state, its Choices and its Catchers); nested objects too, and objects inside
arrays (not bare strings in arrays: an array item cannot take ``.$``).

What "reads as" means, to keep false positives out: the text parses with the same parsers the
compiler uses and is a path into the input or the context (``$.x``, ``$[0]``, ``$..x``,
``$$.Execution.Id``), an intrinsic call (``States.Format('{}', $.a)``), or a variable path
(``$name.x``) naming a variable some ``Assign`` of the machine sets. ``"$"`` and ``"$$"`` alone,
``"$5.00"``, ``"$HOME/bin"``, ``"$USD"`` (when no variable USD exists) stay quiet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

from statemachine.errors import Diagnostic
from statemachine.loader import pointer_join
from statemachine.validation.walk import JSONATA, Machine, StateRef, finding
from statemachine.values import JSON

__all__ = ["LITERAL_RULES", "template_fields"]

#: Payload templates of a JSONPath state (the state's own fields).
_TEMPLATES = ("Parameters", "ResultSelector", "ItemSelector", "Assign", "Credentials")


def template_fields(state: StateRef) -> Iterator[tuple[str, JSON]]:
    """(pointer, template) of every payload template of a JSONPath state."""
    for field in _TEMPLATES:
        if field in state.body:
            yield state.at(field), state.body[field]
    for outer in ("ItemReader", "ResultWriter"):
        holder = state.body.get(outer)
        if isinstance(holder, Mapping) and "Parameters" in holder:
            yield state.at(outer, "Parameters"), holder["Parameters"]
    for field in ("Choices", "Catch"):
        items = state.body.get(field)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping) and "Assign" in item:
                yield state.at(field, index, "Assign"), item["Assign"]


def _assigned(machine: Machine) -> frozenset[str]:
    """Every variable name some Assign of the machine sets."""
    names: set[str] = set()
    for state in machine.states:
        holders = [state.body.get("Assign")]
        for field in ("Choices", "Catch"):
            items = state.body.get(field)
            holders += [item.get("Assign") for item in (items if isinstance(items, list) else []) if isinstance(item, Mapping)]
        for assign in holders:
            if isinstance(assign, Mapping):
                names.update(str(key).removesuffix(".$") for key in assign)
    return frozenset(names)


def expression_kind(text: str, variables: frozenset[str]) -> str | None:
    """What ``text`` reads as ("a JSONPath", "a variable reference", "an intrinsic function
    call"), or None. ``variables``: the names the machine assigns."""
    from statemachine.expressions.intrinsics import (
        IntrinsicSyntaxError,
        is_intrinsic,
        parse_intrinsic,
    )
    from statemachine.expressions.jsonpath import PathSyntaxError, compile_path

    if is_intrinsic(text):
        try:
            parse_intrinsic(text)
        except IntrinsicSyntaxError:
            return None
        return "an intrinsic function call"
    if not text.startswith("$") or text in ("$", "$$"):
        return None
    try:
        path = compile_path(text)
    except PathSyntaxError:
        return None
    if path.root == "variable":
        return "a variable reference" if path.variable in variables else None
    return "a JSONPath"


def _literal_keys(value: JSON, pointer: str) -> Iterator[tuple[str, str, str]]:
    """(pointer, key, text) of every string held by a key without ``.$``, nested ones too."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            child = pointer_join(pointer, key)
            if isinstance(item, str):
                if not str(key).endswith(".$"):
                    yield child, str(key), item
            else:
                yield from _literal_keys(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                yield from _literal_keys(item, pointer_join(pointer, index))


def missing_path_suffix(machine: Machine) -> Iterator[Diagnostic]:
    variables: frozenset[str] | None = None
    for state in machine.states:
        if state.language == JSONATA:
            continue
        for template_pointer, template in template_fields(state):
            for pointer, key, text in _literal_keys(template, template_pointer):
                if "$" not in text and "States." not in text:
                    continue  # the common case, decided without parsing
                variables = _assigned(machine) if variables is None else variables
                kind = expression_kind(text, variables)
                if kind is not None:
                    message = (f"'{key}' holds {json.dumps(text)}, {kind}, but its key does not end in '.$', so the "
                               f"text itself is passed on; name the key \"{key}.$\" to evaluate it")
                    yield finding("missing-path-suffix", message, pointer, state.name, warning=True)


LITERAL_RULES = {"missing-path-suffix": missing_path_suffix}
