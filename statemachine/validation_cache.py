"""Validation stage, remembered: a record of definitions that passed validation unchanged.

`sm run` validates the definition on every start, and the JSON Schema pass (importing
jsonschema and building its validator) is most of a cold start. A definition whose exact
content was already found valid by this exact validator need not be checked again, the way a
compiler keeps bytecode: the key is a hash of the definition's canonical JSON, the machine
type, the package version and the modification times of the schemas and the validation rules,
so a change to any of them misses the record. Only clean verdicts (no diagnostics at all) are
recorded; a definition with errors or warnings is validated, and reported, every time.

The records are empty files under ``$SM_CACHE_DIR`` (default
``$XDG_CACHE_HOME/statemachine-asl/validated`` or ``~/.cache/...``); ``SM_NO_CACHE=1`` turns
the record off. Failing to read or write it is never an error: it only costs the time.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path

from statemachine.values import JSON

__all__ = ["cache_dir", "is_known_valid", "remember_valid"]

_PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path | None:
    """Where records live, or None when caching is switched off."""
    if os.environ.get("SM_NO_CACHE", "") not in ("", "0"):
        return None
    explicit = os.environ.get("SM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "statemachine-asl" / "validated"


@cache
def _validator_stamp() -> str:
    """Version plus the newest mtime of the files that decide validity."""
    from statemachine import __version__

    roots = [_PACKAGE / "validation"]
    schemas = _PACKAGE / "schemas"  # installed wheel layout
    roots.append(schemas if schemas.is_dir() else _PACKAGE.parent / "schemas")
    newest = 0
    for root in roots:
        try:
            for entry in os.scandir(root):
                if entry.name.endswith((".py", ".json")):
                    newest = max(newest, entry.stat().st_mtime_ns)
        except OSError:
            continue
    return f"{__version__}:{newest}"


def _record(definition: JSON, machine_type: str) -> Path | None:
    directory = cache_dir()
    if directory is None:
        return None
    try:
        text = json.dumps(definition, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256(f"{_validator_stamp()}\0{machine_type}\0{text}".encode()).hexdigest()
    return directory / digest[:2] / digest[2:]


def is_known_valid(definition: JSON, machine_type: str = "STANDARD") -> bool:
    """True when this exact definition passed this exact validator before."""
    record = _record(definition, machine_type)
    return record is not None and record.is_file()


def remember_valid(definition: JSON, machine_type: str = "STANDARD") -> None:
    """Record a clean verdict (call only when validation found nothing at all)."""
    record = _record(definition, machine_type)
    if record is None:
        return
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.touch()
    except OSError:
        pass
