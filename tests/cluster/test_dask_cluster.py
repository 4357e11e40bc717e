"""The Dask executor against a real cluster: a scheduler and two workers started as separate
processes (``dask scheduler``, ``dask worker``), one worker killed (SIGKILL) in the middle of a
Map; an unreachable scheduler; handlers a worker cannot import; the CLI flag."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import statemachine
from tests.cluster.conftest import dask_or_skip

TASKS = '''
import os, time, uuid

def slow_square(value):
    # one marker file per run: how many times each item ran (at least once)
    folder = os.environ["SM_TEST_MARKERS"]
    open(os.path.join(folder, f"{value['n']}-{uuid.uuid4().hex}"), "w").close()
    time.sleep(0.15)
    return value["n"] * value["n"]
'''

MAP = {
    "StartAt": "Squares",
    "States": {"Squares": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Square",
                          "States": {"Square": {"Type": "Task", "Resource": "python:sm_kill_tasks:slow_square",
                                                "End": True}}},
        "End": True}},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def real_cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """``dask scheduler`` + two ``dask worker`` processes (no nanny: a killed worker stays dead)."""
    dask_or_skip()
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "SM_TEST_MARKERS": str(tmp_path / "markers")}
    (tmp_path / "markers").mkdir()
    logs = open(tmp_path / "cluster.log", "wb")  # noqa: SIM115 - closed below
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard"],
                              stdout=logs, stderr=subprocess.STDOUT, env=env)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", f"tcp://{address}", "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
                stdout=logs, stderr=subprocess.STDOUT, env=env))
        yield address, procs
    finally:
        # the workers first, each to its end, then the scheduler: a worker told to stop while
        # the scheduler closes can hang in distributed's close (it went on past 60 s in half
        # the tries), and a process killed then must be reaped, or its Popen fails a later
        # test with a ResourceWarning
        for proc in reversed(procs):
            _stop(proc)
        logs.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM ``proc`` and wait for it; SIGKILL it after 60 s (bounded either way)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=60)


def test_killed_worker_mid_map_gives_the_full_result(real_cluster: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from statemachine.executors import DaskExecutor

    address, procs = real_cluster
    markers = tmp_path / "markers"
    (tmp_path / "sm_kill_tasks.py").write_text(TASKS)
    (tmp_path / "flow.asl.json").write_text(json.dumps(MAP))
    monkeypatch.setenv("SM_TEST_MARKERS", str(markers))
    machine = statemachine.load(tmp_path / "flow.asl.json")
    items = [{"n": n} for n in range(48)]
    executor = DaskExecutor(f"dask://{address}", connect_timeout=60)
    try:
        _wait_for(lambda: len(executor.client.nthreads()) == 2, 60, "two workers")
        assert executor.slots == 2 or len(executor.client.nthreads()) == 2
        outcome: list[Any] = []
        runner = threading.Thread(target=lambda: outcome.append(
            machine.run({"items": items}, executor=executor)))
        runner.start()
        _wait_for(lambda: len(list(markers.iterdir())) >= 8, 60, "the Map to be under way")
        assert runner.is_alive()  # the Map is under way, not finished
        procs[2].send_signal(signal.SIGKILL)  # one worker dies in the middle of the Map
        runner.join(timeout=120)
        assert not runner.is_alive()
    finally:
        executor.close()
    execution = outcome[0]
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.output == [n * n for n in range(48)]
    assert procs[2].poll() is not None  # it really died
    runs = [p.name.split("-")[0] for p in markers.iterdir()]
    assert set(runs) == {str(n) for n in range(48)}  # every item ran: at least once
    assert len(runs) >= 48


def test_unreachable_scheduler_is_a_clear_error_not_a_hang() -> None:
    dask_or_skip()
    from statemachine.executors import DaskExecutor, ExecutorError

    port = _free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ExecutorError, match=rf"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 1 s"):
        DaskExecutor(f"dask://127.0.0.1:{port}", connect_timeout=1)
    assert time.monotonic() - started < 30


def test_cli_run_with_unreachable_scheduler_fails_at_start(tmp_path: Path) -> None:
    dask_or_skip()
    (tmp_path / "flow.json").write_text(json.dumps({"StartAt": "P", "States": {"P": {
        "Type": "Parallel", "End": True,
        "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}]}}}))
    port = _free_port()
    proc = subprocess.run([sys.executable, "-m", "statemachine.cli", "run", str(tmp_path / "flow.json"),
                           "--executor", f"dask://127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SM_EXECUTOR_TIMEOUT": "1"})
    assert proc.returncode != 0
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_live_handler_is_refused_when_a_remote_executor_is_chosen() -> None:
    from statemachine.interpreter.remote import RemoteHandlerError

    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "End": True,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "live",
                                                           "End": True}}}}}}
    machine = statemachine.load(definition, resources={"live": lambda value: value})
    with pytest.raises(RemoteHandlerError, match=r"resource 'live'.*live object of this process"):
        statemachine.load(definition, resources={"live": lambda value: value},
                          executor="dask")
    with pytest.raises(RemoteHandlerError, match="resource 'live'"):
        machine.run([1, 2], executor="dask")  # refused before any cluster starts
    assert machine.run([1, 2]).output == [1, 2]  # in process it is fine


def test_wait_for_task_token_inside_a_map_is_refused() -> None:
    from statemachine.interpreter.remote import RemoteHandlerError

    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "End": True,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "f", "Payload": {"t.$": "$$.Task.Token"}},
            "End": True}}}}}}
    with pytest.raises(RemoteHandlerError, match="waits for a task token"):
        statemachine.load(definition, executor="dask")


def test_scheduler_without_workers_is_a_named_error(tmp_path: Path) -> None:
    dask_or_skip()
    from statemachine.executors import DaskExecutor, ExecutorError

    port = _free_port()
    with open(tmp_path / "scheduler.log", "wb") as log:
        scheduler = subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                                      "--port", str(port), "--no-dashboard"],
                                     stdout=log, stderr=subprocess.STDOUT)
        try:
            def listening() -> bool:
                with socket.socket() as s:
                    return s.connect_ex(("127.0.0.1", port)) == 0
            _wait_for(listening, 120, "the scheduler to listen")
            with pytest.raises(ExecutorError, match=rf"the Dask scheduler at tcp://127.0.0.1:{port} "
                                                    r"has no worker \(none joined within 1 s\)"):
                DaskExecutor(f"dask://127.0.0.1:{port}", connect_timeout=1)
        finally:
            _stop(scheduler)


def test_cli_takes_the_tcp_address_the_scheduler_prints(tmp_path: Path) -> None:
    dask_or_skip()
    (tmp_path / "flow.json").write_text(json.dumps({"StartAt": "P", "States": {"P": {
        "Type": "Pass", "End": True}}}))
    port = _free_port()  # nothing listens there: the address is taken, then not reached
    proc = subprocess.run([sys.executable, "-m", "statemachine.cli", "run", str(tmp_path / "flow.json"),
                           "--executor", f"tcp://127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SM_EXECUTOR_TIMEOUT": "1"})
    assert proc.returncode == 2
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in proc.stderr
