"""The compiler: one model shape for both query languages, triggers resolved through the
transition table built from the definition, everything compiled once."""

from __future__ import annotations

import dataclasses

import pytest

from statemachine import model
from statemachine.compiler import compile_machine
from statemachine.values import MISSING

DEFINITION = {
    "StartAt": "Choose",
    "States": {
        "Choose": {"Type": "Choice", "Default": "Work",
                   "Choices": [{"Variable": "$.skip", "BooleanEquals": True, "Next": "Done"}]},
        "Work": {"Type": "Task", "Resource": "work", "Next": "Done",
                 "Retry": [{"ErrorEquals": ["States.ALL"]}],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Done"}]},
        "Done": {"Type": "Succeed"},
    },
}


def test_transition_table_maps_every_outcome_to_its_target() -> None:
    compiled = compile_machine(DEFINITION)
    assert compiled.table == {
        "Choose": {"choice0": "Done", "default": "Work"},
        "Work": {"next": "Done", "catch0": "Done"},
        "Done": {},
    }
    assert compiled.start_at == "Choose"


def test_model_is_frozen_and_absent_fields_are_missing() -> None:
    compiled = compile_machine(DEFINITION)
    work = compiled.states["Work"]
    assert isinstance(work, model.TaskState)
    assert work.retriers == (model.Retrier(("States.ALL",)),)
    assert work.retriers[0].max_delay_seconds is MISSING
    assert work.flow.parameters is MISSING and work.flow.input_path is MISSING
    with pytest.raises(dataclasses.FrozenInstanceError):
        work.resource = "other"  # type: ignore[misc]


def test_both_query_languages_fill_the_same_data_flow_shape() -> None:
    jsonpath = compile_machine({"StartAt": "P", "States": {"P": {
        "Type": "Pass", "InputPath": "$.a", "Parameters": {"x.$": "$.b"}, "ResultPath": None,
        "OutputPath": "$.c", "End": True}}}).states["P"].flow
    assert jsonpath.input_path is not MISSING and jsonpath.parameters is not MISSING
    assert jsonpath.result_path is None and jsonpath.output is MISSING
    jsonata = compile_machine({"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {
        "Type": "Pass", "Output": "{% $states.input %}", "Assign": {"v": 1}, "End": True}}}).states["P"].flow
    assert jsonata.input_path is MISSING and jsonata.result_path is MISSING
    assert jsonata.output is not MISSING and jsonata.assign is not MISSING
    assert jsonata.assign_on_result is False


def test_nested_machines_and_map_options() -> None:
    compiled = compile_machine({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.xs", "MaxConcurrencyPath": "$.n", "ToleratedFailureCount": 2,
        "Iterator": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
        "Parameters": {"v.$": "$$.Map.Item.Value"}, "End": True}}})
    state = compiled.states["M"]
    assert isinstance(state, model.MapState)
    assert state.processor is not None and state.processor.start_at == "I"
    assert state.item_selector is not MISSING  # legacy Parameters act as ItemSelector
    assert state.flow.parameters is MISSING
    assert state.max_concurrency.path is not MISSING  # type: ignore[union-attr]
    assert state.tolerated_count.literal == 2  # type: ignore[union-attr]
    assert state.distributed is False
