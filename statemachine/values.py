"""Shared value types: JSON values and the MISSING sentinel (presence is not truthiness)."""

from __future__ import annotations

import enum
from typing import Any, Final, TypeAlias

#: A JSON value as Python's json module reads it. Kept as ``Any`` inside the engine because
#: recursive aliases cost mypy more than they give here; public signatures name it ``JSON``.
JSON: TypeAlias = Any


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
