"""``sm test``: the example test files all pass, quickly; a failing case shows a diff and
exits 1; --json and --junit-xml; a bad test file is one line with file:line, exit 2."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from statemachine.testing.mockconfig import MockConfigError
from statemachine.testing.testfile import load_test_file, run_cases

REPO = Path(__file__).resolve().parents[2]
DEFINITIONS = REPO / "definitions"


def test_every_example_definition_has_a_test_file() -> None:
    tested = {load_test_file(str(p)).machine.name for p in (DEFINITIONS / "tests").glob("*.test.yaml")}
    examples = {p.stem for p in DEFINITIONS.glob("*.yaml")}
    assert examples <= tested


def test_the_example_test_files_all_pass(sm: Any) -> None:
    result = sm("test", "definitions/")
    assert result.returncode == 0, result.stdout
    summary = result.stdout.strip().splitlines()[-1]
    assert "0 failed" in summary and " passed" in summary


def test_sm_validate_of_the_definitions_folder_skips_test_files(sm: Any) -> None:
    result = sm("validate", "definitions/")
    assert result.returncode == 0, result.stdout
    assert ".test.yaml" not in result.stdout


def write(tmp_path: Path, text: str, name: str = "flow.test.yaml") -> Path:
    (tmp_path / "flow.yaml").write_text(
        "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: {x: 1}\n    Next: B\n"
        "  B:\n    Type: Task\n    Resource: arn:aws:states:::lambda:invoke\n    End: true\n",
        encoding="utf-8")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


FAILING = """\
definition: flow.yaml
cases:
  passes:
    mocks: {B: {Return: {y: 2}}}
    expect: {output: {y: 2}, path: [A, B]}
  wrong output:
    mocks: {B: {Return: {y: 3}}}
    expect: {output: {y: 2}}
  wrong path and status:
    mocks: {B: {Throw: {Error: Boom, Cause: it broke}}}
    expect: {path: [A]}
  subset:
    mocks: {B: {Return: {y: 2, z: 3}}}
    expect: {output_subset: {y: 2}}
"""


def test_a_failing_case_shows_what_differed_and_exits_1(sm: Any, tmp_path: Path) -> None:
    path = write(tmp_path, FAILING)
    result = sm("test", path)
    assert result.returncode == 1
    out = result.stdout
    assert "PASS" in out and "FAIL" in out
    assert '-  "y": 2' in out and '+  "y": 3' in out  # the output diff
    assert "status: expected SUCCEEDED, got FAILED (error 'Boom', cause 'it broke')" in out
    assert "4 cases: 2 passed, 2 failed" in out


def test_one_case_is_counted_in_the_singular(sm: Any) -> None:
    result = sm("test", "definitions/tests/hello.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("1 case: 1 passed, 0 failed in "), result.stdout


def test_json_and_junit_reports(sm: Any, tmp_path: Path) -> None:
    path = write(tmp_path, FAILING)
    report = tmp_path / "report.xml"
    result = sm("test", path, "--json", "--junit-xml", report)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["summary"]["cases"] == 4 and data["summary"]["failed"] == 2
    by_name = {case["name"]: case for case in data["cases"]}
    assert by_name["wrong path and status"]["path"] == ["A", "B"]
    assert by_name["wrong path and status"]["error"] == "Boom"
    root = ET.parse(report).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 4
    assert [c.get("name") for c in cases if c.find("failure") is not None] == ["wrong output", "wrong path and status"]


@pytest.mark.parametrize(("text", "line", "message"), [
    ("definition: flow.yaml\ncases:\n  c:\n    expect: {statuz: FAILED}\n", 4, "unknown expectation 'statuz'"),
    ("definition: flow.yaml\ncases:\n  c:\n    mocks: {Nope: {Return: 1}}\n", 4, "unknown state 'Nope'"),
    ("definition: flow.yaml\ncases:\n  c:\n    mocks:\n      B: {'1-0': {Return: 1}}\n", 5, "bad range '1-0'"),
    ("definition: missing.yaml\ncases: {c: {}}\n", 1, "definition file not found"),
    ("definition: flow.yaml\ncases:\n  c: {input: [\n", 4, "invalid YAML"),  # where the parser stops
    ("definition: flow.yaml\ncases:\n  c: {test_case: X}\n", 3, "test_case needs mock_config"),
    ("definition: flow.yaml\ncases:\n  c:\n    virtual_time: maybe\n", 4, "virtual_time must be true or false"),
    ("- definition: flow.yaml\n", 1, "a test file must be an object (a mapping); this one is an array"),
    ("definition: flow.yaml\ncases:\n  c:\n    expect: {status: FAILED, error: 5}\n", 4, "error must be a string"),
    # a mock answers in place of a Task's resource: on a Pass state it would never be used
    ("definition: flow.yaml\ncases:\n  c:\n    mocks: {A: {Return: 1}}\n", 4, "mocks Pass state 'A'"),
])
def test_a_bad_test_file_is_one_line_with_file_and_line(sm: Any, tmp_path: Path, text: str, line: int,
                                                         message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(MockConfigError) as info:
        load_test_file(str(path))
    assert info.value.line == line and message in info.value.message
    result = sm("test", path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"sm: error: {path}:{line}:") and len(result.stderr.strip().splitlines()) == 1


def test_a_test_file_can_use_a_step_functions_local_mock_file(tmp_path: Path) -> None:
    fixtures = Path(__file__).resolve().parent / "fixtures"
    path = tmp_path / "sqs.test.yaml"
    path.write_text(
        f"definition: {fixtures / 'LambdaSQSIntegration.asl.json'}\n"
        f"mock_config: {fixtures / 'MockConfigFile.json'}\n"
        "cases:\n  retry:\n    test_case: RetryPath\n"
        "    expect: {output_subset: {MessageId: 3bcb6e8e-8b51-4375-b0bc-1a59812c6e51}, path: [LambdaState, SQSState]}\n",
        encoding="utf-8")
    [result] = run_cases([load_test_file(str(path))])
    assert result.passed, result.failures


def test_seeded_cases_draw_the_same_values(tmp_path: Path) -> None:
    (tmp_path / "uuid.yaml").write_text(
        "StartAt: U\nStates:\n  U:\n    Type: Pass\n    Parameters: {id.$: States.UUID()}\n    End: true\n",
        encoding="utf-8")
    path = tmp_path / "uuid.test.yaml"
    path.write_text("definition: uuid.yaml\ncases:\n  a: {seed: 5}\n  b: {seed: 5}\n  c: {seed: 6}\n", encoding="utf-8")
    a, b, c = run_cases([load_test_file(str(path))])
    assert a.output == b.output != c.output


def test_a_bad_resource_map_is_named_at_the_resources_line(sm: Any, tmp_path: Path) -> None:
    (tmp_path / "map.yaml").write_text("not_a_section: 1\n", encoding="utf-8")
    path = write(tmp_path, "definition: flow.yaml\n\nresources: map.yaml\ncases: {c: {}}\n")
    result = sm("test", path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"sm: error: {path}:3:"), result.stderr
    assert "resource map" in result.stderr


def test_an_unwritable_junit_report_is_a_message_not_a_traceback(sm: Any, tmp_path: Path) -> None:
    path = write(tmp_path, FAILING)
    result = sm("test", path, "--junit-xml", tmp_path / "missing" / "report.xml")
    assert result.returncode == 2
    assert result.stderr.startswith("sm: error: cannot write --junit-xml "), result.stderr
    assert "4 cases: 2 passed, 2 failed" in result.stdout  # the results are still shown
