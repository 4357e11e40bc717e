"""``sm serve --executor``: the server's worker runs Map iterations and Parallel branches on a
Dask cluster (the work runs in the cluster's worker processes, and a Distributed Map's child
executions are recorded as with the in-process executor); a bad or unreachable executor is a
clear error at start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the server extra (starlette) is not installed")
pytest.importorskip("uvicorn", reason="the server extra (uvicorn) is not installed")

from statemachine.server.config import ServerConfig
from statemachine.server.policy import ResourcePolicy
from tests.server.conftest import RunningServer

WHERE = "import os\n\ndef pid(value):\n    return {'n': value, 'pid': os.getpid()}\n"
FLOW = {"StartAt": "M", "States": {"M": {
    "Type": "Map", "End": True, "ItemsPath": "$.items",
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                      "StartAt": "W", "States": {"W": {
                          "Type": "Task", "Resource": "python:sm_serve_where:pid", "End": True}}}}}}


def test_sm_serve_executor_runs_map_work_on_the_cluster(tmp_path: Path, dask_cluster: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sm_serve_where.py").write_text(WHERE)
    monkeypatch.syspath_prepend(str(tmp_path))
    address = "dask://" + dask_cluster.client.scheduler.address.removeprefix("tcp://")
    config = ServerConfig(db=str(tmp_path / "server.db"), port=0, executor=address,
                          policy=ResourcePolicy(python_modules=("sm_serve_where",)))
    with RunningServer(config) as server:
        sfn = server.client()
        machine = sfn.create_state_machine(name="where", definition=json.dumps(FLOW),
                                           roleArn="arn:aws:iam::123456789012:role/sm")
        arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"],
                                  input=json.dumps({"items": [1, 2, 3]}))["executionArn"]
        deadline = time.monotonic() + 120
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not end"
            time.sleep(0.1)
        assert described["status"] == "SUCCEEDED", described
        output = json.loads(described["output"])
        assert [o["n"] for o in output] == [1, 2, 3]
        workers = set(dask_cluster.client.run(os.getpid).values())
        assert {o["pid"] for o in output} <= workers and os.getpid() not in workers
        runs = sfn.list_map_runs(executionArn=arn)["mapRuns"]
        assert len(runs) == 1
        run = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
        assert run["status"] == "SUCCEEDED" and run["executionCounts"]["succeeded"] == 3
        children = sfn.list_executions(mapRunArn=runs[0]["mapRunArn"])["executions"]
        assert sorted(c["status"] for c in children) == ["SUCCEEDED"] * 3


def test_sm_serve_executor_errors_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown executor 'spark'"):
        ServerConfig(executor="spark").check()
    with pytest.raises(ValueError, match="cannot go with --no-worker"):
        ServerConfig(executor="dask", worker=False).check()
    ServerConfig(executor="local", worker=False).check()  # the default, said aloud
    proc = subprocess.run([sys.executable, "-m", "statemachine.cli", "serve", "--db",
                           str(tmp_path / "sm.db"), "--port", "0", "--executor",
                           "dask://127.0.0.1:9"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SM_EXECUTOR_TIMEOUT": "1"})
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in proc.stderr
