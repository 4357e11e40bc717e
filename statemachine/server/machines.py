"""Server stage, state machine operations: CreateStateMachine, DescribeStateMachine,
ListStateMachines (more in later steps).

In: ``Backend`` and the request's ``Params``. Out: AWS's response objects (dates as epoch
seconds); AwsError with AWS's codes (StateMachineDoesNotExist, StateMachineAlreadyExists,
InvalidDefinition, InvalidName, InvalidArn, ValidationException).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from statemachine.server.backend import Backend, epoch, parse_arn
from statemachine.server.params import Params, check_name
from statemachine.server.protocol import AwsError

__all__ = ["OPERATIONS", "machine_arn"]

_TYPES = ("STANDARD", "EXPRESS")


def machine_arn(name: str) -> str:
    from statemachine.api import ACCOUNT, REGION

    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


def _now() -> datetime:
    return datetime.now(UTC)


def _not_found(arn: str) -> AwsError:
    return AwsError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")


def create_state_machine(backend: Backend, p: Params) -> dict[str, Any]:
    name = check_name(p.required_text("name", max_len=80))
    definition = p.required_text("definition", max_len=1024 * 1024 + 1)
    p.required_text("roleArn", max_len=256)
    machine_type = p.choice("type", _TYPES, default="STANDARD")
    assert machine_type is not None
    backend.build(definition, name, machine_type)
    arn = machine_arn(name)
    existing = backend.store.machine(arn)
    if existing is not None and (existing.definition != definition or existing.type != machine_type):
        raise AwsError("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
    record = backend.store.put_machine(arn, name, definition, type=machine_type,  # type: ignore[arg-type]  # checked by p.choice
                                       now=_now())
    return {"stateMachineArn": record.arn, "creationDate": epoch(record.created)}


def describe_state_machine(backend: Backend, p: Params) -> dict[str, Any]:
    from statemachine.api import ROLE_ARN

    arn = p.required_text("stateMachineArn", max_len=2048)
    parse_arn(arn, "stateMachine")
    record = backend.store.machine(arn)
    if record is None:
        raise _not_found(arn)
    return {"stateMachineArn": record.arn, "name": record.name, "status": "ACTIVE",
            "definition": record.definition, "roleArn": ROLE_ARN, "type": record.type,
            "creationDate": epoch(record.created),
            "loggingConfiguration": {"level": "OFF", "includeExecutionData": False},
            "tracingConfiguration": {"enabled": False}, "revisionId": record.version}


def list_state_machines(backend: Backend, p: Params) -> dict[str, Any]:
    records = backend.store.machines()
    return {"stateMachines": [{"stateMachineArn": r.arn, "name": r.name, "type": r.type,
                               "creationDate": epoch(r.created)} for r in records]}


OPERATIONS = {
    "CreateStateMachine": create_state_machine,
    "DescribeStateMachine": describe_state_machine,
    "ListStateMachines": list_state_machines,
}
