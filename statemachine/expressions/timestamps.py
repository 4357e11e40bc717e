"""Expressions stage (sub-language): the one timestamp grammar of ASL, used by validation,
the compiler (Choice ``Timestamp*`` operands, Wait ``Timestamp``) and the runtime
(``TimestampPath`` values, ``IsTimestamp``, Choice comparisons) alike.

ASL (Choice and Wait docs): RFC 3339 with an upper-case ``T`` between date and time and an
upper-case ``Z`` unless a numeric ``+hh:mm``/``-hh:mm`` offset is given. AWS parses with
java.time (ISO-8601 extended offset date-time), hence a fraction of 1-9 digits, an offset of
at most +-18:00, a real calendar date and no leap second (second 60 is refused).
CreateStateMachine refuses a literal that breaks this with "String does not match RFC3339
timestamp" (corpus ``test_wait_timestamp_invalid[*]``).
"""

from __future__ import annotations

import datetime
import functools
import re

__all__ = ["INVALID_TIMESTAMP", "is_timestamp", "parse_timestamp"]

#: AWS's schema message for a literal that is no timestamp (CreateStateMachine).
INVALID_TIMESTAMP = "String does not match RFC3339 timestamp"

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_EPOCH = datetime.datetime(1970, 1, 1)


@functools.lru_cache(maxsize=4096)
def parse_timestamp(text: str) -> int | None:
    """Nanoseconds since the epoch (an int) for an ASL timestamp string, None when it is not one."""
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    try:
        local = datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:  # month 13, February 30, hour 24, second 60 ...
        return None
    offset = 0
    if m.group(8) is not None:
        off_h, off_m = int(m.group(9)), int(m.group(10))
        if off_m > 59 or off_h * 60 + off_m > 18 * 60:  # java.time's ZoneOffset range
            return None
        offset = (off_h * 3600 + off_m * 60) * (1 if m.group(8) == "+" else -1)
    delta = local - _EPOCH
    seconds = delta.days * 86400 + delta.seconds - offset
    return seconds * 1_000_000_000 + int((m.group(7) or "").ljust(9, "0"))


def is_timestamp(value: object) -> bool:
    """Is ``value`` a string in the ASL timestamp grammar (what ``IsTimestamp`` tests)?"""
    return isinstance(value, str) and parse_timestamp(value) is not None
