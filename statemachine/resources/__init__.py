"""Resources stage: the handlers a Task's ``Resource`` resolves to, and their registry.

Built-in resources (error names each handler raises are listed in its module docstring):

- ``python:package.module:function``   a Python callable (python.py)
- ``shell``                             a local command (shell.py)
- ``arn:aws:states:::http:invoke``      AWS's HTTP Task with httpx (http.py, connections.py)
- ``arn:aws:lambda:...:function:NAME`` and ``arn:aws:states:::lambda:invoke``
                                        AWS Lambda through boto3 (aws_lambda.py), or local
                                        stand-ins from a resource map (local_map.py)
- anything registered in code or through the ``statemachine.resources`` entry points
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from statemachine.resources.base import (
        ENTRY_POINT_GROUP,
        HTTP_INVOKE_RESOURCE,
        LAMBDA_INVOKE_RESOURCE,
        SHELL_RESOURCE,
        ResourceHandler,
        TaskChecker,
        TaskDefinition,
        TaskRequest,
        base_resource,
        integration_of,
    )
    from statemachine.resources.mock import MockError, MockResource
    from statemachine.resources.python import TaskContext
    from statemachine.resources.registry import ResourceRegistry, coerce_registry

#: where each public name lives, imported at its first use: importing a submodule
#: (``statemachine.resources.threads`` for any run) does not load the registry and every
#: built-in handler with it (~40 ms of imports a machine without Task states never uses)
_HOMES = {
    **dict.fromkeys(("ENTRY_POINT_GROUP", "HTTP_INVOKE_RESOURCE", "LAMBDA_INVOKE_RESOURCE",
                     "SHELL_RESOURCE", "ResourceHandler", "TaskChecker", "TaskDefinition",
                     "TaskRequest", "base_resource", "integration_of"), "base"),
    "MockError": "mock", "MockResource": "mock", "TaskContext": "python",
    "ResourceRegistry": "registry", "coerce_registry": "registry",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'statemachine.resources' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"statemachine.resources.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ENTRY_POINT_GROUP",
    "HTTP_INVOKE_RESOURCE",
    "LAMBDA_INVOKE_RESOURCE",
    "SHELL_RESOURCE",
    "MockError",
    "MockResource",
    "ResourceHandler",
    "ResourceRegistry",
    "TaskChecker",
    "TaskContext",
    "TaskDefinition",
    "TaskRequest",
    "base_resource",
    "coerce_registry",
    "integration_of",
]
