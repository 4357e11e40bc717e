"""The live view of `sm run` on a terminal: fed AWS-shaped history events, it tracks the
running states, Map progress and retries, and prints a summary table; end to end in a
pseudo-terminal."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from statemachine.cli.progress import LiveView, seconds, summary_table

T0 = "2026-01-01T00:00:00+00:00"
T1 = "2026-01-01T00:00:02.500000+00:00"


def _event(id: int, prev: int, type: str, **details: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": id,
        "previousEventId": prev,
        "type": type,
        "timestamp": details.pop("at", T0),
    }
    if details:
        key = (
            "stateEnteredEventDetails"
            if type.endswith("StateEntered")
            else (
                "stateExitedEventDetails"
                if type.endswith("StateExited")
                else type[0].lower() + type[1:] + "EventDetails"
            )
        )
        event[key] = details
    return event


HISTORY = [
    _event(1, 0, "ExecutionStarted"),
    _event(2, 1, "TaskStateEntered", name="Call"),
    _event(3, 2, "TaskScheduled", resource="python:m:f"),
    _event(4, 3, "TaskStarted"),
    _event(5, 4, "TaskFailed", error="Boom", cause="x"),
    _event(6, 5, "TaskScheduled", resource="python:m:f"),
    _event(7, 6, "TaskStarted"),
    _event(8, 7, "TaskSucceeded", output="{}"),
    _event(9, 8, "TaskStateExited", name="Call", at=T1),
    _event(10, 9, "MapStateEntered", name="Each"),
    _event(11, 10, "MapStateStarted", length=3),
    _event(12, 11, "MapIterationStarted", name="Each", index=0),
    _event(13, 12, "MapIterationSucceeded", name="Each", index=0),
    _event(14, 11, "MapIterationStarted", name="Each", index=1),
    _event(15, 14, "MapIterationFailed", name="Each", index=1),
]


def _view() -> tuple[LiveView, io.StringIO]:
    stream = io.StringIO()
    view = LiveView(stream)
    view.console.file = stream
    return view, stream


def test_live_view_tracks_states_maps_and_retries() -> None:
    view, stream = _view()
    for event in HISTORY:
        view.on_event(event)
    assert "↻ retrying Call after Boom" in stream.getvalue()
    assert stream.getvalue().count("retrying") == 1  # the first attempt is no retry
    assert view.running() == "Each"
    assert view.map_progress() == {"Each": (2, 3)}


def test_summary_table_has_a_row_per_state_with_durations() -> None:
    view, stream = _view()
    view.console.width = 120
    view.console.print(summary_table(HISTORY))
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
        for line in stream.getvalue().splitlines()
        if line.startswith("│")
    }
    assert rows["Call"] == ["Task", "1", "2", "2.500s", "ok after errors"]
    assert rows["Each"][0:2] == ["Map", "1"] and rows["Each"][-1] == "failed"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T1, 1767225602.5),
        (1767225602500, 1767225602.5),
        (1767225602.5, 1767225602.5),
        ("nonsense", None),
        (None, None),
    ],
)
def test_timestamps_in_any_shape(value: object, expected: float | None) -> None:
    assert seconds(value) == expected


def test_sm_run_on_a_terminal_shows_retries_and_the_summary(sm_tty) -> None:
    code, screen, stdout = sm_tty(
        "run",
        "definitions/api_poller.yaml",
        "--virtual-time",
        "--input",
        '{"report": "q3", "pollsUntilReady": 2, "flakyAnswers": 1}',
    )
    assert code == 0
    assert json.loads(stdout)["polls"] == 2  # the output still goes to stdout, as plain JSON
    assert "retrying" in screen and "CheckStatus" in screen and "ServiceUnavailable" in screen
    assert "WaitBeforeNextPoll" in screen and "SUCCEEDED" in screen
    assert "\x1b[" in screen  # coloured


def test_sm_run_quiet_on_a_terminal_shows_nothing_but_errors(sm_tty) -> None:
    code, screen, stdout = sm_tty(
        "run", "definitions/hello.yaml", "--quiet", "--input", '{"name": "q"}'
    )
    assert code == 0 and json.loads(stdout) == {"greeting": "Hello, q!"}
    assert screen.strip() == ""


def test_odd_events_never_break_the_view() -> None:
    view, _ = _view()
    view.on_event(
        {"type": "MapStateStarted", "id": 1, "mapStateStartedEventDetails": {"length": "many"}}
    )
    view.on_event({"type": "MapStateEntered", "id": 2, "stateEnteredEventDetails": {"name": "M"}})
    view.on_event(
        {
            "type": "MapStateStarted",
            "id": 3,
            "previousEventId": 2,
            "mapStateStartedEventDetails": {"length": object()},
        }
    )
    view.on_event({})  # no type at all
    # The view still follows the run afterwards (a view that gave up would ignore these).
    view.on_event(_event(4, 3, "MapIterationStarted", name="M", index=0))
    view.on_event(_event(5, 4, "MapIterationSucceeded", name="M", index=0))
    assert view.map_progress()["M"][0] == 1
    view.on_event(_event(6, 5, "MapStateExited", name="M"))
    view.on_event(_event(7, 6, "PassStateEntered", name="After"))
    assert view.running() == "After"


class _DeadTerminal(io.StringIO):
    """A terminal that went away: every write fails."""

    writes = 0

    def write(self, text: str) -> int:
        type(self).writes += 1
        raise OSError("terminal gone")


def test_a_failing_display_never_breaks_the_execution() -> None:
    import statemachine

    calls: list[object] = []

    def flaky(event: object) -> object:
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return {"ok": True}

    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "flaky", "End": True,
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}]}}}
    view = LiveView(_DeadTerminal())
    execution = statemachine.load(definition, resources={"flaky": flaky}).run(
        {}, on_event=view.on_event, virtual_time=True)
    assert (execution.status, execution.output) == ("SUCCEEDED", {"ok": True})
    assert len(calls) == 2 and _DeadTerminal.writes >= 1  # the retry line was tried, and failed
