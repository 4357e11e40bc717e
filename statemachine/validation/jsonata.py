"""Stage 2, validation (JSONata references): the checks AWS makes on every "{% %}" expression
of a JSONata state when a definition is created. In: a walked ``Machine``. Out: Diagnostics
with code ``unsupported-jsonata-expression`` (AWS: UNSUPPORTED_JSONATA_EXPRESSION) and AWS's
message, at the field that holds the expression.

AWS ("Transforming data with JSONata in Step Functions"; messages as CreateStateMachine and
ValidateStateMachineDefinition give them):

- An expression is evaluated with no context item: the input is ``$states.input`` and a
  variable is ``$name``. A path that starts from neither reads the missing context item:
  "Reference to 'phone' at the top level is not supported." (``$`` itself is named '$').
  Only what is evaluated against the top level counts: the first step of a path, operands,
  function arguments, object constructor keys and values, array items, conditions, blocks,
  the right side of ``:=`` and lambda bodies (a lambda keeps its definer's context). Later
  path steps, predicates, sort terms and groupings run against the step before them.
- ``$$`` is refused: "Reference to '$$' is not supported."
- ``$states`` has four fields: ``input`` and ``context`` everywhere; ``result`` (the task's
  or sub-workflow's result) only in the ``Output`` and ``Assign`` of Task, Parallel and Map
  states; ``errorOutput`` only in a Catcher's ``Output`` and ``Assign``. Anything else:
  "Field '$states.result' does not exist." -- checked wherever the path appears.
- ``$states.context`` has the Context object's fields (Execution, State, StateMachine, Task,
  Map): an unknown one is a warning (``unknown-context-field``), since AWS documents the
  object's shape but not a refusal.

Expressions that do not parse are left to ``invalid-jsonata`` (validation/expressions.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from statemachine.errors import Diagnostic
from statemachine.expressions.memo import memoized
from statemachine.loader import pointer_join
from statemachine.validation.fields import is_jsonata
from statemachine.validation.walk import JSONATA, Machine, StateRef, finding
from statemachine.values import JSON

__all__ = ["JSONATA_RULES"]

CODE = "unsupported-jsonata-expression"
#: The fields of $states, and the Context object's fields under $states.context.
_STATES_FIELDS = ("input", "context", "result", "errorOutput")
CONTEXT_FIELDS: Mapping[str, frozenset[str]] = {
    "Execution": frozenset({"Id", "Input", "Name", "RoleArn", "StartTime", "RedriveCount", "RedriveTime"}),
    "State": frozenset({"EnteredTime", "Name", "RetryCount"}),
    "StateMachine": frozenset({"Id", "Name"}),
    "Task": frozenset({"Token"}),
    "Map": frozenset({"Item"}),
}
#: State fields AWS evaluates as JSONata (whole templates; nested objects and arrays included).
_FIELDS = ("Arguments", "Output", "Assign", "Items", "ItemSelector", "TimeoutSeconds",
           "HeartbeatSeconds", "Seconds", "Timestamp", "MaxConcurrency", "ToleratedFailurePercentage",
           "ToleratedFailureCount", "Error", "Cause", "Credentials")
_NESTED = (("ItemBatcher", ("BatchInput", "MaxItemsPerBatch", "MaxInputBytesPerBatch")),
           ("ItemReader", ("Arguments", "ReaderConfig")), ("ResultWriter", ("Arguments",)))
#: Only this key of ReaderConfig is an expression (CSVHeaders are column names).
_READER_CONFIG_EXPRESSIONS = ("MaxItems",)
_RESULT_STATES = frozenset({"Task", "Parallel", "Map"})
#: AST attributes that hold child nodes (jsonata-python's parse tree).
_CHILDREN = ("steps", "lhs", "rhs", "expression", "procedure", "arguments", "body", "stages",
             "predicate", "group", "terms", "condition", "then", "_else", "expressions",
             "pattern", "update", "delete", "lhs_object", "expr")


def _tree(text: str) -> Any:
    """The parse tree of a "{% %}" expression, None when it does not parse."""
    from statemachine.expressions.jsonata import JsonataSyntaxError, compile_jsonata

    try:
        return memoized(text[2:-2].strip(), compile_jsonata)._compiled.ast  # shared with the compiler
    except JsonataSyntaxError:
        return None


# --- where the expressions are ------------------------------------------------------------------

def _expressions(state: StateRef) -> Iterator[tuple[str, str, bool, bool]]:
    """(pointer, text, result available, errorOutput available) of every expression."""
    body, kind = state.body, state.type
    for field in _FIELDS:
        if field in body:
            result = kind in _RESULT_STATES and field in ("Output", "Assign")
            yield from _strings(body[field], state.at(field), result, False)
    for outer, fields in _NESTED:
        holder = body.get(outer)
        if isinstance(holder, Mapping):
            for field in fields:
                value = holder.get(field)
                if field == "ReaderConfig" and isinstance(value, Mapping):
                    value = {k: v for k, v in value.items() if k in _READER_CONFIG_EXPRESSIONS}
                if value is not None:
                    yield from _strings(value, state.at(outer, field), False, False)
    for field, error_output in (("Choices", False), ("Catch", True)):
        items = body.get(field)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping):
                for key in ("Condition", "Output", "Assign"):
                    if key in item:
                        yield from _strings(item[key], state.at(field, index, key), False, error_output)


def _strings(value: JSON, pointer: str, result: bool, error_output: bool) -> Iterator[tuple[str, str, bool, bool]]:
    if isinstance(value, str):
        if is_jsonata(value):
            yield pointer, value, result, error_output
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, pointer_join(pointer, key), result, error_output)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, pointer_join(pointer, index), result, error_output)


# --- what an expression reads ---------------------------------------------------------------------

def top_level_references(node: Any, found: dict[str, None]) -> None:
    """Add to ``found`` (in order) every name the expression reads from the top-level context:
    names, '$' for the context item, '$$' for the root."""
    kind = getattr(node, "type", None)
    if kind == "path":
        steps = node.steps or []
        if steps:
            top_level_references(steps[0], found)
    elif kind == "name":
        found[str(node.value)] = None
    elif kind == "variable":
        if node.value == "":
            found["$"] = None
        elif node.value == "$":  # "$$" parses as a variable named "$"
            found["$$"] = None
    elif kind == "unary":
        if node.value == "[":
            _each(node.expressions, found)
        elif node.value == "{":
            for pair in node.lhs_object or []:
                _each(pair, found)
        else:
            top_level_references(node.expression, found)
    elif kind in ("binary", "apply"):
        top_level_references(node.lhs, found)
        top_level_references(node.rhs, found)
    elif kind in ("function", "partial"):
        top_level_references(node.procedure, found)
        _each(node.arguments, found)
    elif kind == "lambda":
        top_level_references(node.body, found)
    elif kind == "condition":
        _each((node.condition, node.then, node._else), found)
    elif kind == "block":
        _each(node.expressions, found)
    elif kind == "bind":
        top_level_references(node.rhs, found)
    # literals, regexes, descendants, transforms, sorts, filters and groups read no top level


def _each(nodes: Any, found: dict[str, None]) -> None:
    for node in nodes or ():
        top_level_references(node, found)


def states_paths(node: Any, found: dict[tuple[str, ...], None], depth: int = 0) -> None:
    """Add to ``found`` the leading names of every ``$states.x.y`` path anywhere in the tree."""
    if node is None or depth > 500:
        return
    if isinstance(node, (list, tuple)):
        for item in node:
            states_paths(item, found, depth + 1)
        return
    if not hasattr(node, "type"):
        return
    if node.type == "path":
        steps = node.steps or []
        if steps and steps[0].type == "variable" and steps[0].value == "states":
            names = [s.value for s in steps[1:4] if s.type == "name" and isinstance(s.value, str)]
            found[tuple(names)] = None
    for attribute in _CHILDREN:
        child = getattr(node, attribute, None)
        if child is not None:
            states_paths(child, found, depth + 1)


# --- the rule ------------------------------------------------------------------------------------

def unsupported_jsonata_expression(machine: Machine) -> Iterator[Diagnostic]:
    for state in machine.states:
        if state.language != JSONATA:
            continue
        for pointer, text, result, error_output in _expressions(state):
            tree = _tree(text)
            if tree is not None:
                yield from _problems(state, pointer, tree, result, error_output)


def _problems(state: StateRef, pointer: str, tree: Any, result: bool, error_output: bool) -> Iterator[Diagnostic]:
    names: dict[str, None] = {}
    top_level_references(tree, names)
    for name in names:
        message = ("Reference to '$$' is not supported." if name == "$$"
                   else f"Reference to '{name}' at the top level is not supported.")
        yield finding(CODE, message, pointer, state.name)
    paths: dict[tuple[str, ...], None] = {}
    states_paths(tree, paths)
    for steps in paths:
        if not steps:
            continue
        field = steps[0]
        allowed = field in ("input", "context") or (field == "result" and result) or (
            field == "errorOutput" and error_output)
        if not allowed:
            yield finding(CODE, f"Field '$states.{field}' does not exist.", pointer, state.name)
        elif field == "context" and len(steps) > 1:
            yield from _context_field(state, pointer, steps[1:])


def _context_field(state: StateRef, pointer: str, steps: tuple[str, ...]) -> Iterator[Diagnostic]:
    top = steps[0]
    known = CONTEXT_FIELDS.get(top)
    if known is None:
        message = (f"'$states.context.{top}' is not a field of the Context object "
                   f"(it has {', '.join(CONTEXT_FIELDS)}): it evaluates to nothing")
        yield finding("unknown-context-field", message, pointer, state.name, warning=True)
    elif len(steps) > 1 and steps[1] not in known:
        message = (f"'$states.context.{top}.{steps[1]}' is not a field of the Context object "
                   f"({top} has {', '.join(sorted(known))}): it evaluates to nothing")
        yield finding("unknown-context-field", message, pointer, state.name, warning=True)


JSONATA_RULES = {CODE: unsupported_jsonata_expression}
