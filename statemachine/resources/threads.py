"""Resources stage: the bounded pool of worker threads that synchronous (blocking) handlers run
on, so that the event loop (other branches, Map iterations, timeouts) never waits for them.

In: a blocking callable and its argument, from the interpreter's loop. Out: its result (or
exception) on that loop. Python task functions, sync ``ResourceHandler``s, MAP.yaml Lambda
stand-ins and ItemReader/ResultWriter handlers all go through one ``HandlerThreads`` pool:

- at most ``max_workers`` threads exist at any time; a call that finds them all busy waits in a
  FIFO queue (issue 9: 1,000 concurrent executions of a blocking task used to start 1,669
  threads);
- the threads are daemons: a handler abandoned after a timeout or an abort keeps its thread
  until it returns, but never delays the process's exit; an idle thread ends after
  ``idle_seconds``;
- a result comes back to the loop with one ``call_soon_threadsafe`` (no
  ``concurrent.futures.Future``, no ``run_in_executor`` wrapper, no thread start per call).

Queueing and TimeoutSeconds (the rule): a Task's ``TimeoutSeconds`` and ``HeartbeatSeconds``
count from the moment its handler starts on a worker thread; time spent queued for a free
thread does not count, so a burst larger than the pool never times out calls that have not
run yet. (AWS starts those clocks when the task is dispatched, and its dispatch does not
queue behind other executions' tasks.) The execution's own ``TimeoutSeconds`` and
``run(timeout=...)`` keep counting wall time, queueing included.

Size: ``SM_HANDLER_THREADS`` (environment) sets the process-wide default pool
(``DEFAULT_MAX_WORKERS`` when unset); ``load(..., handler_threads=N)`` gives a machine its own
pool and ``run(..., handler_threads=N)`` an execution its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import queue
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

__all__ = ["DEFAULT_MAX_WORKERS", "ENV_VAR", "HandlerThreads", "current_threads", "default_threads",
           "threads_for"]

T = TypeVar("T")

#: Environment variable giving the default pool's size (a positive integer).
ENV_VAR = "SM_HANDLER_THREADS"
#: Default pool size: blocking handlers mostly wait (I/O, sleeps), so more than the CPU count.
DEFAULT_MAX_WORKERS = 64


#: The pool of the execution whose async handler is running (the Task state sets it), so that
#: blocking work such handlers hand off (MAP.yaml Lambda stand-ins) shares the same bound.
current_threads: ContextVar[HandlerThreads | None] = ContextVar("statemachine_threads", default=None)


class _Job(Generic[T]):
    """One call: ``func(arg)`` on a worker; its outcome goes to ``future`` (an asyncio future
    of ``loop``, settled there, or a ``concurrent.futures.Future`` when ``loop`` is None)."""

    __slots__ = ("arg", "func", "future", "loop", "name", "started")

    def __init__(self, func: Callable[[Any], object], arg: Any, name: str,
                 loop: asyncio.AbstractEventLoop | None, future: Any,
                 started: Callable[[], None] | None) -> None:
        self.func = func
        self.arg = arg
        self.name = name
        self.loop = loop
        self.future = future
        self.started = started

    def deliver(self, ok: bool, value: Any) -> None:
        if self.loop is None:
            future: concurrent.futures.Future[Any] = self.future
            if future.set_running_or_notify_cancel():
                future.set_result(value) if ok else future.set_exception(value)
            return
        with contextlib.suppress(RuntimeError):  # the loop is gone (abandoned after a timeout)
            self.loop.call_soon_threadsafe(_settle, self.future, ok, value)

    def announce(self) -> None:
        """Tell the caller (on its loop) that the call left the queue."""
        if self.started is not None and self.loop is not None:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.started)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if not future.done():
        future.set_result(value) if ok else future.set_exception(value)


class HandlerThreads(concurrent.futures.Executor):
    """A bounded pool of daemon threads for blocking handlers (see the module docstring).

    ``max_workers``: the most threads alive at once (>= 1). ``idle_seconds``: how long an idle
    thread waits for work before it ends. Thread-safe; one pool may serve many executions on
    many loops. Also a ``concurrent.futures.Executor`` (``submit``), for ``run_in_executor``.
    Raises ValueError for a ``max_workers`` below 1.
    """

    def __init__(self, max_workers: int = DEFAULT_MAX_WORKERS, *, idle_seconds: float = 30.0,
                 name: str = "sm-task") -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int):
            raise ValueError(f"handler threads must be a whole number, not {max_workers!r}")
        if max_workers < 1:
            raise ValueError(f"handler threads must be at least 1, not {max_workers}")
        self.max_workers = max_workers
        self.idle_seconds = idle_seconds
        self.name = name
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()  # None: wake up
        self._lock = threading.Lock()
        self._threads = 0  # alive workers
        self._idle = 0  # workers waiting for a job nobody has promised them yet
        self._backlog = 0  # jobs queued with no worker promised (all threads busy)
        self._closing = False
        self._workers: set[threading.Thread] = set()
        self.peak = 0  # the most threads alive at once (for tests and tuning)

    @property
    def threads(self) -> int:
        """Worker threads alive now."""
        return self._threads

    @property
    def queued(self) -> int:
        """Calls waiting for a busy worker (the pool is full)."""
        return self._backlog

    async def call(self, func: Callable[[Any], T], arg: Any, *, name: str | None = None,
                   started: Callable[[], None] | None = None) -> T:
        """``func(arg)`` on a worker thread, awaited on the running loop; its exception is
        raised here. ``started`` runs on the loop when the call leaves the queue (at once when
        a thread is free). Cancelling the await abandons the call: a queued one never runs, a
        running one finishes on its thread unobserved (Python cannot stop a thread)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        job: _Job[T] = _Job(func, arg, name or self.name, loop, future, started)
        if not self._post(job) and started is not None:
            started()  # a thread is free: the call starts now
        try:
            return await future
        except asyncio.CancelledError:
            job.func = _skip  # still queued: never run it
            raise

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        """``concurrent.futures.Executor.submit``: ``fn(*args, **kwargs)`` on a worker."""
        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._post(_Job(lambda _: fn(*args, **kwargs), None, self.name, None, result, None))
        return result

    def _post(self, job: _Job[Any]) -> bool:
        """Queue ``job``; start a worker when none is idle and the bound allows. True when the
        job has to wait for a busy worker to finish (the pool is full)."""
        with self._lock:
            start = queued = False
            if self._idle > 0:
                self._idle -= 1  # that worker is promised this job
            elif self._threads < self.max_workers:
                self._threads += 1
                self.peak = max(self.peak, self._threads)
                start = True
            else:
                self._backlog += 1
                queued = True
            if not queued:
                job.started = None  # the caller hears of the start itself, at once
        self._jobs.put(job)
        if start:
            worker = threading.Thread(target=self._work, name=self.name, daemon=True)
            with self._lock:
                self._workers.add(worker)
            worker.start()
        return queued

    def _work(self) -> None:
        thread = threading.current_thread()
        while True:
            try:
                job = self._jobs.get(timeout=self.idle_seconds)
            except queue.Empty:
                job = None
            if job is None:  # idle too long, or shutdown() woke us
                with self._lock:
                    if self._idle > 0:  # an unpromised idle worker may leave: this one
                        self._idle -= 1
                        self._threads -= 1
                        self._workers.discard(thread)
                        return
                continue  # a submitter promised us a job just now: it is on the way
            if job.started is not None:
                job.announce()
            thread.name = job.name
            try:
                outcome: tuple[bool, Any] = (True, job.func(job.arg))
            except BaseException as exc:
                outcome = (False, exc)
            thread.name = self.name
            with self._lock:  # idle again BEFORE the caller hears back, so its next call reuses us
                if self._backlog > 0:
                    self._backlog -= 1  # we take a waiting job next
                    closing = False
                else:
                    closing = self._closing
                    if closing:
                        self._threads -= 1
                        self._workers.discard(thread)
                    else:
                        self._idle += 1
            job.deliver(*outcome)
            del job, outcome
            if closing:
                return

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """End the idle workers now, and each busy one when its call returns (instead of
        after ``idle_seconds``); with ``wait``, join them (a hung handler blocks that join).
        Calls made later still run (a thread is started again). ``cancel_futures`` is
        accepted for the Executor interface and ignored (queued calls still run)."""
        with self._lock:
            self._closing = True
            idle = self._idle
            workers = list(self._workers)
        for _ in range(idle):
            self._jobs.put(None)
        if wait:
            for worker in workers:
                if worker is not threading.current_thread():
                    worker.join()


def _skip(_: object) -> None:
    return None


_DEFAULT: HandlerThreads | None = None
_DEFAULT_LOCK = threading.Lock()


def _env_size() -> int:
    text = os.environ.get(ENV_VAR, "").strip()
    if not text:
        return DEFAULT_MAX_WORKERS
    try:
        size = int(text)
    except ValueError:
        raise ValueError(f"{ENV_VAR} must be a positive integer, not {text!r}") from None
    if size < 1:
        raise ValueError(f"{ENV_VAR} must be a positive integer, not {text!r}")
    return size


def default_threads() -> HandlerThreads:
    """The process-wide pool, sized by ``SM_HANDLER_THREADS`` when first used (ValueError for
    a value that is not a positive integer)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = HandlerThreads(_env_size())
        return _DEFAULT


def threads_for(size: int | HandlerThreads | None) -> HandlerThreads:
    """The pool an option names: None -> the default pool, an int -> a new pool of that
    size, a pool -> itself."""
    if size is None:
        return default_threads()
    if isinstance(size, HandlerThreads):
        return size
    return HandlerThreads(size)
