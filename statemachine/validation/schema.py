"""Stage 2, validation (structure): the JSON Schemas in ``schemas/`` (draft 2020-12) applied
to a definition. In: the definition dict. Out: Diagnostics, one per problem, in the words a
person needs ("the field 'RoleArn' is required"), never a dump of every anyOf branch.

The schemas ship inside the package (``statemachine.schemas``); the validators are compiled
once per process and are immutable, so caching them at module level is safe.

Speed (issue 10): jsonschema, the reference validator whose errors become the diagnostics, costs
about 0.7 ms per state. A compiled validator (jsonschema-rs, the same draft 2020-12 schemas)
first says whether the definition is valid at all (20,000 states in ~50 ms); only when it is
not does jsonschema run, and then on the root object (``States`` left out) and on each
top-level state that jsonschema-rs rejects, each state against ``states.json#/$defs/state``
with its pointer prefixed. That yields the very errors, in the same order, that one jsonschema
pass over the whole document gives (``full_schema_diagnostics``, the reference that
tests/unit/test_validation_schema.py compares it with). Without jsonschema-rs (no wheel for
the platform) the whole-document jsonschema pass is used.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from statemachine.errors import Diagnostic
from statemachine.validation.walk import finding, state_of
from statemachine.values import JSON

__all__ = ["ROOT", "bundled_schema", "full_schema_diagnostics", "schema_diagnostics"]

ROOT = "state-machine.json"
_PARTS = ("common.json", "states.json", "choice.json")
_TYPE_NAMES = {"object": "an object", "array": "an array", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "a boolean", "null": "null"}


@functools.cache
def _schemas() -> dict[str, dict[str, Any]]:
    folder = resources.files("statemachine.schemas")
    return {name: json.loads(folder.joinpath(name).read_text("utf-8")) for name in (ROOT, *_PARTS)}


def bundled_schema() -> dict[str, JSON]:
    """One self-contained schema (draft 2020-12 compound document) for editors and ``sm schema``.

    The root is ``state-machine.json``; the other files are embedded under ``$defs`` with
    their own ``$id``, so the relative ``$ref``s resolve inside the bundle.
    """
    schemas = copy.deepcopy(_schemas())
    root = schemas[ROOT]
    root["$defs"] = {name.removesuffix(".json"): schemas[name] for name in _PARTS}
    return root


STATE_REF = "https://statemachine-asl.dev/schemas/states.json#/$defs/state"


@functools.cache
def _python_validators() -> tuple[Any, Any, Any]:
    """jsonschema validators: (whole document, root without States, one state)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = _schemas()
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    root = schemas[ROOT]
    # The same root with States accepted as is: states are checked one by one.
    shallow = {**root, "properties": {**root["properties"], "States": True}}
    return (Draft202012Validator(root, registry=registry), Draft202012Validator(shallow, registry=registry),
            Draft202012Validator({"$ref": STATE_REF}, registry=registry))


@functools.cache
def _compiled_validators() -> tuple[Any, Any] | None:
    """jsonschema-rs validators (whole document, one state), or None when it is not installed."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - a platform without a wheel: jsonschema alone
        return None
    schemas = _schemas()
    registry = jsonschema_rs.Registry([(schema["$id"], schema) for schema in schemas.values()])
    make = jsonschema_rs.Draft202012Validator
    return make(schemas[ROOT], registry=registry), make({"$ref": STATE_REF}, registry=registry)


def schema_diagnostics(data: JSON) -> list[Diagnostic]:
    """Every schema violation of ``data``, the most relevant error of each anyOf picked.

    The same list as ``full_schema_diagnostics(data)``, found faster (see the module text).
    """
    compiled = _compiled_validators()
    if compiled is None:
        return full_schema_diagnostics(data)
    whole, one_state = compiled
    if whole.is_valid(data):
        return []
    states = data.get("States") if isinstance(data, Mapping) else None
    if not isinstance(states, Mapping) or not states:
        return full_schema_diagnostics(data)
    _, shallow, state_validator = _python_validators()
    errors: list[tuple[Any, tuple[str, ...]]] = [(error, ()) for error in shallow.iter_errors(data)]
    for name, state in states.items():
        if not one_state.is_valid(state):
            errors += [(error, ("States", name)) for error in state_validator.iter_errors(state)]
    # A whole-document pass yields the root's own errors first, then each root property's in
    # schema order (States among them): put the root's errors around the states' that way.
    order = list(_schemas()[ROOT]["properties"])
    errors.sort(key=lambda item: order.index(item[1][0]) if item[1] else _root_rank(item[0], order))
    return _unique(_diagnostic(_relevant(error), prefix) for error, prefix in errors if not _misspelt(error))


def _root_rank(error: Any, order: list[str]) -> int:
    path = error.absolute_path
    return order.index(path[0]) if path and path[0] in order else -1


def full_schema_diagnostics(data: JSON) -> list[Diagnostic]:
    """``schema_diagnostics`` by one jsonschema pass over the whole document (the reference)."""
    return _unique(_diagnostic(_relevant(error)) for error in _python_validators()[0].iter_errors(data)
                   if not _misspelt(error))


def _unique(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[str, str]] = set()
    result: list[Diagnostic] = []
    for diagnostic in diagnostics:
        if (diagnostic.pointer, diagnostic.message) not in seen:
            seen.add((diagnostic.pointer, diagnostic.message))
            result.append(diagnostic)
    return result


def _relevant(error: Any) -> Any:
    """The error worth showing: for an anyOf/oneOf failure the best branch's error (like
    ``jsonschema.exceptions.best_match``), unless the schema says in ``x-expected`` what the
    alternatives are; then the anyOf error itself, worded from it."""
    if error.validator in ("anyOf", "oneOf") and error.context and "x-expected" not in error.schema:
        from jsonschema.exceptions import best_match

        return _relevant(best_match(error.context))
    return error


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _pointer(path: Any) -> str:
    return "".join("/" + str(token).replace("~", "~0").replace("/", "~1") for token in path)


def _diagnostic(error: Any, prefix: tuple[str, ...] = ()) -> Diagnostic:
    path = [*prefix, *error.absolute_path]
    pointer = _pointer(path)
    names = [token for token in path if isinstance(token, str)]
    field = names[-1] if names else "definition"
    code, message = _MESSAGES.get(error.validator, _generic)(error, field)
    if error.validator == "additionalProperties":  # point at the (first) unknown key itself
        allowed = error.schema.get("properties", {})
        pointer = _pointer([*path, next(key for key in error.instance if key not in allowed)])
    return finding(code, message, pointer, state_of(pointer))


def _misspelt(error: Any) -> bool:
    """Is this "required but missing" error only the other face of misspelt fields ('Nxt' for
    'Next')? Then the unknown-field error, whose did-you-mean names each missing field, says
    it alone: one mistake, one line."""
    if error.validator != "required" or not isinstance(error.instance, Mapping):
        return False
    allowed = error.schema.get("properties")
    if not isinstance(allowed, Mapping) or error.schema.get("additionalProperties") is not False:
        return False  # no unknown-field error comes from here to say it instead
    missing = {name for name in error.validator_value if name not in error.instance}
    hinted = {closest(str(key), list(allowed)) for key in error.instance if key not in allowed}
    return bool(missing) and missing <= hinted


def _required(error: Any, field: str) -> tuple[str, str]:
    missing = [name for name in error.validator_value if name not in error.instance]
    names = ", ".join(f"'{name}'" for name in missing)
    where = f" in '{field}'" if field != "definition" else ""
    plural = "fields" if len(missing) > 1 else "field"
    return "missing-field", f"the {plural} {names} {'are' if len(missing) > 1 else 'is'} required but missing{where}"


def _additional(error: Any, field: str) -> tuple[str, str]:
    allowed = error.schema.get("properties", {})
    extra = [key for key in error.instance if key not in allowed]
    names = ", ".join(f"'{name}'" for name in extra)
    where = f"a {error.instance['Type']} state" if isinstance(error.instance.get("Type"), str) and "Type" in allowed else f"'{field}'"
    verb = "fields {} are" if len(extra) > 1 else "field {} is"
    return "unknown-field", f"{verb.format(names)} not supported in {where}{_spelling(extra, allowed, error.instance)}"


def _spelling(extra: list[str], allowed: Mapping[str, Any], instance: Mapping[str, Any]) -> str:
    """' (did you mean 'IntervalSeconds'?)' for misspelt field names (operators included);
    several: ' (did you mean 'A' for 'a', 'B' for 'b'?)'. A field already present is no hint,
    and when the closest field is present there is none ('ItemProcesor' beside 'ItemProcessor'
    is a stray copy, not a misspelt 'ItemBatcher')."""
    hints = [(name, closest(name, list(allowed))) for name in extra]
    found = [(name, match) for name, match in hints if match is not None and match not in instance]
    if not found:
        return ""
    if len(extra) == 1:
        return f" (did you mean '{found[0][1]}'?)"
    return " (did you mean " + ", ".join(f"'{right}' for '{wrong}'" for wrong, right in found) + "?)"


def closest(word: str, candidates: list[str]) -> str | None:
    """The candidate most like ``word``, compared without case (AWS's names mix cases:
    "Succeed", "JSONata", "DISTRIBUTED", "ResultPath", and a value typed in another case is
    the commonest slip), or None when none is close (difflib ratio under 0.6)."""
    folded: dict[str, str] = {}
    for candidate in candidates:
        folded.setdefault(candidate.casefold(), candidate)
    found = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[found[0]] if found else None


def _type(error: Any, field: str) -> tuple[str, str]:
    wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in _as_list(error.validator_value))
    return "wrong-type", f"'{field}' must be {wanted}, not {_describe(error.instance)}"


def _enum(error: Any, field: str) -> tuple[str, str]:
    choices = _as_list(error.validator_value)
    options = ", ".join(json.dumps(v) for v in choices)
    words = [v for v in choices if isinstance(v, str)]
    close = closest(error.instance, words) if isinstance(error.instance, str) else None
    hint = f" (did you mean {json.dumps(close)}?)" if close is not None else ""
    return "invalid-value", f"'{field}' must be one of {options}, not {json.dumps(error.instance)}{hint}"


def _const(error: Any, field: str) -> tuple[str, str]:
    return "invalid-value", f"'{field}' must be {json.dumps(error.validator_value)}, not {json.dumps(error.instance)}"


def _range(error: Any, field: str) -> tuple[str, str]:
    word = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
            "exclusiveMaximum": "less than"}[error.validator]
    return "out-of-range", f"'{field}' must be {word} {error.validator_value}, not {error.instance}"


def _size(error: Any, field: str) -> tuple[str, str]:
    word = "at least" if error.validator.startswith("min") else "at most"
    unit = {"Items": "item", "Length": "character", "Properties": "entry"}[error.validator[3:]]
    return "out-of-range", f"'{field}' must have {word} {error.validator_value} {unit}(s)"


def _pattern(error: Any, field: str) -> tuple[str, str]:
    if error.validator_value.startswith(r"^\{%"):
        return "wrong-type", f"'{field}' must be a JSONata expression '{{% ... %}}' here, not {_describe(error.instance)}"
    return "invalid-value", f"'{field}' contains characters that are not allowed: {json.dumps(error.instance)}"


def _alternatives(error: Any, field: str) -> tuple[str, str]:
    if "x-expected" in error.schema:
        return "wrong-type", f"'{field}' must be {error.schema['x-expected']}, not {_describe(error.instance)}"
    return _generic(error, field)


def _generic(error: Any, field: str) -> tuple[str, str]:
    return "schema-error", f"'{field}': {error.message}"


def _describe(value: JSON) -> str:
    text = json.dumps(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    kind = _TYPE_NAMES["boolean"] if isinstance(value, bool) else _TYPE_NAMES.get(_json_kind(value), "a value")
    return f"{kind} ({text})" if not isinstance(value, (Mapping, list)) else kind


def _json_kind(value: JSON) -> str:
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object", type(None): "null"}.get(type(value), "")


_MESSAGES = {
    "required": _required, "additionalProperties": _additional, "type": _type, "enum": _enum,
    "const": _const, "minimum": _range, "maximum": _range, "exclusiveMinimum": _range,
    "exclusiveMaximum": _range, "minItems": _size, "maxItems": _size, "minLength": _size,
    "maxLength": _size, "minProperties": _size, "pattern": _pattern, "anyOf": _alternatives,
    "oneOf": _alternatives,
}
