"""statemachine-asl: validate, compile and run Amazon States Language state machines.

The public API (pinned by tests/unit/test_public_api.py)::

    machine = statemachine.load("flow.yaml")          # path, YAML/JSON text or a dict
    execution = machine.run({"x": 1})                  # or: await machine.run_async(...)
    execution.status, execution.output, execution.error, execution.cause, execution.history
"""

from typing import TYPE_CHECKING

from statemachine.errors import (
    DefinitionError,
    Diagnostic,
    ExecutionError,
    ResourceNotFoundError,
    StateMachineError,
    StatesError,
)

if TYPE_CHECKING:
    from statemachine.api import Execution, StateMachine, load

__version__ = "0.1.0"

_LAZY = frozenset({"Execution", "StateMachine", "load"})


def __getattr__(name: str) -> object:
    # PEP 562: the runtime (asyncio, interpreter, compiler) is imported on first use, so that
    # `sm --help`, `sm graph` and `sm validate` start without it (CLI start-up budget).
    if name in _LAZY:
        from statemachine import api

        return getattr(api, name)
    raise AttributeError(f"module 'statemachine' has no attribute {name!r}")


__all__ = [
    "DefinitionError",
    "Diagnostic",
    "Execution",
    "ExecutionError",
    "ResourceNotFoundError",
    "StateMachine",
    "StateMachineError",
    "StatesError",
    "__version__",
    "load",
]
