"""Execution logs (statemachine.logs): JSON lines in the shape of Step Functions' CloudWatch
log events, filtered by AWS's log levels, through the API, ``sm run`` and ``sm worker``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import statemachine
from statemachine import LoggingConfiguration

# AWS's CloudWatch log event of a Step Functions execution: these keys, ids/timestamps as strings
FIELDS = ["id", "type", "details", "previous_event_id", "event_timestamp", "execution_arn", "redrive_count"]
# AWS's log levels: ERROR logs the failure events, FATAL only the execution's own failures
ERROR_TYPES = {"TaskFailed", "MapIterationFailed", "MapStateFailed", "FailStateEntered",
               "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted", "TaskTimedOut",
               "ParallelStateFailed", "TaskStateAborted", "WaitStateAborted"}
FATAL_TYPES = {"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}

FLOW = {"StartAt": "Work", "States": {
    "Work": {"Type": "Task", "Resource": "work", "Next": "Items",
             "Retry": [{"ErrorEquals": ["ValueError"], "IntervalSeconds": 1, "MaxAttempts": 1}],
             "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Items"}]},
    "Items": {"Type": "Map", "ItemsPath": "$.items", "Next": "Done",
              "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}},
    "Done": {"Type": "Fail", "Error": "Finished", "Cause": "on purpose"}}}


def work(value: Any) -> Any:
    raise ValueError("always")


def run(config: LoggingConfiguration, data: Any = None) -> tuple[Any, list[dict[str, Any]]]:
    stream = io.StringIO()
    config = LoggingConfiguration(config.level, config.include_execution_data, stream)
    machine = statemachine.load(FLOW, name="Logged", resources={"work": work})
    execution = machine.run(data or {"items": [1, 2], "secret": "payload-value"},
                            virtual_time=True, logging=config)
    assert execution.status == "FAILED" and execution.error == "Finished"
    return execution, [json.loads(line) for line in stream.getvalue().splitlines()]


def test_all_logs_every_event_in_aws_shape() -> None:
    execution, lines = run(LoggingConfiguration("ALL", include_execution_data=True))
    history = execution.history
    assert len(lines) == len(history)
    for line, event in zip(lines, history, strict=True):
        assert list(line) == FIELDS
        assert line["id"] == str(event["id"])
        assert line["type"] == event["type"]
        assert line["previous_event_id"] == str(event["previousEventId"])
        assert line["event_timestamp"] == str(round(event["timestamp"].timestamp() * 1000))
        assert line["execution_arn"] == execution.execution_arn
        assert line["redrive_count"] == "0"
        details = [v for k, v in event.items() if k.endswith("EventDetails")]
        assert line["details"] == (details[0] if details else {})
    started = lines[0]
    assert started["type"] == "ExecutionStarted"
    assert json.loads(started["details"]["input"])["secret"] == "payload-value"
    assert started["details"]["inputDetails"] == {"truncated": False}


def test_without_execution_data_payloads_are_left_out() -> None:
    _, lines = run(LoggingConfiguration("ALL"))
    text = json.dumps(lines)
    assert "payload-value" not in text
    for line in lines:
        assert not {"input", "output", "parameters", "inputDetails", "outputDetails"} & set(line["details"])
    failed = next(line for line in lines if line["type"] == "TaskFailed")
    assert failed["details"]["error"] == "ValueError"  # errors and causes stay
    assert failed["details"]["resource"] == "work"


@pytest.mark.parametrize(("level", "allowed"), [("ERROR", ERROR_TYPES), ("FATAL", FATAL_TYPES)])
def test_levels_filter_as_aws_does(level: str, allowed: set[str]) -> None:
    execution, lines = run(LoggingConfiguration(level))  # type: ignore[arg-type]
    expected = [str(e["id"]) for e in execution.history if e["type"] in allowed]
    assert [line["id"] for line in lines] == expected
    assert expected  # the run has such events: the filter is what is tested
    if level == "ERROR":
        assert [line["type"] for line in lines] == ["TaskFailed", "TaskFailed", "FailStateEntered",
                                                    "ExecutionFailed"]


def test_off_logs_nothing() -> None:
    assert run(LoggingConfiguration("OFF"))[1] == []


def test_big_payloads_are_truncated_as_cloudwatch_does() -> None:
    big = {"items": [], "blob": "x" * (250 * 1024)}
    _, lines = run(LoggingConfiguration("ALL", include_execution_data=True), big)
    started = lines[0]["details"]
    assert started["inputDetails"] == {"truncated": True}
    assert len(started["input"].encode()) == 248 * 1024


def test_configuration_checks_and_aws_spelling(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ALL, ERROR, FATAL, OFF"):
        LoggingConfiguration("DEBUG")  # type: ignore[arg-type]
    config = LoggingConfiguration.from_dict({"Level": "error", "IncludeExecutionData": True,
                                             "destination": str(tmp_path / "x.log")})
    assert (config.level, config.include_execution_data) == ("ERROR", True)
    with pytest.raises(ValueError, match="unknown field"):
        LoggingConfiguration.from_dict({"level": "ALL", "destinations": []})
    assert LoggingConfiguration.from_environment({}) is None
    assert LoggingConfiguration.from_environment({"SM_LOG_LEVEL": "fatal"}) == LoggingConfiguration("FATAL")


def test_load_sets_the_machine_default_and_run_overrides(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "machine.log"
    machine = statemachine.load(FLOW, resources={"work": work}, logging=LoggingConfiguration("FATAL", destination=log))
    machine.run({"items": []}, virtual_time=True)
    machine.run({"items": []}, virtual_time=True, logging=None)  # this run logs nothing
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["ExecutionFailed"]


def sm(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "statemachine.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=cwd,
                          env={**os.environ, **(env or {})})


FAIL_FLOW = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "F"},
                                        "F": {"Type": "Fail", "Error": "Bad", "Cause": "because"}}}


def test_sm_run_log_options(tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(FAIL_FLOW))
    result = sm("run", str(flow), "--input", '{"k": "v"}', "--log-level", "error", "-q")
    assert result.returncode == 1
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [line["type"] for line in logged] == ["FailStateEntered", "ExecutionFailed"]
    log = tmp_path / "out" / "run.log"
    result = sm("run", str(flow), "--input", '{"k": "v"}', "--log-file", str(log), "--log-include-data", "-q")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["ExecutionStarted", "PassStateEntered", "PassStateExited",
                                                "FailStateEntered", "ExecutionFailed"]
    assert json.loads(lines[0]["details"]["input"]) == {"k": "v"}
    assert not any(line.startswith("{") for line in result.stderr.splitlines())
    bad = sm("run", str(flow), "--input", "{}", env={"SM_LOG_LEVEL": "LOUD"})
    assert bad.returncode == 2 and "log level must be one of ALL, ERROR, FATAL, OFF" in bad.stderr


def test_durable_runs_log_each_event_once(tmp_path: Path) -> None:
    """A durable execution replays its history at every resume: only new events are logged."""
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3, "Next": "F"},  # past park_after (2 s): parks, resumes
        "F": {"Type": "Fail", "Error": "Bad"}}}))
    db = str(tmp_path / "x.db")
    log = tmp_path / "durable.log"
    result = sm("run", str(flow), "--db", db, "--input", "{}", "--log-file", str(log))
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["id"] for line in lines] == [str(i) for i in range(1, len(lines) + 1)]
    assert [line["type"] for line in lines] == ["ExecutionStarted", "WaitStateEntered", "WaitStateExited",
                                                "FailStateEntered", "ExecutionFailed"]
    # sm start + sm worker --until-idle, the level from the environment
    flow.write_text(json.dumps(FAIL_FLOW))
    started = sm("start", str(flow), "--db", db, "--input", "{}")
    assert started.returncode == 0, started.stderr
    worker = sm("worker", "--db", db, "--until-idle", "--park-after", "0.1",
                env={"SM_LOG_LEVEL": "FATAL", "SM_LOG_FILE": str(tmp_path / "worker.log")})
    assert worker.returncode == 0, worker.stderr
    fatal = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines()]
    assert [line["type"] for line in fatal] == ["ExecutionFailed"]
