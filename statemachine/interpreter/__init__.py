"""Interpreter stage: runs compiled machines. ``handlers.HANDLERS`` is the state-handler table
(one handler per state type, built explicitly); ``execute`` (lifecycle.py) runs one
execution, ``execution.run_machine`` / ``run_state`` the states of a (nested) machine."""

from statemachine.interpreter.handlers import HANDLERS
from statemachine.interpreter.lifecycle import execute

__all__ = ["HANDLERS", "execute"]
