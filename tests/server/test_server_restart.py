"""A restart of the server loses nothing: executions waiting on a callback or an activity
when the server stops are answered after it starts again on the same database (SQLite, and
PostgreSQL when a server answers on 127.0.0.1:5432)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import RunningServer, config, next_activity_task, read_token, wait_status

ROLE = "arn:aws:iam::123456789012:role/StepFunctions"
CALLBACK = {"StartAt": "Ask", "States": {
    "Ask": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"order.$": "$.order"}, "Next": "Wait"},
    "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
    "Done": {"Type": "Pass", "End": True}}}


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file, or a PostgreSQL schema of its own (dropped afterwards)."""
    if request.param == "sqlite":
        yield str(tmp_path / "server.db")
        return
    try:
        import psycopg

        user = os.environ.get("PGUSER", "postgres")
        conninfo = f"host=127.0.0.1 port=5432 dbname=test user={user} connect_timeout=3"
        psycopg.connect(conninfo).close()
    except Exception as error:
        pytest.skip(f"PostgreSQL not tested: no server at 127.0.0.1:5432 ({error})")
    schema = f"sm_h3_serve_{uuid.uuid4().hex[:10]}"
    yield f"postgresql://{user}@127.0.0.1:5432/test?schema={schema}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # type: ignore[arg-type]  # test-built SQL


def test_restart_while_waiting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               database: str) -> None:
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    monkeypatch.setenv("SM_TEST_TOKENS", str(tokens))
    with RunningServer(config(tmp_path, db=database)) as first:
        sfn = first.client()
        machine = sfn.create_state_machine(name="wait", definition=json.dumps(CALLBACK),
                                           roleArn=ROLE)["stateMachineArn"]
        activity = sfn.create_activity(name="review")["activityArn"]
        reviewed = sfn.create_state_machine(name="review", roleArn=ROLE, definition=json.dumps(
            {"StartAt": "R", "States": {"R": {"Type": "Task", "Resource": activity,
                                              "End": True}}}))["stateMachineArn"]
        waiting = sfn.start_execution(stateMachineArn=machine, name="w",
                                      input='{"order": 1}')["executionArn"]
        token = read_token(tokens, "Ask")["token"]
        queued = sfn.start_execution(stateMachineArn=reviewed, name="r",
                                     input='{"doc": 9}')["executionArn"]
        assert wait_status(sfn, queued, timeout=0.5)["status"] == "RUNNING"
    with RunningServer(config(tmp_path, db=database)) as second:
        sfn = second.client()
        assert sfn.describe_execution(executionArn=waiting)["status"] == "RUNNING"
        assert [m["name"] for m in sfn.list_state_machines()["stateMachines"]] == ["review", "wait"]
        sfn.send_task_success(taskToken=token, output='{"approved": true}')
        done = wait_status(sfn, waiting)
        assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"approved": True}
        task = next_activity_task(sfn, activity, worker_name="after-restart")
        assert json.loads(task["input"]) == {"doc": 9}
        sfn.send_task_success(taskToken=task["taskToken"], output='"reviewed"')
        assert wait_status(sfn, queued)["status"] == "SUCCEEDED"
        events = sfn.get_execution_history(executionArn=waiting)["events"]
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        assert sum(e["type"] == "TaskScheduled" for e in events) == 1  # not sent twice
