"""python:package.module:function resources and Python callables registered in code."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from statemachine.errors import ResourceNotFoundError, StatesError
from statemachine.resources import ResourceRegistry, TaskContext
from tests.fixtures.calls import resolve_and_call
from tests.fixtures.handlers import sample


def write_module(folder: Path, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(source))


def test_module_relative_to_the_definition_folder(tmp_path: Path) -> None:
    write_module(tmp_path, "pricing_rt1", """
        def total(order):
            return {"total": sum(i["price"] * i["qty"] for i in order["items"])}
    """)
    registry = ResourceRegistry.default(base_dir=tmp_path)
    order = {"items": [{"price": 2.5, "qty": 2}, {"price": 1, "qty": 3}]}
    assert resolve_and_call(registry, "python:pricing_rt1:total", order) == {"total": 8.0}


def test_module_found_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_module(tmp_path, "cwd_module_rt2", "def shout(s):\n    return s.upper()\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_and_call(ResourceRegistry.default(), "python:cwd_module_rt2:shout", "hi") == "HI"


def test_package_module_and_async_function() -> None:
    registry = ResourceRegistry.default()
    assert resolve_and_call(registry, "python:tests.fixtures.handlers.sample:double", 4) == 8
    assert resolve_and_call(registry, "python:tests.fixtures.handlers.sample:slow_double", 5) == 10


def test_exception_becomes_error_named_by_class_with_lambda_cause() -> None:
    registry = ResourceRegistry.default()
    with pytest.raises(StatesError) as info:
        resolve_and_call(registry, "python:tests.fixtures.handlers.sample:declined", {"card": "4242"})
    assert info.value.name == "PaymentDeclined"
    cause = json.loads(info.value.cause or "")
    assert list(cause) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert cause["errorMessage"] == "card 4242 declined"
    assert cause["errorType"] == "PaymentDeclined"
    assert len(cause["requestId"]) == 36
    assert len(cause["stackTrace"]) == 1  # the handler's own frame only, not the runtime's
    assert cause["stackTrace"][0].startswith('  File "')
    assert "sample.py" in cause["stackTrace"][0] and "in declined\n" in cause["stackTrace"][0]


def test_context_is_passed_when_the_signature_asks_for_it() -> None:
    beats: list[int] = []
    registry = ResourceRegistry.default()
    result = resolve_and_call(
        registry, "python:tests.fixtures.handlers.sample:with_context.waitForTaskToken", {},
        task_token="tok-1", state_name="Approve", context={"Execution": {"Name": "run-1"}},
        heartbeat=lambda: beats.append(1),
    )
    assert result == {"token": "tok-1", "state": "Approve", "execution": "run-1"}
    assert beats == [1]


def test_functions_registered_in_code_receive_the_input() -> None:
    seen: list[object] = []

    def record(value, context):
        seen.append(context)
        return value

    registry = ResourceRegistry().with_handlers({"double": sample.double, "record": record})
    assert resolve_and_call(registry, "double", 21) == 42
    assert resolve_and_call(registry, "record", [1]) == [1]
    assert isinstance(seen[0], TaskContext)


def test_result_must_be_json() -> None:
    with pytest.raises(StatesError) as info:
        resolve_and_call(ResourceRegistry.default(), "python:tests.fixtures.handlers.sample:not_json", 1)
    assert info.value.name == "Runtime.MarshalError"
    assert "not JSON serializable" in json.loads(info.value.cause or "")["errorMessage"]


def test_import_failure_is_a_clear_message(tmp_path: Path) -> None:
    registry = ResourceRegistry.default(base_dir=tmp_path)
    with pytest.raises(ResourceNotFoundError) as info:
        registry.resolve("python:no_such_module_rt3:f")
    assert "no_such_module_rt3" in str(info.value) and str(tmp_path) in str(info.value)
    write_module(tmp_path, "broken_rt4", "import no_such_dependency_rt4\n")
    with pytest.raises(ResourceNotFoundError, match="no_such_dependency_rt4"):
        registry.resolve("python:broken_rt4:f")
    with pytest.raises(ResourceNotFoundError, match="has no attribute 'missing'"):
        registry.resolve("python:tests.fixtures.handlers.sample:missing")
    with pytest.raises(ResourceNotFoundError, match=r"package\.module:function"):
        registry.resolve("python:just_a_module")


def test_same_package_name_in_two_definition_folders(tmp_path: Path) -> None:
    for folder, answer in (("one", 1), ("two", 2)):
        package = tmp_path / folder / "handlers_rt10"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "calc.py").write_text(f"def answer(_):\n    return {answer}\n")
    first = ResourceRegistry.default(base_dir=tmp_path / "one").resolve("python:handlers_rt10.calc:answer")
    second = ResourceRegistry.default(base_dir=tmp_path / "two").resolve("python:handlers_rt10.calc:answer")
    from tests.fixtures.calls import call

    assert call(first, "python:handlers_rt10.calc:answer", {}) == 1
    assert call(second, "python:handlers_rt10.calc:answer", {}) == 2


def test_optional_second_parameter_is_not_a_context() -> None:
    def scale(value, factor=3):
        return value * factor

    def with_keyword_context(value, *, context=None):
        return isinstance(context, TaskContext)

    registry = ResourceRegistry().with_handlers({"scale": scale, "kw": with_keyword_context})
    assert resolve_and_call(registry, "scale", 2) == 6
    assert resolve_and_call(registry, "kw", 1) is True
