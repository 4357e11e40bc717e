"""`sm validate --resources MAP.yaml` finds every handler WITHOUT executing anything: modules
whose top-level code would write a canary file are found and parsed, never imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import statemachine
from statemachine.loader import load_source
from statemachine.resources.static import check_resources, top_level_names

CANARY_CODE = "import pathlib\npathlib.Path({path!r}).write_text('imported')\n"


def flow(tmp_path: Path, *resources: str, extra: str = "") -> Path:
    states = "".join(
        f"  S{i}:\n    Type: Task\n    Resource: {r}\n    {'Next: S' + str(i + 1) if i + 1 < len(resources) else 'End: true'}\n"
        for i, r in enumerate(resources))
    path = tmp_path / "flow.yaml"
    path.write_text(f"StartAt: S0\nStates:\n{states}{extra}")
    return path


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    return tmp_path / "canary.txt"


def test_handlers_are_found_without_running_their_modules(sm, tmp_path: Path, canary: Path) -> None:
    code = CANARY_CODE.format(path=str(canary))
    (tmp_path / "evil_local.py").write_text(code + "def handler(event):\n    return event\n")
    pkg = tmp_path / "evilpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(code)  # a parent package runs code too
    (pkg / "tasks.py").write_text(code + "class Runner:\n    def __call__(self, event):\n        return event\nrun = Runner()\n")
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "app.py").write_text(code + "def handler(event, context):\n    return event\n")
    (tmp_path / "sqs_stand_in.py").write_text(code + "from json import dumps as send\n")
    resource_map = tmp_path / "map.yaml"
    resource_map.write_text(
        "lambda_functions:\n  resize: {handler: app.handler, code: functions}\n"
        "resources:\n  arn:aws:states:::sqs:sendMessage: python:sqs_stand_in:send\n")
    definition = flow(tmp_path, "python:evil_local:handler", "python:evilpkg.tasks:run",
                      "arn:aws:lambda:us-east-1:111111111111:function:resize",
                      "arn:aws:states:::sqs:sendMessage")
    result = sm("validate", "--resources", resource_map, definition)
    assert result.returncode == 0, result.stdout
    assert not canary.exists()
    # load() does import them (it is about to run them): the canary proves the modules run code
    statemachine.load(definition, resource_map=resource_map)
    assert canary.read_text() == "imported"


def test_missing_handlers_are_reported_at_their_resource_all_at_once(sm, tmp_path: Path, canary: Path) -> None:
    (tmp_path / "evil_local.py").write_text(CANARY_CODE.format(path=str(canary)) + "def other(e):\n    pass\n")
    resource_map = tmp_path / "map.yaml"
    resource_map.write_text("resources: {}\n")
    definition = flow(tmp_path, "python:evil_local:handler", "python:no_such_module_q7:f",
                      "arn:aws:states:::sqs:sendMessage")
    result = sm("validate", "--format", "json", "--resources", resource_map, definition)
    assert result.returncode == 1
    found = json.loads(result.stdout)["files"][0]["diagnostics"]
    assert [(d["code"], d["state"], d["line"]) for d in found] == [
        ("unresolved-resource", "S0", 5), ("unresolved-resource", "S1", 9), ("unresolved-resource", "S2", 13)]
    assert "defines no 'handler'" in found[0]["message"]
    assert "no_such_module_q7" in found[1]["message"]
    assert not canary.exists()


def test_a_lambda_handler_missing_from_its_code_folder(sm, tmp_path: Path, canary: Path) -> None:
    (tmp_path / "app.py").write_text(CANARY_CODE.format(path=str(canary)) + "def other(e, c):\n    pass\n")
    resource_map = tmp_path / "map.yaml"
    resource_map.write_text("lambda_functions:\n  resize: app.handler\n")
    result = sm("validate", "--resources", resource_map,
                flow(tmp_path, "arn:aws:lambda:us-east-1:111111111111:function:resize"))
    assert result.returncode == 1 and "defines no 'handler'" in result.stdout
    assert not canary.exists()


def test_shell_tasks_get_their_load_time_check(sm, tmp_path: Path) -> None:
    resource_map = tmp_path / "map.yaml"
    resource_map.write_text("resources: {}\n")
    definition = tmp_path / "flow.yaml"
    definition.write_text("StartAt: Run\nStates:\n  Run:\n    Type: Task\n    Resource: shell\n"
                          "    Parameters:\n      Command.$: $.cmd\n    End: true\n")
    result = sm("validate", "--resources", resource_map, definition)
    assert result.returncode == 1
    assert "shell-dynamic-command" in result.stdout and ":7:" in result.stdout


def test_top_level_names_include_conditional_and_imported_bindings() -> None:
    import ast

    tree = ast.parse("import a.b\nfrom c import d as e\nx, (y, z) = 1, (2, 3)\n"
                     "try:\n    from fast import f\nexcept ImportError:\n    def f(): pass\n"
                     "if True:\n    class K: pass\ndef g():\n    inner = 1\n")
    names, anything = top_level_names(tree)
    assert names == {"a", "e", "x", "y", "z", "f", "K", "g"} and not anything
    assert top_level_names(ast.parse("from m import *\n"))[1]
    assert top_level_names(ast.parse("def __getattr__(name): ...\n"))[1]


def test_installed_modules_are_found_without_import(tmp_path: Path) -> None:
    definition = flow(tmp_path, "python:statemachine.interpreter.itemio:local_get_object",
                      "python:json:dumps", "python:math:sqrt", "python:json:no_such_function")
    found = check_resources(load_source(definition), None)
    assert [(d.code, d.state) for d in found] == [("unresolved-resource", "S3")]


def test_entry_points_are_listed_by_name_never_loaded(tmp_path: Path, canary: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    (tmp_path / "plugin_q9.py").write_text(CANARY_CODE.format(path=str(canary)) + "def handler(e):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = metadata.EntryPoint(name="queue:*", value="plugin_q9:handler", group="statemachine.resources")
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [entry])
    found = check_resources(load_source(flow(tmp_path, "queue:orders", "queue2:x")), None)
    assert [(d.code, d.state) for d in found] == [("unresolved-resource", "S1")]
    assert not canary.exists()


def test_local_s3_in_the_map_resolves_the_s3_actions(sm, tmp_path: Path) -> None:
    resource_map = tmp_path / "map.yaml"
    resource_map.write_text("local_s3: true\n")
    definition = flow(tmp_path, "arn:aws:states:::s3:putObject")
    assert sm("validate", "--resources", resource_map, definition).returncode == 0
    resource_map.write_text("resources: {}\n")
    assert sm("validate", "--resources", resource_map, definition).returncode == 1


def test_sm_run_refuses_a_shell_command_from_data(sm, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    definition = tmp_path / "flow.yaml"
    definition.write_text("StartAt: Run\nStates:\n  Run:\n    Type: Task\n    Resource: shell\n    End: true\n")
    result = sm("run", definition, "--input", json.dumps({"Command": f"touch {canary}", "Shell": True}))
    assert result.returncode == 2 and "shell-dynamic-command" in result.stderr + result.stdout
    assert not canary.exists()
