"""Stage 2, validation (graph rules): what the schema cannot say about transitions.
In: a walked ``Machine``. Out: Diagnostics. StartAt and every Next/Default/Choice/Catch
target exist in the same scope, no transition crosses into or out of a Parallel branch or
Map processor, every state is reachable, every scope can end, Next and End exclude each
other, and state names are unique (AWS: across the whole machine) and at most 80 characters.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Mapping

from statemachine.errors import Diagnostic
from statemachine.validation.walk import Machine, Scope, StateRef, closest, finding

__all__ = ["GRAPH_RULES", "targets"]

#: AWS: "State names must be unique ... up to 80 characters".
MAX_STATE_NAME = 80
_NEEDS_NEXT_OR_END = frozenset({"Pass", "Task", "Wait", "Parallel", "Map"})
_TERMINAL_TYPES = frozenset({"Succeed", "Fail"})


def targets(state: StateRef) -> Iterator[tuple[str, object]]:
    """(pointer, target) of every transition out of ``state``: Next, Default, Choices, Catch."""
    body = state.body
    for field in ("Next", "Default"):
        if field in body:
            yield state.at(field), body[field]
    for field in ("Choices", "Catch"):
        items = body.get(field)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, Mapping) and "Next" in item:
                    yield state.at(field, index, "Next"), item["Next"]


def unknown_start_at(machine: Machine) -> Iterator[Diagnostic]:
    for scope in machine.scopes:
        start = scope.start_at
        if isinstance(start, str) and scope.states and start not in scope.states:
            where = "the machine" if scope.kind == "machine" else f"this {scope.kind} of '{scope.owner}'"
            hint = closest(start, list(scope.states))
            pointer = f"{scope.pointer}/StartAt"
            yield finding("unknown-start-at", f"StartAt '{start}' is not a state of {where}{hint}", pointer, scope.owner)


def _leaves_scope(state: StateRef) -> bool:
    """Does some transition of ``state`` name a state outside its own scope? (No pointers
    built: most states have none, and the rules below only look closer at those that do.)"""
    local = state.scope.states
    return any(isinstance(t, str) and t not in local for t in _target_names(state.body))


def _leaving(machine: Machine) -> tuple[list[StateRef], set[str]]:
    """(states with a transition out of their scope, every state name), shared by two rules."""
    found = machine.shared.get("leaving")
    if found is None:
        found = machine.shared["leaving"] = (list(filter(_leaves_scope, machine.states)),
                                             {state.name for state in machine.states})
    return found  # type: ignore[return-value]  # stored just above with this type


def unknown_next_target(machine: Machine) -> Iterator[Diagnostic]:
    leaving, everywhere = _leaving(machine)
    for state in leaving:
        for pointer, target in targets(state):
            if isinstance(target, str) and target not in state.scope.states and target not in everywhere:
                message = f"transition to '{target}', which is not a state{closest(target, list(state.scope.states))}"
                yield finding("unknown-next-target", message, pointer, state.name)


def transition_across_scope(machine: Machine) -> Iterator[Diagnostic]:
    """ASL: a branch or processor is a closed world; its states cannot go out, others cannot come in."""
    leaving, everywhere = _leaving(machine)
    for state in leaving:
        for pointer, target in targets(state):
            if isinstance(target, str) and target not in state.scope.states and target in everywhere:
                message = (
                    f"transition to '{target}' leaves this {_scope_words(state.scope)}: states inside a "
                    "Parallel branch or Map processor can only go to states of the same branch"
                )
                yield finding("transition-across-scope", message, pointer, state.name)


def _scope_words(scope: Scope) -> str:
    return "state machine's top level" if scope.kind == "machine" else f"{scope.kind} of '{scope.owner}'"


def _target_names(body: Mapping[str, object]) -> list[object]:
    """The targets of ``targets`` without their pointers (the graph walks need no pointers)."""
    found = [body[field] for field in ("Next", "Default") if field in body]
    for field in ("Choices", "Catch"):
        items = body.get(field)
        if isinstance(items, list):
            found += [item["Next"] for item in items if isinstance(item, Mapping) and "Next" in item]
    return found


def _reachable(scope: Scope, by_name: Mapping[str, StateRef]) -> set[str]:
    seen: set[str] = set()
    pending = [scope.start_at] if isinstance(scope.start_at, str) else []
    while pending:
        name = pending.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        pending.extend(t for t in _target_names(by_name[name].body) if isinstance(t, str))
    return seen


def _by_scope(machine: Machine) -> dict[str, dict[str, StateRef]]:
    result: dict[str, dict[str, StateRef]] = collections.defaultdict(dict)
    for state in machine.states:
        result[state.scope.pointer].setdefault(state.name, state)
    return result


def _walkable(machine: Machine) -> list[tuple[Scope, dict[str, StateRef], set[str]]]:
    """(scope, its states by name, the names reachable from its StartAt) for every scope whose
    StartAt is one of its states (unknown-start-at reports the others); computed once."""
    if "walkable" not in machine.shared:
        scoped = _by_scope(machine)
        found: list[tuple[Scope, dict[str, StateRef], set[str]]] = []
        for scope in machine.scopes:
            by_name = scoped.get(scope.pointer, {})
            if isinstance(scope.start_at, str) and scope.start_at in by_name:
                found.append((scope, by_name, _reachable(scope, by_name)))
        machine.shared["walkable"] = found
    return machine.shared["walkable"]  # type: ignore[return-value]  # stored just above with this type


def unreachable_state(machine: Machine) -> Iterator[Diagnostic]:
    for scope, by_name, reachable in _walkable(machine):
        for name, state in by_name.items():
            if name not in reachable:
                yield finding("unreachable-state", f"state '{name}' is never reached from StartAt '{scope.start_at}'", state.pointer, name)


def _is_terminal(state: StateRef) -> bool:
    return state.type in _TERMINAL_TYPES or state.body.get("End") is True


def no_terminal_state(machine: Machine) -> Iterator[Diagnostic]:
    """Every scope must be able to end: some reachable state is Succeed, Fail or has End."""
    for scope, by_name, reachable in _walkable(machine):
        if not any(_is_terminal(by_name[name]) for name in reachable):
            where = "the state machine" if scope.kind == "machine" else f"a {scope.kind} of '{scope.owner}'"
            message = f"{where} can never end: no reachable state has \"End\": true or is a Succeed or Fail state"
            yield finding("no-terminal-state", message, f"{scope.pointer}/StartAt", scope.owner)


def next_and_end(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        if "Next" in state.body and "End" in state.body:
            yield finding("next-and-end", "a state cannot have both 'Next' and 'End'", state.at("End"), state.name)


def missing_next_or_end(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        if state.type in _NEEDS_NEXT_OR_END and "Next" not in state.body and "End" not in state.body:
            message = f"a {state.type} state needs 'Next' (the state to go to) or \"End\": true"
            yield finding("missing-next-or-end", message, state.pointer, state.name)


def duplicate_state_name(machine: Machine) -> Iterator[Diagnostic]:
    """ASL: state names are unique across the whole machine, nested branches included."""
    first: dict[str, StateRef] = {}
    for state in machine.states:
        if state.name in first:
            message = f"state name '{state.name}' is already used at {first[state.name].pointer}; names must be unique in the whole machine"
            yield finding("duplicate-state-name", message, state.pointer, state.name)
        else:
            first[state.name] = state


def state_name_too_long(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        if len(state.name) > MAX_STATE_NAME:
            message = f"state name is {len(state.name)} characters long; AWS allows at most {MAX_STATE_NAME}"
            yield finding("state-name-too-long", message, state.pointer, state.name)


GRAPH_RULES = {
    "unknown-start-at": unknown_start_at,
    "unknown-next-target": unknown_next_target,
    "transition-across-scope": transition_across_scope,
    "unreachable-state": unreachable_state,
    "no-terminal-state": no_terminal_state,
    "next-and-end": next_and_end,
    "missing-next-or-end": missing_next_or_end,
    "duplicate-state-name": duplicate_state_name,
    "state-name-too-long": state_name_too_long,
}
