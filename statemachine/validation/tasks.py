"""Stage 2, validation (Task resources): ARNs of optimized service integrations AWS knows,
and what Express machines cannot run. In: a walked ``Machine``. Out: Diagnostics.

Resources that are not ``arn:aws:states:::`` integrations (Lambda ARNs, activities, local
resource names of this package's registry) are left to the resource registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from statemachine.errors import Diagnostic
from statemachine.validation.walk import Machine, StateRef, finding

__all__ = ["TASK_RULES"]

#: Optimized integrations whose actions AWS lists (service -> actions). A service missing
#: here is not judged; ``aws-sdk:*`` integrations take any action.
_INTEGRATIONS: dict[str, frozenset[str]] = {
    "lambda": frozenset({"invoke"}),
    "dynamodb": frozenset({"getItem", "putItem", "updateItem", "deleteItem"}),
    "sns": frozenset({"publish"}),
    "sqs": frozenset({"sendMessage"}),
    "states": frozenset({"startExecution"}),
    "events": frozenset({"putEvents"}),
    "batch": frozenset({"submitJob"}),
    "ecs": frozenset({"runTask"}),
    "glue": frozenset({"startJobRun"}),
    "athena": frozenset({"startQueryExecution", "stopQueryExecution", "getQueryExecution", "getQueryResults"}),
    "apigateway": frozenset({"invoke"}),
    "http": frozenset({"invoke"}),
}
_INTEGRATION = re.compile(r"\Aarn:(?P<partition>[\w-]+):states:::(?P<service>[\w-]+):(?P<action>[A-Za-z0-9]+)(?P<pattern>\.sync(?::2)?|\.waitForTaskToken)?\Z")
_ACTIVITY = re.compile(r"\Aarn:[\w-]+:states:[\w-]+:\d+:activity:")


def _tasks(machine: Machine) -> Iterator[tuple[StateRef, str]]:
    for state in machine.states:
        resource = state.body.get("Resource")
        if state.type == "Task" and isinstance(resource, str):
            yield state, resource


def unknown_integration(machine: Machine) -> Iterator[Diagnostic]:
    for state, resource in _tasks(machine):
        if not resource.startswith("arn:") or ":states:::" not in resource or ":states:::aws-sdk:" in resource:
            continue
        match = _INTEGRATION.match(resource)
        actions = _INTEGRATIONS.get(match["service"]) if match else None
        if match is None or (actions is not None and match["action"] not in actions):
            message = (
                f"the resource {resource} is not recognized: it is not a valid service integration ARN"
                + (f" (known {match['service']} actions: {', '.join(sorted(actions))})" if match and actions else "")
            )
            yield finding("unknown-integration", message, state.at("Resource"), state.name)


def express_unsupported(machine: Machine) -> Iterator[Diagnostic]:
    """AWS: Express machines run no activities and no .sync / .waitForTaskToken integrations."""
    if machine.machine_type != "EXPRESS":
        return
    for state, resource in _tasks(machine):
        problem = None
        if _ACTIVITY.match(resource):
            problem = "Express state machines do not support Activity ARNs"
        elif resource.endswith(".waitForTaskToken"):
            problem = "Express state machines do not support the '.waitForTaskToken' service integration pattern"
        elif re.search(r"\.sync(:2)?\Z", resource):
            problem = "Express state machines do not support the '.sync' service integration pattern"
        if problem is not None:
            yield finding("express-unsupported", problem, state.at("Resource"), state.name)


TASK_RULES = {
    "unknown-integration": unknown_integration,
    "express-unsupported": express_unsupported,
}
