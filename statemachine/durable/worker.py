"""Durable executions, worker: claims due work from the store and advances it.

In: a ``DurableStore``. Out: executions advanced (``runner.advance``) until they end or
park. One worker process runs many executions at once on one event loop (a parked one
costs nothing: no coroutine, no thread). Several workers share one store: ``claim_due``
hands each execution to one of them under a lease, renewed while it runs; when a worker
dies its leases lapse and another worker takes the executions over.

Waking: ``wake()`` claims now rather than at the next ``poll``; ``resume(arn)`` claims that
execution first (a task token answered in this process: ``sm serve``), ahead of the others
due. Idle on SQLite, the worker looks at the store's ``data_version`` every 50 ms: a commit
by another process that made work due (a token answered by ``sm task success``) is claimed
then, not at the next ``poll``.

Stopping (``Worker.stop()``, SIGTERM, Ctrl-C): no new claims; running executions park at
their next idle point (handlers already running finish first, up to ``grace`` seconds),
then the lease is released. An execution stopped mid-task resumes later and runs that task
again (at-least-once). Store failures: the worker logs one line, backs off (doubling up to
``max_backoff``) and retries; executions are never failed because of the store.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statemachine.clock import Clock, SystemClock
from statemachine.durable.contract import (
    Claim,
    DurableStore,
    ExecutionRecord,
    Lease,
    MachineRecord,
)
from statemachine.durable.errors import ExecutionNotFound, LeaseHeld, StoreError
from statemachine.durable.runner import Advance, advance
from statemachine.errors import DefinitionError, ResourceNotFoundError

if TYPE_CHECKING:
    from statemachine.schedules.scheduler import Catchup, Scheduler

__all__ = ["Worker", "load_machine", "worker_id"]


def worker_id() -> str:
    """A name unique to this worker process: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"


_MACHINES: dict[tuple[str, str], Any] = {}


_MACHINES_KEPT = 1024  # loaded machines a Worker keeps (all dropped when full)
#: Seconds between two looks at the store's ``data_version`` while idle (see Worker._idle).
_NOTICE_EVERY = 0.05


def load_machine(record: MachineRecord) -> Any:
    """The ``StateMachine`` of a stored machine version (cached per process). Relative Task
    resources resolve against the folder of the file it was started from."""
    key = (record.arn, record.version)
    found = _MACHINES.get(key)
    if found is None:
        from statemachine.api import _registry, load

        base = Path(record.source).parent if record.source else None
        registry = _registry(None, None, base)
        found = load(record.definition, name=record.name, machine_type=record.type,
                     resources=registry)
        _MACHINES[key] = found
    return found


class Worker:
    """Runs due executions of one store until ``stop()``.

    ``concurrency``: executions advanced at once. ``lease_seconds``: how long a claim lasts
    without renewal (renewed every third of it). ``poll``: longest sleep between claims.
    ``park_after``: waits due within this many seconds are slept in process, longer ones
    park. ``log``: one line per notable thing (default: stderr). ``only``: advance just
    this execution ARN (``sm run --db``). ``clock``: the time the worker and its
    executions read (default: the system's). With a ``VirtualClock`` (tests, ``sm worker
    --virtual-time``) nothing waits for real: in-process waits jump as in ``run()``, and
    when nothing runs the worker moves the clock to the next timer in the store, so an
    execution parked on a Wait days away ends at once with its history saying days passed.
    Use one virtual-time worker per store (its clock is its own).
    ``schedules``: also fire the store's schedules
    (statemachine.schedules.scheduler; ``catchup`` "once" or "skip" for fires missed while
    no worker ran). Raises ValueError at construction when ``observability`` is None and
    ``$SM_LOG_LEVEL``/``$SM_LOG_INCLUDE_DATA``/``$SM_LOG_FILE`` hold a bad value (logs.py).
    """

    def __init__(self, store: DurableStore, *, concurrency: int = 64, lease_seconds: float = 30.0,
                 poll: float = 0.5, park_after: float = 2.0, grace: float = 30.0,
                 max_backoff: float = 30.0, log: Callable[[str], None] | None = None,
                 owner: str | None = None, history_limit: int | bool | None = True,
                 clock: Clock | None = None,
                 loader: Callable[[MachineRecord], Any] | None = None,
                 observability: Sequence[Any] | None = None,
                 schedules: bool = False, catchup: Catchup = "once",
                 executor: Any = None) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        #: logging/telemetry configurations (observe.py); None: each machine's own plus
        #: observe.process_observability() (``sm serve``'s /metrics, $SM_LOG_LEVEL)
        self.observability = observability
        if observability is None:  # a bad $SM_LOG_* refuses the worker, not every run forever
            from statemachine.observe import read_environment

            read_environment()  # read once per worker, not per advance; ValueError naming it
        #: where Map iterations and Parallel branches run (statemachine.executors): None =
        #: here; a RemoteExecutor shared by every execution this worker advances
        self.executor = executor
        self.loader = loader or load_machine
        #: (machine ARN, version) -> the loaded machine: a version is its definition's hash
        #: and never changes, so an advance skips reading the record (definition included)
        self._machines: dict[tuple[str, str], Any] = {}
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll = poll
        self.park_after = park_after
        self.grace = grace
        self.max_backoff = max_backoff
        self.owner = owner or worker_id()
        self.history_limit = history_limit
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.finished: dict[str, str] = {}  # execution ARN -> final status, this worker's runs
        self.dispatches = 0
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._active: dict[str, asyncio.Task[None]] = {}
        #: executions made due in this process (``resume``), claimed ahead of the others
        self._urgent: collections.deque[str] = collections.deque()
        #: leases of the executions advancing here, renewed by ``_keep_leases`` (a thread)
        self._leases: set[str] = set()
        self._leases_lock = threading.Lock()
        self.scheduler: Scheduler | None = None
        if schedules:
            from statemachine.schedules.scheduler import Scheduler

            self.scheduler = Scheduler(store, catchup=catchup, log=self.log, on_fire=self.wake)

    def stop(self) -> None:
        """Ask the worker to stop (any thread or a signal handler): see the module docstring."""
        self._stopping = True
        if self.scheduler is not None:
            self.scheduler.stop()
        if self._wake is not None:
            with contextlib.suppress(RuntimeError):
                self._wake.set()

    def wake(self) -> None:
        """Look for due work now rather than at the next poll (any thread; e.g. ``sm serve``
        right after StartExecution)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(wake.set)

    def resume(self, execution_arn: str) -> None:
        """An execution this process just made due (e.g. ``sm serve`` answered its task
        token): claim it at the next turn of the loop, ahead of ``claim_due``'s order (where
        it would wait behind every execution due before it). Any thread. The store's timer
        stays the source of truth: if the worker stops first, any worker claims it later."""
        self._urgent.append(execution_arn)
        self.wake()

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def run(self, *, until: Callable[[], bool] | None = None) -> None:
        """Claim and advance executions until ``stop()`` (or ``until()`` turns true)."""
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        if self.scheduler is not None:  # fires due now (missed ones included) before any claim
            with contextlib.suppress(StoreError):
                self.scheduler.fire_due()
        firing = None if self.scheduler is None else asyncio.ensure_future(self.scheduler.run())
        keeping = threading.Event()
        keeper = threading.Thread(target=self._keep_leases, args=(keeping,),
                                  name="sm-lease-keeper", daemon=True)
        keeper.start()
        try:
            await self._work(until)
        finally:
            keeping.set()
            keeper.join()
            if firing is not None and self.scheduler is not None:
                self.scheduler.stop()
                await firing

    async def _work(self, until: Callable[[], bool] | None) -> None:
        backoff = 0.0
        while not self._stopping and not (until is not None and until()):
            free = self.concurrency - len(self._active)
            claims: list[Claim] = []
            if free > 0:
                try:
                    claims = self._claim_resumed(free) if self._urgent else []
                    if len(claims) < free:
                        claims += self.store.claim_due(
                            self.owner, now=self.now(), lease_seconds=self.lease_seconds,
                            limit=free - len(claims),
                            exclude=(*self._active, *(c.lease.execution_arn for c in claims)))
                    if backoff:
                        self.log("worker: the store answers again; resuming")
                    backoff = 0.0
                except StoreError as error:
                    backoff = min(self.max_backoff, backoff * 2 or 0.5)
                    self.log(f"worker: store unavailable ({error}); retrying in {backoff:.1f} s")
                    await self._sleep(backoff)
                    continue
            for claim in claims:
                self._spawn(claim.lease.execution_arn, claim)
            if len(claims) >= free:  # every slot taken: the first to finish wakes the loop
                await self._sleep(self.poll)  # (was: a store query each turn of the loop)
                continue
            await self._idle(self._idle_wait())
        await self._drain()

    def _claim_resumed(self, limit: int) -> list[Claim]:
        """Claims of up to ``limit`` executions named by ``resume``, with their due timers
        (read under the lease). One advancing here now is kept for the next turn; one
        leased by another worker, gone, or with nothing due (claimed meanwhile) is dropped.
        Raises StoreError (the store's timers still hold the work)."""
        claims: list[Claim] = []
        later: list[str] = []
        try:
            while self._urgent and len(claims) < limit:
                arn = self._urgent.popleft()
                if arn in self._active or any(c.lease.execution_arn == arn for c in claims):
                    later.append(arn)
                    continue
                try:
                    lease = self.store.acquire_lease(arn, self.owner, now=self.now(),
                                                     lease_seconds=self.lease_seconds)
                except (LeaseHeld, ExecutionNotFound):
                    continue
                claim = self._due_under(lease)
                if claim is not None:
                    claims.append(claim)
        except StoreError:
            for claim in claims:  # not spawned: let them go rather than wait for the lapse
                with contextlib.suppress(StoreError):
                    self.store.release_lease(claim.lease)
            raise
        finally:
            self._urgent.extend(later)
        return claims

    def _due_under(self, lease: Lease) -> Claim | None:
        """The claim of a leased execution with its due timers; None (lease released) when
        nothing is due."""
        try:
            now = self.now()
            due = tuple(t for t in self.store.timers(lease.execution_arn) if t.due <= now)
            if due:
                return Claim(lease, due, recovered=False)
        except StoreError:
            with contextlib.suppress(StoreError):
                self.store.release_lease(lease)
            raise
        self.store.release_lease(lease)
        return None

    def now(self) -> datetime:
        """The worker's clock as an aware datetime."""
        return datetime.fromtimestamp(self.clock.now(), UTC)

    def _idle_wait(self) -> float:
        try:
            wake = self.store.next_wakeup()
        except StoreError:
            return self.poll
        if wake is None:
            return self.poll
        jump = getattr(self.clock, "advance_to", None)
        if jump is not None and not self._active and wake > self.now():
            jump(wake.timestamp())  # virtual time: nothing runs until then, skip the wait
            return 0.0
        return max(0.0, min(self.poll, (wake - self.now()).total_seconds()))

    async def _sleep(self, seconds: float) -> bool:
        """Up to ``seconds``, or until ``wake()``; True when woken."""
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
            return True
        return False

    async def _idle(self, seconds: float) -> None:
        """``_sleep`` between claims; with a store that tells when another process has
        committed (``data_version``: SQLite), looked at every ``_NOTICE_EVERY`` seconds, the
        wait ends as soon as such a commit made something due (a token answered by another
        process, a start by another server) rather than at the next ``poll``."""
        changes = getattr(self.store, "data_version", None)
        version = self._version(changes) if seconds > _NOTICE_EVERY else None
        if version is None:
            await self._sleep(seconds)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            if await self._sleep(min(left, _NOTICE_EVERY)):
                return
            seen = self._version(changes)
            if seen != version:
                version = seen
                deadline = min(deadline, loop.time() + self._idle_wait())

    async def _drain(self) -> None:
        if not self._active:
            return
        tasks = list(self._active.values())
        _, pending = await asyncio.wait(tasks, timeout=self.grace)
        for task in pending:  # handlers still running past the grace period: leases lapse
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _version(changes: Callable[[], int] | None) -> int | None:
        if changes is None:
            return None
        try:
            return changes()
        except StoreError:
            return None  # the claim that follows reports the store's state

    def _keep_leases(self, done: threading.Event) -> None:
        """Renew the lease of every execution advancing here, every third of
        ``lease_seconds``, from a thread of its own: a busy event loop (many executions,
        store round trips, a loaded machine) must not let a live worker's lease lapse --
        another worker would take the execution over and run its in-flight tasks again.
        A lease found lost is dropped (the runner sees it at its next commit and stops)."""
        every = max(0.05, self.lease_seconds / 3)
        while not done.wait(every):
            with self._leases_lock:
                held = list(self._leases)
            try:
                kept = self.store.renew_leases(self.owner, held, now=self.now(),
                                               lease_seconds=self.lease_seconds)
            except StoreError:
                continue
            with self._leases_lock:
                for arn in held:
                    if arn not in kept:
                        self._leases.discard(arn)

    def _spawn(self, arn: str, claim: Claim) -> None:
        task = asyncio.ensure_future(self._advance(claim))
        self._active[arn] = task
        with self._leases_lock:
            self._leases.add(arn)

        def done(finished: asyncio.Task[None]) -> None:
            if self._active.get(arn) is finished:
                self._active.pop(arn, None)
                with self._leases_lock:
                    self._leases.discard(arn)
            if self._wake is not None:
                self._wake.set()

        task.add_done_callback(done)

    async def _advance(self, claim: Claim) -> None:
        lease = claim.lease
        arn = lease.execution_arn
        store = self.store
        try:
            record = store.execution(arn)
            if record is None:
                store.release_lease(lease)
                return
            if record.status != "RUNNING":  # a stray timer of a finished execution
                store.append(arn, (), after=record.last_event_id, lease=lease,
                             cancel_timers="all", release=True)
                return
            key = (record.machine_arn, record.machine_version)
            machine = self._machines.get(key)
            if machine is None and self.loader is load_machine:
                machine = _MACHINES.get(key)  # loaded by this process before: no read
            if machine is None:
                machine_record = store.machine(*key)
                if machine_record is None:
                    self.log(f"worker: {arn}: its state machine version is not stored; skipped")
                    store.release_lease(lease)
                    return
                try:
                    machine = self.loader(machine_record)
                except (DefinitionError, ResourceNotFoundError) as error:
                    self._cannot_load(record, lease, error)
                    return
                if len(self._machines) >= _MACHINES_KEPT:
                    self._machines.clear()
                self._machines[key] = machine
            result: Advance = await advance(
                store, record, machine, lease, due_keys=[t.key for t in claim.due],
                lease_seconds=self.lease_seconds, park_after=self.park_after,
                stopping=lambda: self._stopping, history_limit=self.history_limit,
                base_clock=self.clock, observability=self.observability,
                executor=self.executor)
            self.dispatches += result.dispatches
            if result.lost:
                self.log(f"worker: {arn}: lease lost (another worker took it over, or it was "
                         "stopped); stopped advancing it here")
            if result.status != "RUNNING":
                self.finished[arn] = result.status
        except StoreError as error:
            self.log(f"worker: store failure while advancing {arn} ({error}); "
                     "it resumes once the store answers")
            await asyncio.sleep(min(self.max_backoff, 1.0))
        except Exception as error:  # an engine bug: keep the worker alive, say which execution
            self.log(f"worker: {arn}: {type(error).__name__}: {error}")
            with contextlib.suppress(StoreError):
                store.release_lease(lease)


    def _cannot_load(self, record: ExecutionRecord, lease: Lease, error: Exception) -> None:
        """The stored machine no longer loads here (a resource this process cannot or may
        not resolve, e.g. ``sm serve`` under a stricter policy): the execution fails with
        States.Runtime naming why, rather than being claimed again and again."""
        from statemachine.durable.contract import ExecutionUpdate
        from statemachine.durable.runner import cancel_waiting_tokens, event_record
        from statemachine.history import Event

        cause = f"the state machine cannot be loaded: {error}"
        now = self.now()
        event = Event(record.last_event_id + 1, record.last_event_id, now.timestamp(),
                      "ExecutionFailed", {"error": "States.Runtime", "cause": cause})
        self.log(f"worker: {record.arn}: {cause}")
        self.store.append(record.arn, [event_record(event)], after=record.last_event_id,
                          lease=lease, update=ExecutionUpdate(
                              status="FAILED", stop_date=now, error="States.Runtime",
                              cause=cause), cancel_timers="all", release=True)
        cancel_waiting_tokens(self.store, record.arn)
        self.finished[record.arn] = "FAILED"


async def run_one(store: DurableStore, arn: str, *, poll: float = 0.2, park_after: float = 2.0,
                  lease_seconds: float = 30.0, stopping: Callable[[], bool] = lambda: False,
                  owner: str | None = None) -> ExecutionRecord:
    """Advance one execution in this process until it ends (``sm run --db``): waits for its
    timers and callbacks between runs. Returns its final record."""
    owner = owner or worker_id()
    while True:
        record = store.execution(arn)
        if record is None:
            raise StoreError(f"execution vanished: {arn}")
        if record.status != "RUNNING" or stopping():
            return record
        timers = store.timers(arn)
        due = [t for t in timers if t.due <= _now()]
        if timers and not due:
            await asyncio.sleep(min(poll, (timers[0].due - _now()).total_seconds()))
            continue
        if not timers and store.lease(arn) is None and record.last_event_id > 1:
            await asyncio.sleep(poll)  # parked on a callback
            continue
        try:
            lease = store.acquire_lease(arn, owner, now=_now(), lease_seconds=lease_seconds)
        except LeaseHeld:
            await asyncio.sleep(poll)
            continue
        machine_record = store.machine(record.machine_arn, record.machine_version)
        assert machine_record is not None
        await advance(store, record, load_machine(machine_record), lease,
                      due_keys=[t.key for t in due], lease_seconds=lease_seconds,
                      park_after=park_after, stopping=stopping)


def _now() -> datetime:
    return datetime.now(UTC)


def monotonic() -> float:
    return time.monotonic()
