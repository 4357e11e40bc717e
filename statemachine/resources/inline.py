"""Resources stage: the event loop of ``StateMachine.run`` / ``start``, which runs blocking
handlers without a thread hand-off per call, yet never lets one block the loop for long.

Why: a blocking (synchronous) handler must not run on the thread that drives the event loop --
other branches, Map iterations, TimeoutSeconds, ``abort()`` and ``run(timeout=...)`` would all
wait for it. Handing each call to a worker thread (``HandlerThreads.call``) keeps the loop free
but costs two thread switches per call (a futex wake, the loop's self-pipe, ``epoll_wait``),
~30-40 us of CPU and the scheduler's wake-up latency: more than a Task state itself.

How (``InlineLoop``): the handler still runs on a worker of the execution's ``HandlerThreads``
pool, but the loop moves there with it. When a step of the loop queues a blocking call
(``call_inline``), the thread that runs the loop (the caller of ``run``, its "home") lends the
loop to a pool worker and waits. The worker drives the loop (``_run_once``) and runs each
queued call between two iterations, on its own stack, while nothing else uses the loop -- so a
Task in a loop costs no thread switch at all, only one at the first call and one when the
execution ends (the loop goes home, and ``run`` returns from the caller's thread as before).

A call that runs long gives the loop back: a watchdog thread looks at every lent loop each
``POLL_SECONDS``; a call it finds running at two looks in a row (so after 5-10 ms, more when
the process is busy) is left to finish on its worker, as any pool call would, and the loop goes
home at once, where it keeps running other branches, timers, TimeoutSeconds/HeartbeatSeconds,
abort and ``run(timeout=...)``; the call's result reaches the loop through
``call_soon_threadsafe`` when it comes, and is dropped when the Task has given up on it
(timeout, abort). ``run`` returns when the execution ends, even while such a call still runs.

What a handler sees does not change: it runs on a pool worker thread named after it (never
on the caller's thread, never with a running event loop in its thread), the pool's bound holds
(a loop is lent only to a worker the pool may start or has idle; when the pool is full, calls
queue as ``HandlerThreads.call`` queues them), and TimeoutSeconds counts from the call's start.
Loops the project does not own (``run_async`` on the caller's loop, servers) keep
``HandlerThreads.call``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from statemachine.resources.threads import HandlerThreads, _Job, _settle

__all__ = ["POLL_SECONDS", "InlineLoop", "run_owned"]

T = TypeVar("T")

#: How often the watchdog looks at the loops lent to workers (seconds).
POLL_SECONDS = 0.005
#: Turns of a lent loop that run only its ready callbacks before one full ``_run_once``
#: (``select()`` for I/O, due timers): a Task in a loop needs no system call per call.
QUICK_TURNS = 16

_base_run_once = asyncio.BaseEventLoop._run_once  # type: ignore[attr-defined]  # asyncio internal
_set_running_loop = asyncio.events._set_running_loop
_Future = asyncio.Future  # the C future: ``loop.create_future()`` without its Python frame


class _Call:
    """One blocking call queued on an InlineLoop."""

    __slots__ = ("arg", "func", "future", "name", "pool", "started")

    def __init__(self, pool: HandlerThreads, func: Callable[[Any], Any], arg: Any, name: str,
                 future: asyncio.Future[Any], started: Callable[[], None] | None) -> None:
        self.pool = pool
        self.func = func
        self.arg = arg
        self.name = name
        self.future = future
        self.started = started


class InlineLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose blocking handler calls run on the pool worker that drives
    it at the time (see the module docstring). Use it through ``run_owned``."""

    def __init__(self) -> None:
        super().__init__()
        self._calls: deque[_Call] = deque()
        self._home_turn = threading.Event()
        #: ``[call]`` while a call runs on the driver, emptied by the driver when it returns or
        #: by the watchdog when it sends the loop home (``list.pop`` is atomic: one of them wins)
        self._slot: list[_Call] = []
        self._seen: list[_Call] | None = None  # the slot the watchdog saw at its last look
        self._want_home = False
        self._driver_error: BaseException | None = None
        self._named = ""  # the driver thread's name as _run_call last set it

    def call_inline(self, pool: HandlerThreads, func: Callable[[Any], T], arg: Any,
                    name: str, started: Callable[[], None] | None = None) -> asyncio.Future[T]:
        """A future of ``func(arg)``, run on a worker of ``pool`` (see the module docstring);
        await it on this loop (the function's exception is raised there). Same contract as
        ``HandlerThreads.call``: cancelling the future before the call starts skips it; a
        running call finishes unobserved."""
        future: asyncio.Future[T] = _Future(loop=self)
        self._calls.append(_Call(pool, func, arg, name, future, started))
        return future

    # -- the home thread ----------------------------------------------------------------------
    def _run_once(self) -> None:
        if not self._calls:
            _base_run_once(self)
        while self._calls:  # more remain when a long call sent the loop home
            self._lend()

    def _lend(self) -> None:
        """Hand the loop to a pool worker and wait until it comes back (the loop stops, or a
        call ran long). When the pool has no worker to spare, queue the calls on it instead."""
        pool = self._calls[0].pool
        self._home_turn.clear()
        self._want_home = False
        _watch(self)
        try:
            if not pool.lend(self._drive):
                self._queue_on_pools()
                return
            try:
                self._home_turn.wait()
            except BaseException:  # Ctrl-C while lent: take the loop back first, then raise
                self._want_home = True
                self._write_to_self()  # type: ignore[attr-defined]  # asyncio internal
                _wait_uninterrupted(self._home_turn)
                raise
        finally:
            _unwatch(self)
            self._thread_id = threading.get_ident()
            events_set_running_loop(self)
        error, self._driver_error = self._driver_error, None
        if error is not None:
            raise error

    def _queue_on_pools(self) -> None:
        while self._calls:
            call = self._calls.popleft()
            if call.future.done():
                continue
            job: _Job[Any] = _Job(call.func, call.arg, call.name, self, call.future, call.started)
            if not call.pool.post(job) and call.started is not None:
                call.started()

    # -- a pool worker holding the loop ------------------------------------------------------
    def _drive(self) -> None:
        self._thread_id = threading.get_ident()
        hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,  # type: ignore[attr-defined]  # asyncio internal
                               finalizer=self._asyncgen_finalizer_hook)  # type: ignore[attr-defined]  # asyncio internal
        events_set_running_loop(self)
        thread = threading.current_thread()
        name = self._named = thread.name
        held = True
        quick = 0
        try:
            calls = self._calls
            ready = self._ready  # type: ignore[attr-defined]  # asyncio internal
            while True:
                while calls:
                    call = calls.popleft()
                    if call.future.done():  # cancelled before it ran
                        continue
                    if not self._run_call(call, thread):
                        held = False  # the loop went home while the call ran
                        return
                if self._stopping or self._want_home:  # type: ignore[attr-defined]  # asyncio internal
                    return
                if ready and quick < QUICK_TURNS:
                    quick += 1  # only ready callbacks (a Task woken by its call's result):
                    for _ in range(len(ready)):  # no select(), no timer heap this turn
                        handle = ready.popleft()
                        if not handle._cancelled:
                            handle._run()
                    handle = None
                else:
                    quick = 0
                    _base_run_once(self)
        except BaseException as exc:  # what run_forever would raise: re-raised at home
            self._driver_error = exc
        finally:
            thread.name = name
            events_set_running_loop(None)
            sys.set_asyncgen_hooks(*hooks)
            if held:
                self._home_turn.set()

    def _run_call(self, call: _Call, thread: threading.Thread) -> bool:
        """Run one call on this thread; False when the loop was sent home meanwhile."""
        slot = self._slot = [call]  # emptied by whoever claims it first: us or the watchdog
        if call.started is not None:
            call.started()
        if self._named is not call.name:  # (thread.name is a property: not read per call)
            thread.name = self._named = call.name
        _set_running_loop(None)  # a handler sees no running loop, as on any worker
        try:
            value = call.func(call.arg)
            ok = True
        except BaseException as exc:
            value = exc
            ok = False
        try:
            slot.pop()  # atomic (the GIL): the watchdog can no longer take the loop for it
        except IndexError:  # the watchdog took it: the loop went home while we ran
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self.call_soon_threadsafe(_settle, call.future, ok, value)
            return False
        _set_running_loop(self)
        future = call.future
        if not future.done():  # _settle, inline
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        return True

    # -- the watchdog --------------------------------------------------------------------------
    def _look(self) -> None:
        """Send the loop home when the same call has been running since the last look."""
        slot, seen = self._slot, self._seen
        self._seen = slot
        if not slot or slot is not seen:
            return
        try:
            slot.pop()  # claimed: the worker will see it is no longer the loop's driver
        except IndexError:  # the call ended just now: its worker keeps the loop
            return
        self._seen = None
        self._home_turn.set()


def events_set_running_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    asyncio.events._set_running_loop(loop)


def _wait_uninterrupted(event: threading.Event) -> None:
    while True:
        try:
            event.wait()
            return
        except BaseException:  # a second Ctrl-C: the loop must come home first
            continue


_WATCHED: set[InlineLoop] = set()
_WATCH = threading.Condition()
_WATCHER: list[threading.Thread] = []


def _watch(loop: InlineLoop) -> None:
    with _WATCH:
        loop._seen = None
        _WATCHED.add(loop)
        if not _WATCHER or not _WATCHER[0].is_alive():
            thread = threading.Thread(target=_watchdog, name="sm-inline-watchdog", daemon=True)
            _WATCHER[:] = [thread]
            thread.start()
        _WATCH.notify()


def _unwatch(loop: InlineLoop) -> None:
    with _WATCH:
        _WATCHED.discard(loop)


def _watchdog() -> None:
    while True:
        with _WATCH:
            while not _WATCHED:
                _WATCH.wait()
            loops = list(_WATCHED)
        for loop in loops:
            loop._look()
        time.sleep(POLL_SECONDS)


def run_owned(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on an ``InlineLoop``."""
    with asyncio.Runner(loop_factory=InlineLoop) as runner:
        return runner.run(main)
