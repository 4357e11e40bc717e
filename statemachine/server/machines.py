"""Server stage, state machine operations: Create/Describe/Update/Delete/ListStateMachines,
ListStateMachineVersions, DescribeStateMachineForExecution, ValidateStateMachineDefinition.

In: ``Backend`` and the request's ``Params``. Out: AWS's response objects (dates as epoch
seconds); AwsError with AWS's codes (StateMachineDoesNotExist, StateMachineAlreadyExists,
StateMachineDeleting, InvalidDefinition, InvalidName, InvalidArn, InvalidLoggingConfiguration,
MissingRequiredParameter, ValidationException, ExecutionDoesNotExist).

A machine's definition versions live in the durable store's ``machines`` table (a new
definition text is a new row); its AWS metadata (role, logging, the current definition,
deletion) in the catalog's ``api_machines``; ``publish`` adds a numbered version
(``<machine arn>:<n>``). Machines started from files with ``sm start`` are listed too.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from typing import Any, Final

from statemachine.durable.catalog import ApiMachine, VersionRecord
from statemachine.server.backend import MAX_DEFINITION, Backend, epoch, parse_arn
from statemachine.server.paging import page
from statemachine.server.params import Params, check_name
from statemachine.server.protocol import AwsError
from statemachine.values import parse_json

__all__ = ["OPERATIONS", "Resolved", "machine_arn", "resolve_machine"]

_TYPES: Final = ("STANDARD", "EXPRESS")
_LEVELS: Final = ("ALL", "ERROR", "FATAL", "OFF")
_DEFAULT_LOGGING: Final = {"level": "OFF", "includeExecutionData": False}
_DEFAULT_TRACING: Final = {"enabled": False}


def machine_arn(name: str) -> str:
    """The ARN of the machine called ``name`` (the server's region and account)."""
    from statemachine.api import ACCOUNT, REGION

    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


def _now() -> datetime:
    return datetime.now(UTC)


def not_found(arn: str) -> AwsError:
    return AwsError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")


@dataclasses.dataclass(frozen=True, slots=True)
class Resolved:
    """A machine ARN looked up: the unqualified ARN, the definition version it names (the
    current one, or a published version's), its metadata row and version record."""

    arn: str
    record: Any               # MachineRecord
    meta: ApiMachine | None
    version: VersionRecord | None = None

    @property
    def role_arn(self) -> str:
        from statemachine.api import ROLE_ARN

        if self.version is not None:
            return self.version.role_arn
        return self.meta.role_arn if self.meta is not None else ROLE_ARN


def resolve_machine(backend: Backend, arn: str) -> Resolved:
    """The machine (or published version) ``arn`` names. Raises InvalidArn,
    StateMachineDoesNotExist (unknown, deleted, an unknown version or an alias)."""
    parts = parse_arn(arn, "stateMachine")
    if len(parts) > 2:
        raise AwsError("InvalidArn", f"Invalid Arn: '{arn}'")
    base = arn if len(parts) == 1 else arn.rsplit(":", 1)[0]
    meta = backend.catalog.api_machine(base)
    if meta is not None and meta.deleted is not None:
        raise not_found(arn)
    if len(parts) == 2:
        number = parts[1]
        found = next((v for v in backend.catalog.machine_versions(base)
                      if number.isdigit() and v.number == int(number)), None)
        record = backend.machine_record(base, found.version) if found is not None else None
        if found is None or record is None:
            raise not_found(arn)
        return Resolved(base, record, meta, found)
    record = backend.machine_record(base, meta.current if meta is not None else None)
    if record is None:
        raise not_found(arn)
    return Resolved(base, record, meta)


def _logging(p: Params) -> str | None:
    value = p.mapping("loggingConfiguration")
    if value is None:
        return None
    level = value.get("level", "OFF")
    if level not in _LEVELS:
        raise AwsError("InvalidLoggingConfiguration",
                       f"Invalid Logging Configuration: level must be one of {', '.join(_LEVELS)}")
    if level != "OFF" and not value.get("destinations"):
        raise AwsError("InvalidLoggingConfiguration", "Invalid Logging Configuration: Must "
                       "specify exactly one Log Destination when level is not OFF")
    return json.dumps({**_DEFAULT_LOGGING, **value}, separators=(",", ":"), sort_keys=True)


def _tracing(p: Params) -> str | None:
    value = p.mapping("tracingConfiguration")
    if value is None:
        return None
    if not isinstance(value.get("enabled", False), bool):
        raise AwsError("SerializationException", "'tracingConfiguration.enabled' must be a boolean")
    return json.dumps({**_DEFAULT_TRACING, **value}, separators=(",", ":"), sort_keys=True)


def tag_list(p: Params) -> dict[str, str]:
    """``tags: [{"key", "value"}]`` as a dict (AWS: keys 1-128, values 0-256 characters)."""
    out: dict[str, str] = {}
    for item in p.items("tags") or []:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise AwsError("SerializationException", "each tag must be {\"key\": ..., \"value\": ...}")
        key, value = item["key"], item.get("value", "")
        if not isinstance(value, str):
            raise AwsError("SerializationException", "a tag's value must be a string")
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise AwsError("ValidationException", "1 validation error detected: a tag's key must "
                           "have 1-128 characters and its value at most 256")
        out[key] = value
    if len(out) > 50:
        raise AwsError("TooManyTags", "Too many tags: at most 50 per resource")
    return out


def _definition(p: Params) -> str:
    return p.required_text("definition", max_len=MAX_DEFINITION)


#: An IAM role's ARN: ``arn:<partition>:iam::<account>:role/<path/name>``.
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/\S+$")


def _role(arn: str) -> str:
    """``arn`` when it is an IAM role's ARN; AWS's InvalidArn otherwise."""
    if not _ROLE_ARN.match(arn):
        raise AwsError("InvalidArn", f"Invalid Role Arn: '{arn}'")
    return arn


def create_state_machine(backend: Backend, p: Params) -> dict[str, Any]:
    name = check_name(p.required_text("name", max_len=80))
    definition = _definition(p)
    role = _role(p.required_text("roleArn", max_len=256))
    machine_type = p.choice("type", _TYPES, default="STANDARD") or "STANDARD"
    logging, tracing = _logging(p), _tracing(p)
    publish = bool(p.flag("publish"))
    description = p.text("versionDescription", max_len=256)
    if description is not None and not publish:
        raise AwsError("ValidationException", "Version description can only be set when "
                       "publish is true")
    tags = tag_list(p)
    machine = backend.build(definition, name, machine_type)
    arn = machine_arn(name)
    now = _now()
    meta = backend.catalog.api_machine(arn)
    existing = backend.store.machine(arn, meta.current if meta is not None else None)
    if existing is not None and (meta is None or meta.deleted is None):
        same = (existing.definition == definition and existing.type == machine_type
                and (meta is None or (_effective(meta.logging, _DEFAULT_LOGGING),
                                      _effective(meta.tracing, _DEFAULT_TRACING))
                     == (_effective(logging, _DEFAULT_LOGGING),
                         _effective(tracing, _DEFAULT_TRACING))))
        if not same:
            raise AwsError("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
        out: dict[str, Any] = {"stateMachineArn": arn,
                               "creationDate": epoch(meta.created if meta else existing.created)}
        if publish:
            out["stateMachineVersionArn"] = _publish(backend, arn, existing.version, now, role,
                                                     description)
        return out
    record = backend.store.put_machine(arn, name, definition, type=machine.type, now=now)
    backend.catalog.put_api_machine(ApiMachine(arn=arn, role_arn=role, current=record.version,
                                               created=now, logging=logging, tracing=tracing))
    backend.catalog.tag(arn, tags)
    out = {"stateMachineArn": arn, "creationDate": epoch(now)}
    if publish:
        out["stateMachineVersionArn"] = _publish(backend, arn, record.version, now, role,
                                                 description)
    return out


def _publish(backend: Backend, arn: str, version: str, now: datetime, role: str,
             description: str | None) -> str:
    """Publish ``version`` unless the newest published version already is it (AWS answers
    with that version's ARN then)."""
    versions = backend.catalog.machine_versions(arn)
    if versions and versions[0].version == version and versions[0].role_arn == role and (
            description is None or versions[0].description == description):
        return versions[0].arn
    return backend.catalog.publish_version(arn, version, now=now, role_arn=role,
                                           description=description).arn


def _effective(text: str | None, default: dict[str, Any]) -> dict[str, Any]:
    return {**default, **(json.loads(text) if text else {})}


def _configuration(text: str | None, default: dict[str, Any]) -> dict[str, Any]:
    return dict(default) if text is None else {**default, **json.loads(text)}


def describe_state_machine(backend: Backend, p: Params) -> dict[str, Any]:
    arn = p.required_text("stateMachineArn", max_len=2048)
    found = resolve_machine(backend, arn)
    record, meta = found.record, found.meta
    out: dict[str, Any] = {
        "stateMachineArn": arn if found.version is not None else found.arn,
        "name": record.name, "status": "ACTIVE", "definition": record.definition,
        "roleArn": found.role_arn, "type": record.type,
        "creationDate": epoch(found.version.created if found.version is not None
                              else meta.created if meta is not None else record.created),
        "loggingConfiguration": _configuration(meta.logging if meta else None, _DEFAULT_LOGGING),
        "tracingConfiguration": _configuration(meta.tracing if meta else None, _DEFAULT_TRACING),
        "revisionId": record.version}
    if found.version is not None and found.version.description is not None:
        out["description"] = found.version.description
    return out


def update_state_machine(backend: Backend, p: Params) -> dict[str, Any]:
    arn = p.required_text("stateMachineArn", max_len=2048)
    if len(parse_arn(arn, "stateMachine")) > 1:
        raise AwsError("ValidationException", "Only an unqualified state machine ARN can be "
                       f"updated: '{arn}'")
    definition = p.text("definition", max_len=MAX_DEFINITION)
    role = p.text("roleArn", max_len=256)
    if role is not None:
        _role(role)
    logging, tracing = _logging(p), _tracing(p)
    publish = bool(p.flag("publish"))
    description = p.text("versionDescription", max_len=256)
    if description is not None and not publish:
        raise AwsError("ValidationException", "Version description can only be set when "
                       "publish is true")
    if definition is None and role is None and logging is None and tracing is None and not publish:
        raise AwsError("MissingRequiredParameter", "Either the definition, the roleArn, the "
                       "loggingConfiguration or the tracingConfiguration must be specified")
    found = resolve_machine(backend, arn)
    now = _now()
    record = found.record
    if definition is not None:
        backend.build(definition, record.name, record.type)
        record = backend.store.put_machine(found.arn, record.name, definition, type=record.type,
                                           now=now)
    meta = found.meta or ApiMachine(arn=found.arn, role_arn=found.role_arn,
                                    current=record.version, created=found.record.created)
    meta = dataclasses.replace(meta, current=record.version, updated=now,
                               role_arn=role if role is not None else meta.role_arn,
                               logging=logging if logging is not None else meta.logging,
                               tracing=tracing if tracing is not None else meta.tracing)
    backend.catalog.put_api_machine(meta)
    out: dict[str, Any] = {"updateDate": epoch(now), "revisionId": record.version}
    if publish:
        out["stateMachineVersionArn"] = _publish(backend, found.arn, record.version, now,
                                                 meta.role_arn, description)
    return out


def delete_state_machine(backend: Backend, p: Params) -> dict[str, Any]:
    arn = p.required_text("stateMachineArn", max_len=2048)
    if len(parse_arn(arn, "stateMachine")) > 1:
        raise AwsError("ValidationException", "Use DeleteStateMachineVersion to delete a "
                       f"version: '{arn}'")
    try:
        found = resolve_machine(backend, arn)
    except AwsError as error:
        if error.code == "StateMachineDoesNotExist":
            return {}  # AWS: deleting a machine that does not exist succeeds
        raise
    meta = found.meta or ApiMachine(arn=found.arn, role_arn=found.role_arn,
                                    current=found.record.version, created=found.record.created)
    backend.catalog.put_api_machine(dataclasses.replace(meta, deleted=_now()))
    backend.catalog.delete_versions(found.arn)
    backend.catalog.untag(found.arn, list(backend.catalog.tags(found.arn)))
    return {}


def list_state_machines(backend: Backend, p: Params) -> dict[str, Any]:
    items = []
    for record in backend.store.machines():
        meta = backend.catalog.api_machine(record.arn)
        if meta is not None and meta.deleted is not None:
            continue
        created = meta.created if meta is not None else record.created
        items.append({"stateMachineArn": record.arn, "name": record.name, "type": record.type,
                      "creationDate": epoch(created)})
    return page(items, p, "stateMachines", "ListStateMachines")


def list_state_machine_versions(backend: Backend, p: Params) -> dict[str, Any]:
    arn = p.required_text("stateMachineArn", max_len=2048)
    if len(parse_arn(arn, "stateMachine")) > 1:
        raise AwsError("ValidationException", f"Expected an unqualified state machine ARN: '{arn}'")
    found = resolve_machine(backend, arn)
    items = [{"stateMachineVersionArn": v.arn, "creationDate": epoch(v.created)}
             for v in backend.catalog.machine_versions(found.arn)]
    return page(items, p, "stateMachineVersions", f"ListStateMachineVersions:{arn}")


def describe_state_machine_for_execution(backend: Backend, p: Params) -> dict[str, Any]:
    arn = p.required_text("executionArn", max_len=2048)
    parse_arn(arn, "execution", "express")
    execution = backend.store.execution(arn)
    if execution is None:
        raise AwsError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
    record = backend.store.machine(execution.machine_arn, execution.machine_version)
    if record is None:
        raise not_found(execution.machine_arn)
    meta = backend.catalog.api_machine(execution.machine_arn)
    from statemachine.api import ROLE_ARN

    out: dict[str, Any] = {
        "stateMachineArn": record.arn, "name": record.name, "definition": record.definition,
        "roleArn": meta.role_arn if meta is not None else ROLE_ARN,
        "updateDate": epoch(record.created),
        "loggingConfiguration": _configuration(meta.logging if meta else None, _DEFAULT_LOGGING),
        "tracingConfiguration": _configuration(meta.tracing if meta else None, _DEFAULT_TRACING),
        "revisionId": record.version}
    if execution.map_run_arn is not None:
        out["mapRunArn"] = execution.map_run_arn
    return out


def validate_state_machine_definition(backend: Backend, p: Params) -> dict[str, Any]:
    """ValidateStateMachineDefinition: ``result`` OK or FAIL and the validator's diagnostics
    (ERROR and WARNING, each with AWS's ``code``, ``message`` and ``location``)."""
    from statemachine.loader import load_source
    from statemachine.validation import validate

    definition = _definition(p)
    machine_type = p.choice("type", _TYPES, default="STANDARD") or "STANDARD"
    severity = p.choice("severity", ("ERROR", "WARNING"), default="ERROR")
    limit = p.integer("maxResults", low=0, high=100) or 100
    try:  # what CreateStateMachine refuses first: not JSON (YAML, a lone surrogate...)
        parse_json(definition, "definition")
    except ValueError as error:
        return {"result": "FAIL", "truncated": False, "diagnostics": [{
            "severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": str(error)}]}
    try:
        doc = load_source(definition.encode("utf-8"), name="definition")
        found = validate(doc, machine_type="EXPRESS" if machine_type == "EXPRESS" else "STANDARD")
    except Exception as error:  # DefinitionError: not JSON, too deep...
        diagnostics = getattr(error, "diagnostics", None)
        if diagnostics is None:
            raise
        found = list(diagnostics)
    wanted = [d for d in found if d.severity == "error" or severity == "WARNING"]
    items = [{"severity": d.severity.upper(), "code": d.code.upper().replace("-", "_"),
              "message": d.message, **({"location": d.pointer} if d.pointer else {})}
             for d in wanted]
    failed = any(d.severity == "error" for d in found)
    if not failed:  # AWS: OK means CreateStateMachine accepts it, so the server's policy too
        refused = _refused_resource(backend, definition, machine_type)
        if refused is not None:
            failed = True
            items.insert(0, {"severity": "ERROR", "code": "INVALID_RESOURCE", "message": refused})
    return {"result": "FAIL" if failed else "OK", "diagnostics": items[:limit],
            "truncated": len(items) > limit}


def _refused_resource(backend: Backend, definition: str, machine_type: str) -> str | None:
    """Why CreateStateMachine would refuse a valid definition's Task resources (not in the
    resource map, not allowed by the server's policy), or None."""
    from statemachine.api import load
    from statemachine.errors import DefinitionError, ResourceNotFoundError

    try:
        load(definition.encode("utf-8"), name="definition", resources=backend.registry(),
             machine_type="EXPRESS" if machine_type == "EXPRESS" else "STANDARD")
    except (ResourceNotFoundError, DefinitionError) as error:
        return str(error)
    return None


OPERATIONS = {
    "CreateStateMachine": create_state_machine,
    "DescribeStateMachine": describe_state_machine,
    "UpdateStateMachine": update_state_machine,
    "DeleteStateMachine": delete_state_machine,
    "ListStateMachines": list_state_machines,
    "ListStateMachineVersions": list_state_machine_versions,
    "DescribeStateMachineForExecution": describe_state_machine_for_execution,
    "ValidateStateMachineDefinition": validate_state_machine_definition,
}
