"""CLI stage, ``sm run``: a definition file and an input in, one execution, its output on
stdout (or error and cause on stderr) and an exit code out.

The execution runs in the library's background thread (``StateMachine.start``) while this
thread waits in short slices, so Ctrl-C reaches us promptly and aborts the execution
cleanly (status ABORTED, exit 130) instead of killing it midway.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, TextIO

from .common import (
    ANSWER_HELP,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    NO_ANSWER_HELP,
    error,
    is_terminal,
    print_diagnostics,
    with_file,
)

if TYPE_CHECKING:
    from statemachine.api import Execution, StateMachine
    from statemachine.logs import LoggingConfiguration
    from statemachine.telemetry import Telemetry
    from statemachine.testing.mocks import MockPlan
    from statemachine.values import JSON

    from .progress import LiveView

#: AWS: "The maximum input or output size for a task, state, or execution is 256 KiB of data
#: as a UTF-8 encoded string."
PAYLOAD_LIMIT: Final = 256 * 1024
_READ_CAP: Final = 16 * 1024 * 1024  # bytes of standard input read before giving up
_WAIT_SLICE: Final = 0.2
_ABORT_GRACE: Final = 10.0  # seconds to wait for an aborted execution to wind down


class InputError(Exception):
    """The --input value cannot be used; the message is one line for the user."""


def read_input(spec: str) -> JSON:
    """Parse ``--input``: JSON text, ``@path`` to a JSON (or ``.yaml``/``.yml``) file, or
    ``-`` for stdin (empty stdin: ``{}``).

    The one place input text becomes a value: strict JSON (no NaN/Infinity, no lone
    surrogates, nesting bounded), UTF-8 files and stdin, the 256 KiB payload limit. Raises
    InputError with a one-line message.
    """
    from statemachine.values import InvalidJsonError, check_json, parse_json

    if spec == "-":
        text, source = _decode(_read_limited(sys.stdin.buffer, "standard input"), "standard input"), "standard input"
        if _empty_stdin(spec, text):  # an empty pipe or file: no input given
            text = "{}"
    elif spec.startswith("@"):
        text, source = _read_file(spec[1:]), spec[1:]
    else:
        text, source = spec, "--input"
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > PAYLOAD_LIMIT:
        raise InputError(_too_large(source, size))
    if spec.startswith("@") and is_yaml_file(source):
        value = parse_yaml_input(text, source)
        try:  # YAML can say what JSON cannot (.inf, .nan): the same rule as JSON input
            check_json(value, source)
        except InvalidJsonError as exc:
            raise InputError(exc.message) from None
        return value
    try:
        return parse_json(text, source)
    except InvalidJsonError as exc:
        hint = " (YAML is read from a file: --input @in.yaml)" if spec == "-" else ""
        raise InputError(exc.message + hint) from None


def input_spec(args: argparse.Namespace) -> str:
    """What ``--input`` stands for: the option as given; else ``-`` (standard input) when
    stdin is a pipe or a redirected file (``echo '{}' | sm run f.yaml``, ``sm run f.yaml <
    in.json``); else ``{}``. A terminal, /dev/null or a closed stdin is never read."""
    if args.input is not None:
        return str(args.input)
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (AttributeError, OSError, ValueError):  # no stdin at all, or a replaced one
        return "{}"
    return "-" if stat.S_ISFIFO(mode) or stat.S_ISREG(mode) else "{}"


def is_yaml_file(path: str) -> bool:
    """``--input @in.yaml`` / ``@in.yml`` is read as YAML; any other file as JSON."""
    return path.lower().endswith((".yaml", ".yml"))


def parse_yaml_input(text: str, source: str) -> JSON:
    """An input file in YAML, read the way definitions are (YAML 1.2 scalars: ``yes`` stays a
    string; one document; no custom tags). InputError naming the line for bad YAML."""
    from statemachine.errors import DefinitionError
    from statemachine.loader import yaml_value

    try:
        return yaml_value(text, source)
    except DefinitionError as exc:
        first = exc.diagnostics[0]
        where = f"{source}:{first.line}" if first.line else source
        raise InputError(f"{where}: not a usable YAML input: {first.message}") from None


def _empty_stdin(spec: str, text: str) -> bool:
    return spec == "-" and not text.strip()


def _too_large(source: str, size: int) -> str:
    return f"{source} is {size} bytes, over the 256 KiB ({PAYLOAD_LIMIT} bytes) payload limit"


def _read_limited(stream: BinaryIO, source: str) -> bytes:
    data = stream.read(_READ_CAP + 1)  # never read a huge stream whole only to refuse it
    if len(data) > PAYLOAD_LIMIT:
        shown = f"over {_READ_CAP}" if len(data) > _READ_CAP else str(len(data))
        raise InputError(f"{source} is {shown} bytes, over the 256 KiB ({PAYLOAD_LIMIT} bytes) payload limit")
    return data


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{source} is not UTF-8 text") from None


def _read_file(path: str) -> str:
    try:
        size = os.path.getsize(path)
        if size > PAYLOAD_LIMIT:  # never read a huge file only to refuse it
            raise InputError(_too_large(path, size))
        with open(path, "rb") as handle:
            return _decode(handle.read(), f"input file {path}")
    except FileNotFoundError:
        raise InputError(f"input file not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read input file {path}: {exc.strerror or exc}") from None


def check_resource_map(path: str | None) -> None:
    """``--resources`` must name a readable UTF-8 text file, whether or not a Task needs it
    (a typo must not pass silently). Raises InputError with a one-line message."""
    if path is None:
        return
    try:
        if not os.path.isfile(path):
            raise InputError(f"resource map not found: {path}" if not os.path.exists(path)
                             else f"resource map is not a file: {path}")
        with open(path, "rb") as handle:
            _decode(handle.read(), f"resource map {path}")
    except OSError as exc:
        raise InputError(f"cannot read resource map {path}: {exc.strerror or exc}") from None


def load_machine(args: argparse.Namespace) -> StateMachine | int:
    """The loaded machine, or the exit code after printing why it cannot be loaded."""
    import statemachine
    from statemachine.errors import DefinitionError, ResourceNotFoundError
    from statemachine.templates import SubstitutionsError

    from .validate import substitutions

    try:
        values = substitutions(args)
    except SubstitutionsError as exc:
        return error(str(exc))
    try:
        if getattr(args, "mock_config", None):
            return _load_mocked(args, values)
        return statemachine.load(Path(args.file), resource_map=args.resources, validation_cache=True,
                                 substitutions=values)
    except DefinitionError as exc:
        print_diagnostics(with_file(exc.diagnostics, args.file), sys.stderr)
        errors = len(exc.errors)
        return error(f"{args.file}: invalid definition ({errors} error{'s' * (errors != 1)})")
    except ResourceNotFoundError as exc:
        if exc.diagnostics:  # every unresolved resource, at its line and column
            print_diagnostics(with_file(exc.diagnostics, args.file), sys.stderr)
            count = len(exc.diagnostics)
            return error(f"{args.file}: {count} unresolved resource{'s' * (count != 1)}")
        return error(f"{args.file}: {exc}")
    except (OSError, ValueError) as exc:  # e.g. an unreadable resource map
        return error(f"{args.file}: {exc}")


def mock_plan(args: argparse.Namespace) -> MockPlan | None:
    """The test case of ``--mock-config``/``SFN_MOCK_CONFIG`` as a MockPlan (None without one).
    Raises MockConfigError (file and line) or InputError (missing --test-case)."""
    config_file = getattr(args, "mock_config", None)
    if not config_file and getattr(args, "test_case", None):
        # as in Step Functions Local: SFN_MOCK_CONFIG applies to runs that name a test case;
        # the others run unmocked
        config_file = args.mock_config = os.environ.get("SFN_MOCK_CONFIG") or None
    if not config_file:
        if getattr(args, "test_case", None):
            raise InputError("--test-case needs --mock-config FILE (or SFN_MOCK_CONFIG)")
        return None
    from statemachine.testing.mockconfig import load_mock_config
    from statemachine.testing.mocks import MockPlan

    if not args.test_case:
        raise InputError(f"--mock-config {config_file} needs --test-case NAME")
    config = load_mock_config(config_file)
    machine = args.state_machine or Path(args.file).name.split(".")[0]
    return MockPlan(config.test_case(machine, args.test_case, _state_names(args.file)))


def _state_names(file: str) -> dict[str, str] | None:
    """State name -> Type of every state of the definition (None when it cannot be read)."""
    from statemachine.errors import DefinitionError
    from statemachine.loader import load_source
    from statemachine.testing.mocks import state_types

    try:
        data = load_source(Path(file)).data
    except DefinitionError:
        return None  # the load that follows reports it
    return state_types(data) if isinstance(data, dict) else None


def _load_mocked(args: argparse.Namespace, values: dict[str, str] | None) -> StateMachine:
    from statemachine.testing.mocks import load_for_test

    plan: MockPlan = args.mock_plan
    return load_for_test(Path(args.file), mocked=set(plan.states), resource_map=args.resources,  # type: ignore[no-any-return]  # load_for_test returns a StateMachine
                         substitutions=values)


def _logging_config(args: argparse.Namespace) -> LoggingConfiguration | None:
    """--log-level/--log-include-data/--log-file (or $SM_LOG_LEVEL...); InputError when bad."""
    from .observability import logging_config

    try:
        return logging_config(args)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _telemetry_config(args: argparse.Namespace) -> Telemetry | None:
    """--telemetry; InputError when the otel extra is missing."""
    from .observability import telemetry_config

    try:
        return telemetry_config(args)
    except ImportError:
        raise InputError("--telemetry needs the otel extra: pip install 'statemachine-asl[otel]'") from None


def _start(machine: StateMachine, payload: JSON, **options: Any) -> Execution:
    """``machine.start``, inside the trace of $TRACEPARENT when traced (observers take the
    current context when the execution is made)."""
    if options.get("telemetry") is None:
        return machine.start(payload, **options)
    from opentelemetry import context

    from .observability import traceparent_context

    parent = traceparent_context()
    token = context.attach(parent) if parent is not None else None
    try:
        return machine.start(payload, **options)
    finally:
        if token is not None:
            context.detach(token)


def execute(
    machine: StateMachine, payload: JSON, args: argparse.Namespace, view: LiveView | None,
    typed: TextIO | None = None,
) -> tuple[Execution, bool]:
    """Start the execution and wait for it; returns it and whether Ctrl-C aborted it.

    A ``.waitForTaskToken`` task waiting is announced once per token (by the live view, else
    as a plain line on stderr); ``typed`` (the terminal, ``answer_source``) is where its answer
    is read from, None when nothing can answer here."""
    execution = _start(
        machine,
        payload,
        name=args.name,
        virtual_time=args.virtual_time,
        on_event=view.on_event if view is not None else None,
        timeout=args.timeout,
        seed=getattr(args, "seed", None),
        history_limit=args.history_limit or None,
        hold_callbacks=False,  # nobody answers callbacks here: virtual time skips their timeouts
        mocks=getattr(args, "mock_plan", None),
        logging=getattr(args, "logging_config", None),
        telemetry=getattr(args, "telemetry_config", None),
        executor=getattr(args, "executor_object", None),
    )
    answers = _terminal_answers(typed, view)
    announced: set[str] = set()
    try:
        while execution.wait(_WAIT_SLICE).status == "RUNNING":
            tokens = execution.task_tokens
            if view is not None:
                view.callbacks(tokens)
                if answers is not None:
                    view.hold(bool(tokens))  # the user types its answer: keep the echo visible
            else:
                _announce(execution, tokens, announced, ANSWER_HELP if answers is not None else NO_ANSWER_HELP)
            if answers is not None and tokens:
                answers(execution, tokens)
    except KeyboardInterrupt:
        execution.abort(cause="Interrupted from the command line (Ctrl-C)")
        execution.wait(_ABORT_GRACE)
        return execution, True
    return execution, False


def answer_source() -> TextIO | None:
    """Where the user can type a callback's answer: stdin when it is a terminal; else, when
    stdin is the piped or redirected input (``echo '{...}' | sm run flow.yaml``), the
    controlling terminal (/dev/tty). None when the prompt is not on a terminal (stderr
    redirected: nobody sees it) or there is no terminal at all (CI, a service). The caller
    closes what it got unless it is stdin."""
    if not is_terminal(sys.stderr):
        return None
    if is_terminal(sys.stdin):
        return sys.stdin
    try:
        tty = open("/dev/tty", encoding="utf-8")  # noqa: SIM115 - closed by _run_loaded
    except OSError:  # no controlling terminal (a new session, a daemon)
        return None
    if not tty.isatty():
        tty.close()
        return None
    return tty


def _announce(execution: Execution, tokens: list[str], announced: set[str], how: str) -> None:
    """Without a live view: one plain line on stderr for each new waiting token (state, token
    and how to answer it, or that nothing here can), so a run never waits in silence."""
    for token in tokens:
        if token not in announced:
            announced.add(token)
            print(f"sm: {_callback_state(execution, token)} waits for a callback, task token {token}\n  {how}",
                  file=sys.stderr, flush=True)


def _callback_state(execution: Execution, token: str) -> str:
    """The name of the Task state waiting with ``token``: the state entered before the
    TaskScheduled whose parameters carry the token ("a task" when none does)."""
    events = execution.events
    by_id = {event.id: event for event in events}
    for event in reversed(events):
        if event.type == "TaskScheduled" and token in json.dumps((event.details or {}).get("parameters"), default=str):
            entered = by_id.get(event.previous_id)
            while entered is not None and entered.type != "TaskStateEntered":  # a retry links to the failure
                entered = by_id.get(entered.previous_id)
            if entered is not None:
                return str((entered.details or {}).get("name") or "a task")
    return "a task"


def _terminal_answers(typed: TextIO | None, view: LiveView | None) -> Callable[[Execution, list[str]], None] | None:
    """A reader that answers the oldest waiting callback from what the user types on
    ``typed`` (see common.ANSWER_HELP): a JSON value sends task success with it;
    ``!fail ERROR [CAUSE]`` sends task failure. Never blocks. None without ``typed``."""
    if typed is None:
        return None
    stream = typed

    def say(text: str, markup: str | None = None) -> None:
        if view is not None:
            view.console.print(markup or text)
        else:
            print(f"sm: {text}", file=sys.stderr, flush=True)

    def answer(execution: Execution, tokens: list[str]) -> None:
        import select

        if not select.select([stream], [], [], 0)[0]:
            return
        line = stream.readline().strip()
        if not line:
            return
        if line.startswith("!fail"):
            _, error, cause = [*line.split(maxsplit=2), "", ""][:3]
            execution.send_task_failure(tokens[0], error or None, cause or None)
            say(f"sent task failure {error or '(no error name)'} for {tokens[0]}")
            return
        try:
            output = json.loads(line)
        except ValueError as exc:
            say(f"not JSON ({exc}); nothing sent", f"[red]not JSON[/] ({exc}); nothing sent")
            return
        execution.send_task_success(tokens[0], output)
        say(f"sent task success for {tokens[0]}")

    return answer


def report(execution: Execution, args: argparse.Namespace) -> int | None:
    """Print the result: --json object, or output on stdout / error and cause on stderr.

    Returns an exit code when the result cannot be printed as JSON (a NaN from a handler run
    without a payload limit): one line on stderr instead of text that is not JSON.
    """
    if args.json:
        shown: object = execution.to_dict()
    elif execution.status == "SUCCEEDED":
        shown = execution.output
    else:
        shown = _NOTHING
    if shown is not _NOTHING:
        try:
            print(_dumps(shown))
        except ValueError as exc:
            return error(f"the execution output is not JSON: {exc}", code=EXIT_FAILED)
    if execution.status != "SUCCEEDED":
        print(f"sm: execution {execution.status}", file=sys.stderr)
        if execution.error is not None:
            print(f"error: {_printable(execution.error)}", file=sys.stderr)
        if execution.cause is not None:
            print(f"cause: {_printable(execution.cause)}", file=sys.stderr)
    return None


_NOTHING: Final = object()


def _dumps(value: object) -> str:
    """Indented JSON, UTF-8 as is; strings that cannot be encoded (lone surrogates) are
    escaped (\\ud800) so the text stays JSON. Raises ValueError for NaN/Infinity."""
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False, default=str)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        text = json.dumps(value, indent=2, ensure_ascii=True, allow_nan=False, default=str)
    return text


def _printable(text: str) -> str:
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)


def _tune_gc() -> None:
    """One execution per process: what is loaded by now (modules, the compiled machine) lives
    until exit, so the cyclic collector need not scan it again and again (``gc.freeze``); a
    larger young generation makes collections rarer. Measured in bench/README.md."""
    import gc

    mode = os.environ.get("SM_GC_TUNING", "freeze+threshold")
    if "freeze" in mode:
        gc.freeze()
    if "threshold" in mode:
        gc.set_threshold(10_000, 10, 10)


def _check_handler_threads() -> None:
    """``SM_HANDLER_THREADS`` is a setting of this process: a bad value is bad input (exit 2),
    not a failure of the first Task that needs a thread (which a Catch could take)."""
    from statemachine.resources.threads import default_threads

    try:
        default_threads()
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _live_view(args: argparse.Namespace, machine: StateMachine, typed: TextIO | None) -> LiveView | None:
    if args.quiet or args.json or not is_terminal(sys.stderr) or _writes_stderr(args):
        return None
    from .progress import LiveView

    return LiveView(sys.stderr, machine.definition, answer_help=ANSWER_HELP if typed is not None else NO_ANSWER_HELP)


def _writes_stderr(args: argparse.Namespace) -> bool:
    """Do log lines go to stderr during the run (a level, no --log-file)? The live view's
    redraws would cut and overdraw them, so it stays off then."""
    config = getattr(args, "logging_config", None)
    return config is not None and config.level != "OFF" and config.destination is None


def command(args: argparse.Namespace) -> int:
    """``sm run``: 0 SUCCEEDED, 1 FAILED/TIMED_OUT/ABORTED, 2 bad input or definition, 130 Ctrl-C."""
    from statemachine.errors import StateMachineError

    try:
        payload = read_input(input_spec(args))
        check_resource_map(args.resources)
        args.mock_plan = mock_plan(args)
        _check_handler_threads()
        args.logging_config = _logging_config(args)
        args.telemetry_config = _telemetry_config(args)
    except InputError as exc:
        return error(str(exc))
    except StateMachineError as exc:  # the mock layer is imported only when a run uses it
        from statemachine.testing.mockconfig import MockConfigError

        if not isinstance(exc, MockConfigError):
            raise
        return error(exc.format())
    machine = load_machine(args)
    if isinstance(machine, int):
        return machine
    if machine.warnings and not args.quiet:  # e.g. a forgotten '.$': the run goes on
        print_diagnostics(with_file(machine.warnings, args.file), sys.stderr)
    executor = _executor(args, machine)
    if isinstance(executor, int):
        return executor
    args.executor_object = executor
    try:
        return _run_loaded(args, machine, payload)
    finally:
        if executor is not None:
            executor.close()


def _executor(args: argparse.Namespace, machine: StateMachine) -> Any:
    """The run's executor (``--executor``), made before the run starts: a scheduler that
    cannot be reached or a handler a worker cannot import is a one-line error (exit 2)."""
    spec = getattr(args, "executor", None)
    if spec is None or spec == "local":
        return None
    from statemachine.executors import ExecutorError, executor_from
    from statemachine.interpreter.remote import RemoteHandlerError

    try:
        machine.remote_payload()
        return executor_from(spec)
    except (ExecutorError, RemoteHandlerError, ValueError) as exc:
        return error(str(exc))


def _run_loaded(args: argparse.Namespace, machine: StateMachine, payload: JSON) -> int:
    _tune_gc()
    # Ctrl-C must reach us even when the parent shell started us with SIGINT ignored
    # (background jobs of non-interactive shells): it is how a user aborts an execution.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    typed = answer_source()
    view = _live_view(args, machine, typed)
    try:
        if view is not None:
            view.start()
        execution, interrupted = execute(machine, payload, args, view, typed)
    finally:
        if view is not None:
            view.stop()
        if typed is not None and typed is not sys.stdin:
            typed.close()
    if view is not None:
        view.summary(execution.history, execution.status, execution.duration)
    failed = report(execution, args)
    if failed is not None:
        return failed
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if execution.status == "SUCCEEDED" else EXIT_FAILED
