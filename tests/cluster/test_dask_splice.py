"""Splicing remote events in the in-process order, beyond the corpus: MaxConcurrency with
waits of different lengths, a failing branch that aborts its waiting siblings (nested
Parallel/Map inside), iterations failing in one instant (the pool's tasks each stop at their
first failure); and ``sm run --executor`` against a running scheduler."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import statemachine


def _events(execution: Any) -> list[tuple[Any, ...]]:
    return [(e["id"], e["previousEventId"], e["type"],
             {k: v for k, v in e.items() if k.endswith("EventDetails")}, ev.path)
            for e, ev in zip(execution.history, execution.events, strict=True)]


def _wait(seconds: int, then: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Wait", "Seconds": seconds}
    state.update({"Next": then} if then else {"End": True})
    return state


WAITING_MAP = {"StartAt": "M", "States": {"M": {
    "Type": "Map", "ItemsPath": "$", "MaxConcurrency": 2, "End": True,
    "ItemProcessor": {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "SecondsPath": "$.s", "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"s.$": "$.s"}, "End": True}}}}}}

INNER_MAP = {"Type": "Map", "ItemsPath": "$.xs", "End": True,
             "ItemProcessor": {"StartAt": "W3", "States": {"W3": _wait(30)}}}
INNER = {"Type": "Parallel", "End": True, "Branches": [
    {"StartAt": "W2", "States": {"W2": _wait(40)}},
    {"StartAt": "M", "States": {"M": INNER_MAP}}]}
FAILING_PARALLEL = {"StartAt": "P", "States": {"P": {
    "Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Long", "States": {"Long": _wait(50)}},
        {"StartAt": "Short", "States": {
            "Short": _wait(5, "Boom"),
            "Boom": {"Type": "Fail", "Error": "E.Boom", "Cause": "no"}}},
        # last: at one instant a branch's nested Parallel/Map is recorded after its later
        # siblings' events in process (asyncio runs their tasks a loop turn later); remote,
        # a branch's events come together (README, "Running on a cluster")
        {"StartAt": "Inner", "States": {"Inner": INNER}}]}}}

FAILING_MAP = {"StartAt": "M", "States": {"M": {
    "Type": "Map", "ItemsPath": "$", "End": True,
    "ItemProcessor": {"StartAt": "Bad", "States": {
        "Bad": {"Type": "Map", "ItemsPath": "$.missing", "End": True,
                "ItemProcessor": {"StartAt": "N", "States": {"N": {"Type": "Pass", "End": True}}},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
        "Caught": {"Type": "Pass", "End": True}}}}}}


PURE_MAP = {"StartAt": "M", "States": {"M": {
    "Type": "Map", "ItemsPath": "$", "End": True,
    "ItemProcessor": {"StartAt": "P", "States": {"P": {
        "Type": "Pass", "Parameters": {"i.$": "$.i", "n.$": "States.MathAdd($.i, 1)"}, "End": True}}}}}}


@pytest.mark.parametrize(("definition", "payload"), [
    # two slots: 0-5 | 0-1, 1-4, 4-6 | 5-9 (no two iterations meet at one instant: there the
    # pool's own order -- who woke first -- is not reproduced, README "Running on a cluster")
    (WAITING_MAP, [{"s": 5}, {"s": 1}, {"s": 3}, {"s": 2}, {"s": 4}]),
    (FAILING_PARALLEL, {"xs": [1, 2]}),
    (FAILING_MAP, [{"a": 1}, {"a": 2}]),
    (PURE_MAP, [{"i": i} for i in range(100)]),   # more than 40: the inline pool's slots
], ids=["max-concurrency-waits", "failure-aborts-siblings", "failures-in-one-instant", "pure-100"])
def test_same_history_as_in_process(definition: dict[str, Any], payload: Any, dask_cluster: Any) -> None:
    machine = statemachine.load(definition)
    here = machine.run(payload, virtual_time=True, seed=5)
    there = machine.run(payload, virtual_time=True, seed=5, executor=dask_cluster)
    assert (there.status, there.error, there.cause, there.output) == \
        (here.status, here.error, here.cause, here.output)
    assert _events(there) == _events(here)
    assert here.status in ("SUCCEEDED", "FAILED")


def test_failure_aborts_siblings_as_in_process(dask_cluster: Any) -> None:
    execution = statemachine.load(FAILING_PARALLEL).run({"xs": [1, 2]}, virtual_time=True,
                                                        executor=dask_cluster)
    types = [e.type for e in execution.events]
    assert execution.error == "E.Boom"
    assert types.count("WaitStateAborted") == 4 and types.count("MapIterationAborted") == 2
    assert "MapStateAborted" in types and types.count("ParallelStateAborted") == 1


def test_cli_run_on_a_running_scheduler(tmp_path: Path, dask_cluster: Any) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"StartAt": "M", "States": {"M": {
        "Type": "Map", "End": True, "ItemProcessor": {"StartAt": "V", "States": {"V": {
            "Type": "Pass", "Parameters": {"v.$": "$"}, "End": True}}}}}}))
    address = dask_cluster.client.scheduler.address.removeprefix("tcp://")
    proc = subprocess.run([sys.executable, "-m", "statemachine.cli", "run", str(flow), "--json",
                           "--input", "[1, 2]", "--executor", f"dask://{address}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["status"], result["output"]) == ("SUCCEEDED", [{"v": 1}, {"v": 2}])


def test_abort_while_workers_run_does_not_wait_for_them(tmp_path: Path, dask_cluster: Any) -> None:
    done = tmp_path / "done"  # written by a worker when its 20 s are over
    (tmp_path / "sm_slow_tasks.py").write_text(f"import pathlib, time\n\ndef slow(value):\n"
                                                f"    time.sleep(20)\n    pathlib.Path({str(done)!r}).touch()\n"
                                                f"    return value\n")
    flow = tmp_path / "flow.asl.json"
    flow.write_text(json.dumps({"StartAt": "M", "States": {"M": {
        "Type": "Map", "End": True, "ItemProcessor": {"StartAt": "S", "States": {"S": {
            "Type": "Task", "Resource": "python:sm_slow_tasks:slow", "End": True}}}}}}))
    execution = statemachine.load(flow).run([1, 2], executor=dask_cluster, timeout=2)
    assert execution.status == "ABORTED"
    assert not done.exists()  # ended while the workers still slept
