"""A Map whose failures exceed ToleratedFailurePercentage, on the cluster and in process under
virtual time: the same history -- the iterations that ran up to the failure that exceeded
the threshold are recorded (and a sibling still running is aborted), not dropped."""

from __future__ import annotations

from typing import Any

import pytest

import statemachine

MAP = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map", "ItemsPath": "$.items", "ToleratedFailurePercentage": 50,
            "ItemProcessor": {"StartAt": "Bad?", "States": {
                "Bad?": {"Type": "Choice", "Default": "Ok",
                         "Choices": [{"Variable": "$", "NumericEquals": 3, "Next": "Boom"},
                                     {"Variable": "$", "NumericEquals": 9, "Next": "Slow"}]},
                "Slow": {"Type": "Wait", "Seconds": 100, "Next": "Ok"},
                "Boom": {"Type": "Fail", "Error": "Bad", "Cause": "three"},
                "Ok": {"Type": "Pass", "End": True}}},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
            "End": True},
        "Caught": {"Type": "Pass", "End": True},
    },
}


def _events(execution: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "timestamp"} for e in execution.history]


@pytest.mark.parametrize("items", [[3, 3, 4], [3, 9, 3, 3], [4, 3, 9, 3, 3, 3]])
def test_exceeded_tolerance_history_as_in_process(dask_cluster: Any, items: list[int]) -> None:
    machine = statemachine.load(MAP)
    local = machine.run({"items": items}, virtual_time=True, seed=7)
    remote = machine.run({"items": items}, virtual_time=True, seed=7, executor=dask_cluster)
    assert local.output["Error"] == "States.ExceedToleratedFailureThreshold"
    assert remote.output == local.output
    assert _events(remote) == _events(local)
