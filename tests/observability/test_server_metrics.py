"""``GET /metrics`` on ``sm serve``: Prometheus's text format, read with prometheus_client's
own parser, counting executions run by the server's durable worker (started through boto3)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette", reason="the server extra (starlette) is not installed")
pytest.importorskip("prometheus_client", reason="the otel extra is not installed")

from prometheus_client.parser import text_string_to_metric_families

from statemachine.server.config import ServerConfig
from tests.server.conftest import RunningServer, wait_status

ROLE = "arn:aws:iam::123456789012:role/StepFunctions"


@pytest.fixture
def server(tmp_path: Any) -> Iterator[RunningServer]:
    with RunningServer(ServerConfig(db=str(tmp_path / "server.db"), port=0)) as running:
        yield running


def samples(server: RunningServer, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(f"{server.url}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items()
               if n == name and set(labels.items()) <= set(ls))


def test_metrics_count_server_executions(server: RunningServer) -> None:
    sfn = server.client()
    prefix = f"m{uuid.uuid4().hex[:8]}"  # the registry is process-wide: names of our own
    ok = sfn.create_state_machine(name=f"{prefix}ok", roleArn=ROLE, definition=json.dumps({
        "StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    bad = sfn.create_state_machine(name=f"{prefix}bad", roleArn=ROLE, definition=json.dumps({
        "StartAt": "Items", "States": {"Items": {
            "Type": "Map", "ItemsPath": "$.items", "End": True,
            "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "MaxAttempts": 1}],
            "ItemProcessor": {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom"}}}}}}))[
        "stateMachineArn"]
    arns = [sfn.start_execution(stateMachineArn=ok)["executionArn"] for _ in range(2)]
    arns.append(sfn.start_execution(stateMachineArn=bad, input='{"items": [1]}')["executionArn"])
    statuses = [wait_status(sfn, arn)["status"] for arn in arns]
    assert statuses == ["SUCCEEDED", "SUCCEEDED", "FAILED"]

    found = samples(server)
    assert value(found, "statemachine_executions_started_total", state_machine=f"{prefix}ok") == 2
    assert value(found, "statemachine_executions_succeeded_total", state_machine=f"{prefix}ok") == 2
    assert value(found, "statemachine_executions_started_total", state_machine=f"{prefix}bad") == 1
    assert value(found, "statemachine_executions_failed_total", state_machine=f"{prefix}bad") == 1
    assert value(found, "statemachine_executions_failed_total", state_machine=f"{prefix}ok") == 0
    assert value(found, "statemachine_retries_total", state_machine=f"{prefix}bad",
                 state="Items", error="Boom") == 1
    assert value(found, "statemachine_state_duration_seconds_count", state_machine=f"{prefix}ok",
                 state="A", outcome="succeeded") == 2
    # the Map waited one second before its retry: inside the state, on the server's clock
    assert value(found, "statemachine_state_duration_seconds_sum", state_machine=f"{prefix}bad",
                 state="Items") >= 1.0
    assert value(found, "python_gc_objects_collected_total") > 0  # prometheus_client's own


def test_metrics_sit_behind_the_token(tmp_path: Any) -> None:
    token = "metrics-token-0123456789"
    with RunningServer(ServerConfig(db=str(tmp_path / "t.db"), port=0, token=token)) as server:
        assert httpx.get(f"{server.url}/metrics", timeout=30).status_code == 403
        assert samples(server, authorization=f"Bearer {token}")


def test_server_logs_from_the_environment(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """sm serve's worker logs as $SM_LOG_LEVEL / $SM_LOG_FILE say (read at each run)."""
    log = tmp_path / "server.log"
    monkeypatch.setenv("SM_LOG_LEVEL", "FATAL")
    monkeypatch.setenv("SM_LOG_FILE", str(log))
    with RunningServer(ServerConfig(db=str(tmp_path / "s.db"), port=0)) as running:
        sfn = running.client()
        arn = sfn.create_state_machine(name="logged", roleArn=ROLE, definition=json.dumps({
            "StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope"}}}))["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
        assert wait_status(sfn, execution)["status"] == "FAILED"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["type"], line["execution_arn"]) for line in lines] == [("ExecutionFailed", execution)]
    assert lines[0]["details"] == {"error": "Nope"}
