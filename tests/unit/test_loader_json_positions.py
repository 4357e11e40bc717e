"""Positions in JSON files are found on demand by walking the text with the json module's
scanner; they must be the very positions the YAML composer gives (what YAML files get, and what
this loader computed for JSON before). Compared on every definition of the repository and the
conformance corpus, written out in four layouts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from statemachine.loader import _Builder, _LazySourceMap, _Loader, load_source
from statemachine.validation import check
from tests.conformance.corpus import all_cases

REPO = Path(__file__).resolve().parents[2]


def _composed(text: str) -> dict[str, tuple[int, int]]:
    builder = _Builder("<json>")
    builder.build(yaml.compose(text, Loader=_Loader))
    return builder.source_map


def _layouts(definition: Any) -> list[str]:
    return [json.dumps(definition, indent=2), json.dumps(definition),
            json.dumps(definition, indent="\t", ensure_ascii=False),
            json.dumps(definition, indent=1).replace("\n", "\r\n")]


def _definitions() -> list[Any]:
    found = [load_source(path).data for path in sorted((REPO / "definitions").glob("*.yaml"))]
    found += [case.definition for case in all_cases() if isinstance(case.definition, dict)]
    return found


def test_positions_equal_the_yaml_composers() -> None:
    compared = 0
    for definition in _definitions():
        for text in _layouts(definition):
            try:
                expected = _composed(text)
            except yaml.YAMLError:  # e.g. surrogate escapes: the composer cannot read them
                continue
            lazy = _LazySourceMap(text)
            assert {pointer: lazy[pointer] for pointer in expected} == expected
            assert sorted(lazy) == sorted(expected)
            compared += 1
    assert compared >= 40


def test_duplicate_keys_point_at_the_last_one_and_unknown_pointers_are_missing() -> None:
    text = '{"StartAt": "A",\n "States": {"A": {"Type": "Pass", "End": true},\n  "A": {"Type": "Succeed"}}}'
    lazy = _LazySourceMap(text)
    assert lazy["/States/A"] == _composed(text)["/States/A"] == (3, 3)
    assert lazy.get("/States/B") is None and lazy.get("/States/A/Type/x") is None


def test_a_diagnostic_deep_in_a_large_json_file_has_its_line(tmp_path: Path) -> None:
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(3000)}
    states["S3000"] = {"Type": "Pass", "End": True, "Typo": 1}
    path = tmp_path / "large.json"
    path.write_text(json.dumps({"StartAt": "S0", "States": states}, indent=2))
    [found] = check(path)
    # "{", StartAt, "States": {, then 4 lines a state; S3000 opens at line 12004, its Typo key is third.
    assert (found.code, found.pointer, found.line, found.column) == ("unknown-field", "/States/S3000/Typo", 4 + 4 * 3000 + 3, 7)


@pytest.mark.parametrize("text", ["{}", "[1, 2]", '{"a": [1, {"b": null}]}'])
def test_small_texts(text: str) -> None:
    assert dict(_LazySourceMap(text)) == _composed(text)
