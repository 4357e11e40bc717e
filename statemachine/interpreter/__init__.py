"""Interpreter stage: runs compiled machines. Importing the package registers every state
handler in ``execution.HANDLERS`` (one handler per state type, a table, no hierarchy)."""

from statemachine.interpreter import parallel, states, task  # noqa: F401  (handler registration)
from statemachine.interpreter.execution import HANDLERS, execute

__all__ = ["HANDLERS", "execute"]
