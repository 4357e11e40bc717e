"""The pytest plugin: registered as a pytest11 entry point, fixtures only; the worked example
of docs/testing.md (every path of the order saga) runs and passes; seeded runs repeat."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from statemachine.testing import pytest_plugin
from statemachine.testing.pytest_plugin import assert_path, events

REPO = Path(__file__).resolve().parents[2]
HOOK_PREFIX = "pytest_"


def test_the_plugin_is_registered_and_defines_no_hooks() -> None:
    entries = [e for e in metadata.entry_points(group="pytest11") if e.value == "statemachine.testing.pytest_plugin"]
    assert len(entries) == 1
    assert not [name for name in vars(pytest_plugin) if name.startswith(HOOK_PREFIX)]


def test_the_docs_worked_example_runs_and_passes(tmp_path: Path) -> None:
    text = (REPO / "docs" / "testing.md").read_text(encoding="utf-8")
    code = text.split("<!-- example: order_saga -->\n```python\n", 1)[1].split("```", 1)[0]
    test_file = tmp_path / "test_order_saga_example.py"
    test_file.write_text(code, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--rootdir", str(tmp_path), str(test_file)],
                            cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed" in result.stdout


def test_machines_from_sm_load_use_virtual_time_and_the_seed(sm_load: Any) -> None:
    machine = sm_load("StartAt: W\nStates:\n  W: {Type: Wait, Seconds: 86400, Next: U}\n"
                      "  U: {Type: Pass, Parameters: {id.$: States.UUID()}, End: true}\n")
    first, second = machine.run({}), machine.run({})
    assert first.output == second.output  # same seed, same UUID
    assert first.duration is not None and first.duration >= 86400.0  # a day of virtual time
    assert first.seed == 0


def test_sm_mock_by_state_name_and_path_helpers(sm_load: Any, sm_mock: Any) -> None:
    saga = sm_load("definitions/order_saga.yaml")
    order = {"orderId": "o", "card": "c", "address": "a", "lines": []}
    execution = saga.run(order, mocks=sm_mock(ReserveInventory=sm_mock.throw("OutOfStock", "none left")))
    assert_path(execution, ["ReserveInventory", "OrderFailed"])
    assert [e["type"] for e in events(execution, state="ReserveInventory")] == [
        "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskFailed", "TaskStateExited"]
    try:
        assert_path(execution, ["ReserveInventory"])
    except AssertionError as exc:
        assert "path taken" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("assert_path accepted a wrong path")


def test_sm_mock_config_fixture(sm_load: Any, sm_mock_config: Any) -> None:
    fixtures = Path(__file__).resolve().parent / "fixtures"
    machine = sm_load(fixtures / "LambdaSQSIntegration.asl.json")
    mocks = sm_mock_config(fixtures / "MockConfigFile.json", "LambdaSQSIntegration", "RetryPath", machine)
    execution = machine.run({}, mocks=mocks)
    assert execution.status == "SUCCEEDED"
    assert len(events(execution, "TaskFailed")) == 3
