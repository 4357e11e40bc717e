"""statemachine-asl: validate, compile and run Amazon States Language state machines.

The public API (pinned by tests/unit/test_public_api.py)::

    machine = statemachine.load("flow.yaml")          # path, YAML/JSON text or a dict
    execution = machine.run({"x": 1})                  # or: await machine.run_async(...)
    execution.status, execution.output, execution.error, execution.cause, execution.history
"""

from statemachine.api import Execution, StateMachine, load
from statemachine.errors import (
    DefinitionError,
    Diagnostic,
    ExecutionError,
    ResourceNotFoundError,
    StateMachineError,
    StatesError,
)

__version__ = "0.1.0"

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
