"""`sm validate` and `sm run` on definitions written as templates (issue 11): --substitute
NAME=VALUE (repeatable) and --substitutions FILE fill ${Name} placeholders before parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

TEMPLATE = """\
{
  "StartAt": "Wait",
  "States": {
    "Wait": {"Type": "Wait", "Seconds": ${Timeout}, "Next": "Done"},
    "Done": {"Type": "Pass", "Result": {"stage": "${Stage}", "shell": "echo $${HOME}"}, "End": true}
  }
}
"""


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "flow.asl.json"
    path.write_text(TEMPLATE, encoding="utf-8")
    return path


def test_validate_without_values_warns_and_passes(sm, template) -> None:
    result = sm("validate", template)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "flow.asl.json:4:" in result.stdout and "[template-placeholder]" in result.stdout
    assert "unquoted template placeholder ${Timeout}" in result.stdout
    assert "syntax-error" not in result.stdout
    assert result.stdout.rstrip().endswith("1 valid, 0 invalid (0 errors, 2 warnings)")


def test_validate_with_values_is_quiet(sm, template, tmp_path) -> None:
    result = sm("validate", "--substitute", "Timeout=30", "--substitute", "Stage=prod", template)
    assert result.returncode == 0 and result.stdout.strip() == "1 file checked: 1 valid, 0 invalid (0 errors, 0 warnings)"
    values = tmp_path / "values.yaml"
    values.write_text("Timeout: 30\nStage: test\n", encoding="utf-8")
    from_file = sm("validate", "--substitutions", values, template)
    assert from_file.returncode == 0 and "(0 errors, 0 warnings)" in from_file.stdout


def test_a_value_that_breaks_the_definition_is_an_error(sm, template) -> None:
    result = sm("validate", "--substitute", "Timeout=-5", "--substitute", "Stage=x", template)
    assert result.returncode == 1 and "Seconds" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--substitute", "Timeout"), "NAME=VALUE"),
    (("--substitutions", "missing.json"), "substitutions file not found"),
])
def test_bad_substitution_arguments_are_usage_errors(sm, template, args, message) -> None:
    for command in ("validate", "run"):
        result = sm(command, *args, template)
        assert result.returncode == 2 and message in result.stderr


def test_run_fills_the_template(sm, template) -> None:
    result = sm("run", template, "--substitute", "Timeout=0", "--substitute", "Stage=prod")
    assert result.returncode == 0, result.stderr
    assert '"stage": "prod"' in result.stdout and '"shell": "echo ${HOME}"' in result.stdout


def test_run_asks_for_the_values_it_needs(sm, template) -> None:
    result = sm("run", template)
    assert result.returncode == 2
    assert "[template-placeholder]" in result.stderr and "--substitute Timeout=VALUE" in result.stderr
