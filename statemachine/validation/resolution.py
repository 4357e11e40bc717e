"""Stage 2, validation (resources): which Task resources a resource registry cannot run here.
In: a loaded ``SourceDocument`` and a registry (anything with ``resolve(resource)`` that raises
``ResourceNotFoundError``). Out: one ``unresolved-resource`` Diagnostic per state whose Resource
resolves to no handler, all of them at once, each with its pointer, line and column.

The resources are those ``load()`` resolves: every Task's Resource, and a Distributed Map's
ItemReader/ResultWriter Resource, in any branch or item processor. The registry is passed in,
so this module imports nothing of the runtime.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Protocol

from statemachine.errors import Diagnostic, ResourceNotFoundError
from statemachine.loader import SourceDocument
from statemachine.validation.walk import finding, walk

__all__ = ["Resolver", "resource_fields", "unresolved_resources"]


class Resolver(Protocol):
    """The part of ``ResourceRegistry`` used here."""

    def resolve(self, resource: str) -> object: ...


def resource_fields(data: Mapping[str, object]) -> Iterator[tuple[str, str, str]]:
    """(pointer, state name, resource) of every resource ``load()`` resolves, in document order."""
    for state in walk(data).states:
        resource = state.body.get("Resource")
        if state.type == "Task" and isinstance(resource, str):
            yield state.at("Resource"), state.name, resource
        if state.type == "Map":
            for field in ("ItemReader", "ResultWriter"):
                holder = state.body.get(field)
                if isinstance(holder, Mapping) and isinstance(holder.get("Resource"), str):
                    yield state.at(field, "Resource"), state.name, holder["Resource"]


def unresolved_resources(doc: SourceDocument, registry: Resolver) -> list[Diagnostic]:
    """An ``unresolved-resource`` error for each resource ``registry`` cannot resolve.

    The message is the registry's own (it lists what is registered). ``doc.data`` must be a
    mapping (a loaded definition); positions come from ``doc``'s source map.
    """
    if not isinstance(doc.data, Mapping):
        return []
    found = []
    for pointer, state, resource in resource_fields(doc.data):
        try:
            registry.resolve(resource)
        except ResourceNotFoundError as exc:
            line, column = doc.position(pointer)
            diagnostic = finding("unresolved-resource", str(exc), pointer, state)
            found.append(dataclasses.replace(diagnostic, line=line, column=column, file=doc.path))
    return found
