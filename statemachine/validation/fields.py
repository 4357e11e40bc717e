"""Stage 2, validation (field rules): combinations of fields the schema cannot express.
In: a walked ``Machine``. Out: Diagnostics. Fields that exclude each other (Seconds vs
SecondsPath ...), fields of the other query language, QueryLanguage downgrades, States.ALL
placement, misspelt predefined error names, Wait timestamps, Choice rule shape, resource ARNs
and Express restrictions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from statemachine import errors
from statemachine.errors import Diagnostic
from statemachine.expressions.timestamps import INVALID_TIMESTAMP, is_timestamp
from statemachine.validation.walk import JSONATA, JSONPATH, Machine, StateRef, finding

__all__ = ["FIELD_RULES", "is_jsonata", "is_timestamp"]

#: Groups of fields of which at most one may appear (ASL spec, per state type).
_EXCLUSIVE: tuple[tuple[str, ...], ...] = (
    ("Seconds", "SecondsPath", "Timestamp", "TimestampPath"),
    ("TimeoutSeconds", "TimeoutSecondsPath"),
    ("HeartbeatSeconds", "HeartbeatSecondsPath"),
    ("Error", "ErrorPath"),
    ("Cause", "CausePath"),
    ("MaxConcurrency", "MaxConcurrencyPath"),
    ("ToleratedFailurePercentage", "ToleratedFailurePercentagePath"),
    ("ToleratedFailureCount", "ToleratedFailureCountPath"),
    ("ItemProcessor", "Iterator"),
    ("ItemSelector", "Parameters"),
    ("Parameters", "Arguments"),
)
#: Fields that only mean something under JSONPath, and only under JSONata.
_JSONPATH_ONLY = frozenset({
    "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "ItemsPath",
    "SecondsPath", "TimestampPath", "TimeoutSecondsPath", "HeartbeatSecondsPath", "ErrorPath",
    "CausePath", "MaxConcurrencyPath", "ToleratedFailurePercentagePath", "ToleratedFailureCountPath",
})
_JSONATA_ONLY = frozenset({"Arguments", "Output", "Items"})
#: Fields whose value may be a "{% %}" expression under JSONata but must be literal under JSONPath.
_JSONATA_VALUED = ("TimeoutSeconds", "HeartbeatSeconds", "Seconds", "MaxConcurrency",
                   "ToleratedFailurePercentage", "ToleratedFailureCount")
_CHOICE_JSONPATH_ONLY = frozenset({"Variable", "And", "Or", "Not"})
_JSONATA = re.compile(r"\A\{%[\s\S]*%\}\Z")


def is_jsonata(value: object) -> bool:
    """Is ``value`` a JSONata expression string ``{% ... %}``?"""
    return isinstance(value, str) and _JSONATA.match(value) is not None


_EXCLUSIVE_FIELDS = frozenset(field for group in _EXCLUSIVE for field in group)


def exclusive_fields(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        if len(_EXCLUSIVE_FIELDS.intersection(state.body)) < 2:
            continue  # the common case: no group can have two members
        for group in _EXCLUSIVE:
            present = [field for field in group if field in state.body]
            if len(present) > 1:
                names = " and ".join(f"'{f}'" for f in present)
                yield finding("exclusive-fields", f"{names} exclude each other: use only one", state.at(present[1]), state.name)


def missing_wait_time(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        if state.type == "Wait" and not any(f in state.body for f in _EXCLUSIVE[0]):
            message = "a Wait state needs one of 'Seconds', 'SecondsPath', 'Timestamp' or 'TimestampPath'"
            yield finding("missing-wait-time", message, state.pointer, state.name)


def missing_item_processor(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        if state.type == "Map" and "ItemProcessor" not in state.body and "Iterator" not in state.body:
            yield finding("missing-item-processor", "a Map state needs 'ItemProcessor' (the states to run for each item)", state.pointer, state.name)


def distributed_only_field(machine: Machine) -> Iterator[Diagnostic]:
    """ASL: ItemReader and ResultWriter belong to Distributed Maps (S3 in, S3 out)."""
    for state in machine.states:
        if state.type != "Map":
            continue
        processor = state.body.get("ItemProcessor")
        config = processor.get("ProcessorConfig") if isinstance(processor, Mapping) else None
        mode = config.get("Mode") if isinstance(config, Mapping) else None
        if mode == "DISTRIBUTED":
            continue
        for field in ("ItemReader", "ResultWriter"):
            if field in state.body:
                message = (f"'{field}' needs a Distributed Map: set ItemProcessor.ProcessorConfig "
                           "to {\"Mode\": \"DISTRIBUTED\", \"ExecutionType\": \"STANDARD\"}")
                yield finding("distributed-only-field", message, state.at(field), state.name)


def heartbeat_not_below_timeout(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        heartbeat, timeout = state.body.get("HeartbeatSeconds"), state.body.get("TimeoutSeconds")
        if isinstance(heartbeat, int) and isinstance(timeout, int) and heartbeat >= timeout:
            message = f"HeartbeatSeconds ({heartbeat}) must be smaller than TimeoutSeconds ({timeout})"
            yield finding("heartbeat-not-below-timeout", message, state.at("HeartbeatSeconds"), state.name)


def field_of_other_language(machine: Machine) -> Iterator[Diagnostic]:
    """ASL: JSONPath fields are rejected in JSONata states and the other way round."""
    for state in machine.states:
        other = _JSONPATH_ONLY if state.language == JSONATA else _JSONATA_ONLY
        for field in state.body:
            if field in other:
                yield _language_finding(state, field, state.at(field))
        if state.language == JSONPATH:
            for field in _JSONATA_VALUED:
                if is_jsonata(state.body.get(field)):
                    yield _language_finding(state, field, state.at(field), expression=True)
        yield from _catch_language(state)


def _catch_language(state: StateRef) -> Iterator[Diagnostic]:
    catchers = state.body.get("Catch")
    if not isinstance(catchers, list):
        return
    field = "ResultPath" if state.language == JSONATA else "Output"
    for index, catcher in enumerate(catchers):
        if isinstance(catcher, Mapping) and field in catcher:
            yield _language_finding(state, field, state.at("Catch", index, field))


def _language_finding(state: StateRef, field: str, pointer: str, *, expression: bool = False) -> Diagnostic:
    if expression:
        message = f"'{field}' is a JSONata expression, but this state uses JSONPath (set \"QueryLanguage\": \"JSONata\")"
        return finding("jsonata-in-jsonpath-state", message, pointer, state.name)
    if state.language == JSONATA:
        message = f"'{field}' is a JSONPath field and this state uses JSONata (use Arguments, Output, Assign or Items)"
        return finding("jsonpath-field-in-jsonata", message, pointer, state.name)
    message = f"'{field}' is a JSONata field and this state uses JSONPath (set \"QueryLanguage\": \"JSONata\")"
    return finding("jsonata-field-in-jsonpath", message, pointer, state.name)


def query_language_downgrade(machine: Machine) -> Iterator[Diagnostic]:
    """AWS: a JSONata machine cannot have JSONPath states (the reverse is allowed)."""
    if machine.language != JSONATA:
        return
    for state in machine.states:
        if state.body.get("QueryLanguage") == JSONPATH:
            message = "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine"
            yield finding("query-language-downgrade", message, state.at("QueryLanguage"), state.name)


def states_all_not_last(machine: Machine) -> Iterator[Diagnostic]:
    """ASL: States.ALL must be alone in its ErrorEquals and in the last Retrier/Catcher."""
    for state in machine.states:
        for field in ("Retry", "Catch"):
            items = state.body.get(field)
            if isinstance(items, list):
                yield from _states_all(state, field, items)


def _states_all(state: StateRef, field: str, items: list[object]) -> Iterator[Diagnostic]:
    for index, item in enumerate(items):
        names = item.get("ErrorEquals") if isinstance(item, Mapping) else None
        if not isinstance(names, list) or "States.ALL" not in names:
            continue
        pointer = state.at(field, index, "ErrorEquals")
        if len(names) > 1:
            yield finding("states-all-not-alone", "'States.ALL' must be the only error name in its ErrorEquals", pointer, state.name)
        if index != len(items) - 1:
            kind = "Retrier" if field == "Retry" else "Catcher"
            yield finding("states-all-not-alone", f"a {kind} with 'States.ALL' must be the last one in {field}", pointer, state.name)


#: The errors Step Functions raises (AWS, "Error handling in Step Functions"): the "States."
#: prefix is reserved for them, so any other "States.X" in ErrorEquals never matches.
PREDEFINED_ERRORS: frozenset[str] = frozenset({
    errors.ALL, errors.HEARTBEAT_TIMEOUT, errors.TIMEOUT, errors.TASK_FAILED, errors.PERMISSIONS,
    errors.RESULT_PATH_MATCH_FAILURE, errors.PARAMETER_PATH_FAILURE, errors.BRANCH_FAILED,
    errors.NO_CHOICE_MATCHED, errors.INTRINSIC_FAILURE, errors.EXCEED_TOLERATED_FAILURE_THRESHOLD,
    errors.ITEM_READER_FAILED, errors.RESULT_WRITER_FAILED, errors.RUNTIME, errors.DATA_LIMIT_EXCEEDED,
    errors.QUERY_EVALUATION_ERROR,
})


def unknown_error_name(machine: Machine) -> Iterator[Diagnostic]:
    """A warning for a "States." name in ErrorEquals that Step Functions never raises
    (``States.Timout``): the Retrier or Catcher silently does nothing. The HTTP Task's
    ``States.Http.*`` names are left alone."""
    from statemachine.validation.schema import closest

    for state in machine.states:
        for field in ("Retry", "Catch"):
            items = state.body.get(field)
            for index, item in enumerate(items if isinstance(items, list) else []):
                names = item.get("ErrorEquals") if isinstance(item, Mapping) else None
                for position, name in enumerate(names if isinstance(names, list) else []):
                    if (not isinstance(name, str) or not name.startswith("States.") or name in PREDEFINED_ERRORS
                            or name.startswith("States.Http.")):
                        continue
                    hint = closest(name, sorted(PREDEFINED_ERRORS))
                    message = (f"'{name}' is not an error Step Functions raises, so it never matches"
                               + (f" (did you mean '{hint}'?)" if hint else ""))
                    pointer = state.at(field, index, "ErrorEquals", position)
                    yield finding("unknown-error-name", message, pointer, state.name, warning=True)


def invalid_timestamp(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        value = state.body.get("Timestamp")
        if state.type != "Wait" or not isinstance(value, str):
            continue
        if state.language == JSONATA and is_jsonata(value):
            continue
        if not is_timestamp(value):
            message = (f"{INVALID_TIMESTAMP}: Timestamp {value!r} is not an RFC 3339 timestamp such as "
                       "2016-03-14T01:59:00Z (upper-case T and Z, a real date, seconds 00-59)")
            yield finding("invalid-timestamp", message, state.at("Timestamp"), state.name)


FIELD_RULES = {
    "exclusive-fields": exclusive_fields,
    "missing-wait-time": missing_wait_time,
    "missing-item-processor": missing_item_processor,
    "distributed-only-field": distributed_only_field,
    "heartbeat-not-below-timeout": heartbeat_not_below_timeout,
    "field-of-other-language": field_of_other_language,
    "query-language-downgrade": query_language_downgrade,
    "states-all-not-alone": states_all_not_last,
    "unknown-error-name": unknown_error_name,
    "invalid-timestamp": invalid_timestamp,
}
