"""statemachine-asl: validate, compile and run Amazon States Language state machines.

The public API, pinned by tests/unit/test_public_api.py (``__all__`` is exactly what this
module exports)::

    machine = statemachine.load("flow.yaml")          # path, YAML/JSON text or a dict
    execution = machine.run({"x": 1})                  # or: await machine.run_async(...)
    execution.status, execution.output, execution.error, execution.cause, execution.history

Extension points and test doubles: ``ResourceRegistry`` / ``ResourceHandler`` /
``TaskRequest`` (Task resources), ``MockResource`` (scripted answers), ``Clock`` /
``VirtualClock`` / ``SystemClock`` (time), ``ExecutionStore`` / ``MemoryStore`` /
``SqliteStore`` (where executions and events go), ``HandlerThreads`` (the worker threads
blocking handlers run on), ``LoggingConfiguration`` and ``Telemetry`` (execution logs like
AWS's CloudWatch log events; OpenTelemetry traces and metrics, the ``otel`` extra). Types:
``JSONValue`` (what comes out), ``JSONInput`` (what goes in), ``ExecutionStatus``,
``MachineType``.
"""

import typing

from statemachine.errors import (
    DefinitionError,
    Diagnostic,
    ExecutionError,
    ResourceNotFoundError,
    StateMachineError,
    StatesError,
)
from statemachine.values import ExecutionStatus, InvalidJsonError, JSONInput, JSONValue, MachineType

if typing.TYPE_CHECKING:
    from statemachine.api import Execution, RunOptions, StateMachine, load
    from statemachine.clock import Clock, SystemClock, VirtualClock
    from statemachine.logs import LoggingConfiguration
    from statemachine.resources.base import ResourceHandler, TaskRequest
    from statemachine.resources.mock import MockError, MockResource
    from statemachine.resources.python import TaskContext
    from statemachine.resources.registry import ResourceRegistry
    from statemachine.resources.threads import HandlerThreads
    from statemachine.store import ExecutionStore, MemoryStore, SqliteStore
    from statemachine.telemetry import Telemetry

__version__ = "0.1.0"

#: name -> module of the names imported on first use (PEP 562): the runtime (asyncio, the
#: interpreter, the compiler, the resources) stays unloaded for `sm --help`, `sm graph` and
#: `sm validate` (CLI start-up budget).
_LAZY: typing.Final = {
    "Execution": "statemachine.api",
    "RunOptions": "statemachine.api",
    "StateMachine": "statemachine.api",
    "load": "statemachine.api",
    "Clock": "statemachine.clock",
    "SystemClock": "statemachine.clock",
    "VirtualClock": "statemachine.clock",
    "ResourceHandler": "statemachine.resources.base",
    "ResourceRegistry": "statemachine.resources.registry",
    "TaskRequest": "statemachine.resources.base",
    "MockError": "statemachine.resources.mock",
    "MockResource": "statemachine.resources.mock",
    "TaskContext": "statemachine.resources.python",
    "HandlerThreads": "statemachine.resources.threads",
    "LoggingConfiguration": "statemachine.logs",
    "Telemetry": "statemachine.telemetry",
    "ExecutionStore": "statemachine.store",
    "MemoryStore": "statemachine.store",
    "SqliteStore": "statemachine.store",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'statemachine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Clock",
    "DefinitionError",
    "Diagnostic",
    "Execution",
    "ExecutionError",
    "ExecutionStatus",
    "ExecutionStore",
    "HandlerThreads",
    "InvalidJsonError",
    "JSONInput",
    "JSONValue",
    "LoggingConfiguration",
    "MachineType",
    "MemoryStore",
    "MockError",
    "MockResource",
    "ResourceHandler",
    "ResourceNotFoundError",
    "ResourceRegistry",
    "RunOptions",
    "SqliteStore",
    "StateMachine",
    "StateMachineError",
    "StatesError",
    "SystemClock",
    "TaskContext",
    "TaskRequest",
    "Telemetry",
    "VirtualClock",
    "__version__",
    "load",
]
