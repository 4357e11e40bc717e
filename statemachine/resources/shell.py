"""Resources stage: the ``shell`` resource, a local command as a Task.

Parameters (JSONPath ``Parameters`` / JSONata ``Arguments``)::

    Command:   ["prog", "arg", ...]  or  "prog arg ..."   (required; literal)
    Shell:     false     # literal; true runs Command, one script string, with /bin/sh -c
    Cwd:       "path"    # literal; working directory (relative to the process's)
    Args:      [value, ...]          # data: extra arguments, one argv entry each
    Env:       {NAME: value, ...}    # names literal; values may be data
    Stdin:     "text"    # data; written to stdin (a non-string is sent as JSON text)
    ParseJson: false     # true: Stdout is parsed as JSON in the result
    MaxOutputBytes: 1048576   # per stream; the rest is read and discarded

Security rule: **what runs, and whether a shell runs it, is fixed by the definition; data
flowing through the state only ever becomes separate arguments, environment values or
stdin.** It is enforced in two places:

- when the definition is loaded (``check_task``; ``load()`` raises DefinitionError and
  ``sm validate --resources`` reports it), with these codes:
  ``shell-dynamic-command``: the Task has no Parameters/Arguments object (its input would be
  the parameters), or ``Command``, ``Shell``, ``Cwd`` or ``Env`` as a whole come from data
  (``Command.$``, ``States.Format(...)``, a ``{% %}`` expression anywhere inside them), or
  a literal Command that would run the first of ``Args`` as code or as the program (``sh -c``,
  ``python3 -c``, ``node -e``, an interpreter with no operand, or a launcher such as ``env``,
  ``xargs``, ``timeout 5``, ``sudo -u root`` with any operands);
  ``shell-dynamic-env``: a data-valued ``Env`` entry whose name chooses what runs or injects
  code into it (``PATH``, ``IFS``, ``ENV``, ``BASH_ENV``, ``LD_*``, ``PYTHON*``, ``NODE_OPTIONS``,
  ... see ``GUARDED_ENV``); a literal value for them is fine;
  ``shell-invalid-parameters``: a field that is not one of the above, a Command that is not
  a non-empty string or list of strings, a non-boolean Shell, or a list Command with
  ``Shell: true`` (a shell script is one string: joining words would re-parse them).
- when the task runs (``Shell.InvalidParameters``): ``Args`` are passed as argv entries; with
  ``Shell: true`` as the script's positional parameters (``sh -c SCRIPT sh ARG...``: the
  script reads them as ``"$1"`` / ``"$@"``, the shell never parses them). An argument from
  ``Args`` that starts with ``-`` could be read as an option: it is refused unless the
  literal Command ends with ``--`` (the end of options); in shell scripts it is always
  refused (pass such values in ``Env`` or ``Stdin``). NUL characters are refused everywhere.

Result: ``{"ExitCode": int, "Stdout": str | JSON, "Stderr": str}`` plus ``"Truncated": true``
when an output stream was cut at MaxOutputBytes. Error names (Retry/Catch match them):

- ``Shell.NonZeroExit`` the command exited non-zero; the cause is the result as JSON text;
- ``Shell.CommandNotFound`` the program does not exist (with Shell, exit status 127);
- ``Shell.PermissionDenied`` the program is not executable (with Shell, exit status 126);
- ``Shell.InvalidJson`` ParseJson is set and stdout is not JSON;
- ``Shell.InvalidParameters`` the parameters are malformed or break the rule above.

Every chunk of output the command writes counts as a heartbeat for HeartbeatSeconds. The
process runs in its own session; a timeout or an abort cancels the handler, which kills the
whole process group (SIGTERM, then SIGKILL after a grace period), so nothing outlives the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
from collections.abc import Callable, Iterator, Mapping
from typing import Final

from statemachine.errors import Diagnostic, StatesError
from statemachine.resources.base import TaskDefinition, TaskRequest
from statemachine.values import JSON

NON_ZERO_EXIT: Final = "Shell.NonZeroExit"
COMMAND_NOT_FOUND: Final = "Shell.CommandNotFound"
PERMISSION_DENIED: Final = "Shell.PermissionDenied"
INVALID_JSON: Final = "Shell.InvalidJson"
INVALID_PARAMETERS: Final = "Shell.InvalidParameters"

DEFAULT_MAX_OUTPUT = 1024 * 1024
KILL_GRACE_SECONDS = 2.0
SHELL_PROGRAM: Final = "/bin/sh"
#: Fields whose value the definition must write literally (never from data).
LITERAL_FIELDS: Final = frozenset({"Command", "Shell", "Cwd"})
_KNOWN = frozenset({"Command", "Shell", "Cwd", "Args", "Env", "Stdin", "ParseJson", "MaxOutputBytes"})
#: Programs whose option takes code to run (``sh -c CODE``, ``python -c CODE``, ``node -e``):
#: a literal Command ending with that option would run its first Arg (data) as the code.
_INTERPRETER: Final = re.compile(
    r"(?:[a-z]*sh|busybox|python[\d.]*|pypy[\d.]*|node|nodejs|deno|bun|perl[\d.]*|ruby[\d.]*|php[\d.]*|"
    r"pwsh|powershell|lua[\d.]*|tclsh[\d.]*|osascript|awk|gawk|mawk|nawk|sed|R|Rscript)"
)
_CODE_OPTION: Final = re.compile(r"-[A-Za-z]*[ceEr]|--(?:command|eval|exec|execute|expression)|-Command|-EncodedCommand")
#: Programs that run their first operand as a command (``env PROG``, ``xargs PROG``): a literal
#: Command of only such a program and options would run its first Arg (data) as the program.
_LAUNCHER: Final = frozenset({"env", "exec", "nohup", "nice", "ionice", "sudo", "doas", "su", "xargs",
                              "timeout", "stdbuf", "setsid", "chroot", "time", "command", "builtin",
                              "eval", "watch", "flock", "runuser", "unshare", "nsenter", "strace"})
#: Environment names whose value chooses the program that runs, or injects code or options
#: into shells, the dynamic loader and common interpreters: data may not set them.
GUARDED_ENV: Final = re.compile(
    r"\A(PATH|IFS|ENV|BASH_ENV|CDPATH|GLOBIGNORE|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND"
    r"|LD_\w*|DYLD_\w*|BASH_FUNC_.*|PYTHON\w*|PERL5\w*|PERLLIB|RUBY\w*|NODE_\w*"
    r"|JAVA_TOOL_OPTIONS|_JAVA_OPTIONS|JDK_JAVA_OPTIONS|GIT_\w*|GCONV_PATH|LOCPATH|TMPDIR)\Z",
    re.IGNORECASE)


def _invalid(message: str) -> StatesError:
    return StatesError(INVALID_PARAMETERS, message)


# -- load-time check ----------------------------------------------------------------------------
def _is_expression(value: JSON) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def _has_expression(value: JSON) -> bool:
    """Does a JSONata template hold a ``{% %}`` expression anywhere inside ``value``?"""
    if isinstance(value, dict):
        return any(_has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_expression(v) for v in value)
    return _is_expression(value)


def _has_path(value: JSON) -> bool:
    """Does a JSONPath payload template take data anywhere inside ``value`` (a ``.$`` key)?"""
    if isinstance(value, dict):
        return any(str(k).endswith(".$") or _has_path(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_path(v) for v in value)
    return False


def _fields(task: TaskDefinition) -> tuple[str, Mapping[str, JSON] | None]:
    field = "Arguments" if task.query_language == "JSONata" else "Parameters"
    params = task.body.get(field)
    return field, params if isinstance(params, dict) else None


def _diagnostic(task: TaskDefinition, code: str, message: str, *tokens: str) -> Diagnostic:
    pointer = task.pointer + "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)
    return Diagnostic(code, message, pointer, 0, 0, task.state_name)


def check_parameters(task: TaskDefinition) -> Iterator[Diagnostic]:
    """The load-time half of the rule in the module docstring, as Diagnostics."""
    field, params = _fields(task)
    if params is None:
        yield _diagnostic(task, "shell-dynamic-command",
                          f"a shell Task needs a {field} object that writes Command literally; "
                          f"without it the state's input would choose the command", field)
        return
    jsonata = task.query_language == "JSONata"
    dynamic = _has_expression if jsonata else _has_path
    for key, value in params.items():
        name = key.removesuffix(".$") if not jsonata else key
        if name not in _KNOWN:
            yield _diagnostic(task, "shell-invalid-parameters",
                              f"unknown shell field {name!r}; allowed: {', '.join(sorted(_KNOWN))}", field, key)
        elif name in LITERAL_FIELDS | {"Env"} and (key != name or _whole_dynamic(name, value, dynamic)):
            yield _diagnostic(task, "shell-dynamic-command",
                              f"{name} must be written literally in the definition, not taken from "
                              f"data: data may only reach a command as Args, Env values or Stdin",
                              field, key)
    yield from _check_literals(task, params, field, dynamic)


def _whole_dynamic(name: str, value: JSON, dynamic: Callable[[JSON], bool]) -> bool:
    """Command/Shell/Cwd: any data inside; Env: the object itself from data (values may be)."""
    return not isinstance(value, dict) and dynamic(value) if name == "Env" else dynamic(value)


def _check_literals(task: TaskDefinition, params: Mapping[str, JSON], field: str,
                    dynamic: Callable[[JSON], bool]) -> Iterator[Diagnostic]:
    command, shell = params.get("Command"), params.get("Shell", False)
    if "Command" not in params and "Command.$" not in params:
        yield _diagnostic(task, "shell-invalid-parameters", "Command is required", field)
    elif "Command" in params and not _command_ok(command) and not dynamic(command):
        yield _diagnostic(task, "shell-invalid-parameters",
                          "Command must be a non-empty string or a list of strings", field, "Command")
    if "Shell" in params and not isinstance(shell, bool) and not dynamic(shell):
        yield _diagnostic(task, "shell-invalid-parameters", "Shell must be true or false", field, "Shell")
    if shell is True and isinstance(command, list):
        yield _diagnostic(task, "shell-invalid-parameters",
                          "with Shell: true, Command is one script string (pass data as Args: the "
                          "script reads them as \"$1\", \"$@\")", field, "Command")
    if shell is not True and _command_ok(command) and ("Args" in params or "Args.$" in params):
        why = _runs_first_arg(command)
        if why:
            yield _diagnostic(task, "shell-dynamic-command",
                              f"Command ends with {why}: the first of Args (data) would be run as "
                              f"code or as the program; write the code in Command (a shell script "
                              f"with Shell: true reads Args as \"$1\", \"$@\")", field, "Command")
    env = params.get("Env")
    for name, value in (env.items() if isinstance(env, dict) else ()):
        plain = str(name).removesuffix(".$") if field == "Parameters" else str(name)
        if (plain != name or dynamic(value)) and GUARDED_ENV.match(plain):
            yield _diagnostic(task, "shell-dynamic-env",
                              f"Env {plain} chooses what runs (or injects code into it): its value "
                              f"must be written literally, not taken from data", field, "Env", str(name))


def _runs_first_arg(command: JSON) -> str:
    """What makes Command run its first Arg ("sh -c", "env"), "" when nothing does."""
    try:
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command or ()]
    except ValueError:
        return ""
    if not argv:
        return ""
    programs = [i for i, word in enumerate(argv) if not word.startswith("-")]
    last = argv[-1]
    program = os.path.basename(argv[programs[-1]]) if programs else ""
    if last.startswith("-") and last != "--" and _CODE_OPTION.fullmatch(last) and _INTERPRETER.fullmatch(program):
        return f"{program} {last}"
    words = [w for w in argv if not w.startswith("-")]
    if words and os.path.basename(words[0]) in _LAUNCHER:
        # "env", "xargs", "timeout 5", "sudo -u root", "nice -n 5": whether a launcher's operands
        # already name the program depends on its option syntax, which cannot be known here,
        # so a launcher never takes data-valued Args (wrap it in a script of your own instead)
        return os.path.basename(words[0])
    if len(words) == 1 and _INTERPRETER.fullmatch(program):
        return os.path.basename(words[0])  # "sh", "python3": Args name the script
    return ""


def _command_ok(command: JSON) -> bool:
    if isinstance(command, str):
        return bool(command.strip())
    return isinstance(command, list) and bool(command) and all(isinstance(a, str) for a in command)


# -- run time -----------------------------------------------------------------------------------
def _arg_text(value: JSON) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _args(params: Mapping[str, JSON]) -> list[str]:
    raw = params.get("Args", [])
    values = raw if isinstance(raw, list) else [raw]
    return [_arg_text(v) for v in values]


def _no_nul(field: str, values: list[str]) -> None:
    if any("\0" in v for v in values):
        raise _invalid(f"{field} contains a NUL character")


def command_argv(params: Mapping[str, JSON]) -> list[str]:
    """The argv to execute: Command's words + Args, or ``/bin/sh -c SCRIPT sh ARGS...``."""
    command = params.get("Command")
    use_shell = params.get("Shell", False)
    if not isinstance(use_shell, bool):
        raise _invalid(f"Shell must be a boolean, got {use_shell!r}")
    if not _command_ok(command):
        raise _invalid("Command must be a non-empty string or list of strings")
    args = _args(params)
    _no_nul("Args", args)
    if use_shell:
        if not isinstance(command, str):
            raise _invalid("with Shell: true, Command must be one script string; pass data as Args")
        _no_nul("Command", [command])
        _refuse_options(args, "in a shell script; pass such values in Env or Stdin")
        return [SHELL_PROGRAM, "-c", command, "sh", *args]
    words = shlex.split(command) if isinstance(command, str) else [str(a) for a in command or ()]
    _no_nul("Command", words)
    if not words or words[-1] != "--":
        _refuse_options(args, "(end the literal Command with '--' to pass it as an operand)")
    return [*words, *args]


def _refuse_options(args: list[str], advice: str) -> None:
    for index, arg in enumerate(args):
        if arg.startswith("-"):
            raise _invalid(f"Args[{index}] starts with '-' and could be read as an option {advice}")


def command_env(params: Mapping[str, JSON]) -> dict[str, str]:
    env = params.get("Env", {})
    if not isinstance(env, dict):
        raise _invalid(f"Env must be an object, got {type(env).__name__}")
    added = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in env.items()}
    if any("\0" in k or "=" in k or not k for k in added):
        raise _invalid("Env names must be non-empty and hold no '=' or NUL character")
    _no_nul("Env", list(added.values()))
    merged = dict(os.environ)
    merged.update(added)
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


async def _spawn(argv: list[str], params: Mapping[str, JSON],
                 env: dict[str, str]) -> asyncio.subprocess.Process:
    cwd = params.get("Cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise _invalid(f"Cwd must be a string, got {type(cwd).__name__}")
    try:
        return await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        missing = cwd if cwd is not None and not os.path.isdir(cwd) else argv[0]
        what = "working directory" if missing == cwd else "command"
        raise StatesError(COMMAND_NOT_FOUND, f"{what} not found: {missing}") from exc
    except PermissionError as exc:
        raise StatesError(PERMISSION_DENIED, f"permission denied: {argv[0]} ({exc})") from exc


async def _start(argv: list[str], params: Mapping[str, JSON],
                 env: dict[str, str]) -> asyncio.subprocess.Process:
    """``_spawn`` that a cancellation (timeout, abort) cannot cut in half: cancelled while the
    process starts, it lets the start finish (a fork and an exec), stops the process's whole
    group, then raises the CancelledError. (Cancelled inside create_subprocess_exec, asyncio
    kills the direct child alone, then waits for its pipes to close, which a background job of
    the command holds open: the timeout waited for the whole command, for ever if it never
    ends.)"""
    spawning = asyncio.ensure_future(_spawn(argv, params, env))
    try:
        return await asyncio.shield(spawning)
    except asyncio.CancelledError:
        process = await _started(spawning)
        if process is not None:
            await _stop(process)
        raise


async def _started(spawning: asyncio.Future[asyncio.subprocess.Process]) -> asyncio.subprocess.Process | None:
    """The process once ``spawning`` has started it; None if the start failed. Cancelled
    meanwhile, the process is killed as soon as it has started."""
    try:
        return await asyncio.shield(spawning)
    except asyncio.CancelledError:
        spawning.add_done_callback(_kill_started)
        raise
    except Exception:
        return None


def _kill_started(spawning: asyncio.Future[asyncio.subprocess.Process]) -> None:
    if not spawning.cancelled() and spawning.exception() is None:
        _kill_now(spawning.result())


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Stop ``process``'s whole group (kill_group), at once if cancelled meanwhile."""
    try:
        await asyncio.shield(kill_group(process))
    finally:  # cancelled again while waiting (loop shutting down): kill at once
        _kill_now(process)


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
    env = command_env(params)
    process = await _start(argv, params, env)
    try:
        (out, out_cut), (err, err_cut), _ = await asyncio.gather(
            _read_bounded(process.stdout, limit, beat), _read_bounded(process.stderr, limit, beat),
            _feed(process.stdin, stdin_bytes(params)),
        )
        code = await process.wait()
    except BaseException:  # cancelled (timeout, abort) or failed: leave nothing running
        await _stop(process)
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
    """The ``shell`` resource (async: the interpreter awaits it on its loop). ``check_task``
    is its load-time check (statemachine.resources.base.TaskChecker)."""

    def __repr__(self) -> str:
        return "ShellHandler()"

    def check_task(self, task: TaskDefinition) -> Iterator[Diagnostic]:
        return check_parameters(task)

    async def __call__(self, request: TaskRequest) -> JSON:
        params = request.input
        if not isinstance(params, dict):
            raise _invalid(f"shell Parameters must be an object with Command, got {type(params).__name__}")
        result = await run_command(params, request.heartbeat)
        return _check(result, params)
