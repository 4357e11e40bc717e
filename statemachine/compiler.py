"""Compiler stage: a validated definition (dict or SourceDocument) -> ``CompiledMachine``.

Every path, payload template, intrinsic call, JSONata expression and Choice rule is compiled
here, once, by the parsers in ``statemachine.expressions`` (Choice rules:
expressions/choice.py; timestamps: expressions/timestamps.py). The query language of each
state is decided here and disappears: JSONPath and JSONata states fill the same ``DataFlow``
shape (model.py). Validation compiles with the same functions, so a definition that validates
compiles; ``CompileError`` is what anything else raises here (api.load turns it into a
DefinitionError, never a raw exception).

The compiler imports nothing from ``statemachine.interpreter`` (a test checks it): a
compiled machine is plain, picklable data -- frozen dataclasses, compiled expressions and
predicate objects, no closures or lambdas -- and each nested machine (Parallel branch, Map
processor) keeps its own definition, so any piece can be shipped to another process.

Transitions are triggers (``next``, ``default``, ``choice<i>``, ``catch<i>``); the compiler
builds ``CompiledMachine.table``, ``{state: {trigger: target}}``, directly from the
definition. (``transitions`` was dropped: firing its triggers cost 18.6 us per step, the
table is a dict lookup, and diagrams and graph checks read the definition; see
docs/ARCHITECTURE.md.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from statemachine import model as m
from statemachine.expressions.choice import ChoiceRuleError, compile_choice_rule, compile_condition
from statemachine.expressions.intrinsics import parse_intrinsic
from statemachine.expressions.jsonpath import compile_path, compile_reference_path
from statemachine.expressions.memo import memoized_object
from statemachine.expressions.payload import compile_payload
from statemachine.expressions.timestamps import INVALID_TIMESTAMP, parse_timestamp
from statemachine.loader import SourceDocument, pointer_join
from statemachine.values import JSON, MISSING

if TYPE_CHECKING:
    from statemachine.resources.base import Integration

__all__ = ["CompileError", "compile_machine", "compile_state"]

JSONPATH = "JSONPath"
JSONATA = "JSONata"


class CompileError(ValueError):
    """A definition the compiler cannot compile: ``code`` and ``message`` as for a Diagnostic,
    ``pointer`` relative to the state (``/Choices/0/Variable``)."""

    def __init__(self, code: str, message: str, pointer: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.pointer = pointer


def compile_machine(doc: SourceDocument | Mapping[str, JSON]) -> m.CompiledMachine:
    """Compile a definition (a dict, or a loader.SourceDocument) into a ``CompiledMachine``.

    Assumes the definition passed validation (which compiles every state with
    ``compile_state``); raises CompileError for a state that does not compile.
    """
    data: Mapping[str, JSON] = doc.data if isinstance(doc, SourceDocument) else doc
    language = data.get("QueryLanguage", JSONPATH)
    machine = _machine(data, language)
    return dataclasses.replace(machine, timeout_seconds=data.get("TimeoutSeconds", MISSING),
                               comment=data.get("Comment", MISSING))


def compile_state(name: str, sd: Mapping[str, JSON], language: str) -> m.State:
    """Compile one state (its nested machines included) whose effective QueryLanguage is
    ``language``. Raises CompileError with a pointer relative to the state."""
    return _state(name, sd, language, [])


def _machine(data: Mapping[str, JSON], language: str) -> m.CompiledMachine:
    states_def: Mapping[str, Mapping[str, JSON]] = data["States"]
    edges: list[tuple[str, str, str]] = []
    states = {}
    for name, sd in states_def.items():
        try:  # not _inside(): a context manager per state costs more than the state's pointer
            states[name] = _state(name, sd, language, edges)
        except CompileError as exc:
            raise CompileError(exc.code, exc.message, pointer_join("/States", name) + exc.pointer) from None
    table: dict[str, dict[str, str]] = {name: {} for name in states_def}
    for source, trigger, target in edges:
        table[source][trigger] = target
    return m.CompiledMachine(start_at=data["StartAt"], states=states, table=table,
                             query_language=language, definition=data)


@contextlib.contextmanager
def _inside(prefix: str) -> Iterator[None]:
    """Make the pointer of a CompileError raised inside relative to one level up."""
    try:
        yield
    except CompileError as exc:
        raise CompileError(exc.code, exc.message, prefix + exc.pointer) from None


# --- states -----------------------------------------------------------------------------------

def _state(name: str, sd: Mapping[str, JSON], default_language: str,
           edges: list[tuple[str, str, str]]) -> m.State:
    language = sd.get("QueryLanguage", default_language)
    kind = sd["Type"]
    trigger = m.END
    if "Next" in sd:
        edges.append((name, "next", sd["Next"]))
        trigger = "next"
    try:
        common = {"name": name, "type": kind, "flow": _flow(sd, language), "trigger": trigger}
        return _BUILDERS[kind](sd, language, common, edges, default_language)
    except CompileError:
        raise
    except ChoiceRuleError as exc:
        raise CompileError(exc.code, exc.message, exc.pointer) from None
    except ValueError as exc:  # PathSyntaxError, PayloadSyntaxError, JsonataSyntaxError, ...
        raise CompileError("invalid-expression", getattr(exc, "message", str(exc))) from None


def _flow(sd: Mapping[str, JSON], language: str) -> m.DataFlow:
    needs_context = _needs_context(sd, language)
    if language == JSONATA:
        return m.DataFlow(
            parameters=_jsonata_opt(sd, "Arguments"),
            output=_jsonata_opt(sd, "Output"),
            assign=_jsonata_opt(sd, "Assign"),
            assign_on_result=False,
            needs_context=needs_context,
        )
    return m.DataFlow(
        input_path=_path_field(sd, "InputPath"),
        parameters=_payload_opt(sd, "Parameters"),
        result_selector=_payload_opt(sd, "ResultSelector"),
        result_path=_result_path(sd.get("ResultPath", "$")),
        output_path=_path_field(sd, "OutputPath"),
        assign=_payload_opt(sd, "Assign"),
        needs_context=needs_context,
    )


#: A JSONata reference to ``$states`` other than ``$states.input/.result/.errorOutput``
#: (``$states.context``, ``$states`` itself, ``$lookup($states, ...)``) needs the context object.
_STATES_CONTEXT = re.compile(r"\$states(?!\s*\.\s*(?:input|result|errorOutput)\b)")
#: Fields holding nested machines: their states decide for themselves.
_NESTED = frozenset({"Branches", "ItemProcessor", "Iterator"})


def _needs_context(sd: Mapping[str, JSON], language: str) -> bool:
    """Does any expression of the state read the context object (``$$`` / ``$states.context``)?

    Decided per expression string of the state's own fields (never from the text of the
    whole definition): under JSONPath a path or intrinsic argument rooted at ``$$``, under
    JSONata a "{% %}" expression that reads ``$states`` beyond input/result/errorOutput. A
    string literal that merely contains those characters errs on the safe side (context built).
    """
    jsonata = language == JSONATA
    # one explicit stack, no generator per value: every state of a large definition passes here
    pending: list[Any] = [value for key, value in sd.items() if key not in _NESTED]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if jsonata:
                if value.startswith("{%") and _STATES_CONTEXT.search(value):
                    return True
            elif "$$" in value:
                return True
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, (dict, Mapping)):  # dict first: the exact check is the cheap one
            pending.extend(value.values())
    return False


def _path_field(sd: Mapping[str, JSON], key: str) -> Any:
    if key not in sd or sd[key] == "$":
        return MISSING
    if sd[key] is None:
        return None
    return compile_path(sd[key])


def _result_path(text: JSON) -> Any:
    if text == "$":
        return MISSING
    if text is None:
        return None
    return compile_reference_path(text)


def _payload_opt(sd: Mapping[str, JSON], key: str) -> Any:
    if key not in sd:
        return MISSING
    value = sd[key]
    return memoized_object(value, key, lambda: compile_payload(value, field=key))


def _jsonata_opt(sd: Mapping[str, JSON], key: str) -> Any:
    if key not in sd:
        return MISSING
    return _jsonata(sd[key], key)


def _jsonata(value: JSON, field: str) -> Any:
    from statemachine.expressions.jsonata import compile_jsonata_template

    return compile_jsonata_template(value, field=field)


def _is_jsonata(value: JSON) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def _number(sd: Mapping[str, JSON], key: str, language: str, path_key: str | None = None) -> Any:
    """A literal / ``<key>Path`` / JSONata numeric field (TimeoutSeconds, MaxConcurrency...)."""
    path_key = path_key or key + "Path"
    if path_key in sd:
        return m.NumberField(path_key, path=compile_path(sd[path_key]))
    if key not in sd:
        return MISSING
    value = sd[key]
    if _is_jsonata(value):
        return m.NumberField(key, expr=_jsonata(value, key))
    return m.NumberField(key, literal=value)


def _retriers(sd: Mapping[str, JSON]) -> tuple[m.Retrier, ...]:
    return tuple(
        m.Retrier(
            error_equals=tuple(r["ErrorEquals"]),
            interval_seconds=r.get("IntervalSeconds", 1),
            max_attempts=r.get("MaxAttempts", 3),
            backoff_rate=r.get("BackoffRate", 2.0),
            max_delay_seconds=r.get("MaxDelaySeconds", MISSING),
            jitter_full=r.get("JitterStrategy", "NONE") == "FULL",
        )
        for r in sd.get("Retry", ())
    )


def _catchers(name: str, sd: Mapping[str, JSON], language: str,
              edges: list[tuple[str, str, str]]) -> tuple[m.Catcher, ...]:
    catchers = []
    for i, c in enumerate(sd.get("Catch", ())):
        trigger = f"catch{i}"
        edges.append((name, trigger, c["Next"]))
        if language == JSONATA:
            catchers.append(m.Catcher(tuple(c["ErrorEquals"]), trigger,
                                      output=_jsonata_opt(c, "Output"),
                                      assign=_jsonata_opt(c, "Assign"), assign_on_result=False))
        else:
            catchers.append(m.Catcher(tuple(c["ErrorEquals"]), trigger,
                                      result_path=_result_path(c.get("ResultPath", "$")),
                                      assign=_payload_opt(c, "Assign")))
    return tuple(catchers)


def _pass(sd: Mapping[str, JSON], language: str, common: dict[str, Any],
          edges: list[tuple[str, str, str]], default_language: str) -> m.State:
    return m.PassState(**common, result=sd.get("Result", MISSING))


def _succeed(sd: Mapping[str, JSON], language: str, common: dict[str, Any],
             edges: list[tuple[str, str, str]], default_language: str) -> m.State:
    return m.SucceedState(**common)


def _fail(sd: Mapping[str, JSON], language: str, common: dict[str, Any],
          edges: list[tuple[str, str, str]], default_language: str) -> m.State:
    return m.FailState(**common, error=_fail_field(sd, "Error"), cause=_fail_field(sd, "Cause"))


def _fail_field(sd: Mapping[str, JSON], key: str) -> Any:
    path_key = key + "Path"
    if path_key in sd:
        text = sd[path_key]
        if text.startswith("States."):
            return m.NumberField(path_key, expr=parse_intrinsic(text))
        return m.NumberField(path_key, path=compile_path(text))
    if key not in sd:
        return MISSING
    if _is_jsonata(sd[key]):
        return m.NumberField(key, expr=_jsonata(sd[key], key))
    return m.NumberField(key, literal=sd[key])


def _wait(sd: Mapping[str, JSON], language: str, common: dict[str, Any],
          edges: list[tuple[str, str, str]], default_language: str) -> m.State:
    timestamp = sd.get("Timestamp")
    if isinstance(timestamp, str) and not _is_jsonata(timestamp) and parse_timestamp(timestamp) is None:
        raise CompileError("invalid-timestamp", f"{INVALID_TIMESTAMP}: Timestamp {timestamp!r} is not "
                           "an RFC 3339 timestamp such as 2016-03-14T01:59:00Z", "/Timestamp")
    return m.WaitState(**common, seconds=_number(sd, "Seconds", language),
                       timestamp=_number(sd, "Timestamp", language))


def _task(sd: Mapping[str, JSON], language: str, common: dict[str, Any],
          edges: list[tuple[str, str, str]], default_language: str) -> m.State:
    resource = sd["Resource"]
    integration: Integration = "request-response"
    if resource.endswith(".waitForTaskToken"):
        integration = "wait-for-task-token"
    elif resource.endswith(".sync") or resource.endswith(".sync:2"):
        integration = "sync"
    credentials = sd.get("Credentials", MISSING)
    if credentials is not MISSING:
        credentials = (_jsonata(credentials, "Credentials") if language == JSONATA
                       else _payload_any(credentials, "Credentials"))
    return m.TaskState(
        **common, resource=resource, integration=integration,
        timeout=_number(sd, "TimeoutSeconds", language),
        heartbeat=_number(sd, "HeartbeatSeconds", language),
        credentials=credentials,
        retriers=_retriers(sd), catchers=_catchers(common["name"], sd, language, edges),
    )


def _payload_any(value: JSON, field: str) -> Any:
    return memoized_object(value, field, lambda: compile_payload(value, field=field))


def _choice(sd: Mapping[str, JSON], language: str, common: dict[str, Any],
            edges: list[tuple[str, str, str]], default_language: str) -> m.State:
    name = common["name"]
    branches = []
    for i, rule in enumerate(sd["Choices"]):
        trigger = f"choice{i}"
        edges.append((name, trigger, rule["Next"]))
        if language == JSONATA:
            condition = _jsonata_condition(rule, i)
            branches.append(m.ChoiceBranch(condition, trigger, output=_jsonata_opt(rule, "Output"),
                                           assign=_jsonata_opt(rule, "Assign")))
        else:
            branches.append(m.ChoiceBranch(_jsonpath_condition(rule, i), trigger,
                                           assign=_payload_opt(rule, "Assign")))
    has_default = "Default" in sd
    if has_default:
        edges.append((name, "default", sd["Default"]))
    return m.ChoiceState(**common, choices=tuple(branches), has_default=has_default)


def _jsonpath_condition(rule: Mapping[str, JSON], index: int) -> m.Predicate:
    try:
        return memoized_object(rule, "Choice rule", lambda: compile_choice_rule(rule))
    except ChoiceRuleError as exc:
        raise ChoiceRuleError(exc.message, f"/Choices/{index}{exc.pointer}", code=exc.code) from None


def _jsonata_condition(rule: Mapping[str, JSON], index: int) -> m.Predicate:
    try:
        return compile_condition(rule.get("Condition", MISSING))
    except ChoiceRuleError as exc:
        raise ChoiceRuleError(exc.message, f"/Choices/{index}{exc.pointer}", code=exc.code) from None


def _parallel(sd: Mapping[str, JSON], language: str, common: dict[str, Any],
              edges: list[tuple[str, str, str]], default_language: str) -> m.State:
    branches = []
    for index, branch in enumerate(sd["Branches"]):
        with _inside(f"/Branches/{index}"):
            branches.append(_machine(branch, branch.get("QueryLanguage", default_language)))
    return m.ParallelState(**common, branches=tuple(branches), retriers=_retriers(sd),
                           catchers=_catchers(common["name"], sd, language, edges))


def _map(sd: Mapping[str, JSON], language: str, common: dict[str, Any],
         edges: list[tuple[str, str, str]], default_language: str) -> m.State:
    key = "ItemProcessor" if "ItemProcessor" in sd else "Iterator"
    processor_def = sd[key]
    config = processor_def.get("ProcessorConfig", {})
    with _inside(f"/{key}"):
        processor = _machine(processor_def, processor_def.get("QueryLanguage", default_language))
    jsonata = language == JSONATA
    selector_key = "ItemSelector" if "ItemSelector" in sd else "Parameters"
    items: Any = MISSING
    if jsonata and "Items" in sd:
        items = _jsonata(sd["Items"], "Items")
    flow = common["flow"]
    if selector_key == "Parameters" and not jsonata:
        common = {**common, "flow": dataclasses.replace(flow, parameters=MISSING)}
    return m.MapState(
        **common,
        processor=processor,
        distributed=config.get("Mode") == "DISTRIBUTED",
        items_path=MISSING if jsonata else _path_field(sd, "ItemsPath"),
        items=items,
        items_error="States.QueryEvaluationError" if jsonata else "States.Runtime",
        item_selector=(_jsonata_opt(sd, selector_key) if jsonata else _payload_opt(sd, selector_key)),
        max_concurrency=_number(sd, "MaxConcurrency", language),
        tolerated_percentage=_number(sd, "ToleratedFailurePercentage", language),
        tolerated_count=_number(sd, "ToleratedFailureCount", language),
        batcher=_batcher(sd.get("ItemBatcher"), language),
        label=sd.get("Label", MISSING),
        retriers=_retriers(sd),
        catchers=_catchers(common["name"], sd, language, edges),
        **_item_io(sd, language),
    )


def _item_io(sd: Mapping[str, JSON], language: str) -> dict[str, Any]:
    """``{"item_reader": ..., "result_writer": ...}`` of a Distributed Map (interpreter/itemio.py
    runs them; their Resources are resolved by load() like Task resources)."""
    template = _jsonata if language == JSONATA else _payload_any
    out: dict[str, Any] = {}
    if isinstance(reader := sd.get("ItemReader"), Mapping):
        config: Mapping[str, Any] = reader.get("ReaderConfig") or {}
        out["item_reader"] = m.ItemReader(
            resource=str(reader["Resource"]), parameters=_io_parameters(reader, template),
            input_type=config.get("InputType", MISSING),
            header_location=config.get("CSVHeaderLocation", "FIRST_ROW"),
            headers=tuple(config.get("CSVHeaders", ())),
            delimiter=CSV_DELIMITERS.get(config.get("CSVDelimiter", "COMMA"), ","),
            max_items=_number(config, "MaxItems", language),
        )
    if isinstance(writer := sd.get("ResultWriter"), Mapping):
        wconfig: Mapping[str, Any] = writer.get("WriterConfig") or {}
        out["result_writer"] = m.ResultWriter(
            resource=writer.get("Resource", MISSING), parameters=_io_parameters(writer, template),
            output_type=wconfig.get("OutputType", "JSON"),
            transformation=wconfig.get("Transformation", MISSING))
    return out


#: ReaderConfig.CSVDelimiter names -> the character.
CSV_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}


def _io_parameters(spec: Mapping[str, JSON], template: Callable[[JSON, str], Any]) -> Any:
    for key in ("Parameters", "Arguments"):
        if key in spec:
            return template(spec[key], key)
    return MISSING


def _batcher(spec: Mapping[str, JSON] | None, language: str) -> Any:
    if spec is None:
        return MISSING
    batch_input: Any = MISSING
    if "BatchInput" in spec:
        batch_input = (_jsonata(spec["BatchInput"], "BatchInput") if language == JSONATA
                       else _payload_any(spec["BatchInput"], "BatchInput"))
    return m.ItemBatcher(max_items=_number(spec, "MaxItemsPerBatch", language),
                         max_bytes=_number(spec, "MaxInputBytesPerBatch", language),
                         batch_input=batch_input)


_BUILDERS: dict[str, Callable[..., m.State]] = {
    "Pass": _pass, "Succeed": _succeed, "Fail": _fail, "Wait": _wait, "Task": _task,
    "Choice": _choice, "Parallel": _parallel, "Map": _map,
}
