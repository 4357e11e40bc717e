"""Shared value types: JSON values and the MISSING sentinel (presence is not truthiness)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias, Union

#: A JSON value as Python's json module reads it. Kept as ``Any`` inside the engine because
#: recursive aliases cost mypy more than they give there; the public API names the precise
#: types below.
JSON: TypeAlias = Any

#: A JSON value the engine gives back (an execution's output, a history event's fields):
#: what ``json.loads`` returns. Narrow it before indexing (``isinstance(out, dict)``).
JSONValue: TypeAlias = Union[dict[str, "JSONValue"], list["JSONValue"], str, int, float, bool, None]  # noqa: UP007 - a string forward reference cannot use |

#: A JSON value the engine accepts (an execution input, a task result): any mapping with
#: string keys and any sequence will do (read-only, so ``dict[str, int]`` fits).
JSONInput: TypeAlias = Union[Mapping[str, "JSONInput"], Sequence["JSONInput"], str, int, float, bool, None]  # noqa: UP007 - as above

#: An execution's status, spelled as AWS's DescribeExecution spells it.
ExecutionStatus: TypeAlias = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]

#: A state machine's type (AWS's CreateStateMachine ``type``).
MachineType: TypeAlias = Literal["STANDARD", "EXPRESS"]


class _Missing(enum.Enum):
    """A single-member enum so that ``MISSING`` is a typed, picklable singleton."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:  # pragma: no cover - guard against truthiness checks
        raise TypeError("MISSING has no truth value; compare with `is MISSING`")


#: Marks an absent optional field or an undefined value (a JSONata expression that returned
#: nothing). ``Result: 0`` or ``Result: null`` are real values and never MISSING.
MISSING: Final = _Missing.MISSING
Missing: TypeAlias = _Missing
