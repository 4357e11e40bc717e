"""Resources stage: the ``shell`` resource, a local command as a Task.

Parameters (the task's effective input)::

    Command:   ["prog", "arg", ...]  or  "prog arg ..."   (required)
    Shell:     false     # true runs Command through /bin/sh -c (a list is joined with spaces)
    Env:       {NAME: value, ...}   # added to (and overriding) the inherited environment
    Cwd:       "path"    # working directory (relative to the process's working directory)
    Stdin:     "text"    # written to the command's stdin (a non-string is sent as JSON text)
    ParseJson: false     # true: Stdout is parsed as JSON in the result
    MaxOutputBytes: 1048576   # per stream; the rest is read and discarded

Result: ``{"ExitCode": int, "Stdout": str | JSON, "Stderr": str}`` plus ``"Truncated": true``
when an output stream was cut at MaxOutputBytes. Without ``Shell: true`` no shell is invoked;
a string Command is split with shlex. Error names (Retry/Catch match them):

- ``Shell.NonZeroExit`` the command exited non-zero; the cause is the result as JSON text;
- ``Shell.CommandNotFound`` the program does not exist (with Shell, exit status 127);
- ``Shell.PermissionDenied`` the program is not executable (with Shell, exit status 126);
- ``Shell.InvalidJson`` ParseJson is set and stdout is not JSON;
- ``Shell.InvalidParameters`` the Parameters are malformed.

Every chunk of output the command writes counts as a heartbeat for HeartbeatSeconds. The
process runs in its own session; a timeout or an abort cancels the handler, which kills the
whole process group (SIGTERM, then SIGKILL after a grace period), so nothing outlives the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
from collections.abc import Callable, Mapping
from typing import Final

from statemachine.errors import StatesError
from statemachine.resources.base import TaskRequest
from statemachine.values import JSON

NON_ZERO_EXIT: Final = "Shell.NonZeroExit"
COMMAND_NOT_FOUND: Final = "Shell.CommandNotFound"
PERMISSION_DENIED: Final = "Shell.PermissionDenied"
INVALID_JSON: Final = "Shell.InvalidJson"
INVALID_PARAMETERS: Final = "Shell.InvalidParameters"

DEFAULT_MAX_OUTPUT = 1024 * 1024
KILL_GRACE_SECONDS = 2.0
_KNOWN = frozenset({"Command", "Shell", "Env", "Cwd", "Stdin", "ParseJson", "MaxOutputBytes"})


def _invalid(message: str) -> StatesError:
    return StatesError(INVALID_PARAMETERS, message)


def command_argv(params: Mapping[str, JSON]) -> list[str]:
    """The argv to execute (``/bin/sh -c ...`` only when Shell is true)."""
    command = params.get("Command")
    use_shell = params.get("Shell", False)
    if not isinstance(use_shell, bool):
        raise _invalid(f"Shell must be a boolean, got {use_shell!r}")
    if isinstance(command, str) and command.strip():
        return ["/bin/sh", "-c", command] if use_shell else shlex.split(command)
    if isinstance(command, list) and command and all(isinstance(a, (str, int, float)) for a in command):
        argv = [str(a) for a in command]
        return ["/bin/sh", "-c", " ".join(argv)] if use_shell else argv
    raise _invalid(f"Command must be a non-empty string or list of strings, got {command!r}")


def command_env(params: Mapping[str, JSON]) -> dict[str, str]:
    env = params.get("Env", {})
    if not isinstance(env, dict):
        raise _invalid(f"Env must be an object, got {env!r}")
    merged = dict(os.environ)
    merged.update({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in env.items()})
    return merged


def stdin_bytes(params: Mapping[str, JSON]) -> bytes | None:
    if "Stdin" not in params:
        return None
    value = params["Stdin"]
    return (value if isinstance(value, str) else json.dumps(value)).encode()


async def _read_bounded(stream: asyncio.StreamReader | None, limit: int,
                        beat: Callable[[], None]) -> tuple[bytes, bool]:
    """Read a stream to its end, keeping at most ``limit`` bytes; output counts as a heartbeat."""
    if stream is None:
        return b"", False
    kept = bytearray()
    truncated = False
    while chunk := await stream.read(65536):
        beat()
        room = limit - len(kept)
        if len(chunk) > room:
            truncated = True
        kept += chunk[: max(room, 0)]
    return bytes(kept), truncated


async def _feed(stdin: asyncio.StreamWriter | None, data: bytes | None) -> None:
    if stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if data:
            stdin.write(data)
            await stdin.drain()
        stdin.close()


async def kill_group(process: asyncio.subprocess.Process, grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds; reap the child."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), grace)
            break
        except TimeoutError:
            continue
    # the leader may be gone while group members linger: make sure of them too
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _kill_now(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the group without waiting; close the pipes if the child is already reaped."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.returncode is not None:
        transport = getattr(process, "_transport", None)  # asyncio offers no public close
        if transport is not None:
            transport.close()


async def _spawn(argv: list[str], params: Mapping[str, JSON]) -> asyncio.subprocess.Process:
    cwd = params.get("Cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise _invalid(f"Cwd must be a string, got {cwd!r}")
    try:
        return await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=command_env(params), cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        missing = cwd if cwd is not None and not os.path.isdir(cwd) else argv[0]
        what = "working directory" if missing == cwd else "command"
        raise StatesError(COMMAND_NOT_FOUND, f"{what} not found: {missing}") from exc
    except PermissionError as exc:
        raise StatesError(PERMISSION_DENIED, f"permission denied: {argv[0]} ({exc})") from exc


async def run_command(params: Mapping[str, JSON],
                      beat: Callable[[], None] = lambda: None) -> dict[str, JSON]:
    """Run the command described by ``params``; the result document (no exit-code check).
    ``beat`` is called whenever the command writes output (HeartbeatSeconds liveness)."""
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise _invalid(f"unknown shell parameters {unknown}; allowed: {sorted(_KNOWN)}")
    limit = params.get("MaxOutputBytes", DEFAULT_MAX_OUTPUT)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise _invalid(f"MaxOutputBytes must be a non-negative integer, got {limit!r}")
    argv = command_argv(params)
    process = await _spawn(argv, params)
    try:
        (out, out_cut), (err, err_cut), _ = await asyncio.gather(
            _read_bounded(process.stdout, limit, beat), _read_bounded(process.stderr, limit, beat),
            _feed(process.stdin, stdin_bytes(params)),
        )
        code = await process.wait()
    except BaseException:  # cancelled (timeout, abort) or failed: leave nothing running
        try:
            await asyncio.shield(kill_group(process))
        finally:  # cancelled again while waiting (loop shutting down): kill at once
            _kill_now(process)
        raise
    result: dict[str, JSON] = {
        "ExitCode": code,
        "Stdout": out.decode("utf-8", "replace"),
        "Stderr": err.decode("utf-8", "replace"),
    }
    if out_cut or err_cut:
        result["Truncated"] = True
    return result


def _check(result: dict[str, JSON], params: Mapping[str, JSON]) -> dict[str, JSON]:
    code = result["ExitCode"]
    if params.get("Shell") is True and code in (126, 127):
        name = COMMAND_NOT_FOUND if code == 127 else PERMISSION_DENIED
        raise StatesError(name, str(result["Stderr"]).strip() or f"exit status {code}")
    if code != 0:
        raise StatesError(NON_ZERO_EXIT, json.dumps(result))
    if params.get("ParseJson") is True:
        try:
            result["Stdout"] = json.loads(str(result["Stdout"]))
        except ValueError as exc:
            raise StatesError(INVALID_JSON, f"stdout is not JSON: {exc}") from exc
    return result


class ShellHandler:
    """The ``shell`` resource (async: the interpreter awaits it on its loop)."""

    def __repr__(self) -> str:
        return "ShellHandler()"

    async def __call__(self, request: TaskRequest) -> JSON:
        params = request.input
        if not isinstance(params, dict):
            raise _invalid(f"shell Parameters must be an object with Command, got {params!r}")
        result = await run_command(params, request.heartbeat)
        return _check(result, params)
