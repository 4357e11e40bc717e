"""Compiler output: the immutable model of a compiled state machine.

Frozen slotted dataclasses, no behaviour. Absent optional fields are ``MISSING``. Expressions
are held already compiled (JSONPath objects, payload / JSONata templates, Choice predicates);
the query language is gone by the time a state is built: both languages fill the same
``DataFlow`` shape, and a handler only checks which steps are present.

Transitions are *triggers* (``"next"``, ``"default"``, ``"choice<i>"``, ``"catch<i>"``)
resolved through ``CompiledMachine.table``, which the compiler builds from the definition.

Everything here is plain data that pickles (a test round-trips every example machine): no
closures or lambdas (Choice predicates are objects from expressions/choice.py), and each
nested machine keeps its own ``definition``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from statemachine.expressions.scope import Scope
from statemachine.values import JSON, MISSING, Missing

if TYPE_CHECKING:  # type only: importing statemachine.resources loads the handlers
    from statemachine.resources.base import Integration

__all__ = [
    "Catcher", "ChoiceBranch", "ChoiceState", "CompiledMachine", "DataFlow", "Evaluator",
    "FailState", "ItemBatcher", "ItemReader", "MapState", "NumberField", "ParallelState", "PassState",
    "ResultWriter", "Retrier", "State", "SucceedState", "TaskState", "WaitState",
]

END = "end"  # the trigger of a terminal outcome (no row in the transition table)


class Evaluator(Protocol):
    """A compiled template / expression: JSONPath payload template, intrinsic or JSONata."""

    def evaluate(self, scope: Scope, rng: Any = None) -> JSON: ...


class TypedEvaluator(Evaluator, Protocol):
    """A JSONata template whose result must have one JSON type (Map Items, Choice Condition)."""

    def evaluate_as(self, scope: Scope, expected: Any, rng: Any = None) -> JSON: ...


class PathLike(Protocol):
    @property
    def text(self) -> str: ...

    def evaluate(self, scope: Scope) -> JSON: ...


#: A Choice condition (expressions/choice.py predicate objects): ``(scope, rng) -> bool``;
#: raises StatesError on type errors.
Predicate = Callable[[Scope, Any], bool]


@dataclasses.dataclass(frozen=True, slots=True)
class DataFlow:
    """A state's data-flow steps in AWS order. JSONPath states fill the path fields; JSONata
    states put Arguments in ``parameters`` and Output in ``output``. MISSING = step absent
    (identity); ``None`` for a path = the ASL ``null`` (discard: ``{}`` / keep input)."""

    input_path: PathLike | Missing | None = MISSING
    parameters: Evaluator | Missing = MISSING
    result_selector: Evaluator | Missing = MISSING
    result_path: Any = MISSING  # ReferencePath | None | MISSING
    output_path: PathLike | Missing | None = MISSING
    output: Evaluator | Missing = MISSING
    assign: Evaluator | Missing = MISSING
    #: JSONPath Assign reads ``$`` = the result; JSONata reads $states.input + $states.result.
    assign_on_result: bool = True
    needs_context: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class NumberField:
    """A numeric field that may be a literal, a ``...Path`` or a JSONata expression."""

    field: str
    literal: Any = MISSING
    path: PathLike | Missing = MISSING
    expr: Evaluator | Missing = MISSING


@dataclasses.dataclass(frozen=True, slots=True)
class Retrier:
    error_equals: tuple[str, ...]
    interval_seconds: float = 1.0
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: float | Missing = MISSING
    jitter_full: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Catcher:
    error_equals: tuple[str, ...]
    trigger: str
    #: ResultPath (JSONPath) of the error output; MISSING = "$" replaces the input.
    result_path: Any = MISSING
    output: Evaluator | Missing = MISSING  # JSONata Output
    assign: Evaluator | Missing = MISSING
    assign_on_result: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class State:
    name: str
    type: str  # ASL spelling: "Pass", "Task", ...
    flow: DataFlow
    trigger: str  # "next" or END
    retriers: tuple[Retrier, ...] = ()
    catchers: tuple[Catcher, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class PassState(State):
    result: JSON | Missing = MISSING


@dataclasses.dataclass(frozen=True, slots=True)
class TaskState(State):
    resource: str = ""
    integration: Integration = "request-response"
    timeout: NumberField | Missing = MISSING
    heartbeat: NumberField | Missing = MISSING
    credentials: Evaluator | JSON | Missing = MISSING


@dataclasses.dataclass(frozen=True, slots=True)
class ChoiceBranch:
    condition: Predicate
    trigger: str
    output: Evaluator | Missing = MISSING
    assign: Evaluator | Missing = MISSING


@dataclasses.dataclass(frozen=True, slots=True)
class ChoiceState(State):
    choices: tuple[ChoiceBranch, ...] = ()
    has_default: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class WaitState(State):
    seconds: NumberField | Missing = MISSING
    timestamp: NumberField | Missing = MISSING  # literal str, path, or JSONata expression


@dataclasses.dataclass(frozen=True, slots=True)
class SucceedState(State):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class FailState(State):
    error: NumberField | Missing = MISSING  # literal / ErrorPath / JSONata (reuses NumberField's shape)
    cause: NumberField | Missing = MISSING


@dataclasses.dataclass(frozen=True, slots=True)
class ParallelState(State):
    branches: tuple[CompiledMachine, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class ItemBatcher:
    max_items: NumberField | Missing = MISSING
    max_bytes: NumberField | Missing = MISSING
    batch_input: Evaluator | JSON | Missing = MISSING


@dataclasses.dataclass(frozen=True, slots=True)
class ItemReader:
    """A Distributed Map's ItemReader (interpreter/itemio.py reads it)."""

    resource: str
    parameters: Evaluator | Missing = MISSING  # Parameters (payload template) / JSONata Arguments
    input_type: str | Missing = MISSING  # ReaderConfig.InputType; MISSING: no ReaderConfig
    header_location: str = "FIRST_ROW"
    headers: tuple[str, ...] = ()
    delimiter: str = ","
    max_items: NumberField | Missing = MISSING


@dataclasses.dataclass(frozen=True, slots=True)
class ResultWriter:
    """A Distributed Map's ResultWriter; ``resource`` MISSING = WriterConfig only (no export)."""

    resource: str | Missing = MISSING
    parameters: Evaluator | Missing = MISSING
    output_type: str = "JSON"
    transformation: str | Missing = MISSING  # MISSING: NONE when exporting, else COMPACT


@dataclasses.dataclass(frozen=True, slots=True)
class MapState(State):
    processor: CompiledMachine | None = None
    distributed: bool = False
    items_path: PathLike | Missing = MISSING
    items: TypedEvaluator | Missing = MISSING  # JSONata Items (template: expression or literal array)
    items_error: str = "States.Runtime"  # error name when the items are not an array
    item_selector: Evaluator | Missing = MISSING
    max_concurrency: NumberField | Missing = MISSING
    tolerated_percentage: NumberField | Missing = MISSING
    tolerated_count: NumberField | Missing = MISSING
    batcher: ItemBatcher | Missing = MISSING
    label: str | Missing = MISSING
    item_reader: ItemReader | Missing = MISSING  # Distributed Map: items from a resource
    result_writer: ResultWriter | Missing = MISSING


@dataclasses.dataclass(frozen=True, slots=True)
class CompiledMachine:
    """A (nested) state machine: states by name, the start, the transition table
    ``{state: {trigger: target}}`` and its own definition (the dict it was compiled from)."""

    start_at: str
    states: Mapping[str, State]
    table: Mapping[str, Mapping[str, str]]
    query_language: str = "JSONPath"
    timeout_seconds: float | Missing = MISSING
    comment: str | Missing = MISSING
    definition: Mapping[str, JSON] = dataclasses.field(default_factory=dict, repr=False)
