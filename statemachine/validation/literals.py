"""Stage 2, validation (forgotten ``.$`` or ``{% %}``): a warning for a payload-template key
without the ``.$`` suffix whose value reads as a path or an intrinsic call, and for a string of
a JSONata state that reads as a JSONata expression but is not between ``{%`` and ``%}``. In: a
walked ``Machine``. Out: Diagnostics (codes ``missing-path-suffix`` and
``missing-jsonata-delimiters``, severity warning).

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

JSONata states evaluate only strings between ``{%`` and ``%}``: ``Output: {total:
$states.input.total}`` yields the text. The templates are Arguments, Output, Assign,
ItemSelector, a Fail's Error and Cause, Credentials, ItemReader/ResultWriter Arguments,
ItemBatcher BatchInput, and the Output and Assign of Choices and Catchers (array items too).
A string is flagged when it starts with ``$states``, with a variable some Assign sets, or with
a call of a JSONata or Step Functions function (``$sum(...)``), and parses as JSONata whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping

from statemachine.errors import Diagnostic
from statemachine.expressions.memo import memoized
from statemachine.loader import pointer_join
from statemachine.validation.fields import is_jsonata
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


#: JSONata state fields whose strings are evaluated only between {% and %} (and may hold text).
_JSONATA_TEMPLATES = ("Arguments", "Output", "Assign", "ItemSelector", "Error", "Cause", "Credentials")
_JSONATA_NESTED = (("ItemReader", "Arguments"), ("ResultWriter", "Arguments"), ("ItemBatcher", "BatchInput"))
_LEADING_NAME = re.compile(r"\$([^\W\d]\w*)(\s*\()?")


def _jsonata_templates(state: StateRef) -> Iterator[tuple[str, JSON]]:
    """(pointer, template) of every field of a JSONata state that may hold plain text."""
    for field in _JSONATA_TEMPLATES:
        if field in state.body:
            yield state.at(field), state.body[field]
    for outer, field in _JSONATA_NESTED:
        holder = state.body.get(outer)
        if isinstance(holder, Mapping) and field in holder:
            yield state.at(outer, field), holder[field]
    for outer in ("Choices", "Catch"):
        items = state.body.get(outer)
        for index, item in enumerate(items if isinstance(items, list) else []):
            for field in ("Output", "Assign"):
                if isinstance(item, Mapping) and field in item:
                    yield state.at(outer, index, field), item[field]


def _strings(value: JSON, pointer: str) -> Iterator[tuple[str, str]]:
    """(pointer, text) of every string in a template, array items included."""
    if isinstance(value, str):
        yield pointer, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, pointer_join(pointer, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, pointer_join(pointer, index))


def jsonata_kind(text: str, variables: frozenset[str]) -> str | None:
    """What ``text`` (a string without ``{% %}``) reads as in JSONata ("a JSONata expression",
    "a variable reference", "a JSONata function call"), or None."""
    from statemachine.expressions.jsonata import JsonataSyntaxError, compile_jsonata
    from statemachine.validation.variables import JSONATA_NAMES

    text = text.strip()
    lead = _LEADING_NAME.match(text)
    if lead is None:
        return None
    name, call = lead.group(1), lead.group(2)
    if name == "states":
        kind = "a JSONata expression"
    elif call and name in JSONATA_NAMES:
        kind = "a JSONata function call"
    elif name in variables and not call:
        kind = "a variable reference"
    else:
        return None
    try:
        memoized(text, compile_jsonata)  # shared with the compile pass: each text parsed once
    except JsonataSyntaxError:
        return None
    return kind


def missing_jsonata_delimiters(machine: Machine) -> Iterator[Diagnostic]:
    variables: frozenset[str] | None = None
    for state in machine.states:
        if state.language != JSONATA:
            continue
        for template_pointer, template in _jsonata_templates(state):
            for pointer, text in _strings(template, template_pointer):
                if not text.lstrip().startswith("$") or is_jsonata(text):
                    continue
                variables = _assigned(machine) if variables is None else variables
                kind = jsonata_kind(text, variables)
                if kind is not None:
                    message = (f"{json.dumps(text)} reads as {kind}, but only a string between {{% and %}} is "
                               f"evaluated, so the text itself is passed on; write \"{{% {text.strip()} %}}\" "
                               "to evaluate it")
                    yield finding("missing-jsonata-delimiters", message, pointer, state.name, warning=True)


LITERAL_RULES = {"missing-path-suffix": missing_path_suffix, "missing-jsonata-delimiters": missing_jsonata_delimiters}
