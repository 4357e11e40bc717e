"""The live view of `sm run` on a terminal: fed AWS-shaped history events, it tracks the
running states, Map progress and retries, and prints a summary table; end to end in a
pseudo-terminal."""

from __future__ import annotations

import datetime
import fcntl
import io
import json
import os
import re
import select
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from statemachine.cli.progress import LiveView, seconds, summary_table

from tests.cli.conftest import REPO

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
    assert "↻ retrying Call attempt 2 after Boom" in stream.getvalue()
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
    view.on_event({"type": "PassStateEntered", "id": 4, "stateEnteredEventDetails": {"name": "P"}})
    assert view.running() == "M, P"  # the view still works after them


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


# -- issue 10: countdowns, retries in Maps, failed items, wall time, caught errors, callbacks ---
def _ansi_free(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def _terminal_view(definition: dict[str, Any] | None = None,
                   now: list[float] | None = None) -> tuple[LiveView, io.StringIO]:
    """A LiveView writing to a forced terminal (colours and all), with a clock the test moves."""
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=160)
    clock = now if now is not None else [0.0]
    return LiveView(stream, definition, now=lambda: clock[0], console=console), stream


def _live_area(view: LiveView) -> str:
    stream = io.StringIO()
    Console(file=stream, force_terminal=True, width=200).print(*view.waiting_lines())
    return _ansi_free(stream.getvalue())


def _at(offset: float) -> str:
    return (datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
            + datetime.timedelta(seconds=offset)).isoformat()


WAITS = {"StartAt": "Pause", "States": {
    "Pause": {"Type": "Wait", "Seconds": 30, "Next": "Later"},
    "Later": {"Type": "Wait", "SecondsPath": "$.delay", "End": True}}}


def test_a_wait_shows_its_countdown() -> None:
    clock = [1000.0]
    view, _ = _terminal_view(WAITS, clock)
    view.on_event(_event(1, 0, "ExecutionStarted"))
    view.on_event(_event(2, 1, "WaitStateEntered", name="Pause", input="{}", at=_at(0)))
    assert "⏳ Pause waits 30s more" in _live_area(view)
    clock[0] += 12
    assert "⏳ Pause waits 18s more" in _live_area(view)
    view.on_event(_event(3, 2, "WaitStateExited", name="Pause", at=_at(30)))
    assert "Pause" not in _live_area(view)
    view.on_event(_event(4, 3, "WaitStateEntered", name="Later", input='{"delay": 90}', at=_at(30)))
    assert "⏳ Later waits 90s more" in _live_area(view)  # SecondsPath read from the state's input


MAP_RETRY = [
    _event(1, 0, "ExecutionStarted"),
    _event(2, 1, "MapStateEntered", name="Each"),
    _event(3, 2, "MapStateStarted", length=4),
    _event(4, 3, "MapIterationStarted", name="Each", index=3),
    _event(5, 4, "TaskStateEntered", name="Call", at=_at(0)),
    _event(6, 5, "TaskScheduled", resource="f", at=_at(0)),
    _event(7, 6, "TaskFailed", error="Boom", cause="x", at=_at(0.5)),
    _event(8, 7, "TaskScheduled", resource="f", at=_at(2.0)),
    _event(9, 8, "TaskFailed", error="Boom", cause="y", at=_at(2.5)),
    _event(10, 9, "TaskScheduled", resource="f", at=_at(5.5)),
]


def test_a_retry_line_names_the_map_item_the_attempt_and_the_delay() -> None:
    view, stream = _terminal_view()
    for event in MAP_RETRY:
        view.on_event(event)
    lines = _ansi_free(stream.getvalue()).splitlines()
    assert lines == [
        "↻ retrying Call (Map Each item 3) attempt 2 after Boom, waited 1.5s",
        "↻ retrying Call (Map Each item 3) attempt 3 after Boom, waited 3.0s",
    ]


FAILED_MAP = [
    _event(1, 0, "ExecutionStarted"),
    _event(2, 1, "MapStateEntered", name="Each"),
    _event(3, 2, "MapStateStarted", length=3),
    _event(4, 3, "MapIterationStarted", name="Each", index=0),
    _event(5, 4, "TaskStateEntered", name="Call"),
    _event(6, 5, "TaskScheduled", resource="f"),
    _event(7, 3, "MapIterationStarted", name="Each", index=2),
    _event(8, 7, "TaskStateEntered", name="Call"),
    _event(9, 8, "TaskScheduled", resource="f"),
    _event(10, 9, "TaskFailed", error="KeyError",
           cause=json.dumps({"errorMessage": "'sku'", "errorType": "KeyError"})),
    _event(11, 10, "MapIterationFailed", name="Each", index=2),
    _event(12, 6, "TaskStateAborted"),
    _event(13, 12, "MapIterationAborted", name="Each", index=0),
    _event(14, 3, "MapStateFailed"),
    _event(15, 14, "ExecutionFailed", error="KeyError", cause="..."),
]


def test_a_failed_map_shows_which_items_failed_and_why() -> None:
    view, stream = _terminal_view()
    for event in FAILED_MAP:
        view.on_event(event)
    lines = _ansi_free(stream.getvalue()).splitlines()
    assert lines == [
        "✗ item 2 of Map Each failed: KeyError: 'sku'",
        "✗ Map Each failed: item 2 (KeyError)",
    ]


def _failing_item(first: int, index: int, error: str) -> list[dict[str, Any]]:
    """The five events of Map Each's item ``index`` whose Task fails, ids from ``first``."""
    kinds = [("MapIterationStarted", {"name": "Each", "index": index}), ("TaskStateEntered", {"name": "Call"}),
             ("TaskScheduled", {"resource": "f"}), ("TaskFailed", {"error": error, "cause": "bad"}),
             ("MapIterationFailed", {"name": "Each", "index": index})]
    return [_event(first + n, 3 if n == 0 else first + n - 1, kind, **details) for n, (kind, details) in enumerate(kinds)]


# ToleratedFailureCount 1: items 0 and 2 fail, the second failure exceeds it.
TOLERANCE_EXCEEDED = [
    _event(1, 0, "ExecutionStarted"), _event(2, 1, "MapStateEntered", name="Each"),
    _event(3, 2, "MapStateStarted", length=3), *_failing_item(4, 0, "ValueError"),
    *_failing_item(9, 2, "KeyError"), _event(14, 13, "MapStateFailed"),
]


def test_a_failed_map_lists_its_failed_items_in_words_that_agree_with_their_number() -> None:
    view, stream = _terminal_view()
    for event in TOLERANCE_EXCEEDED:
        view.on_event(event)
    assert _ansi_free(stream.getvalue()).splitlines()[-1] == "✗ Map Each failed: items 0 (ValueError), 2 (KeyError)"


def test_summary_durations_are_wall_time_not_the_sum_of_iterations() -> None:
    concurrent = [
        _event(1, 0, "MapStateEntered", name="Each", at=_at(0)),
        _event(2, 1, "MapStateStarted", length=2, at=_at(0)),
        _event(3, 2, "MapIterationStarted", name="Each", index=0, at=_at(0)),
        _event(4, 3, "PassStateEntered", name="Work", at=_at(0)),
        _event(5, 2, "MapIterationStarted", name="Each", index=1, at=_at(1)),
        _event(6, 5, "PassStateEntered", name="Work", at=_at(1)),
        _event(7, 4, "PassStateExited", name="Work", at=_at(2)),
        _event(8, 6, "PassStateExited", name="Work", at=_at(3)),
        _event(9, 2, "MapStateSucceeded", at=_at(3)),
        _event(10, 9, "MapStateExited", name="Each", at=_at(3)),
        # a loop visits Again twice, one after the other: those add up
        _event(11, 10, "PassStateEntered", name="Again", at=_at(3)),
        _event(12, 11, "PassStateExited", name="Again", at=_at(4)),
        _event(13, 12, "PassStateEntered", name="Again", at=_at(10)),
        _event(14, 13, "PassStateExited", name="Again", at=_at(11.5)),
    ]
    rows = _table_rows(concurrent)
    assert rows["Work"][1:4] == ["2", "", "3.000s"]  # [0, 2] and [1, 3] overlap: 3 s, not 4 s
    assert rows["Again"][1:4] == ["2", "", "2.500s"]
    assert rows["Each"][3] == "3.000s"


def _table_rows(history: list[dict[str, Any]]) -> dict[str, list[str]]:
    stream = io.StringIO()
    Console(file=stream, width=160).print(summary_table(history))
    return {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
        for line in stream.getvalue().splitlines()
        if line.startswith("│")
    }


CAUGHT = [
    _event(1, 0, "ExecutionStarted"),
    _event(2, 1, "TaskStateEntered", name="Charge"),
    _event(3, 2, "TaskScheduled", resource="f"),
    _event(4, 3, "TaskFailed", error="PaymentDeclined", cause="card 4000"),
    _event(5, 4, "TaskStateExited", name="Charge"),
    _event(6, 5, "PassStateEntered", name="Refund"),
]


def test_a_caught_error_shows_as_caught() -> None:
    view, stream = _terminal_view()
    for event in CAUGHT:
        view.on_event(event)
    assert _ansi_free(stream.getvalue()).splitlines() == [
        "⤷ caught PaymentDeclined in Charge: card 4000"]
    assert _table_rows(CAUGHT)["Charge"][-1] == "caught PaymentDeclined"


def test_a_callback_task_shows_its_token_and_how_to_answer() -> None:
    view, stream = _terminal_view()
    view.on_event(_event(1, 0, "ExecutionStarted"))
    view.on_event(_event(2, 1, "TaskStateEntered", name="Ask"))
    view.on_event(_event(3, 2, "TaskScheduled", resource="m:f.waitForTaskToken"))
    assert view.callbacks(["tok-1"]) == ["tok-1"]
    assert view.callbacks(["tok-1"]) == []  # announced once
    printed = _ansi_free(stream.getvalue())
    assert "⏸ Ask waits for a callback, task token tok-1" in printed
    assert "type its output as JSON + Enter to succeed, or !fail ERROR [CAUSE]" in printed
    assert "Ask waits for a callback (token tok-1)" in _live_area(view)
    view.on_event(_event(4, 3, "TaskSucceeded", output="{}"))
    view.on_event(_event(5, 4, "TaskStateExited", name="Ask"))
    assert _live_area(view).strip() == ""


HANDLERS = '''
calls = {}

def work(item):
    calls[item["i"]] = calls.get(item["i"], 0) + 1
    if item["i"] == 1 and calls[1] < 3:
        raise ValueError("flaky")
    if item["i"] == 2:
        raise KeyError("no such sku")
    return item
'''

FLOW = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1,
            "ItemProcessor": {"StartAt": "Work", "States": {"Work": {
                "Type": "Task", "Resource": "python:flow_handlers:work", "End": True,
                "Retry": [{"ErrorEquals": ["ValueError"], "IntervalSeconds": 2}]}}},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}],
            "End": True,
        },
        "Recover": {"Type": "Pass", "End": True},
    },
}


def test_sm_run_on_a_terminal_shows_map_retries_failed_items_and_caught_errors(
        sm_tty, tmp_path: Path) -> None:
    (tmp_path / "flow_handlers.py").write_text(HANDLERS)
    (tmp_path / "flow.json").write_text(json.dumps(FLOW))
    code, screen, _ = sm_tty("run", tmp_path / "flow.json", "--virtual-time", "--input",
                                  '{"items": [{"i": 0}, {"i": 1}, {"i": 2}]}', cwd=tmp_path)
    text = _ansi_free(screen)
    assert code == 0, text
    assert "↻ retrying Work (Map Each item 1) attempt 2 after ValueError, waited 2.0s" in text
    assert "↻ retrying Work (Map Each item 1) attempt 3 after ValueError, waited 4.0s" in text
    assert "✗ item 2 of Map Each failed: KeyError: 'no such sku'" in text
    assert "✗ Map Each failed: item 2 (KeyError)" in text
    assert "⤷ caught KeyError in Each" in text
    assert re.search(r"│ Each\s+│ Map\s+│\s+1 │\s+│\s+[0-9.]+s │ caught KeyError", text), text


def test_sm_run_answers_a_callback_typed_on_the_terminal(tmp_path: Path) -> None:
    """The callback example, answered the way the live view says (a pty as the terminal)."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "statemachine.cli", "run", "definitions/human_approval.yaml",
         "--input", "@definitions/inputs/human_approval.input.json"],
        cwd=REPO, stdin=slave, stdout=subprocess.PIPE, stderr=slave,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "200"})
    os.close(slave)
    text, stdout = _answer_when_prompted(process, master, b'{"approvedBy": "kim"}\n')
    assert process.returncode == 0, text
    assert re.search(r"RequestApproval waits for a callback, task token [0-9a-f-]{36}", text), text
    assert "sent task success" in text
    assert json.loads(stdout) == {"expenseId": "E-1", "status": "APPROVED", "approvedBy": "kim"}


# -- review of issue 10: histories as the engine (and AWS) record them --------------------------
# Item 1 fails with a retriable error and waits for its retry when item 3 fails for good: the
# Map fails with item 3's KeyError (MapStateFailed has no details; it links to that failure)
# and item 1's iteration is aborted, not failed.
MAP_FAILS_WHILE_AN_ITEM_RETRIES = [
    _event(1, 0, "ExecutionStarted", at=_at(0)),
    _event(2, 1, "MapStateEntered", name="Each", at=_at(0)),
    _event(3, 2, "MapStateStarted", length=2, at=_at(0)),
    _event(4, 3, "MapIterationStarted", name="Each", index=1, at=_at(0)),
    _event(5, 4, "TaskStateEntered", name="Work", at=_at(0)),
    _event(6, 5, "TaskScheduled", resource="f", at=_at(0)),
    _event(7, 3, "MapIterationStarted", name="Each", index=3, at=_at(0)),
    _event(8, 7, "TaskStateEntered", name="Work", at=_at(0)),
    _event(9, 8, "TaskScheduled", resource="f", at=_at(0)),
    _event(10, 6, "TaskFailed", error="ValueError", cause="flaky", at=_at(0.5)),
    _event(11, 9, "TaskFailed", error="KeyError", cause="never", at=_at(0.5)),
    _event(12, 11, "MapIterationFailed", name="Each", index=3, at=_at(0.5)),
    _event(13, 11, "TaskStateAborted", at=_at(0.5)),
    _event(14, 11, "MapIterationAborted", name="Each", index=1, at=_at(0.5)),
    _event(15, 11, "MapStateFailed", at=_at(0.5)),
    _event(16, 15, "MapStateExited", name="Each", at=_at(0.5)),
    _event(17, 16, "PassStateEntered", name="Recover", at=_at(0.5)),
]


def test_a_failed_map_names_the_error_that_failed_it_not_an_item_being_retried() -> None:
    view, stream = _terminal_view()
    for event in MAP_FAILS_WHILE_AN_ITEM_RETRIES:
        view.on_event(event)
    assert _ansi_free(stream.getvalue()).splitlines() == [
        "✗ item 3 of Map Each failed: KeyError: never",
        "✗ Map Each failed: item 3 (KeyError)",
        "⤷ caught KeyError in Each: never",
    ]
    assert _table_rows(MAP_FAILS_WHILE_AN_ITEM_RETRIES)["Each"][-1] == "caught KeyError"


# The engine records no ParallelStateFailed when a Catch on the Parallel handles a branch's
# failure: it shows as the branch state's failure, then the Parallel's exit without
# ParallelStateSucceeded.
PARALLEL_CAUGHT = [
    _event(1, 0, "ExecutionStarted", at=_at(0)),
    _event(2, 1, "ParallelStateEntered", name="Par", at=_at(0)),
    _event(3, 2, "ParallelStateStarted", at=_at(0)),
    _event(4, 3, "TaskStateEntered", name="Boom", at=_at(0)),
    _event(5, 4, "TaskScheduled", resource="f", at=_at(0)),
    _event(6, 5, "TaskStarted", at=_at(0)),
    _event(7, 6, "TaskFailed", error="RuntimeError", cause="kaput", at=_at(1)),
    _event(8, 7, "TaskStateAborted", at=_at(1)),
    _event(9, 3, "ParallelStateExited", name="Par", at=_at(1)),
    _event(10, 9, "SucceedStateEntered", name="Done", at=_at(1)),
]


def test_an_error_caught_on_a_parallel_shows_as_caught() -> None:
    view, stream = _terminal_view()
    for event in PARALLEL_CAUGHT:
        view.on_event(event)
    assert _ansi_free(stream.getvalue()).splitlines() == ["⤷ caught RuntimeError in Par: kaput"]
    rows = _table_rows(PARALLEL_CAUGHT)
    assert rows["Par"][-1] == "caught RuntimeError"


def test_a_parallel_whose_branch_recovers_is_not_caught() -> None:
    recovered = [*PARALLEL_CAUGHT[:7],
                 _event(8, 7, "TaskScheduled", resource="f", at=_at(2)),  # retried
                 _event(9, 8, "TaskSucceeded", output="{}", at=_at(3)),
                 _event(10, 9, "TaskStateExited", name="Boom", at=_at(3)),
                 _event(11, 3, "ParallelStateSucceeded", at=_at(3)),
                 _event(12, 11, "ParallelStateExited", name="Par", at=_at(3))]
    view, stream = _terminal_view()
    for event in recovered:
        view.on_event(event)
    assert "caught" not in _ansi_free(stream.getvalue())
    assert _table_rows(recovered)["Par"][-1] == "ok"


def test_a_state_that_fails_for_good_counts_the_time_it_ran() -> None:
    rows = _table_rows(PARALLEL_CAUGHT)
    assert rows["Boom"][3:] == ["1.000s", "failed"]  # entered at 0, failed at 1: not 0.000s
    rows = _table_rows(MAP_FAILS_WHILE_AN_ITEM_RETRIES)
    assert rows["Work"][3] == "0.500s"


def test_the_answer_being_typed_stays_visible(tmp_path: Path) -> None:
    """While a callback waits for its answer the live area stops redrawing: its refresh
    (cursor up, erase line) would draw over the line the terminal echoes as the user types."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "statemachine.cli", "run", "definitions/human_approval.yaml",
         "--input", "@definitions/inputs/human_approval.input.json"],
        cwd=REPO, stdin=slave, stdout=subprocess.PIPE, stderr=slave,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "200"})
    os.close(slave)
    screen, typed_at, prompted = b"", -1, None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        chunk = _read_pty(master)
        if chunk is None:
            break
        ready = bool(chunk)
        screen += chunk
        if typed_at < 0 and b"!fail ERROR" in screen and prompted is None:
            prompted = time.monotonic()
        if typed_at < 0 and prompted is not None and time.monotonic() > prompted + 0.5:
            os.write(master, b"!fa")  # the user reads the prompt, then types; no Enter yet
            typed_at = len(screen)
            pause = time.monotonic() + 1.0  # the live area refreshes 10 times a second
        elif typed_at >= 0 and b"sent task" not in screen and time.monotonic() > pause:
            after = screen[typed_at:]
            assert b"!fa" in after and b"\x1b[" not in after[after.index(b"!fa"):], after
            os.write(master, b"il\n")
            pause = float("inf")
        if process.poll() is not None and not ready:
            break
    os.close(master)
    process.communicate(timeout=30)
    text = _ansi_free(screen.decode(errors="replace"))
    assert typed_at >= 0 and pause == float("inf"), text
    assert process.returncode == 1, text  # no Catch for a failure without an error name
    assert re.search(r"sent task failure \(no error name\) for [0-9a-f-]{36}", text), text


def test_a_jsonata_wait_shows_its_countdown() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "Pause", "States": {
        "Pause": {"Type": "Wait", "Seconds": "{% $states.input.delay * 2 %}", "End": True}}}
    clock = [1000.0]
    view, _ = _terminal_view(definition, clock)
    view.on_event(_event(1, 0, "ExecutionStarted"))
    view.on_event(_event(2, 1, "WaitStateEntered", name="Pause", input='{"delay": 20}', at=_at(0)))
    assert "⏳ Pause waits 40s more" in _live_area(view)
    clock[0] += 15
    assert "⏳ Pause waits 25s more" in _live_area(view)


# -- review of issue 10: a callback must be answerable, or say that it cannot be ---------------
def _controlling_terminal(slave: int) -> Callable[[], None]:
    """preexec_fn: the child gets its own session with the pty as its controlling terminal
    (/dev/tty), as a shell gives a command it starts."""
    def become() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    return become


def _read_pty(master: int) -> bytes | None:
    """What the terminal shows within 0.1 s (b"" when nothing), None once the child closed it."""
    if not select.select([master], [], [], 0.1)[0]:
        return b""
    try:
        return os.read(master, 65536)
    except OSError:
        return None


def _answer_when_prompted(process: subprocess.Popen[bytes], master: int, answer: bytes) -> tuple[str, str]:
    """Type ``answer`` on the pty once the callback prompt shows; (screen text, stdout)."""
    screen, answered = b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        chunk = _read_pty(master)
        if chunk is None:
            break
        ready = bool(chunk)
        screen += chunk
        if not answered and b"!fail ERROR" in screen:
            os.write(master, answer)
            answered = True
        if process.poll() is not None and not ready:
            break
    else:
        process.kill()  # a hung run fails the test instead of hanging it
    os.close(master)
    stdout = process.communicate(timeout=30)[0].decode()
    return _ansi_free(screen.decode(errors="replace")), stdout


def test_a_callback_is_answered_on_the_terminal_when_the_input_is_piped() -> None:
    """The README pipes input (`echo ... | sm run ...`): stdin is then the pipe, and the answer
    the prompt asks for is typed on the terminal, which sm run reads through /dev/tty."""
    master, slave = os.openpty()
    piped, writer = os.pipe()
    os.write(writer, (REPO / "definitions/inputs/human_approval.input.json").read_bytes())
    os.close(writer)
    process = subprocess.Popen(
        [sys.executable, "-m", "statemachine.cli", "run", "definitions/human_approval.yaml"],
        cwd=REPO, stdin=piped, stdout=subprocess.PIPE, stderr=slave,
        preexec_fn=_controlling_terminal(slave),  # the test starts no threads, so a preexec_fn is safe
        env={**os.environ, "TERM": "xterm", "COLUMNS": "200"})
    os.close(slave)
    os.close(piped)
    text, stdout = _answer_when_prompted(process, master, b'{"approvedBy": "kim"}\n')
    assert process.returncode == 0, text
    assert "sent task success" in text
    assert json.loads(stdout) == {"expenseId": "E-1", "status": "APPROVED", "approvedBy": "kim"}


def test_a_callback_without_a_terminal_shows_its_token_and_that_nothing_here_answers() -> None:
    """No terminal at all (CI, a pipe): nothing can type an answer. sm run says which token
    waits and until when, instead of waiting silently for the task's 24-hour timeout."""
    process = subprocess.run(
        [sys.executable, "-m", "statemachine.cli", "run", "definitions/human_approval.yaml",
         "--input", "@definitions/inputs/human_approval.input.json", "--timeout", "3"],
        cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        start_new_session=True, check=False)  # no controlling terminal either
    assert process.returncode == 1, process.stderr
    assert re.search(r"^sm: RequestApproval waits for a callback, task token [0-9a-f-]{36}$",
                     process.stderr, re.MULTILINE), process.stderr
    assert "no terminal to type its answer on" in process.stderr
    assert "sm: execution ABORTED" in process.stderr


def test_a_quiet_run_on_a_terminal_still_shows_the_callback_and_takes_its_answer() -> None:
    """--quiet drops the live view, not the one line a person must act on."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "statemachine.cli", "run", "definitions/human_approval.yaml", "--quiet",
         "--input", "@definitions/inputs/human_approval.input.json"],
        cwd=REPO, stdin=slave, stdout=subprocess.PIPE, stderr=slave,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "200"})
    os.close(slave)
    text, stdout = _answer_when_prompted(process, master, b'{"approvedBy": "kim"}\n')
    assert process.returncode == 0, text
    assert re.search(r"RequestApproval waits for a callback, task token [0-9a-f-]{36}", text), text
    assert json.loads(stdout) == {"expenseId": "E-1", "status": "APPROVED", "approvedBy": "kim"}
