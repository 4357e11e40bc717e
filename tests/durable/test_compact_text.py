"""An execution's input and output texts (``_events.compact``: DescribeExecution's ``input``
and ``output``) are the stdlib's text, with orjson (the ``fast`` extra) as without it: the
same text GetExecutionHistory and an in-memory run give. orjson spells some floats its own
way (``1e-7`` for ``1e-07``, ``0.00005`` for ``5e-05``); those go to the stdlib."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from statemachine.durable import SqliteStore
from statemachine.durable._events import compact
from statemachine.service import Service

ROOT = Path(__file__).resolve().parents[2]

#: values whose texts orjson and the stdlib may write differently
VALUES: list[Any] = [
    {"tiny": 1e-7, "small": 5e-05, "edge": 1e-05, "less": 0.0001, "huge": 1e16, "zero": -0.0},
    [1e-300, 5e-324, 1.5e-10, 0.00005228353801988957, 1.2345678901234568e20, 1 / 3],
    {"text": "caf\u00e9 \u2028 \"q\" \\ \x01 \U0001f600 1e-7 0.00001", "n": None, "u64": 2**64 - 1},
    {"big": 2**70, "tiny": 1e-7},
]


def _stdlib(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("value", VALUES)
def test_compact_is_the_stdlibs_text(value: Any, encoder: str) -> None:
    assert compact(value) == _stdlib(value)


def test_compact_spells_every_float_as_the_stdlib(encoder: str) -> None:
    draw = random.Random(7)
    floats = [struct.unpack("d", draw.getrandbits(64).to_bytes(8, "little"))[0]
              for _ in range(2000)]
    floats += [draw.uniform(-10, 10) * 10.0 ** draw.randint(-30, 30) for _ in range(2000)]
    floats = [f for f in floats if f == f and abs(f) != float("inf")]
    assert compact(floats) == _stdlib(floats)


def test_describe_and_history_give_the_same_input_text(tmp_path: Path, encoder: str) -> None:
    value = {"name": "x", "tiny": 1e-7, "small": 5e-05}
    with Service(SqliteStore(tmp_path / "executions.db")) as service:
        arn = service.start(ROOT / "definitions" / "hello.yaml", value)["executionArn"]
        described = service.describe(arn)["input"]
        started = service.history(arn)[0]["executionStartedEventDetails"]["input"]
    assert described == started == _stdlib(value)


@pytest.mark.parametrize("value", VALUES)
def test_a_started_body_spliced_from_the_input_text_is_the_encoded_one(value: Any,
                                                                      encoder: str) -> None:
    from statemachine.durable._events import event_body, started_body

    role = "arn:aws:iam::123456789012:role/caf\u00e9"
    assert started_body(compact(value), role) == event_body(0, {"input": value, "roleArn": role}, ())
