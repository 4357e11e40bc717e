"""Malformed files never produce a traceback: a clear error naming the file and a non-zero
exit, from `sm validate`, `sm run` and `sm graph` alike."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

MALFORMED = {
    "bad-yaml.yaml": b"StartAt: A\nStates:\n  A: {Type: Pass, End: true\n",
    "bad-json.json": b'{"StartAt": "A", "States": {',
    "list.yaml": b"- StartAt: A\n- States: {}\n",
    "scalar.json": b"42",
    "empty.yaml": b"",
    "duplicate.yaml": b"StartAt: A\nStartAt: B\nStates: {}\n",
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "deep.yaml": (
        "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: "
        + "[" * 50_000
        + "]" * 50_000
        + "\n    End: true\n"
    ).encode(),
    "deep-block.yaml": (
        "StartAt: A\nStates:\n  A:\n    Type: Pass\n    End: true\n    Result:\n"
        + "".join(" " * (6 + 2 * i) + f"k{i}:\n" for i in range(1000))
        + " " * 2006
        + "x: 1\n"
    ).encode(),
}


@pytest.fixture(scope="module")
def malformed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("malformed")
    paths = {}
    for name, content in MALFORMED.items():
        paths[name] = folder / name
        paths[name].write_bytes(content)
    paths["garbage.yaml"] = folder / "garbage.yaml"
    paths["garbage.yaml"].write_bytes(bytes(range(256)) * 64 + os.urandom(4096))
    return paths


@pytest.mark.parametrize("name", [*MALFORMED, "garbage.yaml"])
def test_validate_reports_malformed_files(sm, malformed, name: str) -> None:
    result = sm("validate", "--format", "json", malformed[name])
    assert result.returncode == 1, result.stdout + result.stderr
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["valid"] is False
    assert entry["diagnostics"] and all(
        d["file"] == str(malformed[name]) for d in entry["diagnostics"]
    )
    human = sm("validate", malformed[name])
    assert human.returncode == 1 and str(malformed[name]) in human.stdout


@pytest.mark.parametrize("name", ["bad-yaml.yaml", "list.yaml", "garbage.yaml", "deep.json"])
def test_run_and_graph_refuse_malformed_files(sm, malformed, name: str) -> None:
    run = sm("run", malformed[name])
    assert run.returncode == 2 and str(malformed[name]) in run.stderr
    graph = sm("graph", malformed[name])
    assert graph.returncode == 2 and str(malformed[name]) in graph.stderr


def test_expected_codes_for_typical_mistakes(sm, malformed) -> None:
    def codes(name: str) -> set[str]:
        result = sm("validate", "--format", "json", malformed[name])
        return {d["code"] for d in json.loads(result.stdout)["files"][0]["diagnostics"]}

    assert codes("bad-yaml.yaml") == {"syntax-error"}
    assert codes("list.yaml") == {"not-an-object"}
    assert "duplicate-key" in codes("duplicate.yaml")  # reported with the problems it hides no more
    assert codes("deep.json") == {"too-deep"}


def test_fifty_megabyte_file(sm, tmp_path) -> None:
    big = tmp_path / "big.json"
    with big.open("w") as handle:
        handle.write('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Result": "')
        handle.write("x" * (50 * 1024 * 1024))
        handle.write('"}}}')
    result = sm("validate", "--format", "json", big)
    assert result.returncode == 1
    (entry,) = json.loads(result.stdout)["files"]
    assert [d["code"] for d in entry["diagnostics"]] == ["too-large"]
    run = sm("run", big)
    assert run.returncode == 2 and "too-large" in run.stderr


def test_missing_and_unreadable_files(sm, tmp_path) -> None:
    missing = sm("validate", tmp_path / "nope.yaml")
    assert missing.returncode == 1 and "file-not-found" in missing.stdout
    run = sm("run", tmp_path / "nope.yaml")
    assert run.returncode == 2 and "nope.yaml" in run.stderr
