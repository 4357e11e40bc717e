"""Distributed Map ItemReader / ResultWriter through the public API, with Python stand-ins for
the S3 resources (statemachine.load(defn, resources={...})).

Expected shapes follow the AWS Step Functions docs (ItemReader / ResultWriter pages): CSV rows
become objects keyed by the header with string values, a JSON object must hold an array,
MaxItems limits the items (0 = all), and an exporting ResultWriter makes the Map's output
``{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key": ".../manifest.json"}}``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import statemachine
from statemachine.errors import ResourceNotFoundError
from statemachine.resources.base import TaskRequest
from tests.unit.interpreter.helpers import run, types

GET = "arn:aws:states:::s3:getObject"
LIST = "arn:aws:states:::s3:listObjectsV2"
PUT = "arn:aws:states:::s3:putObject"
PASS_PROCESSOR = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                  "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
CSV_TEXT = "id,name\n1,ann\n2,bob\n3,cy\n"


def machine(reader: dict[str, Any] | None = None, writer: dict[str, Any] | None = None,
            **extra: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Map", "End": True, "ItemProcessor": PASS_PROCESSOR, **extra}
    if reader is not None:
        state["ItemReader"] = reader
    if writer is not None:
        state["ResultWriter"] = writer
    return {"StartAt": "M", "States": {"M": state}}


def get_reader(config: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
    reader: dict[str, Any] = {"Resource": GET, "Parameters": {"Bucket": "in", "Key": "data", **params}}
    if config is not None:
        reader["ReaderConfig"] = config
    return reader


class Store:
    """A tiny in-memory S3: getObject / listObjectsV2 / putObject stand-ins that record calls."""

    def __init__(self, content: Any = CSV_TEXT) -> None:
        self.content = content
        self.calls: list[dict[str, Any]] = []
        self.puts: dict[str, str] = {}

    def get(self, params: dict[str, Any]) -> Any:
        self.calls.append(params)
        return self.content

    def put(self, params: dict[str, Any]) -> dict[str, Any]:
        self.puts[params["Key"]] = params["Body"]
        return {"ETag": '"x"'}

    def resources(self) -> dict[str, Any]:
        return {GET: self.get, PUT: self.put}


# --- ItemReader ------------------------------------------------------------------------------

def test_csv_first_row_header_gives_objects_of_strings() -> None:
    store = Store()
    execution = run(machine(get_reader({"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"})),
                    resources=store.resources())
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == [{"id": "1", "name": "ann"}, {"id": "2", "name": "bob"},
                                {"id": "3", "name": "cy"}]
    assert store.calls == [{"Bucket": "in", "Key": "data"}]


def test_csv_given_headers_read_every_row_and_pad_missing_fields() -> None:
    store = Store("1,ann\n2\n")
    config = {"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["id", "name"]}
    execution = run(machine(get_reader(config)), resources=store.resources())
    assert execution.output == [{"id": "1", "name": "ann"}, {"id": "2", "name": ""}]


def test_csv_delimiter_and_a_request_handler_returning_bytes() -> None:
    requests: list[TaskRequest] = []

    def get(request: TaskRequest) -> Any:  # a ResourceHandler proper (not a task function)
        requests.append(request)
        return {"Body": b"a|b\nx|y\n"}

    config = {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", "CSVDelimiter": "PIPE"}
    execution = run(machine(get_reader(config)), resources={GET: get})
    assert execution.output == [{"a": "x", "b": "y"}]
    assert [(r.resource, r.input, r.state_name) for r in requests] == [
        (GET, {"Bucket": "in", "Key": "data"}, "M")]


def test_csv_duplicate_headers_fail_the_reader() -> None:
    store = Store("a,a\n1,2\n")
    execution = run(machine(get_reader({"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"})),
                    resources=store.resources())
    assert (execution.status, execution.error) == ("FAILED", "States.ItemReaderFailed")
    assert execution.cause == "CSV headers cannot contain duplicates."


@pytest.mark.parametrize("content", ['[{"a": 1}, 2, "three"]', [{"a": 1}, 2, "three"]])
def test_json_array_from_text_or_parsed_value(content: Any) -> None:
    execution = run(machine(get_reader({"InputType": "JSON"})), resources=Store(content).resources())
    assert execution.output == [{"a": 1}, 2, "three"]


def test_json_that_is_not_an_array_fails() -> None:
    execution = run(machine(get_reader({"InputType": "JSON"})),
                    resources=Store('{"a": [1]}').resources())
    assert (execution.status, execution.error) == ("FAILED", "States.ItemReaderFailed")
    assert execution.cause == "Attempting to map over non-iterable node."
    assert types(execution)[-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]


def test_jsonl_one_item_per_line() -> None:
    content = '{"n": 1}\n\n{"n": 2}\n[3]\n'
    execution = run(machine(get_reader({"InputType": "JSONL"})), resources=Store(content).resources())
    assert execution.output == [{"n": 1}, {"n": 2}, [3]]


@pytest.mark.parametrize(("config", "expected"), [
    ({"MaxItems": 2}, 2),
    ({"MaxItems": 0}, 3),  # 0 = no limit
    ({"MaxItemsPath": "$.limit"}, 1),
])
def test_max_items_limits_the_items(config: dict[str, Any], expected: int) -> None:
    reader = get_reader({"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", **config})
    execution = run(machine(reader), {"limit": 1}, resources=Store().resources())
    assert execution.status == "SUCCEEDED", execution.cause
    assert [row["id"] for row in execution.output] == ["1", "2", "3"][:expected]


def test_negative_max_items_path_fails_the_reader() -> None:
    reader = get_reader({"InputType": "JSON", "MaxItemsPath": "$.limit"})
    execution = run(machine(reader), {"limit": -1}, resources=Store("[1]").resources())
    assert (execution.status, execution.error) == ("FAILED", "States.ItemReaderFailed")


def test_parameters_are_evaluated_against_the_state_input() -> None:
    store = Store("[1, 2]")
    reader = {"Resource": GET, "ReaderConfig": {"InputType": "JSON"},
              "Parameters": {"Bucket.$": "$.bucket", "Key.$": "States.Format('{}.json', $.name)"}}
    execution = run(machine(reader), {"bucket": "b1", "name": "items"}, resources=store.resources())
    assert execution.output == [1, 2]
    assert store.calls == [{"Bucket": "b1", "Key": "items.json"}]


def test_jsonata_arguments() -> None:
    store = Store("[5]")
    reader = {"Resource": GET, "ReaderConfig": {"InputType": "JSON"},
              "Arguments": {"Bucket": "{% $states.input.bucket %}", "Key": "k"}}
    definition = machine(reader)
    definition["QueryLanguage"] = "JSONata"
    execution = run(definition, {"bucket": "b2"}, resources=store.resources())
    assert execution.output == [5]
    assert store.calls == [{"Bucket": "b2", "Key": "k"}]


def test_item_selector_sees_the_read_items() -> None:
    reader = get_reader({"InputType": "JSON"})
    definition = machine(reader, ItemSelector={"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"})
    execution = run(definition, resources=Store('["a", "b"]').resources())
    assert execution.output == [{"v": "a", "i": 0}, {"v": "b", "i": 1}]


def test_items_path_is_not_applied_to_the_reader_output() -> None:
    definition = machine(get_reader({"InputType": "JSON"}), ItemsPath="$.nothing")
    execution = run(definition, {}, resources=Store("[1, 2]").resources())
    assert execution.output == [1, 2]


def test_reader_handler_error_is_item_reader_failed() -> None:
    def broken(params: dict[str, Any]) -> Any:
        raise FileNotFoundError("no such key: data")

    execution = run(machine(get_reader({"InputType": "JSON"})), resources={GET: broken})
    assert (execution.status, execution.error) == ("FAILED", "States.ItemReaderFailed")
    assert "no such key: data" in (execution.cause or "")
    assert types(execution)[-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]


def test_reader_failure_can_be_caught() -> None:
    definition = machine(get_reader({"InputType": "JSON"}))
    state = definition["States"]["M"]
    del state["End"]
    state["Next"] = "Done"
    state["Catch"] = [{"ErrorEquals": ["States.ItemReaderFailed"], "Next": "Done"}]
    definition["States"]["Done"] = {"Type": "Pass", "End": True}
    execution = run(definition, resources=Store("not json").resources())
    assert execution.status == "SUCCEEDED"
    assert execution.output["Error"] == "States.ItemReaderFailed"


def test_list_objects_v2_follows_pages_and_keeps_the_object_fields() -> None:
    calls: list[dict[str, Any]] = []
    pages = [
        {"IsTruncated": True, "NextContinuationToken": "t1",
         "Contents": [{"Key": "a.txt", "Size": 1, "ETag": '"e1"', "StorageClass": "STANDARD",
                       "LastModified": "2024-01-01T00:00:00Z"}]},
        {"IsTruncated": False, "Contents": [{"Key": "b.txt", "Size": 2, "ETag": '"e2"',
                                             "StorageClass": "STANDARD", "LastModified": 1}]},
    ]

    def list_objects(params: dict[str, Any]) -> Any:
        calls.append(dict(params))
        return pages[len(calls) - 1]

    reader = {"Resource": LIST, "Parameters": {"Bucket": "in", "Prefix": "p/"}}
    execution = run(machine(reader), resources={LIST: list_objects})
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == [
        {"Etag": '"e1"', "Key": "a.txt", "LastModified": 1704067200, "Size": 1, "StorageClass": "STANDARD"},
        {"Etag": '"e2"', "Key": "b.txt", "LastModified": 1, "Size": 2, "StorageClass": "STANDARD"},
    ]
    assert calls == [{"Bucket": "in", "Prefix": "p/"},
                     {"Bucket": "in", "Prefix": "p/", "ContinuationToken": "t1"}]


def test_an_unresolvable_reader_resource_fails_load() -> None:
    with pytest.raises(ResourceNotFoundError, match="s3:getObject"):
        statemachine.load(machine(get_reader({"InputType": "JSON"})))


# --- ResultWriter ----------------------------------------------------------------------------

WRITER = {"Resource": PUT, "Parameters": {"Bucket": "out", "Prefix": "jobs"}}


def test_result_writer_output_is_the_manifest_location() -> None:
    store = Store('[{"x": 1}, {"x": 2}]')
    execution = run(machine(get_reader({"InputType": "JSON"}), WRITER), resources=store.resources())
    assert execution.status == "SUCCEEDED", execution.cause
    output = execution.output
    assert set(output) == {"MapRunArn", "ResultWriterDetails"}
    run_arn = output["MapRunArn"]
    assert run_arn.startswith("arn:aws:states:us-east-1:123456789012:mapRun:StateMachine/M:")
    run_id = run_arn.rsplit(":", 1)[-1]
    assert output["ResultWriterDetails"] == {"Bucket": "out", "Key": f"jobs/{run_id}/manifest.json"}
    manifest = json.loads(store.puts[f"jobs/{run_id}/manifest.json"])
    succeeded = f"jobs/{run_id}/SUCCEEDED_0.json"
    assert manifest["DestinationBucket"] == "out"
    assert manifest["MapRunArn"] == run_arn
    assert manifest["ResultFiles"]["FAILED"] == []
    assert manifest["ResultFiles"]["SUCCEEDED"] == [{"Key": succeeded, "Size": len(store.puts[succeeded].encode())}]
    records = json.loads(store.puts[succeeded])
    assert [json.loads(r["Output"]) for r in records] == [{"x": 1}, {"x": 2}]
    assert [json.loads(r["Input"]) for r in records] == [{"x": 1}, {"x": 2}]
    assert {r["Status"] for r in records} == {"SUCCEEDED"}


def test_result_writer_with_items_from_the_input_and_compact_jsonl() -> None:
    store = Store()
    writer = {**WRITER, "WriterConfig": {"OutputType": "JSONL", "Transformation": "COMPACT"}}
    definition = machine(None, writer)
    execution = run(definition, [1, [2, 3]], resources=store.resources())
    key = next(k for k in store.puts if "SUCCEEDED_0" in k)
    assert store.puts[key] == "1\n[2,3]\n"
    assert execution.output["ResultWriterDetails"]["Key"].endswith("/manifest.json")


def test_writer_config_alone_transforms_the_map_output() -> None:
    writer = {"WriterConfig": {"OutputType": "JSON", "Transformation": "FLATTEN"}}
    execution = run(machine(None, writer), [[1, 2], 3, [4]], resources={})
    assert execution.output == [1, 2, 3, 4]


def test_tolerated_failures_go_to_a_failed_file() -> None:
    store = Store("[1, 2]")
    processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                 "StartAt": "C", "States": {
                     "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "F"}],
                           "Default": "P"},
                     "F": {"Type": "Fail", "Error": "Boom", "Cause": "two"},
                     "P": {"Type": "Pass", "End": True}}}
    definition = machine(get_reader({"InputType": "JSON"}), WRITER, ToleratedFailureCount=1)
    definition["States"]["M"]["ItemProcessor"] = processor
    execution = run(definition, resources=store.resources())
    assert execution.status == "SUCCEEDED", execution.cause
    failed = next(k for k in store.puts if "FAILED_0" in k)
    [record] = json.loads(store.puts[failed])
    assert (record["Status"], record["Error"], record["Cause"]) == ("FAILED", "Boom", "two")


def test_writer_handler_error_is_result_writer_failed() -> None:
    def broken(params: dict[str, Any]) -> Any:
        raise PermissionError("access denied")

    execution = run(machine(None, WRITER), [1], resources={PUT: broken})
    assert (execution.status, execution.error) == ("FAILED", "States.ResultWriterFailed")
    assert "access denied" in (execution.cause or "")


def test_an_unresolvable_writer_resource_fails_load() -> None:
    with pytest.raises(ResourceNotFoundError, match="s3:putObject"):
        statemachine.load(machine(None, WRITER))


# --- local-folder stand-ins ------------------------------------------------------------------

def test_local_folder_stand_ins_through_a_resource_map(tmp_path: Any, monkeypatch: Any) -> None:
    # buckets are folders inside one root ($SM_S3_ROOT here); tests/unit/resources/test_s3_local.py
    # covers the confinement
    monkeypatch.setenv("SM_S3_ROOT", str(tmp_path))
    bucket = tmp_path / "input"
    (bucket / "rows").mkdir(parents=True)
    (tmp_path / "output").mkdir()
    (bucket / "rows" / "a.csv").write_text("k,v\nx,1\n", encoding="utf-8")
    (bucket / "other.txt").write_text("zz", encoding="utf-8")
    module = "python:statemachine.interpreter.itemio:"
    resource_map = {"resources": {GET: module + "local_get_object", LIST: module + "local_list_objects",
                                  PUT: module + "local_put_object"}}
    reader = {"Resource": GET, "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
              "Parameters": {"Bucket.$": "$.bucket", "Key": "rows/a.csv"}}
    writer = {"Resource": PUT, "Parameters": {"Bucket.$": "$.out", "Prefix": "res"}}
    sm = statemachine.load(machine(reader, writer), resource_map=resource_map)
    execution = sm.run({"bucket": "input", "out": "output"}, virtual_time=True)
    assert execution.status == "SUCCEEDED", execution.cause
    manifest = tmp_path / "output" / execution.output["ResultWriterDetails"]["Key"]
    files = json.loads(manifest.read_text(encoding="utf-8"))["ResultFiles"]["SUCCEEDED"]
    records = json.loads((tmp_path / "output" / files[0]["Key"]).read_text(encoding="utf-8"))
    assert [json.loads(r["Output"]) for r in records] == [{"k": "x", "v": "1"}]

    lister = statemachine.load(machine({"Resource": LIST, "Parameters": {"Bucket": "input", "Prefix": "rows/"}}),
                               resource_map=resource_map)
    listed = lister.run({}, virtual_time=True)
    assert [(o["Key"], o["Size"]) for o in listed.output] == [("rows/a.csv", 8)]


def test_local_folder_keys_cannot_leave_the_bucket(tmp_path: Any, monkeypatch: Any) -> None:
    from statemachine.interpreter import itemio

    monkeypatch.setenv("SM_S3_ROOT", str(tmp_path))
    (tmp_path / "bucket1").mkdir()
    reader = {"Resource": GET, "ReaderConfig": {"InputType": "JSON"},
              "Parameters": {"Bucket": "bucket1", "Key": "../secret.json"}}
    execution = run(machine(reader), resources={GET: itemio.local_get_object})
    assert (execution.status, execution.error) == ("FAILED", "States.ItemReaderFailed")
    assert "Access Denied" in (execution.cause or "")


def test_csv_quoting_and_backslash_rules_from_the_aws_docs() -> None:
    # AWS docs: quoted fields hold delimiters and newlines, "" keeps a quote, \\ keeps a backslash
    content = 'path,note\nC:\\\\Program Files\\\\MyApp.exe,"a, ""b""\nc"\n'
    execution = run(machine(get_reader({"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"})),
                    resources=Store(content).resources())
    assert execution.output == [{"path": "C:\\Program Files\\MyApp.exe", "note": 'a, "b"\nc'}]


def test_gzip_compressed_object() -> None:
    import gzip

    def get(request: TaskRequest) -> Any:
        return gzip.compress(b'{"n": 1}\n{"n": 2}\n')

    execution = run(machine(get_reader({"InputType": "JSONL"})), resources={GET: get})
    assert execution.output == [{"n": 1}, {"n": 2}]


def test_a_parameters_path_that_matches_nothing_keeps_its_runtime_error() -> None:
    reader = {"Resource": GET, "ReaderConfig": {"InputType": "JSON"},
              "Parameters": {"Bucket": "b", "Key.$": "$.missing"}}
    store = Store("[1]")
    execution = run(machine(reader), {}, resources=store.resources())
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
    assert "$.missing" in (execution.cause or "")
    assert store.calls == []
