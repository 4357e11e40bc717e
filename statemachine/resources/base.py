"""Resources stage, the contract: what a Task hands to a resource handler (TaskRequest), the
handler protocol, the optional load-time check a handler may offer (TaskChecker over a
TaskDefinition), and the Resource-string helpers. The registry that maps Resource strings to
handlers is ``registry.py``.

This module imports nothing else of the package: every handler module (python, shell, http,
aws_lambda, local_map, mock) imports it, and ``registry.py`` imports them. The dependencies of
``statemachine.resources`` run one way, base -> handlers -> registry (a test checks it).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from statemachine.values import JSON

if TYPE_CHECKING:
    from statemachine.errors import Diagnostic

Integration = Literal["request-response", "sync", "wait-for-task-token"]

#: Entry-point group third-party handlers register under. The entry point's *name* is the
#: Resource string; a name ending in ``*`` registers the prefix before the star.
ENTRY_POINT_GROUP = "statemachine.resources"

#: The Resource name of the built-in shell handler.
SHELL_RESOURCE = "shell"
HTTP_INVOKE_RESOURCE = "arn:aws:states:::http:invoke"
LAMBDA_INVOKE_RESOURCE = "arn:aws:states:::lambda:invoke"
LAMBDA_ARN_PREFIX = "arn:aws:lambda:"
PYTHON_PREFIX = "python:"

_SUFFIX = re.compile(r"\.(sync(:\d+)?|waitForTaskToken)$")
_PARTITION = re.compile(r"^arn:aws(-[a-z-]+)?:")


def _no_heartbeat() -> None:
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class TaskRequest:
    """Everything a handler needs to run one attempt of a Task state.

    ``input`` is the effective input (after InputPath + Parameters, or Arguments);
    ``context`` the context object (``$$``: Execution, StateMachine, State, Task.Token);
    ``heartbeat`` reports liveness when the state has HeartbeatSeconds (callable from any
    thread; a no-op otherwise). ``task_token`` is set for ``.waitForTaskToken`` integrations.
    ``timeout_seconds`` / ``heartbeat_seconds``: the state's TimeoutSeconds / HeartbeatSeconds
    in seconds, counted from the handler's start (None when the state has none).
    ``credentials``: the state's evaluated ``Credentials`` (e.g. ``{"RoleArn": ...}``) or None.
    ``trace_context``: the W3C trace-context headers of this attempt's span (``traceparent``
    and, when set, ``tracestate``) when the execution is traced (``run(telemetry=...)``),
    else empty; the HTTP Task sends them, other handlers may pass them on (observe.py).
    """

    resource: str
    integration: Integration = "request-response"
    input: JSON = None
    context: Mapping[str, JSON] = dataclasses.field(default_factory=dict)
    state_name: str = ""
    timeout_seconds: float | None = None
    heartbeat_seconds: float | None = None
    task_token: str | None = None
    credentials: JSON | None = None
    heartbeat: Callable[[], None] = _no_heartbeat
    #: durable executions: True when this attempt may have run before (its worker stopped
    #: while it was in flight); same task token, same input (at-least-once delivery)
    redelivered: bool = False
    trace_context: Mapping[str, str] = dataclasses.field(default_factory=dict)


_NO_TRACE: Mapping[str, str] = MappingProxyType({})
_FIELDS = ("resource", "integration", "input", "context", "state_name", "timeout_seconds",
           "heartbeat_seconds", "task_token", "credentials", "heartbeat", "redelivered",
           "trace_context")
_SET = tuple(TaskRequest.__dict__[name].__set__ for name in _FIELDS)  # the slots' own setters
assert tuple(f.name for f in dataclasses.fields(TaskRequest)) == _FIELDS


def task_request(resource: str, integration: Integration, input: JSON, context: Mapping[str, JSON],
                 state_name: str, timeout_seconds: float | None, heartbeat_seconds: float | None,
                 task_token: str | None, credentials: JSON | None, heartbeat: Callable[[], None],
                 redelivered: bool = False,
                 trace_context: Mapping[str, str] = _NO_TRACE) -> TaskRequest:
    """``TaskRequest(...)`` with every field given, built through the slots' setters: the same
    object, ~5x cheaper than the frozen dataclass's ``__init__`` (one ``object.__setattr__``
    per field). The interpreter builds one per Task attempt."""
    request = _new(TaskRequest)
    _SET[0](request, resource)
    _SET[1](request, integration)
    _SET[2](request, input)
    _SET[3](request, context)
    _SET[4](request, state_name)
    _SET[5](request, timeout_seconds)
    _SET[6](request, heartbeat_seconds)
    _SET[7](request, task_token)
    _SET[8](request, credentials)
    _SET[9](request, heartbeat)
    _SET[10](request, redelivered)
    _SET[11](request, trace_context)
    return request


_new = object.__new__

@runtime_checkable
class ResourceHandler(Protocol):
    """One method: run the task, return its JSON result (or an awaitable of it).

    Called once per attempt (a retry calls again) with a frozen ``TaskRequest``. An ``async
    def`` handler runs on the execution's event loop and must not block; a plain one runs on
    a worker thread of the bounded pool (resources/threads.py) and may block. The result
    must be a JSON value (256 KiB at most as UTF-8 JSON, else States.DataLimitExceeded).
    Raise ``StatesError(name, cause)`` to fail the task; anything else raised is converted by
    the interpreter to ``StatesError(type(exc).__name__, str(exc))``. TimeoutSeconds
    cancels an async handler and abandons a thread one (Python cannot stop a thread).
    Registered with ``ResourceRegistry.register`` or ``load(resources={...})``; found for
    ``python:`` resources, MAP.yaml stand-ins and the ``statemachine.resources`` entry points.
    """

    def __call__(self, request: TaskRequest) -> JSON | Awaitable[JSON]: ...


#: Builds the handler for one resource under a registered prefix; raises
#: ResourceNotFoundError when it cannot (e.g. a module that does not import).
Resolver = Callable[[str], ResourceHandler]


@dataclasses.dataclass(frozen=True, slots=True)
class TaskDefinition:
    """A Task state as written in the definition, for a handler's load-time check.

    ``body`` is the state's raw JSON object; ``pointer`` its JSON pointer
    (``/States/A/Branches/0/States/B``); ``query_language`` the state's effective language.
    """

    state_name: str
    resource: str
    body: Mapping[str, JSON]
    pointer: str
    query_language: Literal["JSONPath", "JSONata"] = "JSONPath"


@runtime_checkable
class TaskChecker(Protocol):
    """Optional second method of a handler: judge, when the definition is loaded (``load()``,
    ``sm validate --resources``), how a Task uses it. Yields Diagnostics (pointer and state
    set, line/column left 0 for the caller to fill); an error makes the definition invalid."""

    def check_task(self, task: TaskDefinition) -> Iterator[Diagnostic]: ...


def integration_of(resource: str) -> Integration:
    """The service integration pattern a Resource string asks for."""
    if resource.endswith(".waitForTaskToken"):
        return "wait-for-task-token"
    if _SUFFIX.search(resource):
        return "sync"
    return "request-response"


def base_resource(resource: str) -> str:
    """The Resource without its integration suffix and with the partition set to ``aws``."""
    return _PARTITION.sub("arn:aws:", _SUFFIX.sub("", resource))
