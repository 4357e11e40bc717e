"""The local S3 stand-ins (statemachine.resources.s3_local) confine every bucket to one root:
whatever the definition or the input names as Bucket or Key, nothing outside the root is read
or written. Errors carry S3's error codes and messages; inside a Distributed Map they become
States.ItemReaderFailed / States.ResultWriterFailed with that cause."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import statemachine
from statemachine.errors import StatesError
from statemachine.resources.s3_local import GET_OBJECT, LIST_OBJECTS, PUT_OBJECT, LocalS3

PROCESSOR = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
             "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def machine(reader: dict[str, Any] | None = None, writer: dict[str, Any] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Map", "End": True, "ItemProcessor": PROCESSOR}
    if reader is not None:
        state["ItemReader"] = reader
    if writer is not None:
        state["ResultWriter"] = writer
    else:
        state["ItemsPath"] = "$.items"
    return {"StartAt": "M", "States": {"M": state}}


def reader(bucket: str = "data", key: str = "items.json", **extra: Any) -> dict[str, Any]:
    return {"Resource": GET_OBJECT, "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": bucket, "Key": key, **extra}}


def writer(**params: Any) -> dict[str, Any]:
    return {"Resource": PUT_OBJECT, "Parameters": {"Bucket": "results", **params}}


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """<tmp>/project/{flow.json, map.yaml, s3/{data,results}/}, <tmp>/outside/secret.json."""
    monkeypatch.delenv("SM_S3_ROOT", raising=False)
    project = tmp_path / "project"
    (project / "s3" / "data").mkdir(parents=True)
    (project / "s3" / "results").mkdir()
    (project / "s3" / "data" / "items.json").write_text("[1, 2]")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.json").write_text('["secret"]')
    (project / "map.yaml").write_text("local_s3: true\n")
    return project


def files_outside(layout: Path) -> set[Path]:
    return {p for p in layout.parent.rglob("*") if p.is_file() and layout not in p.parents}


def run(layout: Path, definition: dict[str, Any], value: Any = None,
        resource_map: str = "map.yaml") -> Any:
    path = layout / "flow.json"
    path.write_text(json.dumps(definition))
    before = files_outside(layout)
    execution = statemachine.load(path, resource_map=layout / resource_map).run(value or {}, virtual_time=True)
    assert files_outside(layout) == before  # nothing written outside the project
    return execution


# -- the root -----------------------------------------------------------------------------------
def test_default_root_is_the_s3_folder_beside_the_definition(layout: Path) -> None:
    execution = run(layout, machine(reader(), writer(Prefix="out")))
    assert execution.status == "SUCCEEDED", execution.cause
    key = execution.output["ResultWriterDetails"]["Key"]
    manifest = json.loads((layout / "s3" / "results" / key).read_text())
    assert manifest["DestinationBucket"] == "results"
    assert key.startswith("out/") and key.endswith("/manifest.json")


def test_a_root_named_in_the_map_and_one_from_the_environment(layout: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "project" / "elsewhere" / "data"
    other.mkdir(parents=True)
    (other / "items.json").write_text("[7]")
    (layout / "named.yaml").write_text("local_s3: elsewhere\n")
    assert run(layout, machine(reader()), resource_map="named.yaml").output == [7]
    monkeypatch.setenv("SM_S3_ROOT", str(layout / "elsewhere"))
    assert run(layout, machine(reader())).output == [7]


# -- what cannot get out ------------------------------------------------------------------------
@pytest.mark.parametrize("bucket", ["/", "..", "../outside", "/etc", "s3/data", "data/..", "a",
                                    "UPPER", "192.168.0.1", "x" * 64, "-data"])
def test_buckets_that_are_not_bucket_names_are_refused(layout: Path, tmp_path: Path, bucket: str) -> None:
    for name in (bucket, str(tmp_path / "outside")) if bucket == "/" else (bucket,):
        execution = run(layout, machine(reader(bucket=name, key="secret.json")))
        assert (execution.status, execution.error) == ("FAILED", "States.ItemReaderFailed")
        assert "The specified bucket is not valid." in (execution.cause or "")
        assert "InvalidBucketName" in (execution.cause or "")


@pytest.mark.parametrize("key", ["../../outside/secret.json", "/etc/passwd", "a//b", "./items.json",
                                 "../results/x"])
def test_keys_that_leave_the_bucket_are_refused(layout: Path, key: str) -> None:
    execution = run(layout, machine(reader(key=key)))
    assert (execution.status, execution.error) == ("FAILED", "States.ItemReaderFailed")
    assert "Access Denied" in (execution.cause or "") and "AccessDenied" in (execution.cause or "")


def test_links_out_of_the_root_are_refused(layout: Path, tmp_path: Path) -> None:
    (layout / "s3" / "linked").symlink_to(tmp_path / "outside", target_is_directory=True)
    (layout / "s3" / "data" / "sub").symlink_to(tmp_path / "outside", target_is_directory=True)
    (layout / "s3" / "data" / "file.json").symlink_to(tmp_path / "outside" / "secret.json")
    for bucket, key in (("linked", "secret.json"), ("data", "sub/secret.json"), ("data", "file.json")):
        execution = run(layout, machine(reader(bucket=bucket, key=key)))
        assert execution.error == "States.ItemReaderFailed", (bucket, key)
        assert "Access Denied" in (execution.cause or "") and "secret" not in json.dumps(execution.output)
    (layout / "s3" / "data" / "inner.json").symlink_to(layout / "s3" / "data" / "items.json")
    assert run(layout, machine(reader(key="inner.json"))).output == [1, 2]  # a link inside is fine


def test_missing_buckets_and_keys_are_named_as_s3_names_them(layout: Path) -> None:
    missing_bucket = run(layout, machine(reader(bucket="nothere")))
    assert "The specified bucket does not exist" in (missing_bucket.cause or "")
    assert "NoSuchBucket" in (missing_bucket.cause or "")
    missing_key = run(layout, machine(reader(key="absent.json")))
    assert "The specified key does not exist." in (missing_key.cause or "")
    assert "NoSuchKey" in (missing_key.cause or "")


@pytest.mark.parametrize("bucket", ["/tmp", "..", "../outside", "/"])
def test_a_result_writer_cannot_write_where_the_input_says(layout: Path, tmp_path: Path, bucket: str) -> None:
    definition = machine(reader(), {"Resource": PUT_OBJECT, "Parameters": {"Bucket.$": "$.bucket"}})
    execution = run(layout, definition, {"bucket": bucket})
    assert (execution.status, execution.error) == ("FAILED", "States.ResultWriterFailed")
    assert "InvalidBucketName" in (execution.cause or "")


def test_a_result_writer_prefix_cannot_climb_out(layout: Path) -> None:
    execution = run(layout, machine(reader(), writer(**{"Prefix.$": "$.prefix"})), {"prefix": "../../.."})
    assert (execution.status, execution.error) == ("FAILED", "States.ResultWriterFailed")
    assert "Access Denied" in (execution.cause or "")
    assert list((layout / "s3" / "results").iterdir()) == []


def test_put_never_writes_through_a_link(layout: Path, tmp_path: Path) -> None:
    target = tmp_path / "outside" / "secret.json"
    (layout / "s3" / "results" / "evil.json").symlink_to(target)
    (layout / "s3" / "results" / "dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    s3 = LocalS3(layout / "s3")
    for key in ("evil.json", "dir/new.json"):
        with pytest.raises(StatesError) as info:
            s3.put_object({"Bucket": "results", "Key": key, "Body": "overwritten"})
        assert info.value.name == "S3.AccessDenied"
    assert target.read_text() == '["secret"]' and not (tmp_path / "outside" / "new.json").exists()


def test_listing_skips_links_out_of_the_bucket(layout: Path, tmp_path: Path) -> None:
    (layout / "s3" / "data" / "leak.json").symlink_to(tmp_path / "outside" / "secret.json")
    (layout / "s3" / "data" / "dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    listed = LocalS3(layout / "s3").list_objects_v2({"Bucket": "data"})
    assert [o["Key"] for o in listed["Contents"]] == ["items.json"]


def test_error_names_and_causes_of_the_handlers(layout: Path) -> None:
    s3 = LocalS3(layout / "s3")
    cases = {("data", "absent"): ("S3.NoSuchKey", "The specified key does not exist. (Service: S3, "
                                  "Status Code: 404, Error Code: NoSuchKey; Bucket: 'data', Key: 'absent')"),
             ("nobucket", "k"): ("S3.NoSuchBucket", None), ("/", "k"): ("S3.InvalidBucketName", None),
             ("data", "../x"): ("S3.AccessDenied", None)}
    for (bucket, key), (name, cause) in cases.items():
        with pytest.raises(StatesError) as info:
            s3.get_object({"Bucket": bucket, "Key": key})
        assert info.value.name == name
        if cause is not None:
            assert info.value.cause == cause
    assert set(s3.handlers()) == {GET_OBJECT, LIST_OBJECTS, PUT_OBJECT}


def test_the_stand_ins_work_in_code_without_a_map(layout: Path) -> None:
    definition = machine(reader())
    execution = statemachine.load(definition, resources=LocalS3(layout / "s3").handlers()).run({})
    assert execution.output == [1, 2]
    assert os.path.isdir(layout / "s3" / "data")
