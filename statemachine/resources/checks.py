"""Resources stage, load-time checks: every Task state of a definition handed to the
``check_task`` of the handler its Resource resolves to (``base.TaskChecker``), so a handler can
refuse at load time what it would refuse to run (the shell resource: a command taken from data).

In: the loaded ``SourceDocument`` and a lookup from Resource string to handler. Out: the
handlers' Diagnostics with line and column filled in. ``load()`` raises DefinitionError when
one is an error; ``sm validate --resources`` prints them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Literal

from statemachine.resources.base import TaskChecker, TaskDefinition
from statemachine.values import JSON

if TYPE_CHECKING:
    from statemachine.errors import Diagnostic
    from statemachine.loader import SourceDocument

Language = Literal["JSONPath", "JSONata"]


def _token(key: str | int) -> str:
    return "/" + str(key).replace("~", "~0").replace("/", "~1")


def task_definitions(data: Mapping[str, JSON], pointer: str = "",
                     language: Language | None = None) -> Iterator[TaskDefinition]:
    """Every Task state in ``data`` (a machine, branch or item processor), depth first."""
    own = data.get("QueryLanguage")
    machine_language: Language = language or ("JSONata" if own == "JSONata" else "JSONPath")
    states = data.get("States")
    for name, body in (states.items() if isinstance(states, dict) else ()):
        if not isinstance(body, dict):
            continue
        at = pointer + _token("States") + _token(name)
        state_language = body.get("QueryLanguage", machine_language)
        effective: Language = "JSONata" if state_language == "JSONata" else "JSONPath"
        resource = body.get("Resource")
        if body.get("Type") == "Task" and isinstance(resource, str):
            yield TaskDefinition(str(name), resource, body, at, effective)
        yield from _children(body, at, machine_language)


def _children(body: Mapping[str, JSON], at: str, language: Language) -> Iterator[TaskDefinition]:
    branches = body.get("Branches")
    for index, branch in enumerate(branches if isinstance(branches, list) else ()):
        if isinstance(branch, dict):
            yield from task_definitions(branch, at + _token("Branches") + _token(index), language)
    for field in ("ItemProcessor", "Iterator"):
        processor = body.get(field)
        if isinstance(processor, dict):
            yield from task_definitions(processor, at + _token(field), language)


def check_tasks(doc: SourceDocument, handler_for: Callable[[str], object | None]) -> list[Diagnostic]:
    """The Diagnostics of every Task whose handler is a TaskChecker, positions filled in."""
    import dataclasses

    if not isinstance(doc.data, dict):
        return []
    found: list[Diagnostic] = []
    for task in task_definitions(doc.data):
        handler = handler_for(task.resource)
        if isinstance(handler, TaskChecker):
            for diagnostic in handler.check_task(task):
                line, column = doc.position(diagnostic.pointer)
                found.append(dataclasses.replace(diagnostic, line=line, column=column))
    return found
