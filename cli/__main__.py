"""``python -m statemachine.cli``: the same as the ``sm`` command."""

from .main import entry

entry()
