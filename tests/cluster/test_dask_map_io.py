"""Distributed Map with ItemReader (CSV, JSON Lines), ItemSelector, ItemBatcher, tolerated
failures and ResultWriter on the Dask executor: the same output, history and result files as
in process (random names and times aside); a CSV is streamed to the cluster in batches."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import statemachine
from statemachine.resources.s3_local import GET_OBJECT, PUT_OBJECT

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def masked(value: Any) -> Any:
    text = json.dumps(value, default=str, sort_keys=True)
    return json.loads(_DATE.sub("<date>", _UUID.sub("<uuid>", text)))


def flow(input_type: str, key: str, *, batch: bool, tolerated: int | None, writer: bool) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Map", "End": True, "Label": "Rows",
        "ItemReader": {"Resource": GET_OBJECT, "ReaderConfig": {"InputType": input_type},
                       "Parameters": {"Bucket": "data", "Key": key}},
        "ItemSelector": {"n.$": "$$.Map.Item.Value.n", "at.$": "$$.Map.Item.Index"},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Check",
            "States": {
                "Check": {"Type": "Choice", "Default": "Done", "Choices": [{
                    "Variable": "$.at" if not batch else "$.Items[0].at",
                    "NumericEquals": 14, "Next": "Boom"}]},
                "Boom": {"Type": "Fail", "Error": "Item.Bad", "Cause": "item 14 is bad"},
                "Done": {"Type": "Pass", "End": True}}},
    }
    if batch:
        state["ItemBatcher"] = {"MaxItemsPerBatch": 7, "BatchInput": {"tag": "b"}}
    if tolerated is not None:
        state["ToleratedFailureCount"] = tolerated
    if writer:
        state["ResultWriter"] = {"Resource": PUT_OBJECT,
                                 "Parameters": {"Bucket": "results", "Prefix": "out"}}
    return {"StartAt": "M", "States": {"M": state}}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "s3" / "data").mkdir(parents=True)
    (tmp_path / "s3" / "results").mkdir()
    rows = [{"n": str(n * 3)} for n in range(60)]
    (tmp_path / "s3" / "data" / "rows.csv").write_text(
        "n,extra\n" + "".join(f"{r['n']},x\n" for r in rows))
    (tmp_path / "s3" / "data" / "rows.jsonl").write_text(
        "".join(json.dumps({"n": n * 3}) + "\n" for n in range(60)))
    (tmp_path / "map.yaml").write_text("local_s3: true\n")
    return tmp_path


def _files(root: Path) -> dict[str, Any]:
    found = {}
    for path in sorted((root / "s3" / "results").rglob("*")):
        if path.is_file():
            name = _UUID.sub("<uuid>", str(path.relative_to(root)))
            found[name] = masked(json.loads(path.read_text()))
    return found


def _run(project: Path, definition: dict[str, Any], **options: Any) -> tuple[Any, dict[str, Any]]:
    for old in (project / "s3" / "results").rglob("*"):
        if old.is_file():
            old.unlink()
    (project / "flow.json").write_text(json.dumps(definition))
    machine = statemachine.load(project / "flow.json", resource_map=project / "map.yaml")
    execution = machine.run({}, virtual_time=True, seed=3, **options)
    history = [(e["id"], e["previousEventId"], e["type"],
                masked({k: v for k, v in e.items() if k.endswith("EventDetails")}))
               for e in execution.history]
    return (execution.status, execution.error, masked(execution.cause), masked(execution.output),
            history), _files(project)


@pytest.mark.parametrize(("input_type", "key"), [("CSV", "rows.csv"), ("JSONL", "rows.jsonl")])
@pytest.mark.parametrize(("batch", "tolerated", "writer"), [
    (False, None, False),   # one failure fails the Map run
    (False, 3, True),       # tolerated, written to result files (records of each child)
    (True, 1, True),        # batches of 7, the batch holding item 14 fails, tolerated
    (True, 0, False),       # the same batch exceeds a tolerance of 0
])
def test_same_as_in_process(project: Path, dask_cluster: Any, input_type: str, key: str,
                            batch: bool, tolerated: int | None, writer: bool) -> None:
    definition = flow(input_type, key, batch=batch, tolerated=tolerated, writer=writer)
    here, here_files = _run(project, definition)
    there, there_files = _run(project, definition, executor=dask_cluster)
    assert there == here
    assert there_files == here_files
    if writer:
        assert any("SUCCEEDED_0.json" in name for name in here_files)
    expected_status = "FAILED" if tolerated in (None, 0) else "SUCCEEDED"
    assert here[0] == expected_status


def test_a_large_csv_streams_in_batches(project: Path, dask_cluster: Any) -> None:
    rows = 30_000
    (project / "s3" / "data" / "big.csv").write_text(
        "n,extra\n" + "".join(f"{n},x\n" for n in range(rows)))
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "End": True,
        "ItemReader": {"Resource": GET_OBJECT, "ReaderConfig": {"InputType": "CSV"},
                       "Parameters": {"Bucket": "data", "Key": "big.csv"}},
        "ItemBatcher": {"MaxItemsPerBatch": 1000},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Sum", "States": {"Sum": {
                              "Type": "Pass", "End": True, "QueryLanguage": "JSONata",
                              "Output": "{% $sum($states.input.Items.$number(n)) %}"}}}}}}
    (project / "flow.json").write_text(json.dumps(definition))
    machine = statemachine.load(project / "flow.json", resource_map=project / "map.yaml")
    execution = machine.run({}, executor=dask_cluster)
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == [sum(range(k * 1000, (k + 1) * 1000)) for k in range(30)]
