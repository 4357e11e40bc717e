"""The shell resource against real subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from statemachine.errors import StatesError
from statemachine.resources import TaskRequest
from statemachine.resources.shell import ShellHandler
from tests.fixtures.calls import call

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")


def run(params: object) -> object:
    return call(ShellHandler(), "shell", params)


def test_argument_list_runs_without_a_shell() -> None:
    result = run({"Command": ["printf", "%s|", "a b", "$HOME"]})
    assert result == {"ExitCode": 0, "Stdout": "a b|$HOME|", "Stderr": ""}


def test_string_command_is_split_not_interpreted() -> None:
    assert run({"Command": "echo 'one two' $HOME"})["Stdout"] == "one two $HOME\n"


def test_shell_true_uses_sh() -> None:
    assert run({"Command": "echo $((40 + 2)) | tr 4 X", "Shell": True})["Stdout"] == "X2\n"


def test_env_cwd_and_stdin(tmp_path: Path) -> None:
    result = run({"Command": ["sh", "-c", 'echo "$GREETING $(pwd)"; cat'], "Env": {"GREETING": "hi"},
                  "Cwd": str(tmp_path), "Stdin": "from stdin"})
    assert result["Stdout"] == f"hi {tmp_path.resolve()}\nfrom stdin"


def test_parse_json_and_stderr() -> None:
    result = run({"Command": ["sh", "-c", 'echo \'{"n": [1, 2]}\'; echo warn >&2'], "ParseJson": True})
    assert result == {"ExitCode": 0, "Stdout": {"n": [1, 2]}, "Stderr": "warn\n"}
    with pytest.raises(StatesError) as info:
        run({"Command": ["echo", "not json"], "ParseJson": True})
    assert info.value.name == "Shell.InvalidJson"


def test_non_zero_exit_is_a_named_error_with_the_result_as_cause() -> None:
    with pytest.raises(StatesError) as info:
        run({"Command": ["sh", "-c", "echo out; echo err >&2; exit 3"]})
    assert info.value.name == "Shell.NonZeroExit"
    assert json.loads(info.value.cause or "") == {"ExitCode": 3, "Stdout": "out\n", "Stderr": "err\n"}


def test_command_not_found_with_and_without_shell() -> None:
    with pytest.raises(StatesError) as info:
        run({"Command": ["no-such-command-rt5"]})
    assert info.value.name == "Shell.CommandNotFound"
    assert "no-such-command-rt5" in (info.value.cause or "")
    with pytest.raises(StatesError) as info:
        run({"Command": "no-such-command-rt5", "Shell": True})
    assert info.value.name == "Shell.CommandNotFound"


def test_permission_denied(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(StatesError) as info:
        run({"Command": [str(script)]})
    assert info.value.name == "Shell.PermissionDenied"


def test_invalid_parameters() -> None:
    for params in ({}, {"Command": []}, {"Command": "x", "Shell": "yes"}, {"Command": "x", "Bogus": 1}, "ls"):
        with pytest.raises(StatesError) as info:
            run(params)
        assert info.value.name == "Shell.InvalidParameters"


def test_output_is_bounded() -> None:
    result = run({"Command": ["sh", "-c", "yes x | head -c 100000"], "MaxOutputBytes": 1000})
    assert len(result["Stdout"]) == 1000
    assert result["Truncated"] is True


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    script = f"sleep 30 & echo $! > {pidfile}; echo $$ >> {pidfile}; wait"
    request = TaskRequest("shell", input={"Command": script, "Shell": True}, timeout_seconds=0.5)

    def written() -> list[int]:
        return [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []

    async def attempt() -> None:
        call = asyncio.ensure_future(ShellHandler()(request))
        deadline = time.monotonic() + 60  # a bound: the script writes both pids as it starts
        while len(written()) < 2:  # the group is whole: the job and the shell
            assert not call.done() and time.monotonic() < deadline, "the script never started"
            await asyncio.sleep(0.01)
        await asyncio.wait_for(call, 0.05)  # what a task timeout does (the script runs 30 s)

    with pytest.raises(TimeoutError):
        asyncio.run(attempt())
    pids = written()
    assert len(pids) == 2
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


@pytest.mark.parametrize("delay", [0.0001, 0.001])
def test_a_timeout_while_the_command_starts_ends_the_call_at_once(delay: float) -> None:
    """A task timeout or an abort can land while the process is still being started (a fork
    and an exec take longer than ``delay``): the call still ends then, its command killed; it
    used to wait for the whole command, as long as a background job held its pipes open."""
    request = TaskRequest("shell", input={"Command": "sleep 120 & wait", "Shell": True})

    async def attempt() -> BaseException | None:
        call = asyncio.ensure_future(asyncio.wait_for(ShellHandler()(request), delay))
        done, _ = await asyncio.wait({call}, timeout=60)  # a bound: the command runs 120 s
        assert call in done, "the timeout waited for the command"
        return call.exception()

    assert isinstance(asyncio.run(attempt()), TimeoutError)


def test_environment_is_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_TEST_INHERITED", "yes")
    assert run({"Command": ["sh", "-c", "echo $SM_TEST_INHERITED"]})["Stdout"] == "yes\n"
    assert os.environ["SM_TEST_INHERITED"] == "yes"


def test_output_counts_as_heartbeat() -> None:
    beats: list[int] = []
    result = call(ShellHandler(), "shell", {"Command": ["sh", "-c", "echo a; sleep 0.1; echo b >&2"]},
                  heartbeat=lambda: beats.append(1))
    assert result["Stdout"] == "a\n" and result["Stderr"] == "b\n"
    assert len(beats) >= 2
