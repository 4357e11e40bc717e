"""Interpreter stage: runs compiled machines. ``handlers.HANDLERS`` is the state-handler table
(one handler per state type, built explicitly); ``execute`` runs one execution."""

from statemachine.interpreter.execution import execute
from statemachine.interpreter.handlers import HANDLERS

__all__ = ["HANDLERS", "execute"]
