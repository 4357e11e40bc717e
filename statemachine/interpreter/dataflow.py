"""Interpreter stage: applies a state's compiled ``DataFlow`` steps in AWS order.

Input side: InputPath -> Parameters (JSONata: Arguments). Result side: ResultSelector ->
ResultPath -> OutputPath (JSONata: Output). Assign is evaluated against the values from before
the state (the caller commits it after the state's output is known). Both query languages use
the same functions: a step that is MISSING is the identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statemachine import errors
from statemachine.clock import format_timestamp
from statemachine.errors import StatesError
from statemachine.expressions.jsonpath import PathNotFound
from statemachine.expressions.scope import Scope
from statemachine.model import DataFlow
from statemachine.values import JSON, MISSING

__all__ = ["assignments", "build_context", "effective_input", "select_path", "state_output"]


def select_path(path: Any, scope: Scope) -> JSON:
    """Evaluate an InputPath/OutputPath/ItemsPath; a path that finds nothing is States.Runtime."""
    try:
        return path.evaluate(scope)
    except PathNotFound as exc:
        raise StatesError(errors.RUNTIME, exc.invalid_path_message()) from None


def effective_input(flow: DataFlow, raw: JSON, ctx: JSON, variables: Mapping[str, JSON], rng: Any) -> JSON:
    """InputPath then Parameters (JSONPath), or Arguments (JSONata)."""
    value = raw
    path = flow.input_path
    if path is not MISSING:
        value = {} if path is None else select_path(path, Scope(raw, ctx, variables))
    if flow.parameters is not MISSING:
        value = flow.parameters.evaluate(Scope(value, ctx, variables), rng)
    return value


def select_result(flow: DataFlow, result: JSON, ctx: JSON, variables: Mapping[str, JSON], rng: Any) -> JSON:
    """ResultSelector (JSONPath only)."""
    if flow.result_selector is MISSING:
        return result
    return flow.result_selector.evaluate(Scope(result, ctx, variables), rng)


def state_output(flow: DataFlow, raw: JSON, result: JSON, ctx: JSON,
                 variables: Mapping[str, JSON], rng: Any) -> JSON:
    """ResultPath then OutputPath (JSONPath), or Output (JSONata; default: the result)."""
    if flow.output is not MISSING:
        return flow.output.evaluate(Scope(raw, ctx, variables, result), rng)
    return apply_output_path(flow, apply_result_path(flow.result_path, raw, result), ctx, variables)


def apply_result_path(result_path: Any, raw: JSON, result: JSON) -> JSON:
    if result_path is MISSING:
        return result
    if result_path is None:
        return raw
    return result_path.apply(raw, result)


def apply_output_path(flow: DataFlow, value: JSON, ctx: JSON, variables: Mapping[str, JSON]) -> JSON:
    path = flow.output_path
    if path is MISSING:
        return value
    return {} if path is None else select_path(path, Scope(value, ctx, variables))


def assignments(assign: Any, on_result: bool, raw: JSON, result: JSON, ctx: JSON,
                variables: Mapping[str, JSON], rng: Any, error_output: Any = MISSING) -> JSON:
    """Evaluate an Assign block against the pre-state variables. JSONPath reads ``$`` = the
    result; JSONata reads ``$states.input`` / ``$states.result`` / ``$states.errorOutput``."""
    if on_result:
        scope = Scope(result, ctx, variables)
    elif error_output is not MISSING:
        scope = Scope(raw, ctx, variables, MISSING, error_output)
    else:
        scope = Scope(raw, ctx, variables, result)
    return assign.evaluate(scope, rng)


def build_context(execution: JSON, machine: JSON, name: str, entered: float,
                  retry_count: int | None = None, token: str | None = None) -> dict[str, JSON]:
    """The context object ``$$`` of one state (Map item fields are added by the Map state)."""
    state: dict[str, JSON] = {"Name": name, "EnteredTime": format_timestamp(entered)}
    if retry_count is not None:
        state["RetryCount"] = retry_count
    ctx: dict[str, JSON] = {"Execution": execution, "StateMachine": machine, "State": state}
    if token is not None:
        ctx["Task"] = {"Token": token}
    return ctx
