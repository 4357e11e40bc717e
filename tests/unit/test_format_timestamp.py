"""clock.format_timestamp keeps the last second's text: it must give exactly what formatting
``datetime.fromtimestamp`` gives (AWS's ``2024-01-31T12:00:00.123Z``), for any epoch."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from statemachine.clock import format_timestamp


def _reference(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@given(st.floats(min_value=-2e9, max_value=4e9, allow_nan=False) | st.integers(0, 2**32).map(float))
@settings(max_examples=2000, deadline=None)
@example(1767225599.9999995)  # rounds up into the next second (and day)
@example(1767225600.0000004)
@example(-0.0000005)
@example(1700000000.9995)
def test_same_text_as_datetime(epoch: float) -> None:
    assert format_timestamp(epoch) == _reference(epoch)


def test_alternating_seconds_do_not_mix() -> None:
    assert format_timestamp(1767225602.5) == "2026-01-01T00:00:02.500Z"
    assert format_timestamp(86400.001) == "1970-01-02T00:00:00.001Z"
    assert format_timestamp(1767225602.25) == "2026-01-01T00:00:02.250Z"
