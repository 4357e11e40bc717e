"""Stage 2 helper, validation: one walk over a loaded definition that every semantic rule
shares. In: the definition dict. Out: a ``Machine`` listing every scope (the machine, each
Parallel branch, each Map processor) and every state with its JSON pointer and its effective
query language. Rules never walk the raw dict themselves, and never trust its types: the
schema pass reports wrong types, the rules skip what they cannot read.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator, Mapping
from typing import Literal

from statemachine.errors import Diagnostic
from statemachine.loader import pointer_join
from statemachine.values import JSON

__all__ = ["Machine", "MachineType", "Scope", "StateRef", "closest", "finding", "state_of", "walk"]

MachineType = Literal["STANDARD", "EXPRESS"]
JSONPATH = "JSONPath"
JSONATA = "JSONata"


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """A set of states with its own StartAt: the machine, a Parallel branch or a Map processor."""

    pointer: str  # of the object holding StartAt and States ("" for the machine)
    kind: Literal["machine", "branch", "processor"]
    start_at: JSON
    states: Mapping[str, JSON]
    owner: str | None  # the Parallel/Map state that holds it (None for the machine)
    owner_pointer: str | None = None  # that state's pointer


@dataclasses.dataclass(frozen=True, slots=True)
class StateRef:
    """One state anywhere in the machine."""

    name: str
    pointer: str  # /States/Name or /States/P/Branches/0/States/Name
    body: Mapping[str, JSON]
    scope: Scope
    language: str  # effective QueryLanguage: "JSONPath" or "JSONata"

    @property
    def type(self) -> str | None:
        """The state's Type when it is a string (the schema reports anything else)."""
        kind = self.body.get("Type")
        return kind if isinstance(kind, str) else None

    def at(self, *tokens: str | int) -> str:
        """The pointer of a field inside this state."""
        pointer = self.pointer
        for token in tokens:
            pointer = pointer_join(pointer, token)
        return pointer


@dataclasses.dataclass(frozen=True, slots=True)
class Machine:
    """Everything the rules need: the raw data, every scope and every state."""

    data: Mapping[str, JSON]
    language: str
    machine_type: MachineType
    scopes: tuple[Scope, ...]
    states: tuple[StateRef, ...]
    #: what several rules derive from the same walk (graph.py: states by scope, reachable
    #: sets, states with outside targets), computed by the first rule that needs it
    shared: dict[str, object] = dataclasses.field(default_factory=dict, compare=False, repr=False)


def walk(data: Mapping[str, JSON], machine_type: MachineType = "STANDARD") -> Machine:
    """Collect the scopes and states of ``data`` (depth first, in document order)."""
    language = data.get("QueryLanguage")
    language = language if language in (JSONPATH, JSONATA) else JSONPATH
    scopes: list[Scope] = []
    states: list[StateRef] = []
    _collect(Scope("", "machine", data.get("StartAt"), _mapping(data.get("States")), None), language, scopes, states)
    return Machine(data, language, machine_type, tuple(scopes), tuple(states))


def _collect(scope: Scope, language: str, scopes: list[Scope], states: list[StateRef]) -> None:
    scopes.append(scope)
    for name, body in scope.states.items():
        if not isinstance(body, Mapping):
            continue
        pointer = pointer_join(pointer_join(scope.pointer, "States"), name)
        own = body.get("QueryLanguage")
        ref = StateRef(name, pointer, body, scope, own if own in (JSONPATH, JSONATA) else language)
        states.append(ref)
        for child in _children(ref):
            _collect(child, language, scopes, states)


def _children(state: StateRef) -> Iterator[Scope]:
    branches = state.body.get("Branches")
    if state.type == "Parallel" and isinstance(branches, list):
        for index, branch in enumerate(branches):
            if isinstance(branch, Mapping):
                yield _scope(branch, state.at("Branches", index), "branch", state)
    if state.type == "Map":
        for field in ("ItemProcessor", "Iterator"):
            processor = state.body.get(field)
            if isinstance(processor, Mapping):
                yield _scope(processor, state.at(field), "processor", state)


def _scope(body: Mapping[str, JSON], pointer: str, kind: Literal["branch", "processor"], owner: StateRef) -> Scope:
    return Scope(pointer, kind, body.get("StartAt"), _mapping(body.get("States")), owner.name, owner.pointer)


def _mapping(value: JSON) -> Mapping[str, JSON]:
    return value if isinstance(value, Mapping) else {}


def finding(code: str, message: str, pointer: str, state: str | None = None, *, warning: bool = False) -> Diagnostic:
    """A Diagnostic without a position yet (``validate`` fills line, column and file)."""
    return Diagnostic(code, message, pointer, 0, 0, state, "warning" if warning else "error")


def closest(name: str, candidates: list[str]) -> str:
    """' (did you mean 'X'?)' for the most similar candidate, or '' when none is close."""
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{found[0]}'?)" if found else ""


def state_of(pointer: str) -> str | None:
    """The innermost state a JSON pointer lies in (``/States/A/Branches/0/States/B/x`` -> B)."""
    tokens = pointer.split("/")[1:]
    found: str | None = None
    for index in range(len(tokens) - 1):
        if tokens[index] == "States" and (index == 0 or tokens[index - 1] != "States"):
            found = tokens[index + 1].replace("~1", "/").replace("~0", "~")
    return found
