"""Server stage, tag operations: TagResource, UntagResource, ListTagsForResource on state
machines and activities.

In: ``Backend`` and the request's ``Params``. Out: AWS's response objects; AwsError with
AWS's codes (ResourceNotFound, InvalidArn, TooManyTags, ValidationException).
"""

from __future__ import annotations

from typing import Any

from statemachine.server.backend import Backend, parse_arn
from statemachine.server.machines import resolve_machine, tag_list
from statemachine.server.params import Params
from statemachine.server.protocol import AwsError

__all__ = ["OPERATIONS"]


def _resource(backend: Backend, p: Params) -> str:
    """The tagged resource's ARN, checked to exist (ResourceNotFound otherwise)."""
    arn = p.required_text("resourceArn", max_len=2048)
    parse_arn(arn, "stateMachine", "activity")
    kind = arn.split(":")[5]
    missing = AwsError("ResourceNotFound", f"Resource not found: '{arn}'")
    if kind == "activity":
        if backend.catalog.activity(arn) is None:
            raise missing
        return arn
    try:
        found = resolve_machine(backend, arn)
    except AwsError as error:
        if error.code == "StateMachineDoesNotExist":
            raise missing from None
        raise
    if found.version is not None:
        raise AwsError("ValidationException", f"Versions cannot be tagged: '{arn}'")
    return found.arn


def tag_resource(backend: Backend, p: Params) -> dict[str, Any]:
    arn = _resource(backend, p)
    tags = tag_list(p)
    if len({**backend.catalog.tags(arn), **tags}) > 50:
        raise AwsError("TooManyTags", f"Too many tags: at most 50 per resource: '{arn}'")
    backend.catalog.tag(arn, tags)
    return {}


def untag_resource(backend: Backend, p: Params) -> dict[str, Any]:
    arn = _resource(backend, p)
    keys = p.items("tagKeys", required=True) or []
    if not all(isinstance(key, str) for key in keys):
        raise AwsError("SerializationException", "'tagKeys' must be an array of strings")
    backend.catalog.untag(arn, keys)
    return {}


def list_tags_for_resource(backend: Backend, p: Params) -> dict[str, Any]:
    arn = _resource(backend, p)
    return {"tags": [{"key": k, "value": v} for k, v in backend.catalog.tags(arn).items()]}


OPERATIONS = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
