"""OpenTelemetry spans and metrics of executions (statemachine.telemetry), read back from the
SDK's in-memory exporters. The machine has a retry, a catch, a Map and HTTP tasks against a
real loopback server, which must see each attempt's ``traceparent``."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

import statemachine
from tests.observability.conftest import Otel

HTTP = "arn:aws:states:::http:invoke"


def definition(url: str) -> dict[str, Any]:
    return {"StartAt": "Flaky", "States": {
        "Flaky": {"Type": "Task", "Resource": "flaky", "ResultPath": None,
                  "Retry": [{"ErrorEquals": ["ValueError"], "IntervalSeconds": 2, "MaxAttempts": 2}],
                  "Next": "Call"},
        "Call": {"Type": "Task", "Resource": HTTP, "ResultPath": "$.call",
                 "ResultSelector": {"status.$": "$.StatusCode"},
                 "Parameters": {"ApiEndpoint": f"{url}/json", "Method": "GET"}, "Next": "Reject"},
        "Reject": {"Type": "Task", "Resource": HTTP,
                   "Parameters": {"ApiEndpoint": f"{url}/status/503", "Method": "GET"},
                   "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.rejected", "Next": "Fan"}],
                   "Next": "Fan"},
        "Fan": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.doubled", "End": True,
                "ItemProcessor": {"StartAt": "Double", "States": {
                    "Double": {"Type": "Task", "Resource": "double", "End": True}}}},
    }}


class Handlers:
    def __init__(self) -> None:
        self.calls = 0
        self.contexts: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def flaky(self, value: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise ValueError("first attempt fails")
        return value

    def double(self, value: Any, context: Any) -> Any:
        with self.lock:
            self.contexts.append(dict(context.trace_context))
        return value * 2


def run(otel: Otel, http_server: Any, **options: Any) -> tuple[Any, Handlers]:
    handlers = Handlers()
    machine = statemachine.load(definition(http_server.url), name="Orders",
                                resources={"flaky": handlers.flaky, "double": handlers.double})
    execution = machine.run({"items": [1, 2, 3]}, virtual_time=True, telemetry=otel.telemetry(),
                            **options)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.output["doubled"] == [2, 4, 6]
    return execution, handlers


def children(spans: list[Any], parent: Any) -> list[Any]:
    kids = [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
    return sorted(kids, key=lambda s: (s.start_time, s.attributes.get("statemachine.iteration", 0)))


def traceparent(span: Any) -> str:
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def test_span_tree_attributes_and_events(otel: Otel, http_server: Any) -> None:
    execution, _ = run(otel, http_server)
    spans = otel.spans()
    roots = [s for s in spans if s.parent is None]
    assert [r.name for r in roots] == ["Orders"]
    root = roots[0]
    assert root.attributes["statemachine.execution.arn"] == execution.execution_arn
    assert root.attributes["statemachine.execution.status"] == "SUCCEEDED"
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}

    states = children(spans, root)
    assert [(s.name, s.attributes["statemachine.state.type"]) for s in states] == [
        ("Flaky", "Task"), ("Call", "Task"), ("Reject", "Task"), ("Fan", "Map")]
    flaky, call, reject, fan = states

    # retry: two attempts under the state, the first failed; a "retry" event with the delay
    attempts = children(spans, flaky)
    assert [a.attributes["statemachine.task.attempt"] for a in attempts] == [1, 2]
    assert attempts[0].attributes["error.type"] == "ValueError"
    assert attempts[0].status.status_code.name == "ERROR"
    assert attempts[1].status.status_code.name == "UNSET"
    retry = [e for e in flaky.events if e.name == "retry"]
    assert len(retry) == 1
    assert retry[0].attributes["statemachine.error"] == "ValueError"
    assert retry[0].attributes["statemachine.retry.attempt"] == 1
    assert retry[0].attributes["statemachine.retry.delay"] == 2.0
    # the retry's wait is on the (virtual) clock the history uses: 2 s between the attempts
    assert attempts[1].start_time - attempts[0].end_time == pytest.approx(2e9, abs=1e7)

    # HTTP task: resource attributes as the history names them
    (call_attempt,) = children(spans, call)
    assert call_attempt.attributes["statemachine.task.resource_type"] == "http"
    assert call_attempt.attributes["statemachine.task.resource"] == "invoke"

    # catch: the failed attempt carries the error, the state a "catch" event, and is not an error
    (reject_attempt,) = children(spans, reject)
    assert reject_attempt.attributes["statemachine.error"] == "States.Http.StatusCode.503"
    catch = [e for e in reject.events if e.name == "catch"]
    assert [e.attributes["statemachine.error"] for e in catch] == ["States.Http.StatusCode.503"]
    assert reject.status.status_code.name == "UNSET"

    # Map: one state span per item under the Map state, each with its task attempt
    items = children(spans, fan)
    assert [(s.name, s.attributes["statemachine.iteration"]) for s in items] == [
        ("Double", 0), ("Double", 1), ("Double", 2)]
    for item in items:
        (attempt,) = children(spans, item)
        assert attempt.attributes["statemachine.task.attempt"] == 1
    assert len(spans) == 1 + 4 + 2 + 1 + 1 + 3 + 3


def test_traceparent_reaches_http_server_and_python_handlers(otel: Otel, http_server: Any) -> None:
    _, handlers = run(otel, http_server)
    spans = otel.spans()
    attempts = {s.attributes["statemachine.state.name"]: s for s in spans
                if "statemachine.task.attempt" in s.attributes and s.name.startswith("http")}
    seen = {r["path"]: r["headers"] for r in http_server.requests}
    assert seen["/json"]["traceparent"] == traceparent(attempts["Call"])
    assert seen["/status/503"]["traceparent"] == traceparent(attempts["Reject"])
    item_attempts = {traceparent(s) for s in spans if s.name == "double:double"}
    assert {c["traceparent"] for c in handlers.contexts} == item_attempts
    assert len(item_attempts) == 3


def test_untraced_run_sends_no_traceparent(http_server: Any) -> None:
    handlers = Handlers()
    machine = statemachine.load(definition(http_server.url),
                                resources={"flaky": handlers.flaky, "double": handlers.double})
    assert machine.run({"items": [1]}, virtual_time=True).status == "SUCCEEDED"
    assert all("traceparent" not in {k.lower() for k in r["headers"]} for r in http_server.requests)
    assert handlers.contexts == [{}]


def test_execution_joins_the_current_trace(otel: Otel, http_server: Any) -> None:
    tracer = otel.tracer_provider.get_tracer("caller")
    with tracer.start_as_current_span("request") as caller:
        run(otel, http_server)
    spans = otel.spans()
    root = next(s for s in spans if s.name == "Orders")
    assert root.parent is not None and root.parent.span_id == caller.get_span_context().span_id
    assert {s.context.trace_id for s in spans} == {caller.get_span_context().trace_id}


def test_metrics(otel: Otel, http_server: Any) -> None:
    run(otel, http_server)
    run(otel, http_server)
    machine = {"state_machine": "Orders"}
    assert otel.total("statemachine.executions.started", **machine) == 2
    assert otel.total("statemachine.executions.succeeded", **machine) == 2
    assert otel.total("statemachine.executions.failed") == 0
    assert otel.total("statemachine.retries", state="Flaky", error="ValueError") == 2
    durations = {(a["state"], a["outcome"]): p for a, p in otel.points("statemachine.state.duration")}
    assert durations[("Flaky", "succeeded")].count == 2
    # the retry waited 2 s of (virtual) time inside the state
    assert durations[("Flaky", "succeeded")].sum == pytest.approx(4.0, abs=0.2)
    assert durations[("Double", "succeeded")].count == 6
    tasks = {(a["resource"], a["outcome"]): p for a, p in otel.points("statemachine.task.duration")}
    assert tasks[("flaky:flaky", "failed")].count == 2
    assert tasks[("flaky:flaky", "succeeded")].count == 2
    assert tasks[("http:invoke", "failed")].count == 2
    assert tasks[("http:invoke", "succeeded")].count == 2


def test_failed_timed_out_and_aborted_counters(otel: Otel) -> None:
    fail = statemachine.load({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Bad"}}}, name="F")
    assert fail.run(telemetry=otel.telemetry()).status == "FAILED"
    slow = statemachine.load({"StartAt": "W", "TimeoutSeconds": 5, "States": {
        "W": {"Type": "Wait", "Seconds": 60, "End": True}}}, name="Slow")
    assert slow.run(virtual_time=True, telemetry=otel.telemetry()).status == "TIMED_OUT"
    assert otel.total("statemachine.executions.failed", state_machine="F") == 1
    assert otel.total("statemachine.executions.timed_out", state_machine="Slow") == 1
    spans = {s.name: s for s in otel.spans()}
    assert spans["F"].attributes["error.type"] == "Bad"
    assert spans["Slow"].attributes["statemachine.execution.status"] == "TIMED_OUT"
    # the Wait still running when the execution timed out ends with it, as an error
    assert spans["W"].status.status_code.name == "ERROR"
    assert spans["W"].end_time == spans["Slow"].end_time
    held = statemachine.load({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}},
                             name="Held")
    execution = held.start(telemetry=otel.telemetry())
    execution.abort("Stop", "by test")
    assert execution.wait(10).status == "ABORTED"
    assert otel.total("statemachine.executions.aborted", state_machine="Held") == 1


def test_open_callbacks_gauge(otel: Otel) -> None:
    def submit(value: Any, context: Any) -> Any:
        return {"token": context.task_token}

    machine = statemachine.load({"StartAt": "Wait", "States": {"Wait": {
        "Type": "Task", "Resource": "submit.waitForTaskToken", "End": True}}},
        name="Approval", resources={"submit.waitForTaskToken": submit})
    execution = machine.start({}, telemetry=otel.telemetry())
    token = execution.wait_for_task_token(10)
    deadline = time.monotonic() + 30  # a bound: TaskSubmitted follows the call
    while otel.total("statemachine.callbacks.open") != 1 and time.monotonic() < deadline:
        threading.Event().wait(0.02)
    assert otel.total("statemachine.callbacks.open", state_machine="Approval") == 1
    execution.send_task_success(token, {"ok": True})
    assert execution.wait(10).status == "SUCCEEDED"
    assert otel.total("statemachine.callbacks.open", state_machine="Approval") == 0
    attempt = next(s for s in otel.spans() if s.name.startswith("submit"))
    assert [e.name for e in attempt.events] == ["callback"]


def test_parallel_failure_marks_the_failing_state(otel: Otel) -> None:
    def boom(value: Any) -> Any:
        raise RuntimeError("no")

    machine = statemachine.load({"StartAt": "P", "States": {"P": {
        "Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "Bad", "States": {"Bad": {"Type": "Task", "Resource": "boom", "End": True}}},
            {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 100, "End": True}}}]}}},
        name="Par", resources={"boom": boom})
    execution = machine.run(virtual_time=True, telemetry=otel.telemetry())
    assert execution.status == "FAILED" and execution.error == "RuntimeError"
    spans = {s.name: s for s in otel.spans()}
    assert spans["Bad"].attributes["error.type"] == "RuntimeError"
    assert spans["Bad"].status.status_code.name == "ERROR"
    assert spans["Slow"].status.status_code.name == "ERROR"  # aborted: its sibling failed
    assert spans["P"].parent.span_id == spans["Par"].context.span_id
    assert spans["Bad"].parent.span_id == spans["P"].context.span_id
    assert all(s.end_time is not None for s in spans.values())
    assert json.dumps(sorted(spans))  # every span ended and exported


def test_nothing_is_imported_when_nothing_is_configured() -> None:
    """Zero cost when off: a plain run loads neither OpenTelemetry nor the log writer."""
    import subprocess
    import sys

    code = ("import sys, statemachine\n"
            "m = statemachine.load({'StartAt': 'A', 'States': {'A': {'Type': 'Pass', 'End': True}}})\n"
            "assert m.run().status == 'SUCCEEDED'\n"
            "print(sorted(n for n in sys.modules if n.startswith(('opentelemetry', 'prometheus',"
            " 'statemachine.telemetry', 'statemachine.logs'))))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_sm_run_telemetry_joins_traceparent(tmp_path: Any) -> None:
    """``sm run --telemetry`` without configured providers prints its spans (JSON) on stderr,
    inside the trace that $TRACEPARENT hands it."""
    import os
    import subprocess
    import sys

    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}))
    trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    result = subprocess.run(
        [sys.executable, "-m", "statemachine.cli", "run", str(flow), "--telemetry", "-q", "--input", "{}"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "TRACEPARENT": f"00-{trace_id}-{parent}-01"})
    assert result.returncode == 0, result.stderr
    spans = json.loads("[" + result.stderr.replace("}\n{", "},\n{") + "]")
    by_name = {span["name"]: span for span in spans}
    assert set(by_name) == {"flow", "Only"}
    assert {span["context"]["trace_id"] for span in spans} == {f"0x{trace_id}"}
    assert by_name["flow"]["parent_id"] == f"0x{parent}"
    assert by_name["Only"]["parent_id"] == by_name["flow"]["context"]["span_id"]
