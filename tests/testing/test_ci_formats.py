"""CI outputs: ``sm validate --format sarif`` (SARIF 2.1.0 as GitHub code scanning reads it),
``--format junit``, and the pre-commit hooks file."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
INVALID = "tests/unit/invalid/distributed_only_field.yaml"


def test_sarif_has_one_result_per_diagnostic_with_its_region(sm: Any) -> None:
    result = sm("validate", "--format", "sarif", "definitions/hello.yaml", INVALID)
    assert result.returncode == 1
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    [run] = sarif["runs"]
    assert run["tool"]["driver"]["name"] == "sm validate"
    [found] = run["results"]
    assert found["ruleId"] == "distributed-only-field" and found["level"] == "error"
    location = found["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == INVALID
    assert location["region"]["startLine"] >= 1
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == ["distributed-only-field"]


def test_sarif_of_valid_files_has_no_results(sm: Any) -> None:
    result = sm("validate", "--format", "sarif", "definitions/")
    assert result.returncode == 0
    assert json.loads(result.stdout)["runs"][0]["results"] == []


def test_junit_has_one_test_case_per_file(sm: Any) -> None:
    result = sm("validate", "--format", "junit", "definitions/hello.yaml", INVALID)
    assert result.returncode == 1
    suite = ET.fromstring(result.stdout.encode())
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert cases["definitions/hello.yaml"].find("failure") is None
    failure = cases[INVALID].find("failure")
    assert failure is not None and failure.get("type") == "distributed-only-field"
    assert "distributed-only-field" in (failure.text or "")


def test_pre_commit_hooks_run_sm() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    by_id = {hook["id"]: hook for hook in hooks}
    assert by_id["sm-validate"]["entry"] == "sm validate"
    assert by_id["sm-test"]["entry"] == "sm test"
    for hook in hooks:
        assert {"id", "name", "entry", "language", "files"} <= set(hook)
    # the sm-test hook selects every file name sm test takes (statemachine.testing.testfile.SUFFIXES)
    import re

    from statemachine.testing.testfile import SUFFIXES

    for suffix in SUFFIXES:
        assert re.search(by_id["sm-test"]["files"], f"flows/order{suffix}"), suffix
