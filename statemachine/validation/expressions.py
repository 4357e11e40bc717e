"""Stage 2, validation (expression rules): the string sub-languages parse. In: a walked
``Machine``. Out: Diagnostics. JSONPath and Reference Paths, payload templates with ``.$``
keys and intrinsic calls, JSONata ``{% %}`` expressions, and a warning for ``.$`` keys in
JSONata states. The syntax is checked by the same parsers the compiler
uses (``statemachine.expressions``); this module only finds the strings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from statemachine.errors import Diagnostic
from statemachine.expressions.memo import memoized
from statemachine.loader import pointer_join
from statemachine.validation.fields import is_jsonata
from statemachine.validation.walk import JSONATA, Machine, StateRef, finding
from statemachine.values import JSON

__all__ = ["EXPRESSION_RULES"]

#: Fields holding one JSONPath (JSONPath states); ErrorPath/CausePath may hold an intrinsic call.
_PATH_FIELDS = (
    "InputPath", "OutputPath", "ItemsPath", "SecondsPath", "TimestampPath", "TimeoutSecondsPath",
    "HeartbeatSecondsPath", "MaxConcurrencyPath", "ToleratedFailurePercentagePath",
    "ToleratedFailureCountPath", "ErrorPath", "CausePath",
)
_NESTED_PATH_FIELDS = (
    ("ItemBatcher", "MaxItemsPerBatchPath"), ("ItemBatcher", "MaxInputBytesPerBatchPath"),
)
#: Payload templates (keys ending in ".$" are evaluated) of JSONPath states.
_PAYLOAD_FIELDS = ("Parameters", "ResultSelector", "ItemSelector", "Assign", "Credentials")
#: Fields that hold states or literal data, not expressions, in a JSONata state.
_NOT_EVALUATED = frozenset({"Branches", "ItemProcessor", "Iterator", "Comment", "Result", "Type"})


#: The path fields that may hold an intrinsic call instead of a path (ASL: Fail state).
_INTRINSIC_ALLOWED = frozenset({"ErrorPath", "CausePath"})


def _path_problem(text: str, *, reference: bool = False, intrinsic: bool = False) -> str | None:
    from statemachine.expressions.intrinsics import (
        IntrinsicSyntaxError,
        is_intrinsic,
        parse_intrinsic,
    )
    from statemachine.expressions.jsonpath import (
        PathSyntaxError,
        compile_path,
        compile_reference_path,
    )

    try:
        if reference:
            compile_reference_path(text)
        elif intrinsic and is_intrinsic(text):
            parse_intrinsic(text)
        else:
            compile_path(text)
    except (PathSyntaxError, IntrinsicSyntaxError) as exc:
        return exc.message
    return None


def _paths(state: StateRef) -> Iterator[tuple[str, str, bool]]:
    """(pointer, text, is_reference_path) of every path-valued field of a JSONPath state."""
    body = state.body
    for field in _PATH_FIELDS:
        if isinstance(body.get(field), str):
            yield state.at(field), body[field], False
    for outer, field in _NESTED_PATH_FIELDS:
        holder = body.get(outer)
        if isinstance(holder, Mapping) and isinstance(holder.get(field), str):
            yield state.at(outer, field), holder[field], False
    if isinstance(body.get("ResultPath"), str):
        yield state.at("ResultPath"), body["ResultPath"], True
    catchers = body.get("Catch")
    for index, catcher in enumerate(catchers if isinstance(catchers, list) else []):
        if isinstance(catcher, Mapping) and isinstance(catcher.get("ResultPath"), str):
            yield state.at("Catch", index, "ResultPath"), catcher["ResultPath"], True
    # Choice rule paths are checked by compiling the rules (validation/choice.py)


def invalid_path(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        if state.language == JSONATA:
            continue
        for pointer, text, reference in _paths(state):
            field = pointer.rsplit("/", 1)[-1]
            problem = _path_problem(text, reference=reference, intrinsic=field in _INTRINSIC_ALLOWED)
            if problem is not None:
                kind = "Reference Path" if reference else "JSONPath"
                yield finding("invalid-path", f"'{field}' is not a valid {kind}: {problem}", pointer, state.name)


def _templates(state: StateRef) -> Iterator[tuple[str, str, JSON]]:
    """(pointer, field, template) of every payload template of a JSONPath state."""
    for field in _PAYLOAD_FIELDS:
        if field in state.body:
            yield state.at(field), field, state.body[field]
    for outer in ("ItemReader", "ResultWriter"):
        holder = state.body.get(outer)
        if isinstance(holder, Mapping) and "Parameters" in holder:
            yield state.at(outer, "Parameters"), "Parameters", holder["Parameters"]
    for field in ("Choices", "Catch"):
        items = state.body.get(field)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping) and "Assign" in item:
                yield state.at(field, index, "Assign"), "Assign", item["Assign"]


def invalid_payload(machine: Machine) -> Iterator[Diagnostic]:
    from statemachine.expressions.memo import memoized_object
    from statemachine.expressions.payload import PayloadSyntaxError, compile_payload

    for state in machine.states:
        if state.language == JSONATA:
            continue
        for pointer, field, template in _templates(state):
            try:
                memoized_object(template, field, lambda: compile_payload(template, field=field))  # noqa: B023 - called at once
            except PayloadSyntaxError as exc:
                yield finding("invalid-payload", exc.message, pointer + exc.pointer, state.name)


def _strings(value: JSON, pointer: str) -> list[tuple[str, str]]:
    """(pointer, text) of every string inside ``value``, in document order (keys are not
    strings of their own). One explicit stack: nested generators cost a frame per level for
    every string, and every state of a large definition passes here."""
    if isinstance(value, str):
        return [(pointer, value)]
    found: list[tuple[str, str]] = []
    # (parent pointer, key, value): a pointer is joined only for a string or a container, not
    # for the numbers, booleans and nulls that are most of a template's leaves
    pending: list[tuple[str, Any, JSON]] = []
    _push(pending, pointer, value)
    while pending:
        parent, key, value = pending.pop()
        if isinstance(value, str):
            found.append((pointer_join(parent, key), value))
        elif isinstance(value, (dict, list)) or (not isinstance(value, _SCALARS) and isinstance(value, Mapping)):
            _push(pending, pointer_join(parent, key), value)
    return found


_SCALARS = (int, float, type(None))  # bool is an int


def _push(pending: list[tuple[str, Any, JSON]], pointer: str, value: JSON) -> None:
    """Queue the members of a container so that they pop in document order."""
    if isinstance(value, list):
        pending.extend([(pointer, index, item) for index, item in enumerate(value)][::-1])
    elif isinstance(value, (dict, Mapping)):
        pending.extend([(pointer, key, item) for key, item in value.items()][::-1])


def evaluated_strings(state: StateRef) -> Iterator[tuple[str, str]]:
    """(pointer, text) of every string of the state that an expression could be in."""
    for field, value in state.body.items():
        if field not in _NOT_EVALUATED:
            yield from _strings(value, state.at(field))


def invalid_jsonata(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        if state.language != JSONATA:
            continue
        for pointer, text in evaluated_strings(state):
            if is_jsonata(text):
                # Imported only when there is JSONata to check: the adapter brings the clock
                # (asyncio), which `sm graph` and `sm validate` of JSONPath files need not load.
                from statemachine.expressions.jsonata import JsonataSyntaxError, compile_jsonata

                inner = text[2:-2]
                try:  # the text the compiler compiles (stripped), so its compile is cached once
                    memoized(inner.strip(), compile_jsonata)
                except JsonataSyntaxError as exc:
                    position = exc.position + len(inner) - len(inner.lstrip())
                    message = f"invalid JSONata expression {text!r}: {exc.message} (at character {position})"
                    yield finding("invalid-jsonata", message, pointer, state.name)


def jsonpath_key_in_jsonata(machine: Machine) -> Iterator[Diagnostic]:
    """Warning: under JSONata a ".$" key is a literal key (AWS accepts it and evaluates nothing),
    which is almost always a leftover from JSONPath."""
    for state in machine.states:
        if state.language != JSONATA:
            continue
        for field, value in state.body.items():
            if field not in _NOT_EVALUATED:
                yield from _dollar_keys(state, value, state.at(field))


def _dollar_keys(state: StateRef, value: JSON, pointer: str) -> Iterator[Diagnostic]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            child = pointer_join(pointer, key)
            if isinstance(key, str) and key.endswith(".$"):
                message = (f"'{key}' is a literal key in a JSONata state: '.$' keys are JSONPath syntax and "
                           f"are not evaluated here (write \"{key[:-2]}\": \"{{% ... %}}\")")
                yield finding("jsonpath-key-in-jsonata", message, child, state.name, warning=True)
            yield from _dollar_keys(state, item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _dollar_keys(state, item, pointer_join(pointer, index))


EXPRESSION_RULES = {
    "invalid-path": invalid_path,
    "invalid-payload": invalid_payload,
    "invalid-jsonata": invalid_jsonata,
    "jsonpath-key-in-jsonata": jsonpath_key_in_jsonata,
}
