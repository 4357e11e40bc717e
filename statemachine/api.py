"""Public API stage: ``load()`` a definition into a reusable ``StateMachine``; ``run()`` it.

``load`` = loader.load_source -> validation.validate (DefinitionError with every diagnostic)
-> compiler.compile_machine -> resolve every Task resource once (ResourceNotFoundError).
A ``StateMachine`` is immutable and thread-safe; each run builds a fresh ``Runtime`` and
returns an ``Execution`` (status, output, error, cause, history, timings). Nothing about a
finished execution is kept anywhere but in the Execution object the caller holds.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from statemachine.clock import (
    Clock,
    SystemClock,
    VirtualClock,
    current_clock,
    current_interrupt,
    format_timestamp,
    to_datetime,
)
from statemachine.errors import DefinitionError, Diagnostic, ExecutionError, StatesError
from statemachine.history import Event
from statemachine.interpreter import execute
from statemachine.interpreter.execution import DEFAULT_HISTORY_LIMIT, STANDARD_MAX_DURATION, Runtime
from statemachine.interpreter.lifecycle import Outcome
from statemachine.model import CompiledMachine, MapState, ParallelState, TaskState
from statemachine.randomness import execution_rng, new_seed
from statemachine.values import (
    JSON,
    MISSING,
    ExecutionStatus,
    JSONInput,
    JSONValue,
    MachineType,
    check_json,
)

if TYPE_CHECKING:
    from statemachine.interpreter.remote import RemoteExecutor
    from statemachine.logs import LoggingConfiguration
    from statemachine.observe import Observer
    from statemachine.resources.base import ResourceHandler
    from statemachine.resources.registry import ResourceRegistry
    from statemachine.resources.threads import HandlerThreads
    from statemachine.store import ExecutionStore
    from statemachine.telemetry import Telemetry
    from statemachine.testing.mocks import MockPlan
    from statemachine.testing.teststate import TestStateResult

__all__ = ["Execution", "StateMachine", "load"]

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/StepFunctions-StateMachineRole"
#: AWS: an EXPRESS execution lives at most five minutes (STANDARD: one year).
EXPRESS_MAX_DURATION = 300.0
_DEFAULT = object()  # "not given" for options whose default depends on the machine type


def load(source: str | os.PathLike[str] | bytes | Mapping[str, JSON], *,
         resources: Mapping[str, ResourceHandler] | ResourceRegistry | None = None,
         resource_map: str | os.PathLike[str] | Mapping[str, JSON] | None = None,
         name: str | None = None, machine_type: MachineType = "STANDARD",
         validation_cache: bool = False, substitutions: Mapping[str, str] | None = None,
         handler_threads: int | HandlerThreads | None = None,
         logging: LoggingConfiguration | None = None,
         telemetry: Telemetry | None = None,
         executor: str | RemoteExecutor | None = None) -> StateMachine:
    """Load, validate and compile a definition (path, YAML/JSON text or dict).

    ``resources`` is a ResourceRegistry or a mapping ``{resource: handler}`` added to the
    default registry; ``resource_map`` layers a MAP.yaml of local stand-ins on top.
    ``machine_type`` "EXPRESS" gives express execution ARNs and context (no RedriveCount).
    ``validation_cache`` skips validating a definition this validator already found clean
    (see statemachine.validation_cache; `sm run` uses it to start fast).
    ``substitutions`` fill ``${name}`` template placeholders (SAM/CDK/Terraform style) before
    parsing; a placeholder left where the definition needs a value is an error
    (``template-placeholder``), one inside free text runs as the literal text.
    ``handler_threads`` (a size or a ``HandlerThreads``) gives the machine its own pool of
    worker threads for blocking handlers, shared by its executions (default: the process-wide pool, sized by
    ``SM_HANDLER_THREADS``, 64 when unset; see statemachine.resources.threads).
    ``logging`` (AWS's LoggingConfiguration: JSON log lines) and ``telemetry``
    (OpenTelemetry spans and metrics) observe every execution of the machine; ``run``
    may override either (see README "Observability").
    ``executor``: where Map iterations and Parallel branches run by default (``run`` may
    override it): None/"local" in this process, "dask", "dask://HOST:PORT" or an executor
    object (statemachine.executors); a remote one is checked now: a Task handler inside a Map
    or Parallel that a worker cannot import raises RemoteHandlerError.
    Raises DefinitionError (all diagnostics) or ResourceNotFoundError.
    """
    from statemachine.compiler import compile_machine
    from statemachine.expressions.memo import compile_memo
    from statemachine.loader import load_source

    doc = load_source(source, name=name, substitutions=substitutions)
    with compile_memo():  # validation and compiler share each expression's parse
        diagnostics = _validate(doc, machine_type, validation_cache)
        if any(d.severity == "error" for d in diagnostics):
            raise DefinitionError(diagnostics)
        compiled = _compile(doc, compile_machine)
    base_dir = Path(doc.path).parent if doc.path and not doc.path.startswith("<") else None
    handlers: dict[str, ResourceHandler] = {}
    task_resources = sorted(_resources(compiled))
    if task_resources:  # no Task state: no registry to build (keeps `sm run` cold start short)
        registry = _registry(resources, resource_map, base_dir)
        handlers = _resolve_all(doc, registry, task_resources)
        _check_tasks(doc, handlers)
    # flow.asl.json / flow.asl.yaml (the AWS toolkits' naming) is the machine "flow"
    machine_name = name or (base_dir and Path(doc.path or "").stem.removesuffix(".asl")) or "StateMachine"
    machine = StateMachine(compiled, machine_name, handlers, machine_type)
    machine.warnings = tuple(d for d in diagnostics if d.severity == "warning")
    machine._base_dir = base_dir
    if executor is not None and executor != "local":
        machine.remote_payload()  # a handler a worker cannot import: the error comes now
        machine.executor = executor
    if handler_threads is not None:
        from statemachine.resources.threads import threads_for

        machine._threads = threads_for(handler_threads)
    machine.logging, machine.telemetry = logging, telemetry
    return machine


def _resolve_all(doc: Any, registry: ResourceRegistry, resources: list[str]) -> dict[str, ResourceHandler]:
    """Every resource's handler; ResourceNotFoundError naming every one that has none (its
    ``diagnostics`` give each Resource field's line, column and state)."""
    from statemachine.errors import ResourceNotFoundError

    handlers: dict[str, ResourceHandler] = {}
    missing: list[ResourceNotFoundError] = []
    for resource in resources:
        try:
            handlers[resource] = registry.resolve(resource)
        except ResourceNotFoundError as exc:
            missing.append(exc)
    if not missing:
        return handlers
    from statemachine.validation.resolution import unresolved_resources

    if len(missing) == 1:
        raise ResourceNotFoundError(str(missing[0]), unresolved_resources(doc, registry))
    message = f"{len(missing)} Task resources resolve to no handler:\n" + "\n".join(
        f"  - {exc}" for exc in missing)
    raise ResourceNotFoundError(message, unresolved_resources(doc, registry))


def _check_tasks(doc: Any, handlers: Mapping[str, ResourceHandler]) -> None:
    """Handlers' load-time checks of the Tasks that use them (resources.checks)."""
    from statemachine.resources.checks import check_tasks

    problems = check_tasks(doc, handlers.get)
    if any(d.severity == "error" for d in problems):
        raise DefinitionError(problems)


def _compile(doc: Any, compile_machine: Callable[[Any], CompiledMachine]) -> CompiledMachine:
    """compile_machine, with a CompileError as a DefinitionError (validation compiles every
    state first, so this is a safety net: load() raises nothing else for a definition)."""
    from statemachine.compiler import CompileError
    from statemachine.errors import Diagnostic
    from statemachine.validation.walk import state_of

    try:
        return compile_machine(doc)
    except CompileError as exc:
        line, column = doc.position(exc.pointer)
        raise DefinitionError([Diagnostic(exc.code, exc.message, exc.pointer, line, column,
                                          state_of(exc.pointer), "error", doc.path)]) from None


def _validate(doc: Any, machine_type: str, use_cache: bool) -> list[Any]:
    from statemachine import validation_cache

    use_cache = use_cache and not doc.template.bare  # their data reads like quoted ones
    if use_cache and not doc.problems and validation_cache.is_known_valid(doc.data, machine_type):
        return []
    from statemachine.validation import validate

    diagnostics = list(validate(doc, machine_type="EXPRESS" if machine_type == "EXPRESS" else "STANDARD",
                                placeholders="error"))
    if use_cache and not diagnostics:
        validation_cache.remember_valid(doc.data, machine_type)
    return diagnostics


def _registry(resources: Mapping[str, ResourceHandler] | ResourceRegistry | None,
              resource_map: str | os.PathLike[str] | Mapping[str, JSON] | None,
              base_dir: Path | None) -> ResourceRegistry:
    from statemachine.resources.registry import ResourceRegistry

    if isinstance(resources, ResourceRegistry):
        registry = resources
    else:
        try:
            registry = ResourceRegistry.default(base_dir=base_dir)
        except ImportError:  # pragma: no cover - a built-in handler module is missing
            registry = ResourceRegistry()
        if resources:
            registry = registry.with_handlers(resources)
    if resource_map is not None:
        registry = registry.with_resource_map(resource_map)
    return registry


def _resources(machine: CompiledMachine) -> set[str]:
    found: set[str] = set()
    for state in machine.states.values():
        if isinstance(state, TaskState):
            found.add(state.resource)
        elif isinstance(state, ParallelState):
            for branch in state.branches:
                found |= _resources(branch)
        elif isinstance(state, MapState) and state.processor is not None:
            found |= _resources(state.processor)
            for io in (state.item_reader, state.result_writer):  # Distributed Map S3 resources
                if io is not MISSING and io.resource is not MISSING:
                    found.add(io.resource)
    return found


def _nested_resources(machine: CompiledMachine, nested: bool = False) -> set[str]:
    """The Task resources inside Parallel branches and Map processors (what remote units call)."""
    found: set[str] = set()
    for state in machine.states.values():
        if isinstance(state, TaskState) and nested:
            found.add(state.resource)
        elif isinstance(state, ParallelState):
            for branch in state.branches:
                found |= _nested_resources(branch, True)
        elif isinstance(state, MapState) and state.processor is not None:
            found |= _nested_resources(state.processor, True)
    return found


def _listener(on_event: Callable[[dict[str, Any]], None] | None, store: ExecutionStore | None,
              arn: str) -> Callable[[Event], None] | None:
    """The per-event callback: AWS dicts to ``on_event`` and to the store (built only when
    someone listens)."""
    if on_event is None and store is None:
        return None

    def listen(event: Event) -> None:
        as_dict = event.to_dict()
        if store is not None:
            store.record_event(arn, as_dict)
        if on_event is not None:
            on_event(as_dict)

    return listen


class RunOptions(TypedDict, total=False):
    """Keyword options of ``run`` / ``run_async`` / ``start``."""

    name: str | None  # execution name (default: a UUID from ``rng``)
    virtual_time: bool  # waits and retry delays finish at once (a VirtualClock)
    clock: Clock | None  # explicit clock (overrides virtual_time)
    seed: int | None  # every random draw of the run comes from it (default: a fresh one)
    rng: random.Random | None  # older spelling: the run's seed is drawn from this generator
    on_event: Callable[[dict[str, Any]], None] | None  # each history event as it is appended
    timeout: float | None  # wall-clock seconds before the run is aborted
    data_limit: int | None  # payload limit in bytes (None: unlimited); AWS: 256 KiB
    store: ExecutionStore | None  # receives the summary and every event
    #: events the history may hold (None: unbounded); AWS: 25,000 for STANDARD, then the
    #: execution FAILS with States.Runtime. EXPRESS machines (no history at AWS): unbounded.
    history_limit: int | None
    #: virtual time only: does a .waitForTaskToken callback hold the clock still (someone in
    #: this process may answer it)? Default: True for ``start`` (the caller holds the
    #: Execution), False for ``run``/``run_async`` (only handlers could answer: the clock
    #: jumps to the next deadline, e.g. the callback's TimeoutSeconds, once nothing else runs)
    hold_callbacks: bool
    handler_threads: int | HandlerThreads | None  # this execution's own pool of worker threads for blocking handlers
    mocks: MockPlan | None  # answers of mocked states, by state name (statemachine.testing)
    #: JSON log lines like AWS's CloudWatch log events (None: the machine's, from load())
    logging: LoggingConfiguration | None
    #: OpenTelemetry spans and metrics (None: the machine's, from load()); the ``otel`` extra
    telemetry: Telemetry | None
    #: where Map iterations and Parallel branches run: "local" (this process), "dask" (a
    #: LocalCluster for this run), "dask://HOST:PORT", or an executor object (kept open)
    executor: str | RemoteExecutor | None


class StateMachine:
    """A compiled, reusable state machine. ``run`` / ``run_async`` / ``start`` execute it."""

    def __init__(self, compiled: CompiledMachine, name: str, handlers: Mapping[str, Any],
                 machine_type: MachineType = "STANDARD") -> None:
        self.compiled = compiled
        self.name = name
        self.type = machine_type
        self.arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
        self._handlers = dict(handlers)
        self._threads: HandlerThreads | None = None  # load(handler_threads=N)
        #: observability of every execution (load(logging=..., telemetry=...)); run() overrides
        self.logging: LoggingConfiguration | None = None
        self.telemetry: Telemetry | None = None
        #: the validator's warnings about the definition (``Diagnostic``s with severity
        #: "warning", e.g. ``missing-path-suffix``): they do not stop it from loading
        self.warnings: tuple[Diagnostic, ...] = ()
        #: the default executor of its runs (``load(executor=...)``); None: in this process
        self.executor: str | RemoteExecutor | None = None
        self._base_dir: Path | None = None
        self._remote_payload: tuple[bytes, tuple[str, ...]] | None = None

    def remote_payload(self) -> tuple[bytes, tuple[str, ...]]:
        """The Task handlers of Map/Parallel bodies pickled by reference for remote workers,
        and the folders their modules import from. Raises RemoteHandlerError naming a handler
        that only exists as a live object here, or a .waitForTaskToken task (its token is
        answered in this process)."""
        if self._remote_payload is None:
            from statemachine.interpreter.remote import RemoteHandlerError, pack_handlers
            from statemachine.resources.base import integration_of
            from statemachine.resources.python import search_dirs

            nested = _nested_resources(self.compiled)
            for resource in sorted(nested):
                if integration_of(resource) == "wait-for-task-token":
                    raise RemoteHandlerError(
                        f"The Task resource {resource!r} inside a Map or Parallel waits for a task "
                        "token, which is answered in this process: it cannot run on a remote "
                        "executor.")
            packed, folders = pack_handlers(self._handlers, nested)
            searched = [str(d) for d in search_dirs(self._base_dir)]
            self._remote_payload = (packed, tuple(dict.fromkeys([*folders, *searched])))
        return self._remote_payload

    @property
    def definition(self) -> Mapping[str, JSON]:
        return self.compiled.definition

    def run(self, input: JSONInput = None, **options: Unpack[RunOptions]) -> Execution:
        """Run to completion and return the finished Execution.

        ``input``: the execution input, any JSON value (None: ``{}``); AWS limits it to
        256 KiB of UTF-8 JSON (``data_limit``). ``options``: see ``RunOptions`` -- times are
        in seconds (``timeout`` of wall-clock time), ``handler_threads`` a pool size.
        Returns the Execution with ``status`` SUCCEEDED, FAILED, TIMED_OUT or ABORTED: an
        execution's failure is data (``error``, ``cause``, ``history``), never an exception.
        Raises only for misuse: ValueError for a bad option value (e.g. ``handler_threads``
        below 1), and what an ``on_event`` callback or a ``store`` raises. From async code,
        use ``run_async`` (``run`` then runs on a private loop in a helper thread).
        Raises ``values.InvalidJsonError`` (a ValueError) before starting when ``input`` is
        not JSON: NaN/Infinity, lone surrogates, non-string keys, nesting over 512 levels.
        """
        options.setdefault("hold_callbacks", False)
        execution = self._execution(input, **options)
        from statemachine.resources.inline import run_owned

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            run_owned(execution._main())
            return execution
        # called from async code: run on a private loop in a helper thread, re-raise its errors
        errors: list[BaseException] = []

        def target() -> None:
            try:
                run_owned(execution._main())
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
        return execution

    async def run_async(self, input: JSONInput = None, **options: Unpack[RunOptions]) -> Execution:
        """``run`` on the running event loop (same arguments, result and errors)."""
        options.setdefault("hold_callbacks", False)
        execution = self._execution(input, **options)
        await execution._main()
        return execution

    def start(self, input: JSONInput = None, **options: Unpack[RunOptions]) -> Execution:
        """Start in a background thread; returns the RUNNING Execution at once.

        Same arguments as ``run``. What ``run`` would raise (an ``on_event`` callback or a
        ``store`` that fails) is raised here when it happens before the run begins, else by
        ``Execution.wait`` once the run has ended: a caller never waits on a run that died."""
        from statemachine.resources.inline import run_owned

        execution = self._execution(input, **options)

        def target() -> None:
            try:
                run_owned(execution._main())
            except BaseException as exc:  # handed to start()'s or wait()'s caller
                if execution._started.is_set():
                    execution._raised = exc
                else:
                    failed_to_start.append(exc)
            finally:
                execution._started.set()
                execution._done.set()

        failed_to_start: list[BaseException] = []
        threading.Thread(target=target, daemon=True).start()
        execution._started.wait()
        if failed_to_start:
            raise failed_to_start[0]
        return execution

    def _execution(self, input: JSON, *, name: str | None = None, virtual_time: bool = False,
                   clock: Clock | None = None, rng: random.Random | None = None,
                   on_event: Callable[[dict[str, Any]], None] | None = None,
                   timeout: float | None = None, data_limit: int | None = 256 * 1024,
                   store: ExecutionStore | None = None, seed: int | None = None,
                   history_limit: Any = _DEFAULT, hold_callbacks: bool = True,
                   handler_threads: int | HandlerThreads | None = None,
                   mocks: MockPlan | None = None, logging: Any = _DEFAULT,
                   telemetry: Any = _DEFAULT,
                   executor: str | RemoteExecutor | None = None) -> Execution:
        input = {} if input is None else input
        check_json(input, "execution input")  # AWS: InvalidExecutionInput, before anything runs
        seed = _run_seed(seed, rng)
        rng = execution_rng(seed)
        clock = clock or (VirtualClock() if virtual_time else SystemClock())
        name = name or str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if history_limit is _DEFAULT:
            history_limit = DEFAULT_HISTORY_LIMIT if self.type != "EXPRESS" else None
        limits = _Limits(data_limit, history_limit, hold_callbacks)
        threads = self._threads
        if handler_threads is not None:
            from statemachine.resources.threads import threads_for

            threads = threads_for(handler_threads)
        observability = (self.logging if logging is _DEFAULT else logging,
                         self.telemetry if telemetry is _DEFAULT else telemetry)
        execution = Execution(self, input, name, clock, rng, on_event, timeout, limits, store,
                              observability)
        execution.seed = seed
        execution._runtime._threads = threads
        # a size makes a pool for this run only: its threads end with the run
        execution._runtime.own_threads = isinstance(handler_threads, int)
        if mocks is not None:  # mocked states answer before their handlers are called
            execution._runtime.resolve = mocks.bind(execution._runtime)
        self._bind_executor(execution, self.executor if executor is None else executor,
                            mocks is not None)
        return execution

    def _bind_executor(self, execution: Execution, spec: str | RemoteExecutor | None,
                       mocked: bool) -> None:
        """Give the run its executor (a name makes one for this run, closed at its end)."""
        if spec is None or spec == "local":
            return
        payload = self.remote_payload()
        if mocked:
            raise ValueError("mocks answer in this process: run mocked executions with the "
                             "local executor")
        from statemachine.executors import executor_from

        remote = executor_from(spec)
        execution._runtime.remote = remote
        execution._runtime.remote_handlers = payload
        if isinstance(spec, str):
            execution._own_executor = remote

    def test_state(self, state: str, input: JSON = None, **options: Any) -> TestStateResult:
        """AWS's TestState on one state of this machine, offline; see
        ``statemachine.testing.teststate.test_state`` for the options and the result."""
        from statemachine.testing.teststate import test_state

        return test_state(self, state, input, **options)


def _run_seed(seed: int | None, rng: random.Random | None) -> int:
    """The execution's one seed: ``seed`` as given, else drawn from ``rng``, else fresh."""
    if seed is not None:
        if rng is not None:
            raise TypeError("run() takes seed= or rng=, not both")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        return seed
    return rng.getrandbits(63) if rng is not None else new_seed()


class _Limits:
    """Per-run limits of an Execution (see RunOptions)."""

    __slots__ = ("data_limit", "history_limit", "hold_callbacks")

    def __init__(self, data_limit: int | None, history_limit: int | None, hold_callbacks: bool) -> None:
        if history_limit is not None and history_limit < 2:
            raise ValueError("history_limit must be at least 2 (ExecutionStarted and the last event)")
        self.data_limit = data_limit
        self.history_limit = history_limit
        self.hold_callbacks = hold_callbacks


class Execution:
    """One run of a StateMachine: status, output or error/cause, and its history."""

    def __init__(self, machine: StateMachine, input: JSON, name: str, clock: Clock,
                 rng: random.Random, on_event: Callable[[dict[str, Any]], None] | None,
                 timeout: float | None, limits: _Limits,
                 store: ExecutionStore | None = None, observability: tuple[Any, ...] = ()) -> None:
        self.machine = machine
        self.name = name
        #: The seed every random draw of this execution came from (names, task tokens, retry
        #: jitter, States.UUID/MathRandom, $random/$uuid): ``run(seed=execution.seed)`` again
        #: draws the same values. Recorded in ``to_dict()`` (and so in stores).
        self.seed: int | None = None
        self.input = input
        if machine.type == "EXPRESS":
            run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            self.execution_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:express:{machine.name}:{name}:{run_id}"
        else:
            self.execution_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine.name}:{name}"
        self.status: ExecutionStatus = "RUNNING"
        self.output: JSONValue = None
        self.error: str | None = None
        self.cause: str | None = None
        self._clock = clock
        self.start_date: datetime = to_datetime(clock.now())
        self.stop_date: datetime | None = None
        self._timeout = timeout
        self._done = threading.Event()
        self._started = threading.Event()
        #: what the run raised instead of ending (``start``): re-raised by ``wait``
        self._raised: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Outcome] | None = None
        self._store = store
        #: an executor made for this run only (``run(executor="dask")``): closed at its end
        self._own_executor: RemoteExecutor | None = None
        listener = _listener(on_event, store, self.execution_arn)
        execution_ctx: dict[str, JSON] = {"Id": self.execution_arn, "Input": input,
                                          "StartTime": format_timestamp(clock.now()), "Name": name,
                                          "RoleArn": ROLE_ARN}
        if machine.type != "EXPRESS":
            execution_ctx["RedriveCount"] = 0
        self._execution_ctx = execution_ctx
        self._runtime = Runtime(
            clock=clock, rng=rng, resolve=machine._handlers.__getitem__,
            execution_ctx=execution_ctx,
            machine_ctx={"Id": machine.arn, "Name": machine.name},
            on_event=listener, data_limit=limits.data_limit, arn=self.execution_arn,
            history_limit=limits.history_limit, hold_callbacks=limits.hold_callbacks,
            max_duration=EXPRESS_MAX_DURATION if machine.type == "EXPRESS" else STANDARD_MAX_DURATION,
            observer=self._observer(observability),
        )

    def _observer(self, observability: tuple[Any, ...]) -> Observer | None:
        """Logs/traces/metrics of this execution (None when nothing is configured)."""
        if not any(config is not None for config in observability):
            return None
        from statemachine.observe import ExecutionInfo, observer_for

        machine = self.machine
        info = ExecutionInfo(self.execution_arn, self.name, machine.arn, machine.name, machine.type)
        return observer_for(observability, info)

    # -- running ------------------------------------------------------------------------------
    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        started = self._clock.now()
        self.start_date = to_datetime(started)
        self._execution_ctx["StartTime"] = format_timestamp(started)
        if self._timeout is not None:  # work that never awaits checks it (JSONata)
            self._runtime.interrupt.deadline = time.monotonic() + self._timeout
        clock_token = current_clock.set(self._clock)  # the run's tasks inherit them
        interrupt_token = current_interrupt.set(self._runtime.interrupt)
        try:
            self._task = asyncio.ensure_future(
                execute(self._runtime, self.machine.compiled, self.input, ROLE_ARN, started))
        finally:
            current_interrupt.reset(interrupt_token)
            current_clock.reset(clock_token)
        if self._store is not None:
            self._store.save_execution(self.to_dict())
        self._started.set()
        try:
            outcome = await self._outcome(self._task)
            self.status, self.output = outcome.status, outcome.output
            self.error, self.cause = outcome.error, outcome.cause
        except BaseException as exc:  # for wait(), before _done is set below
            self._raised = exc
            raise
        finally:
            self.stop_date = to_datetime(self._clock.now())
            if self._own_executor is not None:
                self._own_executor.close()
            if self._store is not None:
                self._store.save_execution(self.to_dict())
            self._done.set()

    async def _outcome(self, task: asyncio.Task[Outcome]) -> Outcome:
        if self._timeout is None:
            return await task
        try:
            return await asyncio.wait_for(asyncio.shield(task), self._timeout)
        except TimeoutError:  # the caller's wall-clock limit: abort
            task.cancel()
            return await task

    def wait(self, timeout: float | None = None) -> Execution:
        """Block until the execution has finished (for ``start``) or ``timeout`` seconds
        have passed; returns self. Raises what the run raised instead of ending (an
        ``on_event`` callback or a ``store`` that failed), as ``run`` would."""
        if self._done.wait(timeout) and self._raised is not None:
            raise self._raised
        return self

    # -- control ------------------------------------------------------------------------------
    def abort(self, error: str | None = None, cause: str | None = None) -> None:
        """Stop the execution: running branches and handlers are cancelled; status ABORTED."""
        if self._done.is_set() or self._loop is None or self._task is None:
            return
        self._runtime.abort_reason = StatesError(error, cause, recorded=True)
        self._runtime.interrupt.stop()  # reaches work that does not await (JSONata)
        self._loop.call_soon_threadsafe(self._task.cancel)

    def send_task_success(self, token: str, output: JSON) -> None:
        self._complete(token, lambda f: f.set_result(output))

    def send_task_failure(self, token: str, error: str | None = None, cause: str | None = None) -> None:
        self._complete(token, lambda f: f.set_exception(StatesError(error, cause, recorded=True)))

    def send_task_heartbeat(self, token: str) -> None:
        beat = self._runtime.heartbeats.get(token)
        if beat is None:
            raise ExecutionError(f"unknown or finished task token: {token}")
        beat()

    def _complete(self, token: str, action: Callable[[asyncio.Future[JSON]], None]) -> None:
        future = self._runtime.tokens.get(token)
        if future is None or self._loop is None:
            raise ExecutionError(f"unknown or finished task token: {token}")

        def settle() -> None:
            if not future.done():
                action(future)

        self._loop.call_soon_threadsafe(settle)

    # -- results ------------------------------------------------------------------------------
    @property
    def events(self) -> list[Event]:
        """The history as slotted Event objects (cheap); ``history`` gives AWS dicts."""
        return self._runtime.events

    @property
    def history(self) -> list[dict[str, Any]]:
        return [event.to_dict() for event in self._runtime.events]

    @property
    def task_tokens(self) -> list[str]:
        """Tokens of ``.waitForTaskToken`` tasks currently waiting for a callback."""
        return list(self._runtime.tokens)

    def wait_for_task_token(self, timeout: float | None = None) -> str:
        """Block until a ``.waitForTaskToken`` task is waiting, and return its token (the
        oldest, when several wait). Raises ExecutionError when the execution ends first or
        ``timeout`` seconds pass: a started execution may not have reached its callback yet."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            tokens = self.task_tokens
            if tokens:
                return tokens[0]
            if self._done.is_set():
                raise ExecutionError(f"execution {self.name} ended ({self.status}) without waiting for a task token")
            if deadline is not None and time.monotonic() >= deadline:
                raise ExecutionError(f"no task token within {timeout} s")
            self._done.wait(0.005)

    @property
    def duration(self) -> float | None:
        if self.stop_date is None:
            return None
        return (self.stop_date - self.start_date).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "output": self.output, "error": self.error,
            "cause": self.cause, "executionArn": self.execution_arn, "name": self.name,
            "startDate": self.start_date.isoformat(),
            "stopDate": self.stop_date.isoformat() if self.stop_date else None,
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        return f"<Execution {self.name} {self.status}>"
