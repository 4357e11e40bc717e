"""Issue 9 items 5-8 and issue 10's structure: a definition that validates also loads, because
validation compiles with the compiler's own grammars (Choice rules, timestamps, JSONata);
``load()`` raises only DefinitionError; the compiler loads no interpreter module; a compiled
machine is plain data that pickles, and runs the same after a round trip."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from statemachine import DefinitionError, load
from statemachine.compiler import compile_machine
from statemachine.loader import load_source
from statemachine.validation import check

REPO = Path(__file__).resolve().parents[2]


def _choice(rule: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{**rule, "Next": "D"}], "Default": "D"},
        "D": {"Type": "Succeed"}}}


def _wait(timestamp: str) -> dict[str, Any]:
    return {"StartAt": "W", "States": {"W": {"Type": "Wait", "Timestamp": timestamp, "End": True}}}


def _errors(definition: Any) -> list[tuple[str, str]]:
    return [(d.code, d.pointer) for d in check(definition) if d.severity == "error"]


def _refused_by_load(definition: Any) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        load(definition)
    return info.value


# --- item 5: an intrinsic where a path is required ------------------------------------------

@pytest.mark.parametrize("rule, pointer", [
    ({"Variable": "States.ArrayLength($.a)", "NumericEquals": 1}, "/States/C/Choices/0/Variable"),
    ({"Variable": "$.a", "NumericEqualsPath": "States.ArrayLength($.b)"},
     "/States/C/Choices/0/NumericEqualsPath"),
    ({"Not": {"Variable": "States.Format('x')", "IsNull": True}}, "/States/C/Choices/0/Not/Variable"),
])
def test_intrinsic_in_a_choice_path_is_invalid_for_validate_and_load(rule: dict[str, Any], pointer: str) -> None:
    definition = _choice(rule)
    assert _errors(definition) == [("invalid-path", pointer)]
    assert [d.code for d in _refused_by_load(definition).diagnostics] == ["invalid-path"]


@pytest.mark.parametrize("field", ["InputPath", "OutputPath"])
def test_intrinsic_in_another_path_field_is_invalid(field: str) -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", field: "States.ArrayLength($.a)", "End": True}}}
    assert _errors(definition) == [("invalid-path", f"/States/P/{field}")]
    _refused_by_load(definition)


def test_intrinsic_stays_valid_in_error_path_and_cause_path() -> None:
    definition = {"StartAt": "F", "States": {"F": {
        "Type": "Fail", "ErrorPath": "States.Format('E{}', $.n)", "CausePath": "States.JsonToString($)"}}}
    assert _errors(definition) == []
    assert load(definition).run({"n": 1}).error == "E1"


# --- item 6: a YAML integer beyond Python's conversion limit ---------------------------------

def test_huge_yaml_integer_is_a_diagnostic_not_a_value_error() -> None:
    text = "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: " + "1" * 4301 + "\n    End: true\n"
    [diagnostic] = check(text)
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("syntax-error", 5, 13)
    assert "4301 digits" in diagnostic.message
    assert [d.code for d in _refused_by_load(text).diagnostics] == ["syntax-error"]


@pytest.mark.parametrize("value", [10**5000, float("inf"), float("nan"), {1, 2}, b"x"],
                         ids=["huge-int", "inf", "nan", "set", "bytes"])
def test_dict_definitions_hold_only_json(value: Any) -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": value, "End": True}}}
    assert _errors(definition) == [("not-json", "/States/A/Result")]
    _refused_by_load(definition)


# --- item 7: a JSONata expression that crashed the parser ------------------------------------

@pytest.mark.parametrize("expression", ["{% ! %}", "{% $x ! 2 %}", "{% a!b %}"])
def test_jsonata_parser_crash_is_a_syntax_diagnostic(expression: str) -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "P",
                  "States": {"P": {"Type": "Pass", "Output": expression, "End": True}}}
    [diagnostic] = [d for d in check(definition) if d.severity == "error"]
    assert diagnostic.code == "invalid-jsonata"
    assert "Unknown operator: !" in diagnostic.message  # jsonata-js: S0204
    _refused_by_load(definition)


# --- item 8: one timestamp grammar ------------------------------------------------------------

BAD_TIMESTAMPS = [
    "2024-01-01t00:00:00z",       # ASL: upper-case T and Z
    "2024-01-01T00:00:00z",
    "2024-01-01T00:00:60Z",       # java.time: no leap second
    "2024-02-30T00:00:00Z",       # no such date
    "2024-01-01T00:00:00.1234567891Z",  # more than nanoseconds
    "2024-01-01T00:00:00+18:01",  # beyond java.time's offset range
    "2016-12-05T21:29:29",        # corpus NO_Z
]


@pytest.mark.parametrize("text", BAD_TIMESTAMPS)
def test_bad_timestamp_is_refused_alike_by_choice_wait_validate_and_load(text: str) -> None:
    for definition, pointer in ((_choice({"Variable": "$.t", "TimestampEquals": text}),
                                 "/States/C/Choices/0/TimestampEquals"),
                                (_wait(text), "/States/W/Timestamp")):
        assert _errors(definition) == [("invalid-timestamp", pointer)]
        error = _refused_by_load(definition)
        assert "String does not match RFC3339 timestamp" in error.diagnostics[0].message


@pytest.mark.parametrize("text", ["2024-01-01T00:00:59Z", "2024-02-29T23:59:59.123456789+18:00",
                                  "2016-03-14T01:59:00-05:30"])
def test_good_timestamps_load_and_compare(text: str) -> None:
    assert _errors(_wait(text)) == []
    machine = load(_choice({"Variable": "$.t", "TimestampEquals": text}))
    assert machine.run({"t": text}).status == "SUCCEEDED"


def test_timestamp_path_value_uses_the_same_grammar_at_run_time() -> None:
    machine = load({"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.t", "End": True}}})
    execution = machine.run({"t": "2024-01-01T00:00:60Z"}, virtual_time=True)
    assert execution.status == "FAILED"
    assert execution.error == "States.Runtime"


def test_sm_validate_prints_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"QueryLanguage": "JSONata", "StartAt": "P",
                               "States": {"P": {"Type": "Pass", "Output": "{% ! %}", "End": True}}}))
    big = tmp_path / "big.yaml"
    big.write_text("StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: " + "1" * 4301 + "\n    End: true\n")
    result = subprocess.run([sys.executable, "-m", "statemachine.cli", "validate", str(bad), str(big)],
                            capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "invalid-jsonata" in result.stdout and "syntax-error" in result.stdout


# --- structure: the compiler stands alone; compiled machines are data -------------------------

def test_importing_the_compiler_loads_no_interpreter_module() -> None:
    code = ("import sys, statemachine.compiler, statemachine.validation; "
            "print([m for m in sys.modules if m.startswith('statemachine.interpreter') or m == 'transitions'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"


def test_load_turns_a_compile_error_into_a_definition_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net behind validation (the validation cache can skip validation)."""
    from statemachine import api

    monkeypatch.setattr(api, "_validate", lambda doc, machine_type, use_cache: [])
    error = _refused_by_load(_choice({"Variable": "States.ArrayLength($.a)", "NumericEquals": 1}))
    [diagnostic] = error.diagnostics
    assert (diagnostic.code, diagnostic.pointer, diagnostic.state) == (
        "invalid-path", "/States/C/Choices/0/Variable", "C")


def _examples() -> list[Path]:
    return sorted((REPO / "definitions").glob("*.yaml"))


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.stem)
def test_every_example_pickles_and_keeps_its_nested_definitions(path: Path) -> None:
    compiled = compile_machine(load_source(path))
    copy = pickle.loads(pickle.dumps(compiled))
    assert copy.definition == compiled.definition
    assert copy.table == compiled.table and list(copy.states) == list(compiled.states)
    for state in copy.states.values():
        for branch in getattr(state, "branches", ()):
            assert branch.definition["StartAt"] == branch.start_at
        processor = getattr(state, "processor", None)
        if processor is not None:
            assert processor.definition["StartAt"] == processor.start_at


def test_a_round_tripped_machine_runs_like_the_original() -> None:
    definition = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"And": [{"Variable": "$.n", "NumericGreaterThan": 1},
                     {"Variable": "$.s", "StringMatches": "a*"}], "Next": "J"}], "Default": "P"},
        "P": {"Type": "Pass", "Parameters": {"len.$": "States.ArrayLength($.l)", "ctx.$": "$$.State.Name"},
              "End": True},
        "J": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input.n * 2 %}", "End": True}}}
    machine = load(definition)
    clone = pickle.loads(pickle.dumps(machine.compiled))
    for data, expected in (({"n": 2, "s": "ab", "l": []}, 4), ({"n": 0, "s": "", "l": [1, 2]}, {"len": 2, "ctx": "P"})):
        assert machine.run(data).output == expected
        assert type(machine)(clone, "copy", {}, "STANDARD").run(data).output == expected
