"""The evaluation environment every compiled expression reads from.

A ``Scope`` is built by the interpreter for each evaluation: the state's effective input
(``$``), the context object (``$$``) and the workflow variables visible to the state
(``$name``). JSONata expressions additionally see ``$states.result`` / ``$states.errorOutput``
where AWS makes them available; those are passed as the optional fields below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from statemachine.values import JSON, MISSING, Missing


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    input: JSON
    context: JSON
    variables: Mapping[str, JSON] = dataclasses.field(default_factory=dict)
    result: JSON | Missing = MISSING
    error_output: JSON | Missing = MISSING
