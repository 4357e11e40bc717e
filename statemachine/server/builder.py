"""Server stage, machine builder: how machines created through the API are loaded -- under
the operator's resource policy and resource map, with this server's activities -- for
CreateStateMachine's checks, for the in-process worker and for ``sm worker`` processes
started with the same policy flags.

In: a stored ``MachineRecord`` (or a definition text). Out: a ``StateMachine`` (cached per
machine version). Machines the operator started from files (``sm start``: the record has a
``source``) load as ``sm worker`` always loads them (statemachine.durable.worker.load_machine).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statemachine.server.activities import ActivityQueue

if TYPE_CHECKING:
    from statemachine.durable import MachineRecord
    from statemachine.durable.catalog import Catalog
    from statemachine.resources.registry import ResourceRegistry
    from statemachine.server.policy import ResourcePolicy

__all__ = ["MachineBuilder"]


class MachineBuilder:
    """Registry and loader for API machines (see the module docstring)."""

    def __init__(self, catalog: Catalog, policy: ResourcePolicy, resources: Path | None) -> None:
        self.policy = policy
        self.resources = resources
        self.activities = ActivityQueue(catalog)
        self._registry: ResourceRegistry | None = None
        self._built: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def registry(self) -> ResourceRegistry:
        """The policy's registry, the resource map on top, activity ARNs resolving to
        ``ActivityQueue``."""
        with self._lock:
            if self._registry is None:
                registry = self.policy.registry(self.resources)
                registry.register_resolver("arn:aws:states:", self.activities.resolve)
                self._registry = registry
            return self._registry

    def loader(self, record: MachineRecord) -> Any:
        """The worker's machine builder (``Worker(loader=...)``). Raises DefinitionError or
        ResourceNotFoundError (the worker fails the execution with States.Runtime)."""
        from statemachine.durable.worker import load_machine

        if record.source:
            return load_machine(record)
        key = (record.arn, record.version)
        found = self._built.get(key)
        if found is None:
            from statemachine.api import load

            # bytes, never str: load() reads a str naming an existing file from disk
            found = load(record.definition.encode("utf-8"), name=record.name,
                         machine_type=record.type, resources=self.registry())
            self._built[key] = found
        return found
