"""Schedules, firing: the loop that starts a schedule's state machine when it falls due.

In: a ``DurableStore`` holding schedules (``ScheduleRecord``) and a ``Clock``. Out: durable
executions (a ``start`` timer each, so any ``sm worker`` runs them) and each schedule's
``next_fire``/``last_fire`` moved on.

**Once per instant.** A fire starts an execution named after the schedule and the scheduled
instant (``nightly-20260329T013000Z``; ``nightly@reports-...`` in group ``reports``), so two schedulers sharing a store cannot fire the same
instant twice: the second meets ExecutionExists, which means "already fired". The execution
is stored first and the schedule moved on after (compare-and-set on ``next_fire``), so a crash
in between fires nothing twice: the instant is due again, its execution exists, the schedule
moves on.

**Missed fires** (nothing ran while instants passed): with ``catchup="once"`` (the default)
the most recent missed instant fires once when the scheduler starts, and the schedule goes on
from the next instant still ahead; ``catchup="skip"`` fires none of them. A fire counts as
missed when it is more than ``grace`` seconds (default 60, EventBridge's one-minute
precision) late.

**Flexible time windows** (FlexibleTimeWindow Mode FLEXIBLE, MaximumWindowInMinutes N): a fire
happens at an offset in [0, N) minutes after its instant, the same offset for the same
schedule and instant on every host (a SHA-256 of group, name and instant), so a window
spreads load without making the fire time unpredictable in tests.

Under a ``VirtualClock`` the loop sleeps on that clock, so a test sees a year of fires at
once (tests/schedules/test_scheduler.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from statemachine.clock import Clock, SystemClock
from statemachine.durable.contract import (
    DurableStore,
    ExecutionRecord,
    MachineRecord,
    ScheduleRecord,
)
from statemachine.durable.errors import ExecutionExists, StoreError
from statemachine.schedules.expressions import At, Cron, Rate, parse, zone

__all__ = ["Catchup", "Scheduler", "execution_name", "fire_offset", "next_fire", "target_machine"]

Catchup = Literal["once", "skip"]
_NAME_LIMIT: Final = 80  # AWS: execution names are 1-80 characters


def next_fire(record: ScheduleRecord, after: datetime) -> datetime | None:
    """The schedule's first instant strictly after ``after`` (UTC), honouring StartDate and
    EndDate (recurring schedules only, as on AWS); None when it will not fire again."""
    expression = parse(record.expression)
    if isinstance(expression, At):
        return expression.next_fire(after, tz=zone(record.timezone))
    if isinstance(expression, Rate):
        anchor = record.start_date or record.modified  # created, or last updated
        return expression.next_fire(after, anchor=anchor, start=record.start_date,
                                    end=record.end_date)
    assert isinstance(expression, Cron)
    return expression.next_fire(after, tz=zone(record.timezone), start=record.start_date,
                                end=record.end_date)


def target_machine(store: DurableStore, arn: str) -> MachineRecord | None:
    """The newest stored version of a schedule's target state machine, or None when there is
    none or it was deleted (``sm serve``'s DeleteStateMachine marks it in the store's catalog
    and keeps the rows its executions need)."""
    machine = store.machine(arn)
    api_machine = getattr(store, "api_machine", None)  # the catalog of SqliteStore/PostgresStore
    if machine is not None and api_machine is not None:
        meta = api_machine(arn)
        if meta is not None and meta.deleted is not None:
            return None
    return machine


def fire_offset(record: ScheduleRecord, instant: datetime) -> timedelta:
    """How long after ``instant`` the schedule fires: zero without a flexible window, else a
    whole number of seconds in [0, MaximumWindowInMinutes), fixed by group, name and instant."""
    if not record.window_minutes:
        return timedelta(0)
    key = f"{record.group_name}/{record.name}@{instant.isoformat()}".encode()
    digest = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
    return timedelta(seconds=digest % (record.window_minutes * 60))


def execution_name(schedule_name: str, instant: datetime, group: str = "default") -> str:
    """The execution name of one fire: ``<schedule>-<instant, UTC, basic ISO 8601>``, with
    ``@<group>`` after the schedule's name outside the default group (``@`` is in no schedule
    or group name, so two schedules never share an execution name); a long name is shortened
    with a hash so it stays within AWS's 80 characters."""
    stamp = instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = schedule_name if group == "default" else f"{schedule_name}@{group}"
    if len(base) + 1 + len(stamp) > _NAME_LIMIT:
        digest = hashlib.sha256(base.encode()).hexdigest()[:8]
        base = f"{base[:_NAME_LIMIT - len(stamp) - 10]}-{digest}"
    return f"{base}-{stamp}"


class Scheduler:
    """Fires the ENABLED schedules of ``store`` on ``clock`` (default: real time).

    ``catchup``: "once" or "skip" (see the module docstring). ``grace``: seconds late before
    a fire counts as missed. ``poll``: longest sleep between looks at the store (schedules
    created by other processes are seen within it). ``log``: one line per notable thing.
    ``on_fire``: called after a pass that started executions (a worker's ``wake``).
    ``fired`` lists the execution ARNs this scheduler started, in order.
    """

    def __init__(self, store: DurableStore, *, clock: Clock | None = None,
                 catchup: Catchup = "once", grace: float = 60.0, poll: float = 10.0,
                 log: Callable[[str], None] | None = None,
                 on_fire: Callable[[], None] | None = None) -> None:
        if catchup not in ("once", "skip"):
            raise ValueError(f"catchup is 'once' or 'skip', not {catchup!r}")
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.catchup = catchup
        self.grace = timedelta(seconds=grace)
        self.poll = poll
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.fired: list[str] = []
        self.on_fire = on_fire
        self._retry: dict[tuple[str, str], datetime] = {}  # a failed fire's next attempt
        self._stopping = False
        self._wake: asyncio.Event | None = None

    def now(self) -> datetime:
        """The clock's time as an aware UTC datetime (milliseconds)."""
        return datetime.fromtimestamp(round(self.clock.now(), 3), UTC)

    def stop(self) -> None:
        """Ask ``run`` to return (any thread, a signal handler)."""
        self._stopping = True
        self.wake()

    def wake(self) -> None:
        """Look at the store now (a schedule was created or changed in this process); call
        it on the loop ``run`` runs on."""
        if self._wake is not None:
            with contextlib.suppress(RuntimeError):
                self._wake.set()

    # -- one pass -----------------------------------------------------------------------------
    def fire_due(self, now: datetime | None = None) -> list[str]:
        """Fire every schedule due at ``now`` (default: the clock's); returns the ARNs of the
        executions started (an instant another scheduler fired first is not among them)."""
        now = now or self.now()
        started = []
        for record in self.store.schedules():
            due = self._due(record)
            if due is None or due > now:
                continue
            try:
                arn = self._fire(record, now)
            except StoreError:
                raise
            except Exception as error:  # croniter missing, a target that will not load, ...
                self._retry[(record.group_name, record.name)] = now + timedelta(seconds=self.poll)
                self.log(f"scheduler: {record.group_name}/{record.name}: {error}; "
                         f"trying again in {self.poll:g} s")
                continue
            if arn is not None:
                started.append(arn)
        self.fired += started
        if started and self.on_fire is not None:
            self.on_fire()  # e.g. wake the worker that will run them
        return started

    def _due(self, record: ScheduleRecord) -> datetime | None:
        """When the schedule is next due here (None: never), a failed one no sooner than
        its retry."""
        if record.state != "ENABLED" or record.next_fire is None:
            return None
        due = record.next_fire + fire_offset(record, record.next_fire)
        retry = self._retry.get((record.group_name, record.name))
        return due if retry is None else max(due, retry)

    def _fire(self, record: ScheduleRecord, now: datetime) -> str | None:
        assert record.next_fire is not None
        instant, following = self._latest_due(record, now)
        late = now - (instant + fire_offset(record, instant))
        arn = None
        if self.catchup == "once" or late <= self.grace:
            arn = self._start(record, instant, now)
        else:
            self.log(f"scheduler: {record.group_name}/{record.name}: skipped the fire of "
                     f"{instant.isoformat()} missed while no scheduler ran (catchup: skip)")
        moved = self.store.advance_schedule(record.group_name, record.name,
                                            expected=record.next_fire, next_fire=following,
                                            last_fire=instant)
        self._retry.pop((record.group_name, record.name), None)
        if moved and following is None and record.action_after_completion == "DELETE":
            self.store.delete_schedule(record.group_name, record.name)  # AWS: completed
        return arn

    def _latest_due(self, record: ScheduleRecord, now: datetime
                    ) -> tuple[datetime, datetime | None]:
        """The latest instant due at ``now`` (missed ones before it collapse into it) and the
        instant after it."""
        assert record.next_fire is not None
        instant = record.next_fire
        # after a long outage, start from the last hour: no walk through months of minutes
        window = timedelta(minutes=record.window_minutes or 0)
        probe = next_fire(record, max(instant, now - timedelta(hours=1) - window))
        if probe is not None and probe + fire_offset(record, probe) <= now:
            instant = probe
        for _ in range(100_000):
            following = next_fire(record, instant)
            if following is None or following + fire_offset(record, following) > now:
                return instant, following
            instant = following
        return instant, next_fire(record, now)  # pragma: no cover - a very long outage

    def _start(self, record: ScheduleRecord, instant: datetime, now: datetime) -> str | None:
        """Store the execution of one fire; None when it exists (fired elsewhere) or its
        state machine is gone."""
        from statemachine.api import ACCOUNT, REGION, ROLE_ARN
        from statemachine.durable.runner import event_record
        from statemachine.history import Event
        from statemachine.randomness import new_seed

        machine = target_machine(self.store, record.target_arn)
        if machine is None:
            self.log(f"scheduler: {record.group_name}/{record.name}: target state machine "
                     f"{record.target_arn} does not exist; fire of {instant.isoformat()} dropped")
            return None
        name = execution_name(record.name, instant, record.group_name)
        kind = "express" if machine.type == "EXPRESS" else "execution"
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:{kind}:{machine.name}:{name}"
        started = Event(1, 0, now.timestamp(), "ExecutionStarted",
                        {"input": json.loads(record.input), "roleArn": ROLE_ARN})
        execution = ExecutionRecord(arn=arn, name=name, machine_arn=machine.arn,
                                    machine_version=machine.version, input=record.input,
                                    start_date=now, seed=new_seed())
        try:
            self.store.create_execution(execution, events=[event_record(started)])
        except ExecutionExists:
            return None  # another scheduler fired this instant
        return arn

    # -- the loop -----------------------------------------------------------------------------
    def _wait(self, now: datetime, stop_at: datetime | None) -> float:
        """Seconds until the earliest fire, at most ``poll`` (and not past ``stop_at``)."""
        wait = self.poll
        with contextlib.suppress(StoreError):
            for record in self.store.schedules():
                due = self._due(record)
                if due is not None:
                    wait = min(wait, (due - now).total_seconds())
        if stop_at is not None:
            wait = min(wait, (stop_at - now).total_seconds())
        return max(0.0, wait)

    async def run(self, *, until: Callable[[], bool] | None = None,
                  stop_at: datetime | None = None) -> None:
        """Fire schedules as they fall due until ``stop()``, ``until()`` turns true, or the
        clock reaches ``stop_at``. Store failures are logged and retried; they never stop
        the loop."""
        self._wake = asyncio.Event()
        backoff = 0.0
        while not self._stopping and not (until is not None and until()):
            now = self.now()
            if stop_at is not None and now >= stop_at:
                break
            self._wake.clear()  # a wake() from here on is seen by the next sleep
            try:
                self.fire_due(now)
                backoff = 0.0
                wait = self._wait(now, stop_at)
            except StoreError as error:
                backoff = min(30.0, backoff * 2 or 0.5)
                self.log(f"scheduler: store unavailable ({error}); retrying in {backoff:.1f} s")
                wait = backoff
            await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)
