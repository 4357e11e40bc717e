"""Executors: where Map iterations and Parallel branches run (interpreter/remote.py is the
interface). ``"local"`` (the default) runs them in the process as coroutines; ``DaskExecutor``
hands them to a Dask cluster (``dask.distributed``): a ``LocalCluster`` of worker processes
started for the purpose, or a running scheduler at ``dask://HOST:PORT``.

    machine.run(input, executor="dask")                 # a LocalCluster for this run
    machine.run(input, executor="dask://10.0.0.5:8786")  # a running scheduler
    with DaskExecutor(workers=4) as ex:                  # one cluster for many runs
        machine.run(input, executor=ex)

dask is an optional extra (``pip install 'statemachine-asl[dask]'``), imported only when a
Dask executor is made. Errors: ``ExecutorError`` (dask missing, scheduler unreachable within
``connect_timeout`` seconds, no worker joined within it); ``remote.RemoteHandlerError`` when a
Task handler inside a Map or Parallel is a live object a worker cannot import.

A worker killed in the middle of a Map has its chunks rerun by the scheduler on another worker
(up to Dask's ``distributed.scheduler.allowed-failures``, default 3, then the state fails with
``KilledWorker``): the result is unchanged, and the side effects of those iterations happen
at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from statemachine.errors import StateMachineError
from statemachine.interpreter.remote import RemoteExecutor, RemoteHandlerError

if TYPE_CHECKING:
    from statemachine.interpreter.workunit import Unit, UnitResult

__all__ = ["DaskExecutor", "ExecutorError", "RemoteExecutor", "RemoteHandlerError", "executor_from",
           "is_scheduler_address"]

DASK_SCHEME = "dask://"


class ExecutorError(StateMachineError):
    """An executor that cannot run work: its engine is not installed, or its cluster cannot be
    reached or has no workers (raised before the execution starts)."""


_UNGUARDED = ('a script that starts a local Dask cluster (executor="dask", DaskExecutor()) must '
              'do so under if __name__ == "__main__": (each worker process imports the script)')


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[list[int]]:
    """Hold a Ctrl-C (SIGINT) until the block ends; the yielded list says whether one came.

    A LocalCluster interrupted while it starts leaves processes half made: their start threads
    go on spawning workers whose parent has already removed the semaphores they unpickle, and
    those workers, Dask's exit hook and multiprocessing's resource tracker then print
    tracebacks and warnings on the user's terminal after "sm: interrupted". A start takes a
    second or two; held, it completes and is closed whole. A second Ctrl-C is not held (a
    KeyboardInterrupt at once). Only where Python's own handler is in place, in the main
    thread; elsewhere the block runs as it is. (The worker processes themselves never see a
    terminal's Ctrl-C: see ``_start_local``.)
    """
    came: list[int] = []
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield came
        return

    def hold(signum: int, frame: object) -> None:
        if came:
            raise KeyboardInterrupt
        came.append(signum)

    signal.signal(signal.SIGINT, hold)
    try:
        yield came
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _distributed() -> Any:
    """``dask.distributed``, or ExecutorError when the extra is not installed."""
    try:
        import distributed
    except ImportError:
        raise ExecutorError("the Dask executor needs dask.distributed: "
                            "pip install 'statemachine-asl[dask]'") from None
    return distributed


def _drop_half_started(before: set[Any]) -> None:
    """Close the LocalCluster a Ctrl-C interrupted while it started (its processes stop), so
    Dask's exit hook does not try again and print a traceback about its half-made workers."""
    import contextlib

    from distributed.deploy.spec import SpecCluster

    for cluster in set(SpecCluster._instances) - before:
        with contextlib.suppress(Exception):
            cluster.close(timeout=5)
        cluster.shutdown_on_close = False


class DaskExecutor:
    """Runs chunks of Map iterations / Parallel branches on a Dask cluster.

    ``address``: a scheduler (``tcp://HOST:PORT``, ``dask://HOST:PORT`` or ``HOST:PORT``);
    None starts a ``LocalCluster`` of ``workers`` processes (default: the CPU count), one
    thread each, without Dask's statistical profiler, closed by ``close()``; Dask's own log
    lines below CRITICAL are silenced there (its workers' messages as the cluster closes under
    a running Map, a heartbeat to a scheduler already gone, are not the user's news; a worker
    that dies reaches the execution as an error, ``KilledWorker``).
    ``connect_timeout``: seconds to reach the scheduler and to see at least one worker, else
    ExecutorError. ``client``: an existing
    ``distributed.Client`` to use instead (not closed by ``close()``). ``handler_threads``:
    blocking Task handlers each worker process runs at once (its own pool of that size,
    workunit.handler_pool); None (default) the worker's default pool (``SM_HANDLER_THREADS``
    on the worker, else 64).
    """

    def __init__(self, address: str | None = None, *, workers: int | None = None,
                 connect_timeout: float = 10.0, client: Any = None,
                 handler_threads: int | None = None) -> None:
        if handler_threads is not None and (isinstance(handler_threads, bool) or handler_threads < 1):
            raise ValueError(f"handler_threads must be a positive integer, not {handler_threads!r}")
        self.handler_threads = handler_threads
        self._cluster: Any = None
        self._own_client = client is None
        self.address = address
        if client is None and address is None:
            # a Ctrl-C from here to the cluster's whole start is held: see _ctrl_c_held
            with _ctrl_c_held() as interrupted:
                client = self._start_local(workers, connect_timeout)
            if interrupted:  # started whole: closed whole, then the Ctrl-C goes on
                self.client = client
                self.close()
                raise KeyboardInterrupt
        elif client is None:
            make_client: Any = _distributed().Client  # untyped: called through Any
            target = scheduler_address(address or "")
            try:
                client = make_client(target, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise ExecutorError(f"cannot reach the Dask scheduler at {target} within "
                                    f"{connect_timeout:g} s: {exc}") from None
        self.client = client
        try:
            client.wait_for_workers(1, timeout=connect_timeout)
        except KeyboardInterrupt:
            self.close()
            raise
        except (OSError, TimeoutError) as exc:
            where = client.scheduler.address if client.scheduler else "?"  # None once closed
            self.close()
            raise ExecutorError(f"the Dask scheduler at {where} has no "
                                f"worker (none joined within {connect_timeout:g} s): {exc}") from None
        self.slots = max(1, sum(client.nthreads().values()))

    def _start_local(self, workers: int | None, connect_timeout: float) -> Any:
        """A LocalCluster of ``workers`` processes (sets ``self._cluster``) and its client."""
        distributed = _distributed()
        import multiprocessing.process

        import dask
        from distributed.deploy.spec import SpecCluster

        # spawn-started worker processes import the __main__ script first: one without
        # ``if __name__ == "__main__":`` would start a cluster in each worker in turn
        if getattr(multiprocessing.process.current_process(), "_inheriting", False):
            raise ExecutorError(_UNGUARDED)
        make_cluster: Any = distributed.LocalCluster  # untyped: called through Any
        make_client: Any = distributed.Client
        before = set(SpecCluster._instances)
        made: list[Any] = []

        def start() -> None:
            # Made in a thread of its own with SIGINT blocked: Dask's threads and the worker
            # processes they spawn inherit the mask, so a Ctrl-C on the terminal (which
            # signals the whole foreground process group) reaches this process alone, which
            # aborts the execution and closes the cluster; the workers do not each die with a
            # KeyboardInterrupt traceback, nor fail a start half done ("Nanny failed to
            # start"). CPython starts its resource tracker the same way.
            if hasattr(signal, "pthread_sigmask"):
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                # Dask's statistical profiler samples each worker's task thread every 10 ms,
                # for a dashboard these workers do not serve: ~20 ms of CPU a second per
                # worker, idle or not (bench/README.md). Off in the workers started here.
                with dask.config.set({"distributed.worker.profile.enabled": False}):
                    self._cluster = make_cluster(
                        n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                        processes=True, dashboard_address=None, silence_logs=logging.CRITICAL,
                        # the scheduler's HTTP routes (health, metrics) on a free port: 8787
                        # may be another cluster's
                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
                made.append(make_client(self._cluster, timeout=connect_timeout))
            except BaseException as exc:  # handed to the caller's thread
                made.append(exc)

        if hasattr(signal, "pthread_sigmask"):
            # multiprocessing's resource tracker, started now: started later by a Dask thread,
            # it would unblock SIGINT in that thread (ensure_running blocks SIGINT and SIGTERM
            # around its spawn, then unblocks them, whatever the mask was before)
            from multiprocessing import resource_tracker

            resource_tracker.ensure_running()
        starter = threading.Thread(target=start, name="sm-dask-start", daemon=True)
        starter.start()
        try:
            while starter.is_alive():
                starter.join(0.05)  # short waits: a Ctrl-C is seen in this (main) thread
        except KeyboardInterrupt:  # a second Ctrl-C while it started
            _drop_half_started(before)
            raise
        outcome = made[0]
        if isinstance(outcome, RuntimeError):  # "Nanny failed to start": a worker could not
            raise ExecutorError(f"the local Dask cluster did not start ({outcome}); "
                                f"{_UNGUARDED}") from None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def describe(self) -> str:
        kind = "LocalCluster" if self._cluster is not None else "scheduler"
        return f"Dask {kind} {self.client.scheduler.address} ({self.slots} worker threads)"

    def submit(self, key: str, blob: bytes, units: list[Unit], offset: float,
               limit: int = 0) -> asyncio.Future[list[UnitResult]]:
        """Run one chunk on a worker, at most ``limit`` of its units at once (0: all); an
        asyncio future of its results on the running loop (cancelling it cancels the Dask
        task)."""
        from statemachine.interpreter.workunit import run_packed

        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[list[UnitResult]] = loop.create_future()
        packed = pickle.dumps(units, protocol=pickle.HIGHEST_PROTOCOL)
        task = self.client.submit(run_packed, key, blob, packed, offset, limit, pure=False)

        def settle(value: Any, error: BaseException | None) -> None:
            if waiter.done():
                return
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(value)

        def done(finished: Any) -> None:  # on Dask's callback thread
            try:
                value, error = finished.result(), None
            except BaseException as exc:  # handed to the loop
                value, error = None, exc
            if not loop.is_closed():
                loop.call_soon_threadsafe(settle, value, error)

        task.add_done_callback(done)
        waiter.add_done_callback(lambda w: task.cancel() if w.cancelled() else None)
        return waiter

    def close(self) -> None:
        """Close the client and the LocalCluster this executor started."""
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DaskExecutor({self.describe()})"


def scheduler_address(spec: str) -> str:
    """``dask://h:p`` / ``h:p`` / ``tcp://h:p`` as the ``tcp://h:p`` a Client connects to."""
    spec = spec.removeprefix(DASK_SCHEME)
    return spec if "://" in spec else f"tcp://{spec}"


def executor_from(spec: str | RemoteExecutor | None, *,
                  connect_timeout: float | None = None) -> RemoteExecutor | None:
    """An executor from its name: None or ``"local"`` -> None (in process); ``"dask"`` -> a
    DaskExecutor on a new LocalCluster; ``"dask://HOST:PORT"`` (or ``tcp://``) -> one on that scheduler; an
    executor object as it is. ``connect_timeout`` defaults to ``$SM_EXECUTOR_TIMEOUT``, else
    10 seconds. Raises ValueError for an unknown name, ExecutorError (above)."""
    if connect_timeout is None:
        try:
            connect_timeout = float(os.environ.get("SM_EXECUTOR_TIMEOUT", "10"))
        except ValueError:
            raise ValueError("SM_EXECUTOR_TIMEOUT must be a number of seconds") from None
    if spec is None or spec == "local":
        return None
    if not isinstance(spec, str):
        return spec
    if spec == "dask":
        return DaskExecutor(connect_timeout=connect_timeout)
    if is_scheduler_address(spec):
        return DaskExecutor(spec, connect_timeout=connect_timeout)
    raise ValueError(f"unknown executor {spec!r}: use local, dask or dask://HOST:PORT")


def is_scheduler_address(spec: str) -> bool:
    """``dask://HOST:PORT`` or the ``tcp://HOST:PORT`` a ``dask scheduler`` prints."""
    return any(spec.startswith(scheme) and len(spec) > len(scheme) for scheme in (DASK_SCHEME, "tcp://"))

