"""Resources stage, the contract: what a Task hands to a resource handler (TaskRequest), the
handler protocol, and the registry that resolves a Task's ``Resource`` string to a handler
before an execution starts.

Resolution order for a Resource string (``ResourceRegistry.resolve``):

1. an exact registration of the full string (``arn:aws:states:::lambda:invoke.waitForTaskToken``);
2. an exact registration of the string without its integration suffix (``.sync``,
   ``.sync:2``, ``.waitForTaskToken``) and with the partition normalised to ``aws``;
3. the longest registered prefix (``python:``, ``arn:aws:lambda:``); a prefix entry holds a
   *resolver* that builds the handler for that one resource (and may refuse it).

Registries are built explicitly and passed in (``ResourceRegistry.default()`` for the
built-ins plus the ``statemachine.resources`` entry points); there is no module-level registry.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from statemachine.errors import ResourceNotFoundError
from statemachine.values import JSON

if TYPE_CHECKING:
    from os import PathLike

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


class ResourceRegistry:
    """Maps Resource strings (exactly or by prefix) to handlers."""

    def __init__(self) -> None:
        self._exact: dict[str, ResourceHandler] = {}
        self._prefixes: dict[str, Resolver] = {}

    # -- building -------------------------------------------------------------------------
    @classmethod
    def default(cls, *, base_dir: Path | None = None) -> ResourceRegistry:
        """The built-in handlers (python:, shell, HTTP, AWS Lambda) plus entry points.

        ``base_dir`` is where ``python:`` modules are searched first (the definition's folder);
        the working directory is searched after it.
        """
        from statemachine.resources import aws_lambda, http, python, shell

        registry = cls()
        registry.register_resolver(PYTHON_PREFIX, python.resolver(base_dir))
        registry.register(SHELL_RESOURCE, shell.ShellHandler())
        registry.register(HTTP_INVOKE_RESOURCE, http.HttpInvokeHandler())
        invoker = aws_lambda.Boto3Invoker()
        registry.register(LAMBDA_INVOKE_RESOURCE, aws_lambda.LambdaInvokeHandler(invoker))
        registry.register_resolver(LAMBDA_ARN_PREFIX, aws_lambda.bare_arn_resolver(invoker))
        registry.load_entry_points()
        return registry

    def register(self, resource: str, handler: ResourceHandler, *, prefix: bool = False) -> None:
        """Register ``handler`` for ``resource`` (or for every resource starting with it).

        A plain function is a Python task function (it receives the effective input, and a
        TaskContext if it asks for one) unless its first parameter is annotated TaskRequest;
        a callable object is used as a ResourceHandler as it is.
        """
        if not callable(handler):
            raise TypeError(f"handler for {resource!r} is not callable: {handler!r}")
        from statemachine.resources.python import as_handler

        handler = as_handler(handler, name=resource)
        if prefix:
            self._prefixes[resource] = _constant(handler)
        else:
            self._exact[resource] = handler

    def register_resolver(self, prefix: str, resolver: Resolver) -> None:
        """Register a resolver that builds a handler for each resource under ``prefix``."""
        self._prefixes[prefix] = resolver

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Add the handlers third-party packages declare in the ``statemachine.resources`` group."""
        for entry in metadata.entry_points(group=group):
            try:
                handler = entry.load()
            except Exception as exc:  # a broken plugin must not break every run
                message = f"entry point {entry.name!r} ({entry.value}) failed to load: {exc!r}"
                self._exact[entry.name] = _broken(message)
                continue
            name = entry.name
            self.register(name.rstrip("*"), handler, prefix=name.endswith("*"))

    def copy(self) -> ResourceRegistry:
        clone = type(self)()
        clone._exact = dict(self._exact)
        clone._prefixes = dict(self._prefixes)
        return clone

    def with_handlers(self, handlers: Mapping[str, ResourceHandler]) -> ResourceRegistry:
        """A copy with ``handlers`` added (a key ending in ``*`` registers a prefix)."""
        clone = self.copy()
        for name, handler in handlers.items():
            clone.register(name.rstrip("*"), handler, prefix=name.endswith("*"))
        return clone

    def with_resource_map(
        self, mapping_or_path: str | PathLike[str] | Mapping[str, JSON]
    ) -> ResourceRegistry:
        """A copy with the local stand-ins of a MAP.yaml (see ``local_map``) layered on top."""
        from statemachine.resources import local_map

        return local_map.apply(self.copy(), mapping_or_path)

    # -- resolving ------------------------------------------------------------------------
    def resolve(self, resource: str) -> ResourceHandler:
        """The handler for ``resource``; ResourceNotFoundError lists what is registered."""
        for key in (resource, base_resource(resource)):
            if key in self._exact:
                return self._exact[key]
        normal = base_resource(resource)
        for prefix in sorted(self._prefixes, key=len, reverse=True):
            if resource.startswith(prefix) or normal.startswith(prefix):
                return self._prefixes[prefix](resource)
        raise ResourceNotFoundError(
            f"no handler for Resource {resource!r}; available: {self.describe()}"
        )

    def names(self) -> list[str]:
        """Registered resources, prefixes written with a trailing ``*``."""
        return sorted(self._exact) + sorted(p + "*" for p in self._prefixes)

    def describe(self) -> str:
        return ", ".join(self.names()) or "(nothing registered)"

    def __contains__(self, resource: object) -> bool:
        if not isinstance(resource, str):
            return False
        try:
            self.resolve(resource)
        except ResourceNotFoundError:
            return False
        return True


def _constant(handler: ResourceHandler) -> Resolver:
    def resolve(resource: str) -> ResourceHandler:
        return handler

    return resolve


def _broken(message: str) -> ResourceHandler:
    def handler(request: TaskRequest) -> JSON:
        raise ResourceNotFoundError(message)

    return handler


def coerce_registry(
    resources: Mapping[str, ResourceHandler] | ResourceRegistry | None,
    resource_map: str | PathLike[str] | Mapping[str, JSON] | None = None,
    *,
    base_dir: Path | None = None,
) -> ResourceRegistry:
    """What ``load(resources=..., resource_map=...)`` means: defaults + handlers + map.

    A mapping of handlers is layered on the default registry; a registry is used as given.
    """
    if isinstance(resources, ResourceRegistry):
        registry = resources
    else:
        registry = ResourceRegistry.default(base_dir=base_dir)
        if resources:
            registry = registry.with_handlers(resources)
    if resource_map is not None:
        registry = registry.with_resource_map(resource_map)
    return registry
