"""Stage 2, validation (variables): names given in ``Assign`` are valid, and a warning for a
variable that is read where no ``Assign`` on any path into the state has set it. In: a walked
``Machine``. Out: Diagnostics.

The read scan is textual and conservative: ``$name`` in JSONata expressions (minus JSONata's
own functions, ``$states``, and names bound inside the expression) and in JSONPath paths or
intrinsic calls. A variable counts as assigned before state S when some state X from which S
can be reached assigns it, or when it was assigned before the Parallel/Map holding S.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterator, Mapping

from statemachine.errors import Diagnostic
from statemachine.loader import pointer_join
from statemachine.validation.expressions import evaluated_strings
from statemachine.validation.fields import is_jsonata
from statemachine.validation.graph import targets
from statemachine.validation.walk import JSONATA, Machine, StateRef, finding
from statemachine.values import JSON

__all__ = ["VARIABLE_RULES"]

#: ASL: variable names are identifiers of at most 80 characters; "states" is reserved.
_VARIABLE_NAME = re.compile(r"\A[^\W\d]\w{0,79}\Z")
_READ = re.compile(r"(?<![\w$])\$([^\W\d]\w*)\b(?!\s*\()")
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")
_LOCAL = re.compile(r"\$([^\W\d]\w*)\s*:=|function\s*\(([^)]*)\)")
#: JSONata's built-in functions (and Step Functions' additions), which can be passed by name.
JSONATA_NAMES = frozenset([
    "states", "string", "length", "substring", "substringBefore", "substringAfter", "uppercase",
    "lowercase", "trim", "pad", "contains", "split", "join", "match", "replace", "eval",
    "base64encode", "base64decode", "encodeUrlComponent", "encodeUrl", "decodeUrlComponent",
    "decodeUrl", "number", "abs", "floor", "ceil", "round", "power", "sqrt", "random",
    "formatNumber", "formatBase", "formatInteger", "parseInteger", "sum", "max", "min", "average",
    "boolean", "not", "exists", "count", "append", "sort", "reverse", "shuffle", "distinct", "zip",
    "keys", "lookup", "spread", "merge", "sift", "each", "error", "assert", "type", "map", "filter",
    "single", "reduce", "now", "millis", "fromMillis", "toMillis", "partition", "range", "hash",
    "parse", "uuid",
])


def _assignments(state: StateRef) -> Iterator[tuple[str, str]]:
    """(pointer, variable name) of every Assign entry of a state, its Choices and Catchers."""
    holders: list[tuple[str, JSON]] = [(state.at("Assign"), state.body.get("Assign"))]
    for field in ("Choices", "Catch"):
        items = state.body.get(field)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping):
                holders.append((state.at(field, index, "Assign"), item.get("Assign")))
    for pointer, assign in holders:
        if isinstance(assign, Mapping):
            for key in assign:
                yield pointer_join(pointer, key), str(key).removesuffix(".$")


def invalid_variable_name(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        for pointer, name in _assignments(state):
            if not _VARIABLE_NAME.match(name) or name == "states":
                message = (f"'{name}' is not a valid variable name: use letters, digits and '_' "
                           "(not a digit first), at most 80 characters, and not 'states'")
                yield finding("invalid-variable-name", message, pointer, state.name)


def _is_path_valued(pointer: str, text: str) -> bool:
    field = pointer.rsplit("/", 1)[-1]
    return field.endswith(".$") or (text.startswith("$") and (field == "Variable" or field.endswith("Path")))


def _reads(state: StateRef) -> Iterator[tuple[str, str]]:
    """(pointer, variable) for each ``$name`` the state reads."""
    for pointer, text in evaluated_strings(state):
        if "$" not in text:  # the common case: no variable can be read without a "$"
            continue
        if state.language == JSONATA and not is_jsonata(text):
            continue
        if state.language != JSONATA and not _is_path_valued(pointer, text):
            continue
        body = _QUOTED.sub("''", text)
        local = {name for pair in _LOCAL.findall(body) for part in pair for name in re.findall(r"[^\W\d]\w*", part)}
        for name in _READ.findall(body):
            if name not in JSONATA_NAMES and name not in local:
                yield pointer, name


def _assigned_before(machine: Machine) -> dict[str, set[str]]:
    """State pointer -> variables some path into the state has assigned."""
    before: dict[str, set[str]] = collections.defaultdict(set)
    by_scope: dict[str, dict[str, StateRef]] = collections.defaultdict(dict)
    for state in machine.states:
        by_scope[state.scope.pointer].setdefault(state.name, state)
    for scope in machine.scopes:  # parents come before the scopes nested in them
        states = by_scope.get(scope.pointer, {})
        inherited = before[scope.owner_pointer] if scope.owner_pointer is not None else set()
        for state in states.values():
            before[state.pointer] |= inherited
        for source in states.values():
            names = {name for _, name in _assignments(source)}
            if names:
                for reached in _reachable_from(source, states):
                    before[reached.pointer] |= names
    return before


def _reachable_from(source: StateRef, states: Mapping[str, StateRef]) -> Iterator[StateRef]:
    seen: set[str] = set()
    pending = [t for _, t in targets(source) if isinstance(t, str)]
    while pending:
        name = pending.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        yield states[name]
        pending.extend(t for _, t in targets(states[name]) if isinstance(t, str))


def variable_never_assigned(machine: Machine) -> Iterator[Diagnostic]:
    """Warning: a variable is read where no path into the state has assigned it."""
    reads = [(state, pointer, name) for state in machine.states for pointer, name in _reads(state)]
    if not reads:
        return
    before = _assigned_before(machine)
    for state, pointer, name in reads:
        if name not in before[state.pointer]:
            message = f"variable '${name}' is read here, but no 'Assign' on any path into this state sets it"
            yield finding("variable-never-assigned", message, pointer, state.name, warning=True)


VARIABLE_RULES = {
    "invalid-variable-name": invalid_variable_name,
    "variable-never-assigned": variable_never_assigned,
}
