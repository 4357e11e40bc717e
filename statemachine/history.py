"""Interpreter output: the execution history, as small slotted events built on the hot path and
turned into AWS ``GetExecutionHistory`` dicts only when read.

An ``Event`` keeps Python values; ``to_dict()`` serialises payload fields (``input``,
``output``, ``parameters``) to JSON text and adds the ``...Details{truncated}`` siblings, the
way AWS shapes them: ``{"id", "previousEventId", "timestamp", "type", "<x>EventDetails": {...}}``.

Identity beyond AWS's fields: ``Event.path`` says which Parallel branch / Map iteration (or
Distributed Map child execution) the event belongs to, as ``((started_event_id, index), ...)``
outermost first; ``()`` for the top level. It is ours, so ``to_dict()`` leaves it out: the
AWS-shaped history and JSON output are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from statemachine.clock import to_datetime
from statemachine.values import JSON, dumps

__all__ = ["Event", "details_key", "to_json_text"]

#: Detail fields whose values are JSON payloads (serialised to text, with a ``<f>Details`` sibling).
_PAYLOAD_FIELDS = frozenset({"input", "output"})
_TEXT_FIELDS = frozenset({"parameters", "assignedVariables"})

_DETAILS_KEYS: dict[str, str] = {}


def details_key(event_type: str) -> str:
    """``PassStateEntered`` -> ``stateEnteredEventDetails``; ``TaskFailed`` -> ``taskFailedEventDetails``."""
    key = _DETAILS_KEYS.get(event_type)
    if key is None:
        if event_type.endswith("StateEntered"):
            key = "stateEnteredEventDetails"
        elif event_type.endswith("StateExited"):
            key = "stateExitedEventDetails"
        else:
            key = event_type[0].lower() + event_type[1:] + "EventDetails"
        _DETAILS_KEYS[event_type] = key
    return key


def to_json_text(value: JSON) -> str:
    """Compact JSON text as AWS prints payloads (no spaces, non-ASCII kept)."""
    return dumps(value, separators=(",", ":"), ensure_ascii=False)


class Event:
    """One history event. ``details`` holds Python values (payloads are not serialised yet);
    ``path`` the branch/iteration it belongs to (see the module docstring). ``Runtime.emit``
    builds one field by field (object.__new__ + the six slots): keep the two in step."""

    __slots__ = ("details", "id", "path", "previous_id", "timestamp", "type")

    def __init__(
        self, id: int, previous_id: int, timestamp: float, type: str, details: Mapping[str, Any] | None,
        path: tuple[tuple[int, int], ...] = (),
    ) -> None:
        self.id = id
        self.previous_id = previous_id
        self.timestamp = timestamp
        self.type = type
        self.details = details
        self.path = path

    @property
    def datetime(self) -> datetime:
        return to_datetime(self.timestamp)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "previousEventId": self.previous_id,
            "timestamp": self.datetime,
            "type": self.type,
        }
        if self.details is not None:
            out[details_key(self.type)] = _render(self.details)
        return out

    def __repr__(self) -> str:
        return f"Event({self.id}, {self.type!r})"


def _render(details: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in details.items():
        if key in _PAYLOAD_FIELDS:
            out[key] = to_json_text(value)
            out[key + "Details"] = {"truncated": False}
        elif key in _TEXT_FIELDS:
            out[key] = to_json_text(value) if key == "parameters" else {
                k: to_json_text(v) for k, v in value.items()
            }
            if key == "assignedVariables":
                out["assignedVariablesDetails"] = {"truncated": False}
        else:
            out[key] = value
    return out
