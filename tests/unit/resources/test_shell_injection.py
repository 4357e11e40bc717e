"""The shell resource's security rule, against real subprocesses: what runs, and whether a shell
runs it, is fixed by the definition; data only becomes separate arguments, environment values or
stdin. Every injection vector plants a command that would create a canary file, and the test
asserts the file is NOT created (and, where the task runs, that the data arrived verbatim)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import statemachine
from statemachine import DefinitionError
from statemachine.errors import StatesError
from statemachine.resources.shell import ShellHandler
from tests.fixtures.calls import call

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell")


def machine(params: Any = None, *, jsonata: bool = False, **extra: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": "shell", "End": True, **extra}
    if params is not None:
        state["Arguments" if jsonata else "Parameters"] = params
    definition: dict[str, Any] = {"StartAt": "Run", "States": {"Run": state}}
    if jsonata:
        definition["QueryLanguage"] = "JSONata"
    return definition


def codes(definition: dict[str, Any]) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        statemachine.load(definition)
    assert all(d.state == "Run" for d in info.value.diagnostics)
    return [d.code for d in info.value.diagnostics]


def payloads(canary: Path) -> list[str]:
    """Shell metacharacters that would run ``touch canary`` if the value reached a shell's parser."""
    c = str(canary)
    return [f"x; touch {c}", f"`touch {c}`", f"$(touch {c})", f"x | touch {c}", f"x\ntouch {c}",
            f"x && touch {c}", f"x > {c}"]


# -- at load time: the definition fixes the command ------------------------------------------------
def test_a_task_without_parameters_cannot_take_the_command_from_its_input(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    assert codes(machine()) == ["shell-dynamic-command"]
    assert codes(machine(jsonata=True)) == ["shell-dynamic-command"]
    # and nothing ran: load() refused before any input was seen
    assert not canary.exists()


@pytest.mark.parametrize("params", [
    {"Command.$": "States.Format('ls {}', $.v)"},
    {"Command.$": "$.command"},
    {"Command.$": "States.Array('echo', $.v)", "Shell": True},
    {"Command": "echo hi", "Shell.$": "$.shell"},
    {"Command": "ls", "Cwd.$": "$.dir"},
    {"Command": "env", "Env.$": "$.env"},
])
def test_command_shell_cwd_and_env_names_must_be_literal_jsonpath(params: dict[str, Any]) -> None:
    assert codes(machine(params)) == ["shell-dynamic-command"]


@pytest.mark.parametrize("params", [
    "{% $states.input %}",
    {"Command": "{% 'ls ' & $states.input.v %}"},
    {"Command": ["ls", "{% $states.input.v %}"]},
    {"Command": "echo hi", "Shell": "{% $states.input.shell %}"},
    {"Command": "ls", "Cwd": "{% $states.input.dir %}"},
    {"Command": "env", "Env": "{% $states.input.env %}"},
])
def test_command_shell_cwd_and_env_names_must_be_literal_jsonata(params: Any) -> None:
    assert codes(machine(params, jsonata=True)) == ["shell-dynamic-command"]


@pytest.mark.parametrize("name", ["PATH", "LD_PRELOAD", "BASH_ENV", "ENV", "IFS", "PYTHONSTARTUP",
                                  "NODE_OPTIONS", "GIT_SSH_COMMAND", "BASH_FUNC_ls%%"])
def test_data_may_not_set_environment_names_that_choose_what_runs(name: str) -> None:
    assert codes(machine({"Command": "true", "Env": {f"{name}.$": "$.v"}})) == ["shell-dynamic-env"]
    assert codes(machine({"Command": "true", "Env": {name: "{% $states.input.v %}"}}, jsonata=True)) == [
        "shell-dynamic-env"]
    statemachine.load(machine({"Command": "true", "Env": {name: "/usr/bin"}}))  # literal: the author's choice


def test_a_list_command_with_shell_true_is_refused_at_load() -> None:
    assert codes(machine({"Command": ["echo", "a"], "Shell": True})) == ["shell-invalid-parameters"]
    assert codes(machine({"Command": "echo", "Bogus": 1})) == ["shell-invalid-parameters"]


@pytest.mark.parametrize("command", [
    "sh -c", ["bash", "-c"], "/bin/bash -lc", "dash -ec", "python3 -c", "node -e", "perl -e",
    "ruby -e", "awk -e", "sed -e", "env", "env -i", "xargs -0", "sudo --", "sh", "python3",
    # launchers with operands: which word is the program depends on their option syntax
    "timeout 5", "nice -n 5", "env FOO=bar", "sudo -u root", "chroot /srv", "xargs -n 1",
])
@pytest.mark.parametrize("args", [{"Args.$": "States.Array($.v)"}, {"Args": ["literal"]}])
def test_a_command_that_would_run_its_first_arg_as_code_is_refused(command: Any, args: dict[str, Any]) -> None:
    # "sh -c" + Args: the input's value would be the script ("x; touch canary" would run).
    assert codes(machine({"Command": command, **args})) == ["shell-dynamic-command"]


@pytest.mark.parametrize("command", [
    "sh -c 'echo \"$1\"' sh", "python3 script.py", "ls -l", "echo -n", "git commit -m", "tar -czf",
    "grep -e", "jq -r", "sh script.sh",
])
def test_commands_whose_code_is_literal_still_take_args(command: str) -> None:
    statemachine.load(machine({"Command": command, "Args.$": "States.Array($.v)"}))


def test_an_interpreter_without_args_is_fine() -> None:
    statemachine.load(machine({"Command": "sh -c", "Stdin.$": "$.v"}))


def test_diagnostics_carry_line_column_and_pointer(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text("StartAt: Run\nStates:\n  Run:\n    Type: Task\n    Resource: shell\n"
                    "    Parameters:\n      Command.$: $.cmd\n    End: true\n")
    with pytest.raises(DefinitionError) as info:
        statemachine.load(flow)
    (found,) = info.value.diagnostics
    assert (found.code, found.pointer, found.line) == (
        "shell-dynamic-command", "/States/Run/Parameters/Command.$", 7)


def test_tasks_inside_parallel_and_map_are_checked() -> None:
    inner = machine({"Command.$": "$.c"})
    nested = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, "ItemProcessor": inner}}}]}}}
    with pytest.raises(DefinitionError) as info:
        statemachine.load(nested)
    assert [d.pointer for d in info.value.diagnostics] == [
        "/States/P/Branches/0/States/M/ItemProcessor/States/Run/Parameters/Command.$"]


# -- at run time: data is only ever an argument, an environment value or stdin ------------------
def run(definition: dict[str, Any], value: Any) -> Any:
    execution = statemachine.load(definition).run(value)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    return execution.output


def test_shell_script_gets_data_as_positional_parameters(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    flow = machine({"Command": 'printf "%s" "$1"', "Shell": True, "Args.$": "States.Array($.v)"})
    for value in payloads(canary):
        assert run(flow, {"v": value})["Stdout"] == value
        assert not canary.exists(), value


def test_shell_script_gets_data_as_positional_parameters_jsonata(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    flow = machine({"Command": 'printf "%s|" "$@"', "Shell": True, "Args": "{% $states.input.v %}"},
                   jsonata=True)
    values = payloads(canary)
    assert run(flow, {"v": values})["Stdout"] == "".join(v + "|" for v in values)
    assert not canary.exists()


def test_without_a_shell_each_arg_is_one_argv_entry(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    flow = machine({"Command": ["printf", "%s|"], "Args.$": "$.v"})
    values = payloads(canary)
    assert run(flow, {"v": values})["Stdout"] == "".join(v + "|" for v in values)
    assert not canary.exists()


def test_env_values_and_stdin_from_data_are_not_parsed(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    flow = machine({"Command": 'printf "%s" "$VALUE"; cat', "Shell": True,
                    "Env": {"VALUE.$": "$.v"}, "Stdin.$": "$.v"})
    for value in payloads(canary):
        assert run(flow, {"v": value})["Stdout"] == value + value
        assert not canary.exists(), value


def test_an_arg_that_looks_like_an_option_is_refused(tmp_path: Path) -> None:
    canary = tmp_path / "canary"  # `sort -o FILE` writes FILE: an option injection
    flow = machine({"Command": ["sort"], "Args.$": "$.v"},
                   Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}])
    flow["States"]["Caught"] = {"Type": "Pass", "End": True}
    execution = statemachine.load(flow).run({"v": ["-o", str(canary)]})
    assert execution.output["Error"] == "Shell.InvalidParameters"
    assert "Args[0] starts with '-'" in execution.output["Cause"]
    assert not canary.exists()


def test_a_literal_double_dash_makes_dash_args_operands(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    touch = machine({"Command": ["touch", "--"], "Cwd": str(tmp_path), "Args.$": "$.v"})
    run(touch, {"v": ["-r", "canary"]})  # after "--", "-r" is a file name, not an option
    assert (tmp_path / "-r").exists() and canary.exists()
    canary.unlink()
    sort = machine({"Command": ["sort", "--"], "Args.$": "$.v"},
                   Catch=[{"ErrorEquals": ["Shell.NonZeroExit"], "Next": "Caught"}])
    sort["States"]["Caught"] = {"Type": "Pass", "End": True}
    assert statemachine.load(sort).run({"v": ["-o", str(canary)]}).status == "SUCCEEDED"
    assert not canary.exists()  # sort looked for an input file named "-o"


def test_dash_args_are_always_refused_in_shell_scripts(tmp_path: Path) -> None:
    with pytest.raises(StatesError) as info:
        call(ShellHandler(), "shell", {"Command": 'ls "$1"', "Shell": True, "Args": ["-la"]})
    assert info.value.name == "Shell.InvalidParameters"


def test_the_handler_refuses_a_list_joined_into_a_shell_script(tmp_path: Path) -> None:
    canary = tmp_path / "canary"  # the old behaviour: " ".join(list) given to sh -c
    with pytest.raises(StatesError) as info:
        call(ShellHandler(), "shell", {"Command": ["echo", f"x; touch {canary}"], "Shell": True})
    assert info.value.name == "Shell.InvalidParameters"
    assert not canary.exists()


def test_nul_characters_are_refused() -> None:
    for params in ({"Command": ["echo"], "Args": ["a\0b"]}, {"Command": "echo", "Env": {"A": "a\0b"}}):
        with pytest.raises(StatesError) as info:
            call(ShellHandler(), "shell", params)
        assert info.value.name == "Shell.InvalidParameters"


def test_non_string_args_become_json_text() -> None:
    result = call(ShellHandler(), "shell", {"Command": ["printf", "%s|"], "Args": [1, True, None, {"a": 1}]})
    assert result["Stdout"] == '1|true|null|{"a": 1}|'


def test_the_readme_example_archives_what_the_input_names(tmp_path: Path) -> None:
    folder = tmp_path / "in; touch canary"  # a hostile-looking but real folder name
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    archive = tmp_path / "out $(touch canary).tgz"
    flow = machine({"Command": 'tar -czf "$1" -- "$2"', "Shell": True,
                    "Args.$": "States.Array($.archive, $.folder)"})
    run(flow, {"archive": str(archive), "folder": str(folder)})
    assert archive.is_file() and not (tmp_path / "canary").exists() and not Path("canary").exists()
