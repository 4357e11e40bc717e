"""Runtime edge: time. ``Clock`` gives the interpreter ``now()`` and ``await sleep()``.

``SystemClock`` is wall-clock time. ``VirtualClock`` makes waits free: virtual time stands
still while only the interpreter works, runs with real time while real work is in flight (a
task handler, marked with ``busy()``), and jumps forward to the next deadline when *everything
in flight is waiting on the clock* (nothing busy, no runnable coroutine on the loop). So a Wait
of an hour finishes at once while timestamps, the context object and history say an hour
passed; a handler busy in a thread still has its TimeoutSeconds measured in real seconds (the
clock never jumps past a deadline while real work is under way); and a run without handlers,
given a fixed ``start``, records byte-identical timestamps every time.

What counts as "real work in flight" is decided by the interpreter (interpreter/task.py):
a handler running (sync in a thread or async on the loop) holds the clock with ``busy()``;
a ``.waitForTaskToken`` callback holds it only while somebody in this process may still
answer it (``Runtime.hold_callbacks``; see api.RunOptions). Any wait may be huge or infinite:
``sleep`` never overflows (a deadline the clock cannot reach just never fires).

``Interrupt`` is the other edge: a stop flag and a wall-clock deadline that code running
without awaiting (a JSONata expression, a long loop of states) checks now and then, so that
abort, Ctrl-C and timeouts take effect within a fraction of a second.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

# asyncio is imported where it is used, not here: the JSONata adapter imports this module, and
# `sm validate` (which never runs a loop) would otherwise pay for importing asyncio.

__all__ = ["Clock", "Interrupt", "SystemClock", "VirtualClock", "current_clock", "current_interrupt",
           "format_timestamp"]

#: Longest single asyncio sleep (seconds): longer waits sleep in slices, so no deadline
#: overflows the event loop's timer (OverflowError / OSError on huge values).
_MAX_SLICE = 86_400.0


class Clock(Protocol):
    """Time source of an execution (``run(..., clock=...)``).

    Everything the interpreter times goes through it: history timestamps, the context
    object's times, Wait states, retry delays, TimeoutSeconds/HeartbeatSeconds. Called on
    the execution's event loop only (``now`` also from handler threads for heartbeats).
    """

    def now(self) -> float:
        """Current time in seconds since the Unix epoch (UTC), as ``time.time()``."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` (a float >= 0) of this clock's time; must be cancellable
        (an abort or a timeout cancels it) and must not raise otherwise."""
        ...

    def busy(self) -> contextlib.AbstractContextManager[None]:
        """A context manager marking real work in flight (a task handler) while it is open;
        virtual clocks do not jump meanwhile. Entered and exited on the execution's loop."""
        return contextlib.nullcontext()


#: The clock of the execution whose code is running (the API sets it for the run's tasks), so
#: that expression functions reading the time (JSONata's $now() and $millis()) keep virtual
#: time too. None outside an execution: those functions then read the system clock.
current_clock: ContextVar[Clock | None] = ContextVar("statemachine_current_clock", default=None)


class Interrupt:
    """Stop request of one execution, checked by code that runs long without awaiting.

    ``stop()`` may be called from any thread. ``deadline`` (abort) and ``timeout_at``
    (the execution times out) are ``time.monotonic()`` values, None when unset. ``check()``
    raises ``asyncio.CancelledError`` once stopped, past either deadline, or when the running
    task has a pending cancellation (Ctrl-C cancels the main task of ``asyncio.run`` while the
    loop thread is still busy); the interpreter then ends the execution as it would for any
    abort or timeout."""

    __slots__ = ("deadline", "stopped", "timeout_at")

    def __init__(self, deadline: float | None = None) -> None:
        self.stopped = False
        self.deadline = deadline
        self.timeout_at: float | None = None

    def stop(self) -> None:
        self.stopped = True

    @property
    def timed_out(self) -> bool:
        return self.timeout_at is not None and time.monotonic() >= self.timeout_at

    def due(self) -> bool:
        """Should the work stop now?"""
        if self.stopped or self.timed_out or (self.deadline is not None and time.monotonic() >= self.deadline):
            return True
        aio = sys.modules.get("asyncio")
        if aio is None:  # never imported: no loop is running, so no task can be cancelled
            return False
        try:
            task = aio.current_task()
        except RuntimeError:  # no running loop (a worker thread)
            return False
        return task is not None and task.cancelling() > 0

    def check(self) -> None:
        if self.due():
            import asyncio  # lazy (see the imports)

            raise asyncio.CancelledError("interrupted")


#: The Interrupt of the execution whose code is running (set by the API for the run's tasks).
current_interrupt: ContextVar[Interrupt | None] = ContextVar("statemachine_current_interrupt", default=None)


class SystemClock:
    """Real time."""

    #: ``time.time`` itself: no Python frame per history event
    now = staticmethod(time.time)

    async def sleep(self, seconds: float) -> None:
        import asyncio

        while seconds > 0:  # slices: an hour or a thousand years sleep alike, never overflow
            step = min(seconds, _MAX_SLICE)
            await asyncio.sleep(step)
            seconds -= step

    def busy(self) -> contextlib.AbstractContextManager[None]:
        return _NOTHING  # real time needs no bookkeeping (a shared no-op: ~1 us less per Task)


_NOTHING: contextlib.nullcontext[None] = contextlib.nullcontext()


class VirtualClock:
    """Real time plus jumps over periods where everything waits on the clock.

    One instance serves one event loop at a time (an execution creates its own).
    """

    def __init__(self, start: float | None = None) -> None:
        self._base = time.time() if start is None else start
        self._offset = 0.0  # jumps plus real time spent busy (closed periods)
        #: seconds the clock has jumped so far (its logical time, without real time): what
        #: orders the events of work run on other clocks (interpreter/remote.py)
        self.jumped = 0.0
        self._busy_since = 0.0  # monotonic start of the open busy period
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._busy = 0
        self._driver: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None

    def now(self) -> float:
        running = time.monotonic() - self._busy_since if self._busy else 0.0
        return self._base + self._offset + running

    async def sleep(self, seconds: float) -> None:
        import asyncio

        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self.now() + seconds, next(self._seq), fut))
        self._poke()
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        await fut

    @contextmanager
    def busy(self) -> Iterator[None]:
        if self._busy == 0:
            self._busy_since = time.monotonic()
        self._busy += 1
        try:
            yield
        finally:
            if self._busy == 1:
                self._offset += time.monotonic() - self._busy_since
            self._busy -= 1
            self._poke()

    def advance_to(self, when: float) -> None:
        """Move virtual time forward to ``when`` (seconds since the epoch; an earlier time
        changes nothing) and wake the sleepers then due. A durable worker with this clock
        calls it when it has nothing to do until its next timer (``Worker(clock=...)``)."""
        now = self.now()
        if when > now:
            self._offset += when - now
        self._wake_due()
        self._poke()

    def _poke(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def _drive(self) -> None:
        import asyncio

        self._changed = asyncio.Event()
        while self._prune():
            settled = await _settle()
            if not self._prune():
                break
            if not settled:  # the interpreter is still working (a long loop of states)
                continue
            deadline = self._sleepers[0][0]
            if self._busy == 0 and math.isfinite(deadline):
                jump = max(0.0, deadline - self.now())
                self._offset += jump
                self.jumped += jump
            else:
                self._changed.clear()
                wait = min(max(0.0, deadline - self.now()), _MAX_SLICE)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)
            self._wake_due()

    def _prune(self) -> bool:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return bool(self._sleepers)

    def _wake_due(self) -> None:
        now = self.now()
        while self._sleepers and self._sleepers[0][0] <= now + 1e-9:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)


async def _settle(rounds: int = 10_000) -> bool:
    """Yield until nothing else on the loop is runnable (CPython: the ready queue is empty);
    False when work was still runnable after ``rounds`` turns (time must not jump then)."""
    import asyncio

    loop = asyncio.get_running_loop()
    for _ in range(rounds):
        await asyncio.sleep(0)
        ready = getattr(loop, "_ready", None)
        if ready is None:
            for _ in range(50):
                await asyncio.sleep(0)
            return True
        if not ready:
            return True
    return False


#: (second, "YYYY-MM-DDTHH:MM:SS.") of the last timestamp formatted: most fall in the same second
_LAST_SECOND: tuple[int, str] = (0, "1970-01-01T00:00:00.")


def format_timestamp(epoch: float) -> str:
    """AWS's context-object timestamp: ``2024-01-31T12:00:00.123Z`` (milliseconds, UTC).

    Same text as ``datetime.fromtimestamp(epoch, UTC)`` formatted (microseconds rounded half
    to even as datetime does, then truncated to milliseconds), with the date and time of day
    kept for the last second seen: strftime was ~5 us per Task state."""
    global _LAST_SECOND
    fraction, whole = math.modf(epoch)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    second = int(whole)
    cached = _LAST_SECOND
    if cached[0] != second:
        cached = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S."))
        _LAST_SECOND = cached
    return f"{cached[1]}{micros // 1000:03d}Z"


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
