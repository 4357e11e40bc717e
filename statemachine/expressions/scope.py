"""The evaluation environment every compiled expression reads from.

A ``Scope`` is built by the interpreter for each evaluation: the state's effective input
(``$``), the context object (``$$``) and the workflow variables visible to the state
(``$name``). JSONata expressions additionally see ``$states.result`` / ``$states.errorOutput``
where AWS makes them available; those are passed as the optional fields below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statemachine.values import JSON, MISSING, Missing


class Scope:
    """``Scope(input, context, variables={}, result=MISSING, error_output=MISSING)``:
    read-only by convention (nothing assigns to a scope after building it). A plain slotted
    class, not a frozen dataclass: one is built per evaluation (several per state), and a
    frozen dataclass's ``__init__`` pays one ``object.__setattr__`` per field."""

    __slots__ = ("context", "error_output", "input", "result", "variables")

    input: JSON
    context: JSON
    variables: Mapping[str, JSON]
    result: JSON | Missing
    error_output: JSON | Missing

    def __init__(self, input: JSON, context: JSON, variables: Mapping[str, JSON] | None = None,
                 result: JSON | Missing = MISSING, error_output: JSON | Missing = MISSING) -> None:
        self.input = input
        self.context = context
        self.variables = {} if variables is None else variables
        self.result = result
        self.error_output = error_output

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scope):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__: Any = None  # mutable members (dicts): unhashable, as the dataclass was

    def __repr__(self) -> str:
        return (f"Scope(input={self.input!r}, context={self.context!r}, variables={self.variables!r}, "
                f"result={self.result!r}, error_output={self.error_output!r})")
