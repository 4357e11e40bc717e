"""Durable store, event log format: events stored in segments, one row per batch.

In: events to append, as entries (below). Out: segment rows ``(first_id, last_id, text)``
for the ``event_segments`` table, and, when read back, ``EventRecord``s (the contract) or
``EventValues`` (the runner's replay and AWS's history shape, without a JSON text per event).

A segment holds consecutive events of one execution, ids ``first_id..last_id``, as ONE JSON
text: an array with an entry per event, in id order. An entry is one of:

- ``[type, ts_us, previousEventId, details, path]``: an event the engine recorded
  (``details`` its detail values or null; ``path`` its branch path, ``[]`` at the top level).
  Its ``EventRecord.body`` is the text ``event_body`` makes of them, so it reads back exactly
  as the per-event bodies of schema version 5 did;
- ``[type, ts_us, body]``: an event given as an ``EventRecord`` (``append``,
  ``create_execution``): ``body`` is its JSON text, kept verbatim as a JSON string.

``ts_us`` is microseconds since the Unix epoch (UTC), as in every table. One commit of n
events writes ceil(n / ``SEGMENT_EVENTS``) rows, each encoded by one encoder call
(``encode``: orjson with the ``fast`` extra, else json's C encoder): no JSON text and no row
per event (issue 12: half the CPU of a durable inline Map run went to one encoder call and
one INSERT per event). ``SEGMENT_EVENTS`` bounds what a paged read (``history(after,
limit)``) decodes beyond what it returns, and a row's size. A text that is not JSON, or an
entry of another shape, is a bug (ValueError/IndexError), never a workflow error.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeAlias

from statemachine.durable._rows import from_us
from statemachine.durable.contract import EventRecord

#: The key of an event body that holds the branch path (ours; not in AWS's shape).
PATH_KEY: Final = "smPath"
#: The key of an event body that holds the details, as JSON values.
DETAILS_KEY: Final = "details"
#: The most events one segment row holds.
SEGMENT_EVENTS: Final = 256

#: An entry of a segment, as written: ``(type, ts_us, previous id, details, path)`` for an
#: engine event, ``(type, ts_us, body text)`` for an ``EventRecord``.
Entry: TypeAlias = Sequence[Any]
#: An event as read for replay: ``(id, type, ts_us, previous id, details or None, path as
#: a list of ``[started id, index]`` pairs, body)`` -- ``body`` the parsed JSON object of
#: an event given as text (engine keys beyond these, such as ``smTrace``), else None.
EventValues: TypeAlias = tuple[int, str, int, int, Any, Any, "Mapping[str, Any] | None"]

def _encoder() -> Callable[[Any], str]:
    """Compact JSON text, non-ASCII kept: ``json.JSONEncoder(separators=(",", ":"),
    ensure_ascii=False).encode``, through json's C encoder made once (``encode`` makes one
    per call)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - Pythons without json's C accelerator
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    default = json.JSONEncoder().default  # TypeError for what JSON cannot hold
    encode = make(None, default, json.encoder.encode_basestring, None, ":", ",", False, False, True)

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


#: ``_encoder()``: compact JSON text of a value (TypeError for what JSON cannot hold).
DUMPS = _encoder()


def event_body(previous: int, details: Any, path: Sequence[Any]) -> str:
    """The JSON text of an engine event's body: ``previousEventId``, the details under
    ``DETAILS_KEY`` when there are any, the branch path under ``PATH_KEY`` when it has one."""
    body: dict[str, Any] = {"previousEventId": previous}
    if details is not None:
        body[DETAILS_KEY] = details
    if path:
        body[PATH_KEY] = path
    return DUMPS(body)


def started_body(input_text: str, role_arn: str) -> str:
    """``event_body(0, {"input": input, "roleArn": role_arn}, ())`` for an ExecutionStarted
    whose input is already JSON text (``compact(input)``, the execution's stored input): the
    text spliced in, not encoded a second time."""
    return "".join(('{"previousEventId":0,"', DETAILS_KEY, '":{"input":', input_text,
                    ',"roleArn":', compact(role_arn), "}}"))


_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """``text``, a JSON text, as one a database can hold: a lone UTF-16 surrogate (which a
    JSON definition or a handler's str may carry into a value; no UTF-8 text holds one) is
    written as its ``\\uXXXX`` escape, which reads back as the same str. Other texts are
    returned as they are (the check: ``str.isascii``, then one UTF-8 encoding)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


#: orjson's ``dumps`` once looked up (False: not installed; None: not looked up yet)
_fast: Any = None


def _orjson() -> Any:
    """orjson's ``dumps`` when the ``fast`` extra is installed, else False (looked up once,
    on the first segment, so the store imports nothing it does not use)."""
    global _fast
    try:
        import orjson
    except ImportError:
        _fast = False
    else:  # datetimes and dataclasses: TypeError, as the stdlib (then it raises it too)
        _fast = functools.partial(orjson.dumps, option=orjson.OPT_PASSTHROUGH_DATETIME
                                  | orjson.OPT_PASSTHROUGH_DATACLASS)
    return _fast


def encode(chunk: Sequence[Entry]) -> str:
    """The JSON text of a segment's entries: ``DUMPS``'s, or, with orjson installed (the
    ``fast`` extra; ~7x faster on history events), orjson's when it holds the same values.
    orjson refuses (TypeError) what the stdlib writes otherwise -- ints beyond 64 bits,
    non-string keys, nesting past 254 levels, lone surrogates, float and tuple subclasses
    -- and writes NaN and infinities as ``null``, so a text with a ``null`` that no entry
    without details accounts for is made again by the stdlib. The two texts may spell a
    float differently (``1e16``, ``1e+16``); both read back as the same float. The stdlib's
    text goes through ``storable`` (a lone surrogate escaped)."""
    text = _orjson_text(chunk)
    if text is not None:
        nulls = text.count(b"null")
        if not nulls or nulls == sum(1 for e in chunk if len(e) == 5 and e[3] is None):
            return text.decode()
    return storable(DUMPS(chunk))


def _orjson_text(value: Any) -> bytes | None:
    """orjson's text of ``value``, or None: orjson is not installed or refuses the value
    (TypeError: see ``encode``), so the stdlib's text is the one."""
    fast = _fast if _fast is not None else _orjson()
    if not fast:
        return None
    try:
        text: bytes = fast(value)
    except TypeError:
        return None
    return text


#: The exponent of a float orjson writes with one digit where the stdlib (``repr``) writes
#: two (``1e-7``: ``1e-07``), when a digit comes before it (``_own_spelling``).
_SHORT_EXPONENT: Final = re.compile(rb"e-\d(?!\d)")


def _own_spelling(text: bytes) -> bool:
    """Whether orjson's ``text`` may hold a float it spells otherwise than the stdlib: a
    one-digit negative exponent, or a float below 1e-4 without exponent (``0.00005``:
    ``5e-05``). Now and then a string holds the same characters: that text is then the
    stdlib's, as it would be anyway. Substring scans, each under 1 us per KiB of text (a
    regular expression that starts with a digit class scans ten times slower)."""
    if b"0.0000" in text:
        return True
    if b"e-" not in text:
        return False
    return any(text[m.start() - 1:m.start()].isdigit() for m in _SHORT_EXPONENT.finditer(text))


def compact(value: Any) -> str:
    """The JSON text of one value as the store keeps an execution's input and output: that
    of ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``, character for
    character (DescribeExecution gives it as it is, beside GetExecutionHistory's text of the
    same value), through orjson when the ``fast`` extra is installed -- the stdlib's for what
    orjson refuses, for a text with a ``null`` (which may be a NaN orjson wrote so) and for
    one with a float orjson spells its own way (``_own_spelling``) -- a lone surrogate
    escaped (``storable``). Raises TypeError for what JSON cannot hold."""
    text = _orjson_text(value)
    if text is not None and b"null" not in text and not _own_spelling(text):
        return text.decode()
    return storable(DUMPS(value))


def segments(entries: Sequence[Entry], after: int) -> list[tuple[int, int, str]]:
    """``(first_id, last_id, text)`` rows holding ``entries`` as ids ``after+1, ...``."""
    rows = []
    for start in range(0, len(entries), SEGMENT_EVENTS):
        chunk = entries[start:start + SEGMENT_EVENTS]
        rows.append((after + start + 1, after + start + len(chunk), encode(chunk)))
    return rows


def decode(rows: Iterable[Sequence[Any]], after: int, limit: int | None
           ) -> Iterator[tuple[int, list[Any]]]:
    """``(id, entry)`` of the events with id > ``after`` in segment rows ``(first_id, text)``
    read in id order, at most ``limit``."""
    left = -1 if limit is None else limit
    for first, text in rows:
        entries = json.loads(text)
        skip = max(0, after + 1 - first)
        for offset in range(skip, len(entries)):
            if left == 0:
                return
            left -= 1
            yield first + offset, entries[offset]


def record(id: int, entry: list[Any]) -> EventRecord:
    """The ``EventRecord`` of a stored entry (see the module docstring)."""
    if len(entry) == 3:
        return EventRecord(id, entry[0], from_us(entry[1]), entry[2])
    return EventRecord(id, entry[0], from_us(entry[1]), event_body(entry[2], entry[3], entry[4]))


def values(id: int, entry: list[Any]) -> EventValues:
    """The ``EventValues`` of a stored entry."""
    if len(entry) == 3:
        return record_values(id, entry[0], entry[1], entry[2])
    return (id, entry[0], entry[1], entry[2], entry[3], entry[4], None)


def record_values(id: int, type: str, ts_us: int, body: str) -> EventValues:
    """The ``EventValues`` of an event whose body is JSON text (an object; any other
    JSON value reads as an empty one)."""
    parsed = json.loads(body)
    if not isinstance(parsed, dict):
        parsed = {}
    return (id, type, ts_us, parsed.get("previousEventId", 0), parsed.get(DETAILS_KEY),
            parsed.get(PATH_KEY) or [], parsed)
