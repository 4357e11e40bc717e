"""Regular expressions that always stop (issue 9: executions that always stop): JSONata's
regex literals and JSONPath's ``=~`` filters.

jsonata-python compiles regex literals with the standard library's ``re``, whose matching
runs in C holding the GIL: a pattern that backtracks catastrophically (``/(a|a)+$/`` against
``"aaaa...!"``) ran for hours, deaf to the evaluation limit, ``--timeout``, ``abort()`` and
Ctrl-C. Here every match runs on the ``regex`` package, which takes a timeout and releases
the GIL: a short first try on the evaluating thread (nearly every match ends in
microseconds), then, when that was not enough, on a worker thread for the rest of the
evaluation's time limit while the evaluating thread watches the execution's Interrupt. So an
abort stops the execution at once, and a match that outlives the limit fails the state with
JSONata's D1012 like any over-long evaluation (a JSONPath filter: States.Runtime). ``re`` still parses each pattern first, so
syntax errors and jsonata-python's reading of ``re``'s messages stay as they were.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

#: Seconds a match may run on the evaluating thread before it moves to a worker thread.
FIRST_SLICE_SECONDS = 0.05
#: How often the evaluating thread looks at the execution's Interrupt meanwhile.
POLL_SECONDS = 0.02
#: Worker threads for long matches (process-wide; each match ends by its time limit).
WORKERS = 4


class Limit(Protocol):
    """The running evaluation's bounds (adapter._Deadline)."""

    def remaining(self) -> float: ...
    def check_interrupt(self) -> None: ...
    def expired(self) -> Exception: ...


#: ``.limit``: the Limit of the evaluation running on this thread (None outside one).
ACTIVE = threading.local()
#: Long matches running at once (process-wide); each ends by its own time limit. Daemon
#: threads: a match left running by an abort never holds up the process's exit.
_SLOTS = threading.BoundedSemaphore(WORKERS)


def _watch(limit: Limit | None) -> None:
    if limit is not None:
        limit.check_interrupt()  # CancelledError; the worker ends at its own timeout
        if limit.remaining() <= 0:
            raise limit.expired()


def _run(op: Callable[[float], Any], *, movable: bool = True) -> Any:
    limit: Limit | None = getattr(ACTIVE, "limit", None)
    remaining = limit.remaining() if limit is not None else 10.0
    if remaining <= 0 and limit is not None:
        raise limit.expired()
    first = min(FIRST_SLICE_SECONDS, remaining) if movable else remaining
    try:
        return op(first)
    except TimeoutError:
        if not movable or first >= remaining:
            if limit is None:
                raise
            raise limit.expired() from None
    # A long match: on a worker thread (``regex`` releases the GIL) for the rest of the limit,
    # while this thread watches the execution's Interrupt.
    while not _SLOTS.acquire(timeout=POLL_SECONDS):
        _watch(limit)
    box: dict[str, Any] = {}
    done = threading.Event()

    def work(seconds: float) -> None:
        try:
            box["value"] = op(seconds)
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            _SLOTS.release()
            done.set()

    seconds = limit.remaining() if limit is not None else remaining - first
    threading.Thread(target=work, args=(max(seconds, 0.001),), name="sm-regex", daemon=True).start()
    while not done.wait(POLL_SECONDS):
        _watch(limit)
    error = box.get("error")
    if error is None:
        return box["value"]
    if isinstance(error, TimeoutError) and limit is not None:
        raise limit.expired() from None
    raise error


class BoundedPattern:
    """What jsonata-python needs of a compiled pattern (search, finditer, sub, split)."""

    __slots__ = ("_compiled", "_stdlib", "pattern")

    def __init__(self, pattern: str, flags: int) -> None:
        import regex  # only where a pattern is used (sm validate's start-up)

        self._stdlib = re.compile(pattern, flags)  # re's errors, as jsonata-python expects
        try:
            self._compiled = regex.compile(pattern, flags | regex.V0)
        except regex.error:  # re accepts what regex does not (rare): re, unbounded
            self._compiled = self._stdlib
        self.pattern = pattern

    def fullmatch(self, string: str) -> Any:
        return _run(lambda t: self._compiled.fullmatch(string, timeout=t, concurrent=True))

    def search(self, string: str) -> Any:
        return _run(lambda t: self._compiled.search(string, timeout=t, concurrent=True))

    def finditer(self, string: str) -> Iterator[Any]:
        return iter(self._matches(string))

    def split(self, string: str, maxsplit: int = 0) -> list[str]:
        result: list[str] = _run(lambda t: self._compiled.split(string, maxsplit, timeout=t, concurrent=True))
        return result

    def sub(self, repl: Any, string: str, count: int = 0) -> str:
        if isinstance(repl, str):
            self._stdlib.sub(repl, "")  # a bad group reference: re's message (jsonata-python parses it)
            result: str = _run(lambda t: self._compiled.sub(repl, string, count, timeout=t, concurrent=True))
            return result
        # A JSONata function as the replacement evaluates JSONata, so it runs on this thread,
        # after the (bounded) search for the matches.
        matches = self._matches(string)
        if count > 0:
            matches = matches[:count]
        parts: list[str] = []
        position = 0
        for match in matches:
            parts.append(string[position : match.start()])
            parts.append(repl(match))
            position = match.end()
        parts.append(string[position:])
        return "".join(parts)

    def _matches(self, string: str) -> list[Any]:
        found: list[Any] = _run(lambda t: list(self._compiled.finditer(string, timeout=t, concurrent=True)))
        return found


def regex_engine(pattern: str, flags: Any) -> Any:
    """jsonata-python's ``regex_engine``: ``flags`` is its RegexFlags."""
    py_flags = (re.IGNORECASE if flags.case_insensitive else 0) | (re.MULTILINE if flags.multiline else 0)
    return BoundedPattern(pattern, py_flags)


class Budget:
    """A Limit outside a JSONata evaluation (a JSONPath filter): ``seconds`` from now, and
    the running execution's Interrupt."""

    __slots__ = ("deadline", "error", "interrupt")

    def __init__(self, seconds: float, error: Callable[[], Exception]) -> None:
        from statemachine.clock import current_interrupt

        self.deadline = time.monotonic() + seconds
        self.interrupt = current_interrupt.get()
        self.error = error

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check_interrupt(self) -> None:
        if self.interrupt is not None:
            self.interrupt.check()

    def expired(self) -> Exception:
        return self.error()


def fullmatch(pattern: BoundedPattern, string: str, budget: Budget) -> bool:
    """``pattern`` matches all of ``string`` within ``budget`` (outside JSONata)."""
    outer = getattr(ACTIVE, "limit", None)
    ACTIVE.limit = budget
    try:
        return pattern.fullmatch(string) is not None
    finally:
        ACTIVE.limit = outer
