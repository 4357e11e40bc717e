"""Interpreter stage: the state-handler table, built explicitly (no registration on import).

In: the handler coroutines of states.py, task.py and parallel.py. Out: ``HANDLERS``, a
read-only mapping ``state class -> handler``; ``Runtime`` uses it unless given another
table (a test or an embedder may pass its own, e.g. to wrap a handler).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from statemachine.interpreter import parallel, states, task
from statemachine.interpreter.execution import Handler
from statemachine.model import (
    ChoiceState,
    FailState,
    MapState,
    ParallelState,
    PassState,
    SucceedState,
    TaskState,
    WaitState,
)

__all__ = ["HANDLERS", "TABLE", "build_handlers"]


def build_handlers() -> dict[type, Handler]:
    """A fresh table with one handler per state type (a plain dict: the caller's to keep)."""
    return {
        PassState: states.run_pass,
        SucceedState: states.run_succeed,
        FailState: states.run_fail,
        ChoiceState: states.run_choice,
        WaitState: states.run_wait,
        TaskState: task.run_task,
        ParallelState: parallel.run_parallel,
        MapState: parallel.run_map,
    }


#: The default table, read-only (the Runtime looks handlers up in the dict behind it).
TABLE = build_handlers()
HANDLERS: Mapping[type, Handler] = MappingProxyType(TABLE)
