"""Server stage, backend: what every operation works on: the durable ``Service`` and its
store, the server's configuration, and the machines built under the resource policy.

In: a ``ServerConfig``. Out: ``Backend`` (one per app, ``request.app.state.backend``) with
ARN parsing, the policy registry, definition loading with InvalidDefinition errors, and the
``loader`` the in-process worker builds machines with. Store and definition calls block:
the API calls most of them on ``Backend.threads`` (see statemachine.server.api).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from statemachine.durable.catalog import Catalog, CatalogSql
from statemachine.errors import DefinitionError, ResourceNotFoundError
from statemachine.server.builder import MachineBuilder
from statemachine.server.protocol import AwsError
from statemachine.service import Service
from statemachine.values import parse_json

if TYPE_CHECKING:
    from statemachine.api import StateMachine
    from statemachine.durable import DurableStore, MachineRecord
    from statemachine.resources.registry import ResourceRegistry
    from statemachine.server.config import ServerConfig

__all__ = ["Backend", "epoch", "parse_arn"]

#: AWS's largest definition: 1 MiB of UTF-8.
MAX_DEFINITION: Final = 1024 * 1024
#: AWS's largest execution input / task output: 256 KiB of UTF-8.
MAX_PAYLOAD: Final = 256 * 1024
#: Threads running the API operations that do not run on the event loop (as Starlette's
#: thread pool had: anyio's default limit).
API_THREADS: Final = 40


def epoch(moment: datetime | None) -> float | None:
    """A date as AWS's JSON protocol sends it: seconds since the epoch (a float)."""
    return None if moment is None else moment.timestamp()


def parse_arn(arn: str, *kinds: str) -> list[str]:
    """The parts after the resource type of a Step Functions ARN of one of ``kinds``
    (``stateMachine``, ``execution``, ``express``, ``activity``, ``mapRun``): e.g.
    ``arn:aws:states:us-east-1:123456789012:stateMachine:Flow:3`` -> ``["Flow", "3"]``.
    Raises InvalidArn with AWS's wording."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or not parts[1].startswith("aws") or parts[2] != "states":
        raise AwsError("InvalidArn", f"Invalid Arn: 'Invalid ARN prefix: {arn}'")
    if parts[5] not in kinds:
        raise AwsError("InvalidArn",
                       f"Invalid Arn: 'Resource type not valid in this context: {parts[5]}'")
    rest = parts[6:]
    if not all(rest):
        raise AwsError("InvalidArn", f"Invalid Arn: '{arn}'")
    return rest


_RECORDS_KEPT = 1024  # machine records a Backend keeps (all dropped when full)


class Backend:
    """The state of one server (see the module docstring)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.service = Service(config.db)
        self.store: DurableStore = self.service.store
        if not isinstance(self.store, CatalogSql):
            raise TypeError(f"sm serve needs a SQL store (SQLite or PostgreSQL), not {self.store!r}")
        self.catalog: Catalog = self.store
        self.machines = MachineBuilder(self.catalog, config.policy, config.resources)
        self.activities = self.machines.activities
        #: set by the in-process worker hook: look for due work now (any thread)
        self.wake_worker: Callable[[], None] = _nothing
        #: set by the in-process worker hook: claim this execution first (any thread)
        self.resume_worker: Callable[[str], None] = _nothing_for
        #: where the API runs its blocking operations (the durable worker's handlers use
        #: other threads: a long task never holds up a request)
        self.threads = ThreadPoolExecutor(API_THREADS, thread_name_prefix="sm-api")
        #: (machine ARN, version) -> its record, see ``machine_record``
        self._records: dict[tuple[str, str], MachineRecord] = {}

    def executions_started(self) -> None:
        """A start or redrive was stored: let the in-process worker pick it up at once."""
        self.wake_worker()

    def callback_answered(self, execution_arn: str) -> None:
        """A task token of ``execution_arn`` was answered here (SendTask*, an approval
        link): the in-process worker resumes it ahead of the executions due before it."""
        self.resume_worker(execution_arn)

    def close(self) -> None:
        self.threads.shutdown(wait=True)
        self.service.close()

    def machine_record(self, arn: str, version: str | None) -> MachineRecord | None:
        """``store.machine(arn, version)``, kept once found: a version is its definition's
        hash and its record never changes (StartExecution reads it on every call)."""
        if version is None:
            return self.store.machine(arn)
        key = (arn, version)
        found = self._records.get(key)
        if found is None:
            found = self.store.machine(arn, version)
            if found is not None:
                if len(self._records) >= _RECORDS_KEPT:
                    self._records.clear()
                self._records[key] = found
        return found

    # -- machines under the policy ---------------------------------------------------------
    def registry(self) -> ResourceRegistry:
        """The registry API machines resolve their resources with (policy + resource map)."""
        return self.machines.registry()

    def build(self, definition: str, name: str, machine_type: str) -> StateMachine:
        """Validate, compile and resolve an API definition (JSON text). Raises InvalidDefinition
        with the validator's messages, or naming each resource the policy refuses."""
        from statemachine.api import load

        if len(definition.encode("utf-8")) > MAX_DEFINITION:
            raise AwsError("InvalidDefinition", "Invalid State Machine Definition: "
                           "'definition is larger than 1048576 bytes'")
        try:
            parse_json(definition, "definition")
        except ValueError as error:
            raise AwsError("InvalidDefinition", "Invalid State Machine Definition: "
                           f"'INVALID_JSON_DESCRIPTION: {error}'") from None
        try:
            # bytes, never str: load() reads a str naming an existing file from disk
            return load(definition.encode("utf-8"), name=name,
                        machine_type="EXPRESS" if machine_type == "EXPRESS" else "STANDARD",
                        resources=self.registry())
        except DefinitionError as error:
            raise AwsError("InvalidDefinition", definition_message(error)) from None
        except ResourceNotFoundError as error:
            raise AwsError("InvalidDefinition",
                           f"Invalid State Machine Definition: 'INVALID_RESOURCE: {error}'"
                           ) from None  # the code ValidateStateMachineDefinition gives it

    def loader(self, record: MachineRecord) -> Any:
        """The in-process worker's machine builder (see statemachine.server.builder)."""
        return self.machines.loader(record)


def _nothing() -> None:
    return None


def _nothing_for(_: str) -> None:
    return None


def definition_message(error: DefinitionError) -> str:
    """AWS's InvalidDefinition message: ``Invalid State Machine Definition: 'CODE: message
    at /pointer', ...`` with every error the validator found."""
    errors = [d for d in error.diagnostics if d.severity == "error"] or list(error.diagnostics)
    items = [f"{d.code.upper().replace('-', '_')}: {d.message}"
             + (f" at {d.pointer}" if d.pointer else "") for d in errors]
    return "Invalid State Machine Definition: " + ", ".join(f"'{item}'" for item in items)
