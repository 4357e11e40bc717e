"""Server stage, resource policy: which Task resources machines created through the API may
run. A definition sent to CreateStateMachine chooses what code runs (``python:os:system``, a
shell task), so the server resolves API machines' resources with a registry that holds only
what its operator allowed:

- the operator's resource map (``sm serve --resources MAP.yaml``): every entry;
- ``python:`` resources whose module is listed (``--allow-python handlers`` allows
  ``handlers`` and its submodules ``handlers.*``); none by default. The function must be
  defined in an allowed module (``python:handlers:os.system``, reaching a module handlers
  imported, is refused) and no part of its name may start with ``_``;
- ``shell`` tasks only with ``--allow-shell`` (off by default);
- HTTP Task (``arn:aws:states:::http:invoke``): on unless ``--no-http``;
- the real AWS Lambda API (Lambda ARNs and ``lambda:invoke`` not in the map): only with
  ``--allow-lambda``;
- activities of this server (``arn:aws:states:<region>:<account>:activity:<name>``) and the
  handlers of installed ``statemachine.resources`` entry points (the operator installed them).

A resource outside the policy makes CreateStateMachine/UpdateStateMachine fail with
InvalidDefinition naming it. The same registry runs the machine in the worker, so a machine
stored under a looser policy cannot run a refused resource after a restart with a stricter
one. Machines started from files by the operator (``sm start``)
are not API machines and use the default registry.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from statemachine.errors import ResourceNotFoundError

if TYPE_CHECKING:
    from statemachine.resources.base import ResourceHandler
    from statemachine.resources.registry import ResourceRegistry

__all__ = ["ResourcePolicy"]


@dataclasses.dataclass(frozen=True, slots=True)
class ResourcePolicy:
    """The resources API-created machines may run (see the module docstring).

    ``python_modules``: module names whose ``python:`` handlers are allowed (each also allows
    its submodules). ``allow_shell``, ``allow_http``, ``allow_lambda``: the built-in handlers.
    """

    python_modules: tuple[str, ...] = ()
    allow_shell: bool = False
    allow_http: bool = True
    allow_lambda: bool = False

    def allows_module(self, module: str) -> bool:
        """True when ``module`` is listed or inside a listed package."""
        return any(module == name or module.startswith(name + ".")
                   for name in self.python_modules)

    def describe(self) -> str:
        """One line for the server's banner and error messages."""
        parts = [f"python: {', '.join(self.python_modules) or 'none'}",
                 f"shell {'on' if self.allow_shell else 'off'}",
                 f"http {'on' if self.allow_http else 'off'}",
                 f"lambda {'on' if self.allow_lambda else 'off'}"]
        return "; ".join(parts)

    def registry(self, resource_map: Path | None) -> ResourceRegistry:
        """A registry holding only what this policy allows, with ``resource_map`` on top."""
        from statemachine.resources import aws_lambda, http, python
        from statemachine.resources.base import (
            HTTP_INVOKE_RESOURCE,
            LAMBDA_ARN_PREFIX,
            LAMBDA_INVOKE_RESOURCE,
            PYTHON_PREFIX,
            SHELL_RESOURCE,
        )
        from statemachine.resources.registry import ResourceRegistry
        from statemachine.resources.shell import ShellHandler

        registry = ResourceRegistry(base_dir=None)
        registry.register_resolver(PYTHON_PREFIX, self._python(python.resolver(None)))
        if self.allow_shell:
            registry.register(SHELL_RESOURCE, ShellHandler())
        else:
            registry.register_resolver(SHELL_RESOURCE, _refuse(
                "shell tasks are off for machines created through the API (sm serve --allow-shell)"))
        if self.allow_http:
            registry.register(HTTP_INVOKE_RESOURCE, http.HttpInvokeHandler())
        if self.allow_lambda:
            invoker = aws_lambda.Boto3Invoker()
            registry.register(LAMBDA_INVOKE_RESOURCE, aws_lambda.LambdaInvokeHandler(invoker))
            registry.register_resolver(LAMBDA_ARN_PREFIX, aws_lambda.bare_arn_resolver(invoker))
        registry.load_entry_points()
        if resource_map is not None:
            registry = registry.with_resource_map(resource_map)
        return registry

    def _python(self, resolve: ResolverFn) -> ResolverFn:
        def checked(resource: str) -> ResourceHandler:
            target = resource.removeprefix("python:")
            module = target.split(":", 1)[0]
            if not self.allows_module(module):
                allowed = ", ".join(self.python_modules) or "none"
                raise ResourceNotFoundError(
                    f"Resource {resource!r} is not allowed by the server's policy: python "
                    f"module {module!r} is not in the allowed modules ({allowed}; "
                    "sm serve --allow-python MODULE)")
            refused = f"Resource {resource!r} is not allowed by the server's policy"
            path = target.split(":", 1)[1] if ":" in target else ""
            if any(part.startswith("_") for part in path.split(".")):
                raise ResourceNotFoundError(f"{refused}: private and dunder names (_...) "
                                            "are not reachable through the API")
            handler = resolve(resource)
            # the function must be the allowed module's own: python:handlers:os.system, or a
            # function handlers imported, would open every module handlers imports
            func = getattr(handler, "func", None)
            owner = getattr(func, "__module__", None)
            if func is not None and not (isinstance(owner, str) and self.allows_module(owner)):
                raise ResourceNotFoundError(
                    f"{refused}: it names a function of module {owner or '?'!r}, not one "
                    f"defined in the allowed modules ({', '.join(self.python_modules)})")
            return handler

        return checked


if TYPE_CHECKING:
    from collections.abc import Callable

    ResolverFn = Callable[[str], ResourceHandler]


def _refuse(why: str) -> Callable[[str], ResourceHandler]:
    def resolve(resource: str) -> ResourceHandler:
        raise ResourceNotFoundError(f"Resource {resource!r} is not allowed by the server's "
                                    f"policy: {why}")

    return resolve
