"""Resources stage, the registry: resolves a Task's ``Resource`` string to a handler before an
execution starts.

Resolution order for a Resource string (``ResourceRegistry.resolve``):

1. an exact registration of the full string (``arn:aws:states:::lambda:invoke.waitForTaskToken``);
2. an exact registration of the string without its integration suffix (``.sync``,
   ``.sync:2``, ``.waitForTaskToken``) and with the partition normalised to ``aws``;
3. the longest registered prefix (``python:``, ``arn:aws:lambda:``); a prefix entry holds a
   *resolver* that builds the handler for that one resource (and may refuse it).

Registries are built explicitly and passed in (``ResourceRegistry.default()`` for the
built-ins plus the ``statemachine.resources`` entry points); there is no module-level registry.
This module sits at the end of the package's one-way imports: base -> handlers -> registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from statemachine.errors import ResourceNotFoundError
from statemachine.resources import aws_lambda, http, local_map, python, shell
from statemachine.resources.base import (
    ENTRY_POINT_GROUP,
    HTTP_INVOKE_RESOURCE,
    LAMBDA_ARN_PREFIX,
    LAMBDA_INVOKE_RESOURCE,
    PYTHON_PREFIX,
    SHELL_RESOURCE,
    Resolver,
    ResourceHandler,
    TaskRequest,
    base_resource,
)
from statemachine.values import JSON

if TYPE_CHECKING:
    from os import PathLike

class ResourceRegistry:
    """Maps Resource strings (exactly or by prefix) to handlers."""

    def __init__(self, *, base_dir: Path | None = None) -> None:
        self._exact: dict[str, ResourceHandler] = {}
        self._prefixes: dict[str, Resolver] = {}
        #: Entry-point groups still to load: ``default()`` defers the ``statemachine.resources``
        #: group to the first lookup (reading the installed distributions' metadata costs
        #: ~10 ms of every `sm run`, and a machine without Task states never looks one up).
        self._deferred: list[str] = []
        #: The definition's folder (python: modules and the default local_s3 root sit there).
        self.base_dir = base_dir

    # -- building -------------------------------------------------------------------------
    @classmethod
    def default(cls, *, base_dir: Path | None = None) -> ResourceRegistry:
        """The built-in handlers (python:, shell, HTTP, AWS Lambda) plus entry points.

        ``base_dir`` is where ``python:`` modules are searched first (the definition's folder);
        the working directory is searched after it.
        """
        registry = cls(base_dir=base_dir)
        registry.register_resolver(PYTHON_PREFIX, python.resolver(base_dir))
        registry.register(SHELL_RESOURCE, shell.ShellHandler())
        registry.register(HTTP_INVOKE_RESOURCE, http.HttpInvokeHandler())
        invoker = aws_lambda.Boto3Invoker()
        registry.register(LAMBDA_INVOKE_RESOURCE, aws_lambda.LambdaInvokeHandler(invoker))
        registry.register_resolver(LAMBDA_ARN_PREFIX, aws_lambda.bare_arn_resolver(invoker))
        registry.load_entry_points(defer=True)
        return registry

    def register(self, resource: str, handler: ResourceHandler, *, prefix: bool = False) -> None:
        """Register ``handler`` for ``resource`` (or for every resource starting with it).

        A plain function is a Python task function (it receives the effective input, and a
        TaskContext if it asks for one) unless its first parameter is annotated TaskRequest;
        a callable object is used as a ResourceHandler as it is.
        """
        if not callable(handler):
            raise TypeError(f"handler for {resource!r} is not callable: {handler!r}")
        self._load_deferred()
        handler = python.as_handler(handler, name=resource)
        if prefix:
            self._prefixes[resource] = _constant(handler)
        else:
            self._exact[resource] = handler

    def register_resolver(self, prefix: str, resolver: Resolver) -> None:
        """Register a resolver that builds a handler for each resource under ``prefix``."""
        self._load_deferred()
        self._prefixes[prefix] = resolver

    def _load_deferred(self) -> None:
        while self._deferred:
            self.load_entry_points(self._deferred.pop(0))

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP, *, defer: bool = False) -> None:
        """Add the handlers third-party packages declare in the ``statemachine.resources`` group.

        ``defer=True`` loads them at the registry's first use instead (a lookup, a listing, a
        copy, a registration), with the same result: they are added before anything
        registered after this call, which overrides them as it would have.
        """
        if defer:
            self._deferred.append(group)
            return
        from importlib import metadata

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
        clone = type(self)(base_dir=self.base_dir)
        clone._deferred = list(self._deferred)
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
        clone = self.copy()
        local_map.apply(clone, mapping_or_path, definition_dir=self.base_dir)
        return clone

    # -- resolving ------------------------------------------------------------------------
    def resolve(self, resource: str) -> ResourceHandler:
        """The handler for ``resource``; ResourceNotFoundError lists what is registered."""
        self._load_deferred()
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
        self._load_deferred()
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
