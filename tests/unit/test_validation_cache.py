"""The record of clean verdicts that lets `sm run` skip re-validating an unchanged definition."""

from __future__ import annotations

from pathlib import Path

import pytest

import statemachine
from statemachine import validation_cache

VALID = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
INVALID = {"StartAt": "Nope", "States": {"A": {"Type": "Pass", "End": True}}}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SM_NO_CACHE", raising=False)
    return tmp_path


def records(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_clean_definition_is_recorded_once_and_then_known(cache: Path) -> None:
    assert not validation_cache.is_known_valid(VALID)
    statemachine.load(VALID, validation_cache=True)
    assert len(records(cache)) == 1
    assert validation_cache.is_known_valid(VALID)
    statemachine.load(VALID, validation_cache=True)
    assert len(records(cache)) == 1


def test_an_invalid_definition_is_never_recorded_and_always_rejected(cache: Path) -> None:
    for _ in range(2):
        with pytest.raises(statemachine.DefinitionError) as info:
            statemachine.load(INVALID, validation_cache=True)
        assert info.value.errors[0].code
    assert records(cache) == []


def test_any_change_to_the_definition_or_machine_type_misses(cache: Path) -> None:
    statemachine.load(VALID, validation_cache=True)
    changed = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": 1, "End": True}}}
    assert not validation_cache.is_known_valid(changed)
    assert not validation_cache.is_known_valid(VALID, "EXPRESS")


def test_the_library_does_not_record_unless_asked(cache: Path) -> None:
    statemachine.load(VALID)
    assert records(cache) == []


def test_sm_no_cache_switches_the_record_off(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_NO_CACHE", "1")
    statemachine.load(VALID, validation_cache=True)
    assert records(cache) == []
    assert not validation_cache.is_known_valid(VALID)
