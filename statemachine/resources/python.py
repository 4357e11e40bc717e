"""Resources stage: Python callables as Task resources (``python:package.module:function`` and
callables registered in code).

The callable receives the effective input and, when its signature asks for a second
argument (or a parameter named ``context``), a ``TaskContext`` with the task token,
``heartbeat()`` and the context object. Its return value is the task result. An exception
becomes ``StatesError(<exception class name>, <cause>)`` where the cause is AWS Lambda's JSON
error shape ``{"errorMessage", "errorType", "requestId", "stackTrace"}``, so Retry/Catch
match the class name exactly as they match a Lambda function's ``errorType``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import os
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, TypeVar

from statemachine.errors import ResourceNotFoundError, StatesError
from statemachine.resources.base import PYTHON_PREFIX, ResourceHandler, TaskRequest
from statemachine.values import JSON

#: AWS Lambda's error type when a result cannot be serialised to JSON.
MARSHAL_ERROR = "Runtime.MarshalError"

_IMPORT_LOCK = threading.Lock()
T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class TaskContext:
    """The second argument of a Python task function that asks for one."""

    task_token: str | None
    context: Mapping[str, JSON]
    state_name: str
    resource: str
    timeout_seconds: float | None
    heartbeat: Callable[[], None]
    #: W3C trace-context headers of the task attempt's span (``{"traceparent": ...}``) when
    #: the execution is traced, else empty: ``opentelemetry.propagate.extract(...)`` of it
    #: continues the trace inside the function
    trace_context: Mapping[str, str] = dataclasses.field(default_factory=dict)


# -- Lambda-shaped error causes ---------------------------------------------------------------
def stack_trace(tb: TracebackType | None, rewrite: Callable[[str], str] = str) -> list[str]:
    """Frames formatted as AWS Lambda's Python runtime reports them (``  File "...", line N,
    in f\\n    source\\n``); ``rewrite`` maps file names (e.g. to ``/var/task/...``)."""
    frames = traceback.extract_tb(tb)
    for frame in frames:
        frame.filename = rewrite(frame.filename)
    return traceback.format_list(frames)


def error_payload(
    exc: BaseException, tb: TracebackType | None, *, request_id: str | None = None,
    rewrite: Callable[[str], str] = str,
) -> dict[str, JSON]:
    """AWS Lambda's error document for ``exc`` (key order as Lambda writes it)."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id or str(uuid.uuid4()),
        "stackTrace": stack_trace(tb, rewrite),
    }


def marshal_error_payload(exc: BaseException, request_id: str) -> dict[str, JSON]:
    return {
        "errorMessage": f"Unable to marshal response: {exc}",
        "errorType": MARSHAL_ERROR,
        "requestId": request_id,
        "stackTrace": [],
    }


def to_json_value(value: Any) -> JSON:
    """``value`` as plain JSON data (a copy: the function keeps no handle on what the engine
    holds); StatesError(Runtime.MarshalError) when it is not JSON."""
    try:
        return _plain_copy(value, [_PLAIN_BUDGET])
    except _NotPlain:  # tuples, int subclasses, NaN, odd keys...: json decides, as before
        pass
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        cause = json.dumps(marshal_error_payload(exc, str(uuid.uuid4())))
        raise StatesError(MARSHAL_ERROR, cause) from exc


class _NotPlain(Exception):
    pass


_SCALARS = frozenset({str, int, bool, type(None)})
_STR = frozenset({str})
#: Past this many values json's C code is faster than a walk in Python.
_PLAIN_BUDGET = 256


def _plain_copy(value: Any, budget: list[int]) -> JSON:
    """A copy of ``value`` when it is made of exactly dict (str keys), list, str, int, bool,
    None and finite float -- what ``json.loads(json.dumps(value))`` would give, ~8x faster
    for the small results most tasks return. Anything else, or more than ``_PLAIN_BUDGET``
    values, raises _NotPlain."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is float:
        if value - value != 0.0:  # inf or nan
            raise _NotPlain
        return value
    budget[0] -= 1 + len(value) if kind is dict or kind is list else 0
    if budget[0] < 0:
        raise _NotPlain
    if kind is dict:
        if _SCALARS.issuperset(map(type, value.values())) and _STR.issuperset(map(type, value)):
            return value.copy()  # flat (str keys, scalar values): copied in C
        copy: dict[str, JSON] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            # str, int, bool, None as they are (no call for them)
            copy[key] = item if type(item) in _SCALARS else _plain_copy(item, budget)
        return copy
    if kind is list:
        return [item if type(item) in _SCALARS else _plain_copy(item, budget) for item in value]
    raise _NotPlain


# -- calling ------------------------------------------------------------------------------------
def wants_context(func: Callable[..., Any]) -> bool:
    """Does ``func`` take a second required positional argument, ``*args`` or a parameter
    named ``context``? (``def f(value, retries=3)`` gets the input only.)"""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return False
    required = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                and p.default is p.empty]
    if any(p.kind is p.VAR_POSITIONAL for p in params) or len(required) >= 2:
        return True
    return any(p.name == "context" for p in params)


def _keyword_only_context(func: Callable[..., Any]) -> bool:
    try:
        param = inspect.signature(func).parameters.get("context")
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind is param.KEYWORD_ONLY


def task_context(request: TaskRequest) -> TaskContext:
    return TaskContext(
        task_token=request.task_token, context=request.context, state_name=request.state_name,
        resource=request.resource, timeout_seconds=request.timeout_seconds,
        heartbeat=request.heartbeat, trace_context=request.trace_context,
    )


def _guarded(call: Callable[[Any], Any], argument: Any) -> JSON:
    """``call(argument)`` as JSON, what it raises as a StatesError (``_as_states_error``)."""
    try:
        result = call(argument)
    except StatesError:
        raise
    except Exception as exc:
        raise _as_states_error(exc) from exc
    return to_json_value(result)


class PythonHandler:
    """Runs one Python callable as a Task.

    ``async def`` functions run on the interpreter's loop; plain functions on a worker of the
    bounded daemon pool (resources/threads.py), so a function still running after a timeout or
    an abort never blocks the process's exit.
    """

    def __init__(self, func: Callable[..., Any], *, name: str | None = None) -> None:
        self.func = func
        self.name = name or getattr(func, "__qualname__", repr(func))
        self._pass_context = wants_context(func)
        self._context_by_name = _keyword_only_context(func)
        self._is_async = inspect.iscoroutinefunction(func)
        #: for a plain function, what the interpreter runs on a worker thread (``run``);
        #: None for an ``async def`` one (awaited on the loop through ``__call__``)
        self.sync_body: Callable[[TaskRequest], JSON] | None = None if self._is_async else self.run
        #: a plain function that takes the effective input only: ``run`` without the request
        #: (the interpreter then builds no TaskRequest, nor the context object when no field
        #: of the state reads it); None otherwise
        self.input_body: Callable[[JSON], JSON] | None = (
            self._run_input if type(self) is PythonHandler and self.sync_body is not None
            and not self._pass_context and not self._context_by_name else None)
        self.thread_name = f"task:{self.name}"

    def __repr__(self) -> str:
        return f"PythonHandler({self.name})"

    def _call(self, request: TaskRequest) -> Any:
        if self._context_by_name:
            return self.func(request.input, context=task_context(request))
        if self._pass_context:
            return self.func(request.input, task_context(request))
        return self.func(request.input)

    def run(self, request: TaskRequest) -> JSON:
        """Call a plain function in the calling thread; its result as JSON or a StatesError."""
        return _guarded(self._call, request)

    def _run_input(self, value: JSON) -> JSON:
        """``run`` of a request whose input is ``value`` (a function that takes no context)."""
        return _guarded(self.func, value)

    async def __call__(self, request: TaskRequest) -> JSON:
        if not self._is_async:
            return await in_daemon_thread(lambda: self.run(request), f"task:{self.name}")
        try:
            result = await self._call(request)
        except StatesError:
            raise
        except Exception as exc:
            raise _as_states_error(exc) from exc
        return to_json_value(result)


async def in_daemon_thread(func: Callable[[], T], name: str) -> T:
    """``func()`` on a worker thread of the running execution's bounded pool (the default
    pool outside one; see resources/threads.py), awaited on the loop. Cancelling the await
    abandons the call (Python cannot stop a thread) but never waits for it, not even at exit.
    ``name`` is the worker's thread name while it runs (for tracebacks and debuggers)."""
    from statemachine.resources.threads import current_threads, default_threads

    pool = current_threads.get() or default_threads()
    return await pool.call(lambda _: func(), None, name=name)


def _as_states_error(exc: Exception) -> StatesError:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next  # the user's frames only, as Lambda drops its runtime's frames
    payload = error_payload(exc, tb)
    return StatesError(type(exc).__name__, json.dumps(payload))


def _takes_request(func: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return False
    if not params:
        return False
    annotation = params[0].annotation
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return str(name).rsplit(".", 1)[-1] == "TaskRequest"


def as_handler(obj: Callable[..., Any], *, name: str | None = None) -> ResourceHandler:
    """A registered object as a handler: plain functions (and methods) are Python task
    functions receiving the effective input, unless their first parameter is annotated
    ``TaskRequest``; callable objects (MockResource, handler classes) are handlers as they are.
    """
    plain = inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj)
    if plain and not _takes_request(obj):
        return PythonHandler(obj, name=name)
    return obj


# -- importing ----------------------------------------------------------------------------------
def parse_target(target: str, *, separator: str = ":") -> tuple[str, str]:
    """``package.module:function`` -> (module, function). ``separator`` "." splits Lambda-style
    ``module.function`` at the last dot."""
    module, sep, func = target.rpartition(separator) if separator == "." else target.partition(separator)
    if not sep or not module or not func:
        raise ResourceNotFoundError(
            f"{target!r} is not of the form 'package.module{separator}function'"
        )
    return module, func


@contextmanager
def search_path(dirs: list[Path]) -> Iterator[None]:
    """Temporarily put ``dirs`` first on sys.path (imports stay cached in sys.modules)."""
    added = [str(d) for d in dirs if str(d) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)


def _home(top: str, dirs: list[Path]) -> Path | None:
    """The first of ``dirs`` that holds the top-level module or package ``top``."""
    for folder in dirs:
        if (folder / f"{top}.py").is_file() or (folder / top).is_dir():
            return folder
    return None


def _evict_if_elsewhere(top: str, dirs: list[Path]) -> None:
    """Two definition folders may both have a ``handlers`` package: when the cached one is
    not the one these ``dirs`` find first, drop it (and its submodules) so the right one loads.
    Handlers resolved earlier keep the function objects they already hold."""
    cached = sys.modules.get(top)
    home = _home(top, dirs)
    if cached is None or home is None:
        return
    locations = [getattr(cached, "__file__", None), *list(getattr(cached, "__path__", []))]
    if any(loc and Path(loc).resolve().is_relative_to(home) for loc in locations):
        return
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]


def import_module(module: str, dirs: list[Path], *, what: str) -> ModuleType:
    """Import ``module`` searching ``dirs`` first; a clear ResourceNotFoundError on failure."""
    with _IMPORT_LOCK, search_path(dirs):
        importlib.invalidate_caches()
        _evict_if_elsewhere(module.split(".")[0], dirs)
        try:
            return importlib.import_module(module)
        except Exception as exc:
            searched = ", ".join(str(d) for d in dirs)
            raise ResourceNotFoundError(
                f"{what}: cannot import module {module!r} (searched {searched} and sys.path): "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def load_callable(target: str, dirs: list[Path], *, what: str) -> Callable[..., Any]:
    """The function named by ``module:function`` (found relative to ``dirs``)."""
    module_name, func_name = parse_target(target)
    module = import_module(module_name, dirs, what=what)
    func: object = module
    for part in func_name.split("."):
        func = getattr(func, part, None)
        if func is None:
            raise ResourceNotFoundError(
                f"{what}: module {module_name!r} ({getattr(module, '__file__', '?')}) has no "
                f"attribute {func_name!r}"
            )
    if not callable(func):
        raise ResourceNotFoundError(f"{what}: {target!r} is not callable")
    return func


def search_dirs(base_dir: Path | None) -> list[Path]:
    dirs = [base_dir.resolve()] if base_dir is not None else []
    cwd = Path(os.getcwd()).resolve()
    return dirs + ([cwd] if cwd not in dirs else [])


def resolver(base_dir: Path | None) -> Callable[[str], ResourceHandler]:
    """The resolver for ``python:package.module:function`` resources."""

    def resolve(resource: str) -> ResourceHandler:
        target = resource.removeprefix(PYTHON_PREFIX)
        for suffix in (".waitForTaskToken", ".sync"):
            target = target.removesuffix(suffix)
        func = load_callable(target, search_dirs(base_dir), what=f"Resource {resource!r}")
        return PythonHandler(func, name=target)

    return resolve
