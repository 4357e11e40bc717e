"""``sm run`` refuses what is not JSON with one line and exit 2 (issue 9, items 13 and 14).

AWS's StartExecution takes JSON text: NaN/Infinity are not JSON numbers, a lone surrogate is
not a Unicode character, and invalid UTF-8 is not text. Our nesting limit (512) is ours.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.cli.conftest import REPO

HELLO = "definitions/hello.yaml"


def _one_line_usage_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("sm: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


@pytest.mark.parametrize(("text", "message"), [
    ('{"name": NaN}', "--input is not valid JSON: NaN is not a JSON number"),
    ('{"name": Infinity}', "--input is not valid JSON: Infinity is not a JSON number"),
    ('[-Infinity]', "--input is not valid JSON: -Infinity is not a JSON number"),
    ('"\\ud800"', "--input is not valid JSON: a lone UTF-16 surrogate in a string at $"),
    ('{"\\udfff": 1}', "--input is not valid JSON: a lone UTF-16 surrogate in an object key at $"),
    ("[" * 1500 + "]" * 1500, "--input is not valid JSON: nested more than 512 levels deep"),
    ('{"a":' * 1500 + "1" + "}" * 1500, "--input is not valid JSON: nested more than 512 levels deep"),
])
def test_input_text_that_is_not_json(sm, text: str, message: str) -> None:
    _one_line_usage_error(sm("run", HELLO, "--input", text), message)


def test_the_same_input_from_a_file_and_stdin(sm, tmp_path) -> None:
    path = tmp_path / "in.json"
    path.write_text('{"name": NaN}')
    _one_line_usage_error(sm("run", HELLO, "--input", f"@{path}"), "is not valid JSON: NaN is not a JSON number")
    _one_line_usage_error(sm("run", HELLO, "--input", "-", stdin='{"name": NaN}'),
                          "standard input is not valid JSON: NaN is not a JSON number")


def test_invalid_utf8_on_stdin_is_refused_like_a_file(sm, tmp_path) -> None:
    raw = b'{"name": "\xff\xfe"}'
    result = subprocess.run([sys.executable, "-m", "statemachine.cli", "run", HELLO, "--input", "-"],
                            input=raw, capture_output=True, cwd=REPO, timeout=120, check=False)
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr == b"sm: error: standard input is not UTF-8 text\n"
    path = tmp_path / "in.json"
    path.write_bytes(raw)
    _one_line_usage_error(sm("run", HELLO, "--input", f"@{path}"), "is not UTF-8 text")


def test_yaml_infinity_in_a_definition_is_refused(sm, tmp_path) -> None:
    path = tmp_path / "inf.yaml"
    path.write_text("StartAt: P\nStates:\n  P:\n    Type: Pass\n    Result: {a: .inf}\n    End: true\n")
    result = sm("run", path)
    assert result.returncode == 2 and result.stdout == ""
    assert "'.inf' is not a JSON number" in result.stderr
    assert "Infinity" not in result.stdout


@pytest.mark.parametrize("number", [".inf", "-.Inf", ".nan", "1e999", "!!float .inf"])
def test_non_finite_yaml_numbers_are_definition_errors(number: str) -> None:
    import statemachine
    from statemachine.errors import DefinitionError

    with pytest.raises(DefinitionError) as info:
        statemachine.load(f"StartAt: P\nStates:\n  P:\n    Type: Pass\n    Result: {number}\n    End: true\n")
    assert info.value.diagnostics[0].code == "syntax-error"


def test_resource_map_missing_is_refused_even_without_tasks(sm) -> None:
    _one_line_usage_error(sm("run", HELLO, "--input", '{"name": "x"}', "--resources", "no-such-map.yaml"),
                          "resource map not found: no-such-map.yaml")


def test_resource_map_binary_is_refused(sm, tmp_path) -> None:
    path = tmp_path / "map.yaml"
    path.write_bytes(b"\x00\x01\xff\xfe binary")
    for definition in (HELLO, "definitions/etl.yaml"):
        _one_line_usage_error(sm("run", definition, "--input", '{"name": "x"}', "--resources", path),
                              f"resource map {path} is not UTF-8 text")


def test_resource_map_that_does_not_parse_is_one_line(sm, tmp_path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("resources: [unclosed\n")
    result = sm("run", "definitions/etl.yaml", "--resources", path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr


def test_a_deep_but_allowed_input_runs_and_prints(sm, tmp_path) -> None:
    nested = "[" * 500 + "]" * 500
    path = tmp_path / "in.json"
    path.write_text(nested)
    definition = tmp_path / "echo.yaml"
    definition.write_text("StartAt: P\nStates:\n  P:\n    Type: Pass\n    End: true\n")
    result = sm("run", definition, "--input", f"@{path}", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == json.loads(nested)


def test_output_that_cannot_be_encoded_is_printed_as_escaped_json(sm, tmp_path) -> None:
    # A lone surrogate reaching the output (here from a JSON definition's Result) is printed
    # as the JSON escape \ud800 instead of ending in UnicodeEncodeError.
    definition = tmp_path / "sur.json"
    definition.write_text('{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"a\\ud800b","End":true}}}')
    result = sm("run", definition)
    assert result.returncode == 0, result.stderr
    assert result.stdout == '"a\\ud800b"\n'
    result = sm("run", definition, "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["output"] == "a\ud800b"


def test_sm_validate_refuses_a_binary_resource_map_in_one_line(sm, tmp_path) -> None:
    path = tmp_path / "map.yaml"
    path.write_bytes(b"\x00\x01\xff\xfe binary")
    for definition in (HELLO, "definitions/etl.yaml"):
        result = sm("validate", definition, "--resources", path)
        _one_line_usage_error(result, f"resource map {path} is not UTF-8 text")
