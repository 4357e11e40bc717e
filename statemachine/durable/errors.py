"""Durable store, errors: what the store raises, kept apart from workflow errors.

A store failure is never a ``StatesError``: a worker that meets ``StoreUnavailable`` retries
later or stops with a clear message, and the execution resumes once the database is back;
it must not turn a database outage into a failed workflow.

The exception tree::

    StateMachineError                    (statemachine.errors)
    └── StoreError                       base of everything statemachine.durable raises
        │                                (itself: a call on a closed store)
        ├── StoreUnavailable             transient: database down, disk full, I/O error;
        │   │                            retry the same call later
        │   └── StoreLocked              another process holds the lock past the busy timeout
        ├── StoreUnreadable              not a database of ours (garbage file, corrupt image,
        │                                no permission): retrying will not help
        ├── SchemaTooNew                 written by a newer release; .found, .supported
        ├── ExecutionNotFound            no execution with that ARN; .execution_arn
        ├── ExecutionExists              an execution with that ARN exists; .existing (its record)
        ├── EventConflict                an append raced another writer; .expected, .actual
        ├── LeaseLost                    the writer no longer holds the execution's lease
        ├── LeaseHeld                    acquire_lease found a live lease of another worker
        ├── TaskTokenNotFound            no such task token; .token
        ├── TaskTokenClosed              the token was answered, cancelled or timed out;
        │                                .token, .status ("SUCCEEDED", "TIMED_OUT", ...)
        ├── ScheduleExists               a schedule of that group and name exists
        └── ScheduleNotFound             no schedule of that group and name

The service layer maps these onto AWS's API errors (ExecutionDoesNotExist,
ExecutionAlreadyExists, TaskDoesNotExist, TaskTimedOut, InvalidToken).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from statemachine.errors import StateMachineError

if TYPE_CHECKING:
    from statemachine.durable.contract import ExecutionRecord

__all__ = [
    "EventConflict",
    "ExecutionExists",
    "ExecutionNotFound",
    "LeaseHeld",
    "LeaseLost",
    "ScheduleExists",
    "ScheduleNotFound",
    "SchemaTooNew",
    "StoreError",
    "StoreLocked",
    "StoreUnavailable",
    "StoreUnreadable",
    "TaskTokenClosed",
    "TaskTokenNotFound",
]


class StoreError(StateMachineError):
    """Base of every error of the durable store."""


class StoreUnavailable(StoreError):
    """The database cannot serve the call now (down, unreachable, disk full, I/O error).

    Transient by contract: the same call may succeed later, and nothing was written -- with
    one exception no client can rule out: a connection lost while the server was committing.
    Retrying is still safe, since every write is guarded: a retried append whose first try
    went through raises EventConflict (re-read the history to see your events), a retried
    token answer raises TaskTokenClosed with the status it set.
    """


class StoreLocked(StoreUnavailable):
    """Another process held the database lock for longer than the busy timeout."""


class StoreUnreadable(StoreError):
    """The target is not a database this code can read (not a database, corrupt, no access)."""


class SchemaTooNew(StoreError):
    """The database was migrated by a newer release than this one.

    Attributes: ``found`` (the database's schema version), ``supported`` (the newest this code
    knows). Nothing is written: upgrade statemachine-asl, or point at another database.
    """

    def __init__(self, where: str, found: int, supported: int) -> None:
        super().__init__(
            f"{where} has schema version {found}, but this statemachine-asl supports at most "
            f"version {supported}: upgrade statemachine-asl to open it"
        )
        self.found = found
        self.supported = supported


class ExecutionNotFound(StoreError):
    """No execution with this ARN is stored."""

    def __init__(self, execution_arn: str) -> None:
        super().__init__(f"Execution Does Not Exist: '{execution_arn}'")
        self.execution_arn = execution_arn


class ExecutionExists(StoreError):
    """``create_execution`` found an execution with the same ARN; ``.existing`` is its record."""

    def __init__(self, existing: ExecutionRecord) -> None:
        super().__init__(f"Execution Already Exists: '{existing.arn}'")
        self.existing = existing


class EventConflict(StoreError):
    """An append lost a race: the execution's last event id was not the one the writer saw.

    Attributes: ``execution_arn``, ``expected`` (the writer's ``after``), ``actual`` (the
    stored last event id). Nothing of the append was written; re-read and decide.
    """

    def __init__(self, execution_arn: str, expected: int, actual: int) -> None:
        super().__init__(
            f"event log of '{execution_arn}' moved on: the writer expected last event "
            f"{expected}, the store has {actual}"
        )
        self.execution_arn = execution_arn
        self.expected = expected
        self.actual = actual


class LeaseLost(StoreError):
    """The caller's lease is no longer the execution's lease (it lapsed and was taken over,
    or was released). The caller must stop advancing the execution."""

    def __init__(self, execution_arn: str, owner: str) -> None:
        super().__init__(f"worker '{owner}' no longer holds the lease on '{execution_arn}'")
        self.execution_arn = execution_arn
        self.owner = owner


class LeaseHeld(StoreError):
    """``acquire_lease`` met a live lease of another worker; ``.owner`` holds it."""

    def __init__(self, execution_arn: str, owner: str) -> None:
        super().__init__(f"'{execution_arn}' is leased by worker '{owner}'")
        self.execution_arn = execution_arn
        self.owner = owner


class TaskTokenNotFound(StoreError):
    """No task token with this value is stored."""

    def __init__(self, token: str) -> None:
        super().__init__("Task does not exist anymore")
        self.token = token


class TaskTokenClosed(StoreError):
    """The token no longer waits: ``.status`` says why ("SUCCEEDED", "FAILED", "CANCELLED",
    or "TIMED_OUT", also for a token whose deadline has passed)."""

    def __init__(self, token: str, status: str) -> None:
        super().__init__(
            "Task Timed Out" if status == "TIMED_OUT" else "Task does not exist anymore"
        )
        self.token = token
        self.status = status


class ScheduleExists(StoreError):
    """``create_schedule`` found a schedule of the same group and name."""

    def __init__(self, group_name: str, name: str) -> None:
        super().__init__(f"Schedule {name} already exists.")
        self.group_name = group_name
        self.name = name


class ScheduleNotFound(StoreError):
    """No schedule of that group and name is stored."""

    def __init__(self, group_name: str, name: str) -> None:
        super().__init__(f"Schedule {name} does not exist.")
        self.group_name = group_name
        self.name = name
