"""The SQL stores' event segments (statemachine/durable/_events.py), on SQLite and PostgreSQL:
events appended as the runner appends them (values, one encoding per segment) read back as
the same values, and as the body text one ``json.dumps`` per event gave -- with the stdlib's
encoder and with orjson (the ``fast`` extra), which hands back to the stdlib what it cannot
write identically (NaN and infinities, ints beyond 64 bits, nesting past 254 levels, ...).
"""

from __future__ import annotations

import collections
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from statemachine.durable import DurableStore, ExecutionRecord

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
RUN = "arn:aws:states:us-east-1:123456789012:execution:Flow:run"
Pair = collections.namedtuple("Pair", "a b")


def _deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


#: detail values JSON's two encoders write differently, or only one of them writes
ODD: list[Any] = [
    {"nan": math.nan, "inf": math.inf, "minus": -math.inf},
    {"big": 2**70, "small": -(2**64), "edge": 2**63},
    {"null": None, "text": "null", "list": [None, 1]},
    {"zero": -0.0, "tiny": 1e-7, "huge": 1e16, "third": 1 / 3},
    {"text": "caf\u00e9 \u2028 \"q\" \\ \x01 \U0001f600"},
    {"deep": _deep(300)},
    {"pair": Pair(1, [2])},
    None,
]


def _same(left: Any, right: Any) -> bool:
    """Equal JSON values, NaN equal to NaN and -0.0 told from 0.0 (through repr)."""
    return repr(left) == repr(right)


def test_engine_events_read_back_as_their_values_and_their_body_text(
        store: DurableStore, encoder: str) -> None:
    assert hasattr(store, "append_rows"), "the SQL stores take the runner's rows"
    store.create_execution(ExecutionRecord(RUN, "run", "m", "v", "{}", T0), ready=False)
    # one append (so one segment) per odd value, between plain ones; then 600 plain events
    # in one append (three segments of up to 256)
    plain = {"name": "S", "input": {"k": [1, "v"]}}
    details = [each for value in ODD for each in (plain, value, plain)] + [plain] * 600
    stamps = [T0 + timedelta(microseconds=n) for n in range(len(details))]
    rows = [(f"Type{n}", (stamps[n] - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1),
             n, value, [[n, 0]] if n % 2 else ()) for n, value in enumerate(details)]
    for start in [*range(0, 3 * len(ODD), 3), 3 * len(ODD)]:
        end = start + 3 if start < 3 * len(ODD) else len(rows)
        assert store.append_rows(RUN, rows[start:end], after=start) == end  # type: ignore[attr-defined]

    loaded = store.history_values(RUN)  # type: ignore[attr-defined]
    assert [v[0] for v in loaded] == list(range(1, len(details) + 1))
    for (id, type, micros, previous, value, path, body), n in zip(loaded, range(len(details)),
                                                                   strict=True):
        assert (id, type, micros, previous, body) == (n + 1, f"Type{n}", rows[n][1], n, None)
        assert _same(value, json.loads(json.dumps(details[n])))
        assert list(map(list, path)) == ([[n, 0]] if n % 2 else [])

    records = store.history(RUN)
    for record, n in zip(records, range(len(details)), strict=True):
        assert record.timestamp == stamps[n]
        body: dict[str, Any] = {"previousEventId": n}
        if details[n] is not None:
            body["details"] = details[n]
        if n % 2:
            body["smPath"] = [[n, 0]]
        assert record.body == json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    assert store.history(RUN, after=300, limit=2) == records[300:302]
