"""Errors of every stage: definition problems (Diagnostic, DefinitionError) and runtime
errors (StatesError), with the ASL error names as constants.

The exception tree (tests/unit/test_error_tree.py checks it against the code)::

    Exception
    ├── StateMachineError            base of everything this package raises on purpose
    │   │                            (but the ValueErrors below, raised as json raises them)
    │   ├── DefinitionError          a definition failed loading/validation; .diagnostics
    │   ├── StatesError              THE runtime error, inside the interpreter and out:
    │   │                            .name ("States.Runtime", ...), .cause, and two read-only
    │   │                            facts set when it is made: .recorded (the cause is final,
    │   │                            as the history shows it) and .final_event (the event the
    │   │                            failing state records when nothing retries it)
    │   ├── ResourceNotFoundError    a Task resource cannot be resolved to a handler
    │   │   └── ResourceMapError     a resource map is malformed (resources/local_map.py)
    │   ├── ExecutionError           misuse of the execution API (unknown task token, ...)
    │   ├── MockConfigError          a mock or test file cannot be used (testing/mockconfig.py)
    │   ├── TestStateError           a TestState request cannot be served (testing/teststate.py)
    │   ├── AwsError                 an AWS API request sm serve refuses (server/protocol.py):
    │   │                            .code (AWS's ``__type``), .message, .status (4xx, 5xx)
    │   ├── ServiceError             a durable-execution request refused (service.py), AWS's names:
    │   │   ├── ExecutionAlreadyExists
    │   │   ├── ExecutionDoesNotExist
    │   │   ├── ExecutionNotRedrivable
    │   │   ├── TaskDoesNotExist
    │   │   ├── TaskTimedOut
    │   │   ├── InvalidToken
    │   │   ├── InvalidArn
    │   │   ├── InvalidName
    │   │   ├── StateMachineDoesNotExist
    │   │   ├── InvalidOutput
    │   │   ├── ResourceNotFound     no such map run
    │   │   ├── ValidationException  arguments refused (also schedules' fields)
    │   │   ├── ConflictException    schedules (EventBridge Scheduler's names)
    │   │   └── ResourceNotFoundException
    │   ├── InvalidScheduleExpression  a ScheduleExpression AWS refuses (schedules/expressions.py)
    │   ├── InvalidTimezone          not an IANA time zone name (schedules/expressions.py)
    │   ├── ExecutorError            a cluster that cannot run work: dask missing, scheduler
    │   │                            unreachable, no worker (executors.py)
    │   ├── RemoteHandlerError       a Task handler a remote worker cannot import (interpreter/remote.py)
    │   └── StoreError               the durable store (durable/errors.py)
    │       ├── StoreUnavailable     the database cannot serve the call now
    │       │   └── StoreLocked      another process held the lock too long
    │       ├── StoreUnreadable
    │       ├── SchemaTooNew
    │       ├── ExecutionNotFound
    │       ├── ExecutionExists
    │       ├── EventConflict
    │       ├── LeaseLost
    │       ├── LeaseHeld
    │       ├── TaskTokenNotFound
    │       ├── TaskTokenClosed
    │       ├── ScheduleExists
    │       └── ScheduleNotFound
    ├── ValueError
    │   ├── InvalidJsonError         input or a value that is not JSON (values.py): run(), start()
    │   ├── SubstitutionsError       a substitutions file or NAME=VALUE (templates.py)
    │   ├── SmtpConfigError          a resource map's smtp: section (resources/smtp.py; load()
    │   │                            reports it as a ResourceMapError)
    │   ├── CallbackConfigError      a callbacks: section or its secret (resources/callback_links.py)
    │   │   -- the grammars' errors; they never leave load() (each becomes a DefinitionError
    │   │      diagnostic) or a state (a StatesError):
    │   ├── CompileError             compiler.py
    │   ├── ChoiceRuleError          expressions/choice.py
    │   ├── PathSyntaxError          expressions/jsonpath.py
    │   ├── IntrinsicSyntaxError     expressions/intrinsics.py
    │   ├── PayloadSyntaxError       expressions/payload.py
    │   ├── JsonataSyntaxError       expressions/jsonata/adapter.py
    │   ├── JsonataEvaluationError   expressions/jsonata/adapter.py (-> States.QueryEvaluationError)
    │   └── UnsupportedResultError   expressions/jsonata/adapter.py
    ├── PathNotFound                 a JSONPath that selects nothing (-> a StatesError)
    └── (anything a task handler raises becomes StatesError(type(exc).__name__, cause) at the
        handler boundary, the way AWS Lambda reports ``errorType``)

Runtime error names are data, not classes: one ``StatesError`` carries any name, and
``matches(name, error_equals)`` is the single place that decides Retry/Catch matching.

A StatesError raised by a data-flow step (a path that finds nothing, an intrinsic failing)
is *not recorded* yet: when it leaves its state the interpreter records it once, with AWS's
prefix "An error occurred while executing the state 'X' (entered at the event id #N). ".
Errors that AWS records as they are (task errors, Fail states, timeouts) are made with
``recorded=True``. Nothing is mutated on the way up: a changed fact is a new StatesError.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, Final, Literal

# ASL predefined error names (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)
ALL: Final = "States.ALL"
HEARTBEAT_TIMEOUT: Final = "States.HeartbeatTimeout"
TIMEOUT: Final = "States.Timeout"
TASK_FAILED: Final = "States.TaskFailed"
PERMISSIONS: Final = "States.Permissions"
RESULT_PATH_MATCH_FAILURE: Final = "States.ResultPathMatchFailure"
PARAMETER_PATH_FAILURE: Final = "States.ParameterPathFailure"
BRANCH_FAILED: Final = "States.BranchFailed"
NO_CHOICE_MATCHED: Final = "States.NoChoiceMatched"
INTRINSIC_FAILURE: Final = "States.IntrinsicFailure"
EXCEED_TOLERATED_FAILURE_THRESHOLD: Final = "States.ExceedToleratedFailureThreshold"
ITEM_READER_FAILED: Final = "States.ItemReaderFailed"
RESULT_WRITER_FAILED: Final = "States.ResultWriterFailed"
RUNTIME: Final = "States.Runtime"
DATA_LIMIT_EXCEEDED: Final = "States.DataLimitExceeded"
QUERY_EVALUATION_ERROR: Final = "States.QueryEvaluationError"

#: Errors that ``States.TaskFailed`` does not match (AWS: it matches any error except
#: States.Timeout; Runtime and DataLimitExceeded are terminal and not retriable by ALL either).
_NOT_MATCHED_BY_TASK_FAILED: Final = frozenset({TIMEOUT, HEARTBEAT_TIMEOUT})
#: Errors no retrier or catcher can handle, not even by naming them (AWS: "States.Runtime ...
#: cannot be caught"; corpus: cases_services scenarios test_catch_states_runtime). The corpus
#: also shows States.ALL catching a task's States.DataLimitExceeded
#: (cases_services error_handling.test_states_errors *_catch_state_all_data_limit_exceeded_*).
UNCATCHABLE_BY_ALL: Final = frozenset({RUNTIME})


class StateMachineError(Exception):
    """Base class of every error this package raises deliberately."""


Severity = Literal["error", "warning"]


@dataclasses.dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a definition.

    ``code`` is a stable slug tests can rely on (``unknown-next-target``); ``message`` is for
    people; ``pointer`` is a JSON pointer into the definition (``/States/A/Next``); ``line``
    and ``column`` are 1-based positions in the source file when known (0 when unknown);
    ``state`` names the state the problem belongs to, when it belongs to one.
    """

    code: str
    message: str
    pointer: str = ""
    line: int = 0
    column: int = 0
    state: str | None = None
    severity: Severity = "error"
    file: str | None = None

    def location(self) -> str:
        """``file:line:column`` (parts that are unknown are left out)."""
        parts = [self.file or "<definition>"]
        if self.line:
            parts.append(str(self.line))
            if self.column:
                parts.append(str(self.column))
        return ":".join(parts)

    def format(self) -> str:
        """One human-readable line: ``file:line:col: error [code] State 'X': message (/pointer)``."""
        where = f" state '{self.state}':" if self.state else ""
        ptr = f" ({self.pointer})" if self.pointer else ""
        return f"{self.location()}: {self.severity} [{self.code}]{where} {self.message}{ptr}"

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class DefinitionError(StateMachineError):
    """A definition could not be loaded: it carries every problem found, not only the first."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"] or list(self.diagnostics)
        head = errors[0].format() if errors else "invalid definition"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(head + more)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")


class _Keep:
    """Marker: ``StatesError.replace`` keeps the current value."""


KEEP: Final = _Keep()


class StatesError(StateMachineError):
    """An ASL runtime error: ``name`` is the error name Retry/Catch match on, ``cause`` the text.

    ``cause`` may be ``None`` where AWS records no cause (a Fail state without Cause).
    ``recorded``: the cause is already as the history records it (no state prefix to add).
    ``final_event``: the event its state records when the error is not retried (a Map whose
    iterations failed records ``MapStateFailed``); None otherwise.
    ``source_event``: id of the history event where the failure happened (e.g. a failing
    iteration's TaskFailed), which AWS links the enclosing state's failure events to; 0 when
    unknown. Every field is fixed when the error is made (``replace`` makes a changed copy).
    """

    def __init__(self, name: str | None, cause: str | None = None, *, recorded: bool = False,
                 final_event: str | None = None, source_event: int = 0) -> None:
        self._name = name
        self._cause = cause
        self._recorded = recorded
        self._final_event = final_event
        self._source_event = source_event
        super().__init__(f"{name}: {cause}" if cause is not None else str(name))

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def cause(self) -> str | None:
        return self._cause

    @property
    def recorded(self) -> bool:
        return self._recorded

    @property
    def final_event(self) -> str | None:
        return self._final_event

    @property
    def source_event(self) -> int:
        return self._source_event

    def replace(self, *, final_event: str | _Keep | None = KEEP, source_event: int | None = None) -> StatesError:
        """A recorded copy with ``final_event`` / ``source_event`` changed (others kept)."""
        return StatesError(self.name, self.cause, recorded=True,
                           final_event=self._final_event if isinstance(final_event, _Keep) else final_event,
                           source_event=self._source_event if source_event is None else source_event)

    def output(self) -> dict[str, str]:
        """The error output Catch passes on: ``{"Error": ..., "Cause": ...}`` (absent: left out)."""
        out: dict[str, str] = {}
        if self.name is not None:
            out["Error"] = self.name
        if self.cause is not None:
            out["Cause"] = self.cause
        return out

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.name, self.cause, self._recorded, self._final_event, self._source_event))


def _rebuild(name: str | None, cause: str | None, recorded: bool, final_event: str | None,
             source_event: int) -> StatesError:
    return StatesError(name, cause, recorded=recorded, final_event=final_event, source_event=source_event)


class ResourceNotFoundError(StateMachineError):
    """A Task's Resource string resolves to no registered handler.

    ``diagnostics``: when ``load()`` raises it, one ``unresolved-resource`` Diagnostic (with
    line, column and state) for every resource of the definition that resolves to nothing --
    all of them, not the first; empty when raised for a single lookup."""

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.diagnostics = list(diagnostics)


class ExecutionError(StateMachineError):
    """The execution API was used wrongly (unknown task token, execution already finished)."""


def matches(error: str | None, error_equals: Iterable[str]) -> bool:
    """Does a Retrier's or Catcher's ``ErrorEquals`` list match the error name ``error``?

    ASL: names match exactly; ``States.ALL`` matches every error; ``States.TaskFailed`` every
    error except States.Timeout and States.HeartbeatTimeout; States.Runtime is terminal and
    matched by nothing (AWS records it failing the execution even when a Catch names it).
    """
    if error in UNCATCHABLE_BY_ALL:
        return False
    for name in error_equals:
        if name == error:
            return True
        if name == ALL:
            return True
        if name == TASK_FAILED and error not in _NOT_MATCHED_BY_TASK_FAILED:
            return True
    return False
