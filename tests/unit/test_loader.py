"""Loader: YAML/JSON/dict in, SourceDocument out; every failure a DefinitionError with a
Diagnostic (code, message, position), never a raw yaml/json exception or a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import statemachine
from statemachine.errors import DefinitionError
from statemachine.loader import MAX_DEPTH, load_source
from statemachine.validation import check

MINIMAL = "StartAt: A\nStates:\n  A:\n    Type: Succeed\n"


def _error(source: object, **kwargs: object) -> tuple[str, str, int, int]:
    with pytest.raises(DefinitionError) as info:
        load_source(source, **kwargs)  # type: ignore[arg-type]
    [diagnostic] = info.value.diagnostics
    return diagnostic.code, diagnostic.message, diagnostic.line, diagnostic.column


def test_yaml_text_loads_with_a_source_map() -> None:
    doc = load_source(MINIMAL)
    assert doc.data == {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}
    assert doc.path == "<string>"
    assert doc.source_map["/States/A/Type"] == (4, 5)
    assert doc.position("/States/A/Type/nothing/below") == (4, 5)
    assert doc.position("/Nowhere") == (1, 1)


def test_json_file_loads_and_maps_positions(tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_text('{\n  "StartAt": "A",\n  "States": {"A": {"Type": "Succeed"}}\n}\n')
    doc = load_source(path)
    assert doc.data["StartAt"] == "A"
    assert doc.path == str(path)
    assert doc.position("/States/A/Type") == (3, 20)


def test_a_str_naming_a_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(MINIMAL)
    assert load_source(str(path)).path == str(path)


def test_a_dict_is_taken_as_is() -> None:
    doc = load_source({"StartAt": "A", "States": {}})
    assert (doc.data, doc.path, dict(doc.source_map)) == ({"StartAt": "A", "States": {}}, "<dict>", {})


def test_json_keeps_json_semantics() -> None:
    doc = load_source('{"a": "\\ud83d\\ude00", "b": 1e3}')
    assert doc.data == {"a": "\U0001F600", "b": 1000.0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v: on", "on"), ("v: yes", "yes"), ("v: No", "No"), ("v: off", "off"),
        ("v: 2016-03-14", "2016-03-14"), ("v: 2016-03-14T01:59:00Z", "2016-03-14T01:59:00Z"),
        ("v: 1_000", "1_000"), ("v: 1:20", "1:20"), ("v: 010", 10), ("v: 0o10", 8),
        ("v: true", True), ("v: null", None), ("v: ~", None), ("v: 1.5", 1.5), ("v: 1e3", 1000.0),
        ("v: '010'", "010"), ('v: "yes"', "yes"),
    ],
)
def test_yaml_values_resolve_the_yaml_1_2_way(text: str, expected: object) -> None:
    assert load_source(text).data == {"v": expected}


@pytest.mark.parametrize("value", ["on", "yes", "N", "010", "0o17", "1_000", "1:20"])
def test_yaml_1_1_surprises_are_warned_about(value: str) -> None:
    [warning] = load_source(f"StartAt: A\nv: {value}\n").problems
    assert (warning.code, warning.severity, warning.line, warning.column, warning.pointer) == (
        "yaml-ambiguous-value", "warning", 2, 4, "/v")
    assert f"'{value}' is ambiguous" in warning.message


def test_quoted_values_are_not_ambiguous() -> None:
    assert load_source("v: 'on'\nw: \"010\"\n").problems == ()


def test_ambiguous_values_reach_check_as_warnings() -> None:
    text = MINIMAL + "Comment: yes\n"
    [warning] = check(text)
    assert (warning.code, warning.severity, warning.line) == ("yaml-ambiguous-value", "warning", 5)


def _duplicate(text: str) -> tuple[str, str, int, int, str]:
    """Duplicate keys do not stop loading: they are error problems of the document."""
    [problem] = load_source(text).problems
    assert problem.severity == "error"
    return problem.code, problem.message, problem.line, problem.column, problem.pointer


def test_duplicate_yaml_key_is_an_error() -> None:
    code, message, line, column, pointer = _duplicate("StartAt: A\nStates: {}\nStartAt: B\n")
    assert (code, line, column, pointer) == ("duplicate-key", 3, 1, "/StartAt")
    assert "duplicate key 'StartAt'" in message


def test_duplicate_json_key_is_an_error() -> None:
    code, message, line, _, _ = _duplicate('{"StartAt": "A",\n "States": {},\n "StartAt": "B"}')
    assert (code, line) == ("duplicate-key", 3)
    assert "'StartAt'" in message


def test_duplicate_key_is_reported_together_with_the_other_problems() -> None:
    text = "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Next: Missing\n    Next: Missing\n"
    codes = {d.code for d in check(text)}
    assert {"duplicate-key", "unknown-next-target"} <= codes
    with pytest.raises(DefinitionError):
        statemachine.load(text)


def test_bad_yaml_is_a_syntax_error_with_position() -> None:
    code, message, line, _ = _error("StartAt: A\nStates: [\n")
    assert code == "syntax-error"
    assert message.startswith("invalid YAML")
    assert line == 3


def test_bad_json_is_a_syntax_error_with_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "StartAt": "A",\n  "States": {,}\n}\n')
    code, message, line, column = _error(path)
    assert (code, line, column) == ("syntax-error", 3, 14)
    assert message.startswith("invalid JSON")


@pytest.mark.parametrize(("text", "kind"), [("[1, 2]", "an array"), ("just words", "a string"), ("", "empty"), ("42", "a number")])
def test_a_definition_must_be_an_object(text: str, kind: str) -> None:
    code, message, _, _ = _error(text)
    assert code == "not-an-object"
    assert message.endswith(kind)


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    code, message, _, _ = _error(path)
    assert code == "not-text"
    assert "binary" in message


def test_undecodable_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"StartAt: A\nComment: caf\xe9\n")
    code, message, line, _ = _error(path)
    assert (code, line) == ("not-text", 2)
    assert "not UTF-8" in message


def test_a_50_mb_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("w") as out:
        out.write('{"Comment": "')
        out.write("x" * (50 * 1024 * 1024))
        out.write('"}')
    code, message, _, _ = _error(path)
    assert code == "too-large"
    assert "50.0 MB" in message and "limit is 10 MB" in message


@pytest.mark.parametrize("text", [
    "v: " + "[" * 100_000 + "]" * 100_000,
    '{"v": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "v:\n" + "".join(" " * (i + 1) + "- \n" for i in range(MAX_DEPTH + 10)),
])
def test_deep_nesting_is_refused(text: str) -> None:
    code, message, _, _ = _error(text)
    assert code == "too-deep"
    assert f"more than {MAX_DEPTH} levels" in message


def test_alias_bombs_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    code, message, _, _ = _error("\n".join(lines))
    assert code == "too-deep"
    assert "aliases" in message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.yaml")[0] == "file-not-found"
    assert _error(tmp_path)[0] == "unreadable"


def test_several_yaml_documents_are_refused() -> None:
    code, message, line, _ = _error(MINIMAL + "---\nStartAt: B\n")
    assert (code, line) == ("syntax-error", 6)
    assert "one YAML document" in message


@pytest.mark.parametrize(("text", "fragment"), [
    ("a: &x {b: 1}\nc:\n  <<: *x\n", "merge keys"),
    ("a: !!python/name:os.system\n", "unsupported YAML tag"),
    ("? [a, b]\n: c\n", "keys must be strings"),
])
def test_yaml_features_outside_json_are_refused(text: str, fragment: str) -> None:
    code, message, _, _ = _error(text)
    assert code == "syntax-error"
    assert fragment in message


def test_check_turns_loader_errors_into_diagnostics(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("StartAt: [\n")
    [diagnostic] = check(path)
    assert (diagnostic.code, diagnostic.file, diagnostic.severity) == ("syntax-error", str(path), "error")


def test_json_with_a_yaml_flow_mapping_falls_back_to_yaml() -> None:
    assert load_source("{StartAt: A, States: {A: {Type: Succeed}}}").data["States"] == {"A": {"Type": "Succeed"}}


def test_json_file_round_trip_matches_json_module(tmp_path: Path) -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": {"n": [1, 2.5, None, True, "x"]}, "End": True}}}
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(definition))
    assert load_source(path).data == definition


def test_ambiguous_values_in_a_state_name_the_state() -> None:
    text = "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: yes\n    End: true\n"
    [warning] = check(text)
    assert (warning.code, warning.state, warning.line, warning.pointer) == ("yaml-ambiguous-value", "A", 5, "/States/A/Result")


def test_duplicate_json_key_is_located_exactly() -> None:
    text = '{"StartAt": "A", "States": {\n "A": {"Type": "Pass", "End": true},\n "B": {"Type": "Pass",\n       "Type": "Succeed"}}}'
    code, message, line, column, _ = _duplicate(text)
    assert (code, line, column) == ("duplicate-key", 4, 8)
    assert "'Type'" in message


def test_a_str_that_names_a_missing_file_says_so(tmp_path: Path) -> None:
    code, message, _, _ = _error(str(tmp_path / "flow.asl.json"))
    assert code == "file-not-found"
    assert "flow.asl.json" in message
