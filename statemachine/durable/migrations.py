"""Durable store, schema: the numbered migration steps both backends apply.

In: the version a database records in its ``schema_version`` table (0 for a new database).
Out: the steps still to apply, in order; ``SchemaTooNew`` for a database a newer release
migrated. Each backend runs the steps inside one transaction under its own lock (SQLite
``BEGIN IMMEDIATE``, PostgreSQL an advisory lock), so processes opening the same new
database at once migrate it once.

The SQL is written in the subset both SQLite and PostgreSQL read (TEXT, INTEGER, BIGINT,
partial indexes). Times are BIGINT microseconds since the Unix epoch (UTC), so comparisons
("due <= now") are integer comparisons and datetimes round-trip exactly. Add a step by
appending to ``MIGRATIONS`` (never edit a released step); a step may hold dialect-specific
SQL in ``sqlite``/``postgres`` when the common subset is not enough.
"""

from __future__ import annotations

import dataclasses
from typing import Final, Literal

from statemachine.durable.errors import SchemaTooNew

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Dialect", "Migration", "latest", "pending"]

Dialect = Literal["sqlite", "postgres"]


@dataclasses.dataclass(frozen=True, slots=True)
class Migration:
    """Step ``version`` (1, 2, ...): statements run in order; per-dialect extras after them."""

    version: int
    description: str
    statements: tuple[str, ...]
    sqlite: tuple[str, ...] = ()
    postgres: tuple[str, ...] = ()

    def for_dialect(self, dialect: Dialect) -> tuple[str, ...]:
        """The statements to run on ``dialect``."""
        return self.statements + (self.sqlite if dialect == "sqlite" else self.postgres)


_V1 = Migration(1, "machines, executions (with leases), events, task tokens, timers", (
    """CREATE TABLE machines (
        arn TEXT NOT NULL,
        version TEXT NOT NULL,
        revision INTEGER NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        definition TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        PRIMARY KEY (arn, version),
        UNIQUE (arn, revision))""",
    """CREATE TABLE executions (
        arn TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        machine_arn TEXT NOT NULL,
        machine_version TEXT NOT NULL,
        parent_arn TEXT,
        input TEXT NOT NULL,
        status TEXT NOT NULL,
        start_us BIGINT NOT NULL,
        stop_us BIGINT,
        output TEXT,
        error TEXT,
        cause TEXT,
        redrive_count INTEGER NOT NULL DEFAULT 0,
        redrive_status TEXT,
        redrive_us BIGINT,
        seed BIGINT NOT NULL DEFAULT 0,
        last_event_id INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_until_us BIGINT,
        lease_epoch BIGINT NOT NULL DEFAULT 0,
        wake_us BIGINT)""",
    "CREATE INDEX executions_by_machine ON executions (machine_arn, start_us)",
    "CREATE INDEX executions_by_status ON executions (status, start_us)",
    "CREATE INDEX executions_by_parent ON executions (parent_arn) WHERE parent_arn IS NOT NULL",
    "CREATE INDEX executions_by_lease ON executions (lease_until_us)"
    " WHERE lease_until_us IS NOT NULL",
    # claimable through a timer: unleased, with its earliest timer (wake_us) due
    "CREATE INDEX executions_by_wake ON executions (wake_us)"
    " WHERE lease_until_us IS NULL AND wake_us IS NOT NULL",
    """CREATE TABLE events (
        execution_arn TEXT NOT NULL,
        id INTEGER NOT NULL,
        type TEXT NOT NULL,
        ts_us BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (execution_arn, id))""",
    """CREATE TABLE task_tokens (
        token TEXT PRIMARY KEY,
        execution_arn TEXT NOT NULL,
        state_name TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        status TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        timeout_us BIGINT,
        heartbeat_seconds INTEGER,
        heartbeat_us BIGINT,
        output TEXT,
        error TEXT,
        cause TEXT,
        closed_us BIGINT)""",
    "CREATE INDEX task_tokens_by_execution ON task_tokens (execution_arn, event_id)",
    """CREATE TABLE timers (
        execution_arn TEXT NOT NULL,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        due_us BIGINT NOT NULL,
        PRIMARY KEY (execution_arn, key))""",
))

_V2 = Migration(2, "machines.source: the file a definition was loaded from (its folder "
                 "resolves relative Task resources such as python:handlers.x:f)", (
    "ALTER TABLE machines ADD COLUMN source TEXT",
))

_V3 = Migration(3, "Distributed Map runs: map_runs, and child executions linked to their map run "
                 "(executions.map_run_arn, item_count)", (
    "ALTER TABLE executions ADD COLUMN map_run_arn TEXT",
    "ALTER TABLE executions ADD COLUMN item_count INTEGER",
    "CREATE INDEX executions_by_map_run ON executions (map_run_arn, start_us)"
    " WHERE map_run_arn IS NOT NULL",
    """CREATE TABLE map_runs (
        arn TEXT PRIMARY KEY,
        execution_arn TEXT NOT NULL,
        machine_arn TEXT NOT NULL,
        status TEXT NOT NULL,
        start_us BIGINT NOT NULL,
        stop_us BIGINT,
        max_concurrency INTEGER NOT NULL DEFAULT 0,
        tolerated_failure_percentage DOUBLE PRECISION NOT NULL DEFAULT 0,
        tolerated_failure_count BIGINT NOT NULL DEFAULT 0,
        item_total BIGINT NOT NULL DEFAULT 0,
        execution_total BIGINT NOT NULL DEFAULT 0,
        results_written BIGINT NOT NULL DEFAULT 0,
        redrive_count INTEGER NOT NULL DEFAULT 0,
        redrive_us BIGINT)""",
    "CREATE INDEX map_runs_by_execution ON map_runs (execution_arn, start_us)",
))

_V4 = Migration(4, "the AWS API's catalog (sm serve): machine metadata, published versions "
                 "(and the executions started from one), tags, activities and their queued "
                 "tasks (statemachine.durable.catalog)", (
    """CREATE TABLE api_machines (
        arn TEXT PRIMARY KEY,
        role_arn TEXT NOT NULL,
        current_version TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        updated_us BIGINT,
        description TEXT,
        logging TEXT,
        tracing TEXT,
        deleted_us BIGINT)""",
    """CREATE TABLE machine_versions (
        machine_arn TEXT NOT NULL,
        number INTEGER NOT NULL,
        version TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        role_arn TEXT NOT NULL,
        description TEXT,
        deleted INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (machine_arn, number))""",
    """CREATE TABLE tags (
        resource_arn TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (resource_arn, key))""",
    """CREATE TABLE activities (
        arn TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_us BIGINT NOT NULL)""",
    """CREATE TABLE activity_tasks (
        token TEXT PRIMARY KEY,
        activity_arn TEXT NOT NULL,
        execution_arn TEXT NOT NULL,
        input TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        worker TEXT,
        taken_us BIGINT)""",
    "CREATE INDEX activity_tasks_untaken ON activity_tasks (activity_arn, created_us)"
    " WHERE taken_us IS NULL",
    """CREATE TABLE execution_versions (
        execution_arn TEXT PRIMARY KEY,
        version_arn TEXT NOT NULL)""",
    "CREATE INDEX execution_versions_by_version ON execution_versions (version_arn)",
))

_V5 = Migration(5, "schedules: EventBridge Scheduler-style schedules and their fire times", (
    """CREATE TABLE schedules (
        group_name TEXT NOT NULL,
        name TEXT NOT NULL,
        expression TEXT NOT NULL,
        timezone TEXT NOT NULL,
        target_arn TEXT NOT NULL,
        input TEXT NOT NULL,
        state TEXT NOT NULL,
        window_minutes INTEGER,
        start_us BIGINT,
        end_us BIGINT,
        description TEXT,
        created_us BIGINT NOT NULL,
        modified_us BIGINT NOT NULL,
        next_fire_us BIGINT,
        last_fire_us BIGINT,
        action_after_completion TEXT NOT NULL DEFAULT 'NONE',
        PRIMARY KEY (group_name, name))""",
))

_V6 = Migration(6, "the event log in segments: one row per batch of consecutive events of an "
                 "execution, its events in one JSON text (statemachine.durable._events); the "
                 "events of version 5 become one-event segments, their bodies kept verbatim", (
    """CREATE TABLE event_segments (
        execution_arn TEXT NOT NULL,
        first_id INTEGER NOT NULL,
        last_id INTEGER NOT NULL,
        events TEXT NOT NULL,
        PRIMARY KEY (execution_arn, first_id))""",
), sqlite=(
    "INSERT INTO event_segments (execution_arn, first_id, last_id, events) "
    "SELECT execution_arn, id, id, json_array(json_array(type, ts_us, body)) FROM events",
    "DROP TABLE events",
), postgres=(
    "INSERT INTO event_segments (execution_arn, first_id, last_id, events) "
    "SELECT execution_arn, id, id, json_build_array(json_build_array(type, ts_us, body))::text "
    "FROM events",
    "DROP TABLE events",
))

_V7 = Migration(7, "executions' input and output move to execution_payloads, written once "
                 "(the input at the start, the output at the end): each update of an "
                 "execution's row (a claim, a lease, an append's compare-and-set, a release) "
                 "then rewrites a row of a few hundred bytes, not the payloads with it", (
    """CREATE TABLE execution_payloads (
        execution_arn TEXT PRIMARY KEY,
        input TEXT NOT NULL,
        output TEXT)""",
    "INSERT INTO execution_payloads (execution_arn, input, output) "
    "SELECT arn, input, output FROM executions",
    "ALTER TABLE executions DROP COLUMN input",
    "ALTER TABLE executions DROP COLUMN output",
))

#: Every step, in order. ``MIGRATIONS[i].version == i + 1``.
MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7)
#: The newest schema version this release reads and writes.
SCHEMA_VERSION: Final = MIGRATIONS[-1].version


def latest() -> int:
    """The version the last step of ``MIGRATIONS`` brings a database to."""
    return MIGRATIONS[-1].version


def pending(found: int, where: str) -> tuple[Migration, ...]:
    """The steps a database at version ``found`` still needs (maybe none).

    Raises SchemaTooNew when ``found`` is above ``latest()`` (``where`` names the database
    in the message).
    """
    if found > latest():
        raise SchemaTooNew(where, found, latest())
    return tuple(step for step in MIGRATIONS if step.version > found)
