"""Executions that always stop (issue 9 items 1-4, 12) and the runtime structure of issue 10
(one error type, an explicit handler table, event identity), through the public API.

Golden values are AWS's: the history-limit cause is the text AWS records; the terminal event
shapes follow AWS's recorded histories (LocalStack's test_timeouts snapshot, recorded
against AWS: sibling iterations' TaskStateAborted / MapIterationAborted and MapStateFailed
are linked to the failing TaskTimedOut; ExecutionTimedOut has previousEventId 0 and no
error or cause). No assertion measures speed: the stop tests only bound the run by a
generous wall-clock limit that the broken behaviour (minutes) could never meet.
"""

from __future__ import annotations

import json
import pickle
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import statemachine
from statemachine.errors import StatesError
from statemachine.interpreter import HANDLERS
from statemachine.model import MapState, PassState, TaskState, WaitState

from .helpers import run, types

DEFINITIONS = Path(__file__).resolve().parents[3] / "definitions"

def _loop(tag: str = "") -> dict[str, Any]:
    """Pass -> Choice -> Pass ... for ever (input {}): the loop of issue 9 item 1."""
    return {"StartAt": "P" + tag, "States": {
        "P" + tag: {"Type": "Pass", "Next": "C" + tag},
        "C" + tag: {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": True,
                                                   "Next": "E" + tag}], "Default": "P" + tag},
        "E" + tag: {"Type": "Succeed"}}}


LOOP = _loop()
#: a JSONata expression that recurses for ever
ENDLESS_JSONATA = {"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {
    "Type": "Pass", "Output": "{% ($f := function($n){ $n < 0 ? 0 : $f($n + 1) }; $f(0)) %}",
    "End": True}}}
LIMIT_CAUSE = "The execution reached the maximum number of history events (25000)."


# --- item 1: the history limit ------------------------------------------------------------------

def test_an_endless_loop_fails_at_25000_history_events() -> None:
    execution = run(LOOP)
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "States.Runtime", LIMIT_CAUSE)
    assert len(execution.history) == 25_000
    last = execution.history[-1]
    assert last["type"] == "ExecutionFailed" and last["id"] == 25_000
    assert last["executionFailedEventDetails"] == {"error": "States.Runtime", "cause": LIMIT_CAUSE}


def test_the_history_limit_is_configurable_and_cannot_be_caught() -> None:
    caught = {"StartAt": "Par", "States": {"Par": {
        "Type": "Parallel", "Branches": [_loop("1"), _loop("2")], "End": True,
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}]},
        "Caught": {"Type": "Succeed"}}}
    execution = run(caught, history_limit=500)
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
    assert execution.cause == "The execution reached the maximum number of history events (500)."
    assert len(execution.history) == 500 and execution.history[-1]["type"] == "ExecutionFailed"


COUNT_TO = {"StartAt": "Check", "States": {
    "Check": {"Type": "Choice", "Default": "Add",
              "Choices": [{"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.to", "Next": "Done"}]},
    "Add": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)", "to.$": "$.to"}, "Next": "Check"},
    "Done": {"Type": "Succeed"}}}


def test_no_history_limit_when_disabled_or_express() -> None:
    counting = {"n": 0, "to": 7000}  # 4 events per round: 28,000+ events
    assert run(COUNT_TO, counting).error == "States.Runtime"
    execution = run(COUNT_TO, counting, history_limit=None)
    assert execution.status == "SUCCEEDED" and len(execution.events) > 25_000
    express = statemachine.load(COUNT_TO, machine_type="EXPRESS").run(counting, virtual_time=True)
    assert express.status == "SUCCEEDED" and len(express.events) > 25_000


def test_sm_run_history_limit_flag(tmp_path: Path) -> None:
    from cli.main import main

    flow = tmp_path / "loop.json"
    flow.write_text(json.dumps(LOOP))
    assert main(["run", str(flow), "--quiet", "--history-limit", "100"]) == 1
    with pytest.raises(SystemExit):
        main(["run", str(flow), "--history-limit", "1"])


# --- item 2: abort, timeouts and Ctrl-C reach work that never awaits ------------------------------

#: a Map whose iterations loop for ever, and a Map of many short iterations
ENDLESS_MAP = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "End": True,
                                               "Iterator": _loop("i")}}}
BIG_MAP = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "End": True,
                                           "MaxConcurrency": 1, "Iterator": {"StartAt": "I", "States": {
                                               "I": {"Type": "Pass", "End": True}}}}}}
NEVER_AWAITING = [(LOOP, {}), (ENDLESS_JSONATA, {}), (ENDLESS_MAP, {"items": [1, 2, 3]}),
                  (BIG_MAP, {"items": list(range(2_000_000))})]
IDS = ["state-loop", "jsonata", "map-of-loops", "map-of-2M-items"]


@pytest.mark.parametrize(("definition", "data"), NEVER_AWAITING, ids=IDS)
def test_run_timeout_stops_work_that_never_awaits(definition: dict[str, Any], data: Any) -> None:
    # Without the interruption these end FAILED (JSONata's 10 s net: D1012), SUCCEEDED after
    # minutes, or never: the wait bounds only how long a broken build is given.
    execution = statemachine.load(definition).start(data, history_limit=None, timeout=0.2)
    assert execution.wait(60).status == "ABORTED"
    assert execution.history[-1]["type"] == "ExecutionAborted"


@pytest.mark.parametrize(("definition", "data"), NEVER_AWAITING, ids=IDS)
def test_abort_stops_work_that_never_awaits(definition: dict[str, Any], data: Any) -> None:
    execution = statemachine.load(definition).start(data, history_limit=None)
    deadline = time.monotonic() + 30
    while len(execution.events) < 2:
        assert time.monotonic() < deadline, (execution.status, execution.events)
        time.sleep(0.01)
    execution.abort(cause="stop")
    assert execution.wait(60).status == "ABORTED"
    assert execution.cause == "stop" and execution.stop_date is not None


def test_machine_timeout_seconds_stops_endless_jsonata() -> None:
    definition = {**ENDLESS_JSONATA, "TimeoutSeconds": 1}
    execution = statemachine.load(definition).start({}, history_limit=None)
    assert (execution.wait(60).status, execution.error) == ("TIMED_OUT", None)
    assert execution.history[-1]["type"] == "ExecutionTimedOut"


def test_ctrl_c_cancels_the_main_task_while_a_loop_of_states_runs() -> None:
    """asyncio.run turns Ctrl-C into a cancellation of its main task; simulate it."""
    import asyncio

    machine = statemachine.load(LOOP)
    result: list[statemachine.Execution] = []

    async def main() -> None:
        task = asyncio.ensure_future(machine.run_async({}, history_limit=None))
        asyncio.get_running_loop().call_later(0.2, task.cancel)
        result.append(await task)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    thread.join(60)
    assert [e.status for e in result] == ["ABORTED"]


#: Regular expressions that backtrack catastrophically: Python's re runs them for minutes
#: holding the GIL (27 "a"s: ~30 s; 40: days), deaf to abort, timeouts and the JSONata limit.
SLOW_SUBJECT = "a" * 27 + "!"
CATASTROPHIC_REGEX = [
    f"$match('{SLOW_SUBJECT}', /(a|a)+$/)",
    f"$contains('{SLOW_SUBJECT}', /(a|aa)+b/)",
    f"$replace('{SLOW_SUBJECT}', /(a|a)+$/, 'x')",
    f"$replace('{SLOW_SUBJECT}', /(a|a)+$/, function($m){{'x'}})",
    f"$split('{SLOW_SUBJECT}', /(a|a)+$/)",
    f"/(a|a)+$/('{SLOW_SUBJECT}')",
]


# The bounds below are CPU time, not wall time: a catastrophic regex burns CPU until it is
# stopped (seconds if a limit or a stop failed), while a loaded machine stretches only the wall
# time of a run stopped within a fraction of a second.


def _jsonata_pass(expression: str) -> dict[str, Any]:
    return {"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {
        "Type": "Pass", "Output": "{% " + expression + " %}", "End": True}}}


@pytest.mark.parametrize("expression", CATASTROPHIC_REGEX)
def test_run_timeout_stops_a_catastrophic_regex(expression: str) -> None:
    started = time.process_time()
    execution = statemachine.load(_jsonata_pass(expression)).run({}, timeout=0.2)
    assert execution.status == "ABORTED"
    assert time.process_time() - started < 5


def test_abort_stops_a_catastrophic_regex() -> None:
    machine = statemachine.load(_jsonata_pass(CATASTROPHIC_REGEX[0]))
    started = time.process_time()
    execution = machine.start({})
    time.sleep(0.2)
    execution.abort(cause="stop")
    assert execution.wait(60).status == "ABORTED"
    assert time.process_time() - started < 3


def test_a_catastrophic_regex_fails_at_the_jsonata_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from statemachine.expressions.jsonata import adapter

    monkeypatch.setattr(adapter, "EVALUATION_TIMEOUT_SECONDS", 0.3)
    started = time.process_time()
    execution = statemachine.load(_jsonata_pass(CATASTROPHIC_REGEX[1])).run({})
    assert (execution.status, execution.error) == ("FAILED", "States.QueryEvaluationError")
    assert "D1012" in (execution.cause or "")
    assert time.process_time() - started < 5


@pytest.mark.parametrize(("expression", "expected"), [
    ("$replace('abcab', /(b)/, '[$1$1]')", "a[bb]ca[bb]"),
    ("$replace('abab', /b/, function($m){$uppercase($m.match)})", "aBaB"),
    ("$replace('abc', /x*/, function($m){'-'})", "-a-b-c-"),
    ("$match('Hello World', /O/i).index", [4, 7]),
    ("$split('a1b22c', /[0-9]+/)", ["a", "b", "c"]),
    ("$contains('line1\nline2', /^line2$/m)", True),
])
def test_regexes_still_match_as_jsonata_does(expression: str, expected: Any) -> None:
    execution = statemachine.load(_jsonata_pass(expression)).run({})
    assert (execution.status, execution.output) == ("SUCCEEDED", expected)


JSONPATH_REGEX = {"StartAt": "P", "States": {"P": {
    "Type": "Pass", "InputPath": "$.items[?(@.n =~ /(a|a)+$/)]", "End": True}}}


def test_run_timeout_stops_a_catastrophic_jsonpath_filter_regex() -> None:
    started = time.process_time()
    execution = statemachine.load(JSONPATH_REGEX).run({"items": [{"n": SLOW_SUBJECT}]}, timeout=0.2)
    assert execution.status == "ABORTED"
    assert time.process_time() - started < 5


def test_a_catastrophic_jsonpath_filter_regex_fails_at_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from statemachine.expressions import jsonpath

    monkeypatch.setattr(jsonpath, "REGEX_SECONDS", 0.3)
    started = time.process_time()
    execution = statemachine.load(JSONPATH_REGEX).run({"items": [{"n": SLOW_SUBJECT}]})
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
    assert "regular expression" in (execution.cause or "")
    assert time.process_time() - started < 5
    quick = statemachine.load(JSONPATH_REGEX).run({"items": [{"n": "aaa"}, {"n": "ab"}]})
    assert quick.output == [{"n": "aaa"}]


# --- item 3: waits that can never end -------------------------------------------------------------

WAIT_PATH = {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}}
PREFIX = "An error occurred while executing the state 'W' (entered at the event id #2). "


def test_seconds_path_beyond_a_java_long_is_states_runtime() -> None:
    execution = run(WAIT_PATH, {"s": 9223372036854775808})
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
    assert execution.cause == PREFIX + ("The SecondsPath parameter cannot be parsed as a long value: "
                                        "$.s == 9223372036854775808")


@pytest.mark.parametrize("seconds", [10**15, 2**63 - 1, 366 * 86400])
@pytest.mark.parametrize("virtual", [True, False])
def test_a_wait_past_the_execution_life_fails_at_once(seconds: int, virtual: bool) -> None:
    execution = statemachine.load(WAIT_PATH).run({"s": seconds}, virtual_time=virtual)
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
    assert execution.cause == PREFIX + (f"The Wait state's SecondsPath $.s == {seconds} ends past the "
                                        "execution's maximum duration (31536000 seconds from its start).")


def test_a_wait_within_a_year_is_fine_and_start_reports_a_stop_date() -> None:
    assert run(WAIT_PATH, {"s": 364 * 86400}).status == "SUCCEEDED"
    execution = statemachine.load(WAIT_PATH).start({"s": 10**15}).wait(10)
    assert execution.status == "FAILED" and execution.stop_date is not None


@pytest.mark.parametrize("field", [{"Timestamp": "9999-12-31T00:00:00Z"},
                                   {"TimestampPath": "$.t"},
                                   {"Seconds": "{% 1000000000000000 %}"}])
def test_timestamps_and_jsonata_seconds_past_the_execution_life(field: dict[str, Any]) -> None:
    wait: dict[str, Any] = {"Type": "Wait", "End": True, **field}
    definition: dict[str, Any] = {"StartAt": "W", "States": {"W": wait}}
    if "Seconds" in field:
        definition["QueryLanguage"] = "JSONata"
    execution = run(definition, {"t": "9999-12-31T00:00:00Z"})
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
    assert "ends past the execution's maximum duration" in (execution.cause or "")


def test_retry_backoff_that_overflows_fails_the_state() -> None:
    definition = {"StartAt": "F", "States": {"F": {
        "Type": "Task", "Resource": "python:boom", "End": True,
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 99999999, "BackoffRate": 2,
                   "MaxAttempts": 5}]}}}

    def boom(event: Any) -> Any:
        raise ValueError("no")

    execution = run(definition, resources={"python:boom": boom})
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
    assert "The retry of state 'F' ends past the execution's maximum duration" in (execution.cause or "")


def test_huge_task_timeouts_never_overflow_the_clock() -> None:
    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "svc", "TimeoutSecondsPath": "$.t",
        "HeartbeatSecondsPath": "$.t", "End": True}}}
    execution = run(definition, {"t": 10**15}, resources={"svc": lambda event: {"ok": True}},
                    virtual_time=False)
    assert execution.status == "SUCCEEDED"
    # an infinite number cannot reach a timeout: it is not JSON, so the input is refused first
    with pytest.raises(ValueError, match="not a JSON number"):
        run(definition, {"t": 1e400}, resources={"svc": lambda event: {"ok": True}})


# --- item 4: virtual time skips callbacks nobody can answer ---------------------------------------

def test_human_approval_escalates_at_once_under_virtual_time(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVAL_OUTBOX", str(tmp_path))
    machine = statemachine.load(DEFINITIONS / "human_approval.yaml")
    execution = machine.run({"expenseId": "E-1", "amount": 120, "reviewer": "kim"}, virtual_time=True)
    assert execution.output == {"expenseId": "E-1", "status": "ESCALATED",
                                "reason": "no answer within 24 hours"}
    assert execution.duration is not None and execution.duration >= 86400
    assert "TaskTimedOut" in types(execution)


def test_heartbeat_of_an_unanswered_callback_is_skipped_too() -> None:
    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "HeartbeatSeconds": 600, "End": True}}}
    execution = run(definition, resources={
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken": lambda event: None})
    assert (execution.status, execution.error) == ("FAILED", "States.HeartbeatTimeout")


def test_a_started_execution_holds_virtual_time_for_its_caller_to_answer() -> None:
    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "TimeoutSeconds": 60, "End": True}}}
    machine = statemachine.load(definition, resources={
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken": lambda event: None})
    execution = machine.start({}, virtual_time=True)
    token = execution.wait_for_task_token(timeout=10)
    time.sleep(0.2)  # the clock must not have jumped the 60 s meanwhile
    execution.send_task_success(token, {"ok": 1})
    assert execution.wait(10).output == {"ok": 1}


def test_a_callback_without_timeout_times_out_with_the_execution_life() -> None:
    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True}}}
    execution = run(definition, resources={
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken": lambda event: None})
    assert execution.status == "TIMED_OUT"
    assert execution.duration is not None and execution.duration >= 365 * 86400


# --- item 12: terminal event shapes ---------------------------------------------------------------

def test_map_failure_links_aborted_siblings_to_the_failing_event() -> None:
    """The shape AWS recorded for four Lambda tasks timing out in a Map (test_timeouts)."""
    resource = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    definition = {"StartAt": "MapWait", "States": {"MapWait": {
        "Type": "Map", "ItemsPath": "$.Inputs", "End": True,
        "Iterator": {"StartAt": "LambdaInvoke", "States": {"LambdaInvoke": {
            "Type": "Task", "Resource": resource, "TimeoutSeconds": 5, "End": True}}}}}}
    execution = run(definition, {"Inputs": [{}, {}, {}, {}]}, resources={resource: lambda event: None})
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "States.Timeout", None)
    history = execution.history
    timed_out = next(e for e in history if e["type"] == "TaskTimedOut")
    tail = [(e["type"], e["previousEventId"]) for e in history if e["id"] > timed_out["id"]]
    source = timed_out["id"]
    assert tail == [("MapIterationFailed", source),
                    ("TaskStateAborted", source), ("MapIterationAborted", source),
                    ("TaskStateAborted", source), ("MapIterationAborted", source),
                    ("TaskStateAborted", source), ("MapIterationAborted", source),
                    ("MapStateFailed", source), ("ExecutionFailed", history[-2]["id"])]
    aborted = [e["mapIterationAbortedEventDetails"]["index"] for e in history if e["type"] == "MapIterationAborted"]
    assert aborted == [1, 2, 3]
    assert history[-1]["executionFailedEventDetails"] == {"error": "States.Timeout"}


def test_timeout_inside_map_and_parallel_records_no_aborted_events() -> None:
    def wait(name: str) -> dict[str, Any]:
        return {"StartAt": name, "States": {name: {"Type": "Wait", "Seconds": 25, "End": True}}}

    definition = {"TimeoutSeconds": 3, "StartAt": "Par", "States": {"Par": {
        "Type": "Parallel", "End": True, "Branches": [wait("W1"), {"StartAt": "M", "States": {"M": {
            "Type": "Map", "ItemsPath": "$.items", "End": True, "Iterator": wait("W2")}}}]}}}
    execution = run(definition, {"items": [1, 2]})
    assert (execution.status, execution.error, execution.cause) == ("TIMED_OUT", None, None)
    assert not [t for t in types(execution) if t.endswith("Aborted")]
    assert execution.history[-1]["previousEventId"] == 0
    assert "executionTimedOutEventDetails" not in execution.history[-1]


# --- issue 10: one error type, explicit handler table, event identity ----------------------------

def test_one_runtime_error_type_is_immutable_and_pickles() -> None:
    error = StatesError("Custom", "why", recorded=True, final_event="MapStateFailed", source_event=7)
    for field in ("name", "cause", "recorded", "final_event", "source_event"):
        with pytest.raises(AttributeError):
            setattr(error, field, None)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.name, copy.cause, copy.recorded, copy.final_event, copy.source_event) == (
        "Custom", "why", True, "MapStateFailed", 7)
    cleared = error.replace(final_event=None)
    assert (cleared.final_event, cleared.source_event, error.final_event) == (None, 7, "MapStateFailed")
    import statemachine.interpreter.execution as execution_module

    assert not hasattr(execution_module, "Failure")


def test_the_handler_table_is_explicit_and_read_only() -> None:
    assert HANDLERS[PassState].__name__ == "run_pass"
    assert HANDLERS[TaskState].__name__ == "run_task" and HANDLERS[MapState].__name__ == "run_map"
    with pytest.raises(TypeError):
        HANDLERS[WaitState] = HANDLERS[PassState]  # type: ignore[index]
    import statemachine.interpreter.execution as execution_module

    assert not hasattr(execution_module, "HANDLERS")


def test_events_say_which_branch_or_iteration_they_belong_to() -> None:
    def leaf(name: str) -> dict[str, Any]:
        return {"StartAt": name, "States": {name: {"Type": "Pass", "End": True}}}

    definition = {"StartAt": "Par", "States": {"Par": {"Type": "Parallel", "End": True, "Branches": [
        leaf("L1"), {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "End": True,
                                                      "Iterator": leaf("L2")}}}]}}}
    execution = run(definition, {"items": ["a", "b"]})
    par = next(e.id for e in execution.events if e.type == "ParallelStateStarted")
    started = next(e.id for e in execution.events if e.type == "MapStateStarted")
    paths = {(e.type, e.path) for e in execution.events if e.type == "PassStateEntered"}
    assert paths == {("PassStateEntered", ((par, 0),)),
                     ("PassStateEntered", ((par, 1), (started, 0))),
                     ("PassStateEntered", ((par, 1), (started, 1)))}
    assert execution.events[0].path == () and execution.events[-1].path == ()
    # ours only: the AWS-shaped history has no such field
    assert all(set(h) <= {"id", "previousEventId", "timestamp", "type"} | {k for k in h if k.endswith("EventDetails")}
               for h in execution.history)


def test_virtual_time_stands_still_while_states_keep_working() -> None:
    """A long run of states under virtual time never jumps to the execution's one-year limit."""
    execution = run(LOOP, history_limit=60_000)
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
    assert execution.duration is not None and execution.duration < 3600


def test_a_retried_map_tells_its_attempts_apart() -> None:
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "IntervalSeconds": 1}],
        "Iterator": {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E"}}}}}}
    execution = run(definition, {"items": [1]})
    assert execution.error == "E"
    paths = [e.path for e in execution.events if e.type == "FailStateEntered"]
    starts = [e.id for e in execution.events if e.type == "MapStateStarted"]
    assert paths == [((starts[0], 0),), ((starts[1], 0),)] and starts[0] != starts[1]


def test_parallel_failure_links_the_aborted_sibling_to_the_failing_event() -> None:
    definition = {"StartAt": "Par", "States": {"Par": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 60, "End": True}}},
        {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "svc", "End": True}}}]}}}

    def fail(event: Any) -> Any:
        raise ValueError("bad")

    execution = run(definition, resources={"svc": fail})
    assert (execution.status, execution.error) == ("FAILED", "ValueError")
    failed = next(e for e in execution.history if e["type"] == "TaskFailed")
    aborted = {e["type"]: e["previousEventId"] for e in execution.history if e["type"].endswith("StateAborted")}
    assert aborted == {"TaskStateAborted": failed["id"], "WaitStateAborted": failed["id"]}


def test_values_under_each_limit_that_add_up_fail_the_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9 item 11: each string is under the 10,000,000-character limit, together they are
    1 GB (100 GB with [1..99999]); the evaluation fails once it has grown the process by more
    than bounds.MAX_MEMORY_GROWTH (lowered here to 100 MB)."""
    from statemachine.expressions.jsonata import bounds

    if bounds.resident_bytes() is None:
        pytest.skip("no /proc/self/statm")
    monkeypatch.setattr(bounds, "MAX_MEMORY_GROWTH", 100 << 20)
    execution = statemachine.load(_jsonata_pass('$count($map([1..1000], function($x){$pad("", 999999)}))')).run({})
    assert (execution.status, execution.error) == ("FAILED", "States.QueryEvaluationError")
    assert (execution.cause or "").endswith("The expression ran out of memory while evaluating.")
    small = statemachine.load(_jsonata_pass('$count($map([1..10], function($x){$pad("", 999999)}))')).run({})
    assert small.output == 10


# --- every state's output is limited to 256 KiB, as on AWS (payloads that double per state) -------

def test_a_payload_doubling_in_a_loop_fails_at_the_state_that_passes_256_kib() -> None:
    definition = {"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Result": {"s": "x" * 100}, "Next": "Dup"},
        "Dup": {"Type": "Pass", "Parameters": {"a.$": "$", "b.$": "$"}, "Next": "Again?"},
        "Again?": {"Type": "Choice", "Default": "Dup",
                   "Choices": [{"Variable": "$.stop", "IsPresent": True, "Next": "Done"}]},
        "Done": {"Type": "Succeed"}}}
    seen: list[dict[str, Any]] = []
    execution = run(definition, {}, on_event=seen.append)  # rendering every event stays cheap
    assert (execution.status, execution.error) == ("FAILED", "States.DataLimitExceeded")
    assert execution.cause == ("The state/task 'Dup' returned a result with a size exceeding the "
                               "maximum number of bytes service limit.")
    # 100 bytes doubled: the 12th Dup is the first past 256 KiB (2**12 * ~100 > 262,144)
    assert sum(1 for e in seen if e["type"] == "PassStateEntered"
               and e["stateEnteredEventDetails"]["name"] == "Dup") == 12
    assert len(execution.history) == len(seen)


def test_a_state_output_over_256_kib_fails_even_when_its_input_fit() -> None:
    definition = {"StartAt": "Twice", "States": {
        "Twice": {"Type": "Pass", "Parameters": {"a.$": "$.blob", "b.$": "$.blob"}, "End": True}}}
    execution = run(definition, {"blob": "y" * 150_000})
    assert (execution.status, execution.error) == ("FAILED", "States.DataLimitExceeded")
    assert run(definition, {"blob": "y" * 100_000}).status == "SUCCEEDED"


@pytest.mark.parametrize("extra, status", [(0, "SUCCEEDED"), (1, "FAILED")])
def test_the_output_limit_is_exact_when_a_state_changes_one_member_of_a_big_input(
        extra: int, status: str) -> None:
    # S1's output is measured whole; S2 adds one member and S3 replaces it, so their sizes are
    # measured from what changed -- and must still fail at 262,145 bytes, not before or after.
    limit = 256 * 1024
    blob = "y" * 200_000
    base = len(json.dumps({"blob": blob}, separators=(",", ":")))
    room = limit - base - len(',"extra":""')
    definition = {"StartAt": "S1", "States": {
        "S1": {"Type": "Pass", "Parameters": {"blob.$": "$.blob"}, "Next": "S2"},
        "S2": {"Type": "Pass", "Result": "z", "ResultPath": "$.extra", "Next": "S3"},
        "S3": {"Type": "Pass", "Result": "z" * (room + extra), "ResultPath": "$.extra", "End": True}}}
    execution = run(definition, {"blob": blob})
    assert execution.status == status
    if status == "SUCCEEDED":
        assert len(json.dumps(execution.output, separators=(",", ":"))) == limit
    else:
        assert execution.error == "States.DataLimitExceeded"
