"""`sm validate`: exit codes, all problems of all files at once with file:line:col, state,
code and message, and the three output formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

VALID = """\
StartAt: First
States:
  First:
    Type: Pass
    Next: Second
  Second:
    Type: Succeed
"""

# Line 5 holds the misspelt Next target; line 8 the second problem (a Pass with neither
# Next nor End).
TWO_PROBLEMS = """\
StartAt: Charge
States:
  Charge:
    Type: Pass
    Next: Shipp
  Ship:
    Type: Pass
  Orphan:
    Type: Succeed
"""

# Reads a variable that no state assigns: a warning, not an error.
WARNING_ONLY = """\
QueryLanguage: JSONata
StartAt: Show
States:
  Show:
    Type: Pass
    Output: "{% $never %}"
    End: true
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, text in {
        "valid.yaml": VALID,
        "broken.yaml": TWO_PROBLEMS,
        "warn.yaml": WARNING_ONLY,
    }.items():
        paths[name] = tmp_path / name
        paths[name].write_text(text)
    return paths


def test_valid_files_exit_0(sm, files) -> None:
    result = sm("validate", files["valid.yaml"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(
        "1 file checked: 1 valid, 0 invalid (0 errors, 0 warnings)"
    )


def test_problems_are_reported_with_position_state_code_and_message(sm, files) -> None:
    result = sm("validate", files["broken.yaml"])
    assert result.returncode == 1
    path = str(files["broken.yaml"])
    next_line = next(line for line in result.stdout.splitlines() if "unknown-next-target" in line)
    assert next_line.startswith(f"{path}:5:")
    assert (
        "state 'Charge'" in next_line
        and "Shipp" in next_line
        and "did you mean 'Ship'" in next_line
    )
    assert re.search(
        rf"^{re.escape(path)}:\d+:\d+: error \[unreachable-state\] state 'Ship'",
        result.stdout,
        re.M,
    )
    assert "missing-next-or-end" in result.stdout
    assert "1 invalid" in result.stdout


def test_all_files_are_checked_and_any_error_fails(sm, files) -> None:
    result = sm("validate", files["valid.yaml"], files["broken.yaml"], files["warn.yaml"])
    assert result.returncode == 1
    assert "3 files checked: 2 valid, 1 invalid" in result.stdout
    assert str(files["broken.yaml"]) in result.stdout and str(files["warn.yaml"]) in result.stdout


def test_warnings_are_shown_but_do_not_fail(sm, files) -> None:
    result = sm("validate", files["warn.yaml"])
    assert result.returncode == 0, result.stdout
    assert "warning [variable-never-assigned]" in result.stdout
    assert "(0 errors, 1 warning)" in result.stdout


def test_json_format(sm, files) -> None:
    result = sm("validate", "--format", "json", files["valid.yaml"], files["broken.yaml"])
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["summary"]["files"] == 2 and report["summary"]["invalid"] == 1
    valid, broken = report["files"]
    assert valid == {"file": str(files["valid.yaml"]), "valid": True, "diagnostics": []}
    assert broken["valid"] is False
    unknown = next(d for d in broken["diagnostics"] if d["code"] == "unknown-next-target")
    assert unknown["line"] == 5 and unknown["state"] == "Charge" and unknown["severity"] == "error"
    assert unknown["pointer"] == "/States/Charge/Next" and unknown["file"] == str(
        files["broken.yaml"]
    )


def test_github_format_prints_workflow_annotations(sm, files) -> None:
    result = sm("validate", "--format", "github", files["broken.yaml"], files["warn.yaml"])
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    pattern = re.compile(
        r"^::(error|warning) file=([^,]+),line=(\d+),col=(\d+),title=ASL ([a-z-]+)::(.+)$"
    )
    annotations = [pattern.match(line) for line in lines if line.startswith("::")]
    assert annotations and all(annotations), lines
    unknown = next(m for m in annotations if m and m.group(5) == "unknown-next-target")
    assert unknown.group(2) == str(files["broken.yaml"]) and unknown.group(3) == "5"
    assert "state 'Charge'" in unknown.group(6)
    assert any(m and m.group(1) == "warning" for m in annotations)


def test_github_escapes_newlines_and_commas() -> None:
    from statemachine.cli.validate import github_line

    from statemachine.errors import Diagnostic

    line = github_line(Diagnostic("c", "a\nb 100%", file="x,y:z.yaml", line=3, column=4))
    assert line == "::error file=x%2Cy%3Az.yaml,line=3,col=4,title=ASL c::a%0Ab 100%25"


def test_folders_are_expanded(sm, files, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("not a definition")
    (tmp_path / "flow.resources.yaml").write_text("lambda_functions: {}\n")  # a resource map
    result = sm("validate", "--format", "json", tmp_path)
    names = [Path(f["file"]).name for f in json.loads(result.stdout)["files"]]
    assert names == ["broken.yaml", "valid.yaml", "warn.yaml"]
    named = sm("validate", "--format", "json", tmp_path / "flow.resources.yaml")
    assert named.returncode == 1  # named explicitly, a map is judged as a definition
    empty = tmp_path / "empty"
    empty.mkdir()
    assert sm("validate", empty).returncode == 2


def test_a_thousand_files_in_one_process(sm, tmp_path) -> None:
    for i in range(1000):
        (tmp_path / f"flow{i:04}.json").write_text(
            json.dumps({"StartAt": f"S{i}", "States": {f"S{i}": {"Type": "Pass", "End": True}}})
        )
    (tmp_path / "flow0500.json").write_text('{"StartAt": "Nope", "States": {}}')
    result = sm("validate", tmp_path)
    assert result.returncode == 1
    assert "1000 files checked: 999 valid, 1 invalid" in result.stdout
    assert "flow0500.json" in result.stdout


def test_resource_map_checks_local_resolvability(sm, tmp_path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "StartAt: Send\nStates:\n  Send:\n    Type: Task\n"
        "    Resource: arn:aws:states:::sqs:sendMessage\n    End: true\n"
    )
    assert sm("validate", flow).returncode == 0  # AWS accepts it: the language is fine
    empty = tmp_path / "empty-map.yaml"
    empty.write_text("resources: {}\n")
    result = sm("validate", "--resources", empty, flow)
    assert result.returncode == 1
    assert "unresolved-resource" in result.stdout and "sqs:sendMessage" in result.stdout
    (tmp_path / "fake_sqs.py").write_text("def send(message):\n    return {'MessageId': '1'}\n")
    mapped = tmp_path / "map.yaml"
    mapped.write_text("resources:\n  arn:aws:states:::sqs:sendMessage: python:fake_sqs:send\n")
    ok = sm("validate", "--resources", mapped, flow)
    assert ok.returncode == 0, ok.stdout
    missing = sm("validate", "--resources", tmp_path / "nope.yaml", flow)
    assert missing.returncode == 2 and "resource map not found" in missing.stderr


def test_every_unresolved_resource_is_reported_with_its_position(sm, tmp_path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "StartAt: Send\nStates:\n"
        "  Send:\n    Type: Task\n    Resource: arn:aws:states:::sqs:sendMessage\n    Next: Store\n"
        "  Store:\n    Type: Task\n    Resource: arn:aws:states:::dynamodb:putItem\n    Next: Both\n"
        "  Both:\n    Type: Parallel\n    End: true\n    Branches:\n"
        "      - StartAt: Notify\n        States:\n          Notify:\n            Type: Task\n"
        "            Resource: my-own:notify\n            End: true\n"
    )
    empty = tmp_path / "empty-map.yaml"
    empty.write_text("resources: {}\n")
    result = sm("validate", "--format", "json", "--resources", empty, flow)
    assert result.returncode == 1
    [report] = json.loads(result.stdout)["files"]
    found = [(d["code"], d["state"], d["line"], d["column"], d["pointer"]) for d in report["diagnostics"]]
    assert found == [
        ("unresolved-resource", "Send", 5, 5, "/States/Send/Resource"),
        ("unresolved-resource", "Store", 9, 5, "/States/Store/Resource"),
        ("unresolved-resource", "Notify", 19, 13, "/States/Both/Branches/0/States/Notify/Resource"),
    ]
    assert "no handler for Resource 'my-own:notify'" in report["diagnostics"][2]["message"]


def test_human_output_on_a_terminal_is_coloured_and_lists_files(sm_tty, files) -> None:
    code, screen, _ = sm_tty("validate", files["valid.yaml"], files["broken.yaml"])
    assert code == 1
    assert "✓" in screen and "✗" in screen and "\x1b[" in screen
    assert "unknown-next-target" in screen and "2 files checked: 1 valid, 1 invalid" in screen


def test_a_folder_picks_up_terraform_templatefile_sources(sm, tmp_path) -> None:
    (tmp_path / "flow.asl.json.tftpl").write_text(
        '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${lambda_arn}","End":true}}}')
    (tmp_path / "broken.asl.json.tftpl").write_text('{"StartAt":"Nope","States":{}}')
    result = sm("validate", "--format", "json", tmp_path)
    files = {Path(f["file"]).name: f for f in json.loads(result.stdout)["files"]}
    assert sorted(files) == ["broken.asl.json.tftpl", "flow.asl.json.tftpl"]
    assert result.returncode == 1  # the broken template is judged, not skipped
