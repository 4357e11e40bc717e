"""CLI stage, live view of ``sm run`` on a terminal: history events in (the execution's
``on_event`` callback, called from the execution's threads), a rich display out.

While it runs: the states running now, a progress bar per Map state, a countdown per Wait,
each callback task with its token and how to answer it (``hold``: no redrawing while the
user types the answer); printed lines for every retry (state,
Map item, attempt, the delay waited), every failed Map item (error and cause), a failed Map's
failed items, and every error a Catch caught. After the run: a table of states with their
wall time (the union of their visits, so concurrent Map iterations are not summed) and how
each ended. Imported only when stderr is a terminal.

Events are attributed by following ``previousEventId`` links (AWS links a TaskScheduled to
its TaskStateEntered, a retry's TaskScheduled to the failure, an iteration's first state to
its MapIterationStarted).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, TextIO

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from .common import ANSWER_HELP, make_console

_FAILED_SUFFIXES: Final = ("Failed", "TimedOut", "StartFailed", "SubmitFailed")
_ITERATION_EVENTS: Final = ("MapIterationStarted", "MapIterationSucceeded", "MapIterationFailed",
                            "MapIterationAborted")
_CAUSE_WIDTH: Final = 120

Item = tuple[str, int]  # (Map state name, item index)


def _details(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event's ``<x>EventDetails`` mapping (empty when it has none)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return value
    return {}


def seconds(timestamp: object) -> float | None:
    """A history timestamp (datetime, ISO text or epoch number) as epoch seconds."""
    if isinstance(timestamp, datetime.datetime):
        return timestamp.timestamp()
    if isinstance(timestamp, str):
        try:
            return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    if isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        return timestamp / 1000 if timestamp > 1e11 else float(timestamp)
    return None


def short_cause(cause: object) -> str:
    """A cause on one line: a Lambda-shaped JSON cause gives its errorMessage; long text is cut."""
    text = "" if cause is None else str(cause)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        text = parsed["errorMessage"]
    text = " ".join(text.split())
    return text if len(text) <= _CAUSE_WIDTH else text[: _CAUSE_WIDTH - 1] + "…"


def _where(state: str | None, item: Item | None) -> str:
    where = f"[bold]{escape(state or '?')}[/]"
    return where + (f" (Map {escape(item[0])} item {item[1]})" if item else "")


@dataclasses.dataclass(slots=True)
class Step:
    """One event, attributed: its state, the state's visit (the entered event's id), the Map
    item it ran for (innermost), the attempt number and, for failures, error and cause."""

    kind: str
    state: str | None
    visit: object
    item: Item | None
    attempt: int
    when: float | None
    details: Mapping[str, Any]
    ident: object = None


#: a Map's or Parallel's own events that may link to an event inside an iteration or branch
_CONTAINER_ENDS: Final = frozenset({"MapStateFailed", "MapStateSucceeded", "MapStateAborted",
                                    "ParallelStateFailed", "ParallelStateSucceeded",
                                    "ParallelStateAborted"})


class StateTracker:
    """Attributes every event to its state, visit, Map item and attempt."""

    def __init__(self) -> None:
        self._state: dict[object, str | None] = {}
        self._visit: dict[object, object] = {}
        self._item: dict[object, Item | None] = {}
        self._attempt: dict[object, int] = {}
        self._when: dict[object, float | None] = {}
        self._map_visit: dict[str, object] = {}
        #: event id -> the Map iteration / Parallel branch it runs in (see _owner_of)
        self._owner: dict[object, tuple[Any, ...] | None] = {}
        self._kind: dict[object, str] = {}
        #: failure event id -> error, for the retry that follows it
        self.failure_of: dict[object, str] = {}
        #: failure event id -> (error, cause), for a Map's failure linked to it
        self.failure_detail: dict[object, tuple[str, str]] = {}

    def feed(self, event: Mapping[str, Any]) -> Step:
        kind = str(event.get("type", ""))
        details = _details(event)
        ident, prev = event.get("id"), event.get("previousEventId")
        if kind.endswith("StateEntered"):
            state, visit, item, attempt = details.get("name"), ident, self._item.get(prev), 0
            if kind == "MapStateEntered" and state:
                self._map_visit[str(state)] = ident
        elif kind in _ITERATION_EVENTS:
            state = details.get("name")
            visit = self._map_visit.get(str(state))
            item = self._item.get(visit)  # the Map's own (outer) item
            attempt = self._attempt.get(visit, 0)
        elif kind in _CONTAINER_ENDS and (inside := self._inside(prev)) is not None:
            # a Map/Parallel's own end linked to an event inside it (AWS links MapStateFailed
            # to the failure in the iteration): it belongs to the container, not that state
            state, visit, item, attempt = inside[:4]
        else:
            state, visit = self._state.get(prev), self._visit.get(prev)
            item, attempt = self._item.get(prev), self._attempt.get(prev, 0)
            if kind.endswith("Scheduled"):
                attempt += 1
        self._owner[ident] = self._owner_of(kind, ident, prev, state, visit, item, attempt)
        self._kind[ident] = kind
        self._state[ident] = None if state is None else str(state)
        self._visit[ident] = visit
        # inside an iteration (its first state links to MapIterationStarted): that item
        self._item[ident] = (str(state), _index(details)) if kind == "MapIterationStarted" else item
        self._attempt[ident] = attempt
        when = seconds(event.get("timestamp"))
        self._when[ident] = when
        if kind.endswith(_FAILED_SUFFIXES) and not kind.startswith(("Execution", "Map", "Parallel")):
            self.failure_of[ident] = str(details.get("error") or kind)
            self.failure_detail[ident] = (str(details.get("error") or ""), str(details.get("cause") or ""))
        elif kind in _CONTAINER_ENDS and kind.endswith("Failed") and not details.get("error"):
            # AWS records MapStateFailed without error or cause, linked to the failure that
            # ended the Map: that failure is the Map's error (what a Catch catches)
            error, cause = self.failure_detail.get(prev, ("", ""))
            if error:
                details = {**details, "error": error, "cause": cause}
        return Step(kind, self._state[ident], visit, item, attempt, when, details, ident)

    def containers(self, ident: object) -> list[tuple[str, object]]:
        """(state, visit) of the Maps and Parallels event ``ident`` runs inside, innermost first."""
        found: list[tuple[str, object]] = []
        owner = self._owner.get(ident)
        while owner is not None:
            found.append((str(owner[0]), owner[1]))
            owner = owner[4]
        return found

    def _inside(self, prev: object) -> tuple[Any, ...] | None:
        """The container ``prev`` runs inside, unless ``prev`` is the container's own event."""
        if self._kind.get(prev, "").startswith(("MapState", "ParallelState", "MapIteration")):
            return None
        return self._owner.get(prev)

    def _owner_of(self, kind: str, ident: object, prev: object, state: object, visit: object,
                  item: Item | None, attempt: int) -> tuple[Any, ...] | None:
        """The Map/Parallel an event runs inside: (state, visit, item, attempt, its owner)."""
        if kind == "MapIterationStarted":
            return (state, visit, item, attempt, self._owner.get(visit))
        if kind == "ParallelStateStarted":
            return (state, visit, item, attempt, self._owner.get(prev))
        if kind in _CONTAINER_ENDS:
            owner = self._owner.get(prev)
            return owner[4] if owner is not None and owner[1] == visit else owner
        return self._owner.get(prev)

    def map_visit(self, name: str) -> object:
        """The visit of the Map state ``name`` entered last."""
        return self._map_visit.get(name)

    def retried_after(self, event: Mapping[str, Any]) -> tuple[str, float | None] | None:
        """For a retry's ``...Scheduled`` event: the error it retries after and the delay
        waited (seconds, execution clock); None for a first attempt."""
        if not str(event.get("type", "")).endswith("Scheduled"):
            return None
        prev = event.get("previousEventId")
        error = self.failure_of.get(prev)
        if error is None:
            return None
        failed, now = self._when.get(prev), seconds(event.get("timestamp"))
        return error, (now - failed if failed is not None and now is not None else None)


def _index(details: Mapping[str, Any]) -> int:
    index = details.get("index")
    return index if isinstance(index, int) else -1


# -- what the live area shows between events --------------------------------------------------
def wait_seconds(state: Mapping[str, Any], state_input: object, entered: float) -> float | None:
    """How long a Wait state waits, from its definition and input (None when unknown, e.g. a
    JSONata expression that reads variables: only ``$states.input`` is bound here)."""
    from statemachine.expressions.jsonata.adapter import (
        compile_jsonata,
        expression_text,
        is_jsonata_expression,
    )
    from statemachine.expressions.jsonpath import compile_path

    try:
        value = json.loads(state_input) if isinstance(state_input, str) else state_input
        for field, is_path in (("Seconds", False), ("SecondsPath", True),
                               ("Timestamp", False), ("TimestampPath", True)):
            if field not in state:
                continue
            found = state[field]
            if is_path:
                found = compile_path(str(found)).select(value)
            elif is_jsonata_expression(found):
                found = compile_jsonata(expression_text(found)).evaluate({"states": {"input": value}})
            if field.startswith("Seconds"):
                return float(found) if isinstance(found, int | float) else None
            stamp = seconds(found) if isinstance(found, str) else None
            return None if stamp is None else max(0.0, stamp - entered)
    except Exception:  # a display guess; the interpreter reports real errors
        return None
    return None


def _states(definition: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every state of a definition, nested machines (Parallel branches, Map processors) too."""
    states = definition.get("States")
    if not isinstance(states, Mapping):
        return
    for name, state in states.items():
        if not isinstance(state, Mapping):
            continue
        yield str(name), state
        for branch in state.get("Branches") or []:
            if isinstance(branch, Mapping):
                yield from _states(branch)
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), Mapping):
                yield from _states(state[key])


class _Dynamic:
    """A renderable re-drawn on every refresh (countdowns move without new events)."""

    def __init__(self, lines: Callable[[], list[Text]]) -> None:
        self._lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self._lines()


class LiveView:
    """The live display; ``on_event`` may be called from any thread.

    ``definition`` (the machine's, optional) lets Wait states show a countdown; ``now`` is
    the clock countdowns are measured with (epoch seconds; tests pass their own);
    ``answer_help`` is what a waiting callback's prompt says (common.ANSWER_HELP, or
    common.NO_ANSWER_HELP when there is no terminal to type the answer on).
    """

    def __init__(self, stream: TextIO, definition: Mapping[str, Any] | None = None, *,
                 now: Callable[[], float] = time.time, console: Console | None = None,
                 answer_help: str = ANSWER_HELP) -> None:
        self.console = console or make_console(stream)
        self._answer_help = answer_help  # how to answer a callback (or that nothing here can)
        self._now = now
        self._spinner = Spinner("dots", text="starting")
        self._progress = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=self.console,
        )
        self._live = Live(
            Group(self._spinner, _Dynamic(self.waiting_lines), self._progress),
            console=self.console,
            transient=True,
            refresh_per_second=10,
        )
        self._lock = threading.Lock()
        self._tracker = StateTracker()
        self._running: collections.Counter[str] = collections.Counter()
        self._maps: dict[str, TaskID] = {}
        self._definitions = dict(_states(definition or {}))
        self._waits: dict[object, tuple[str, float]] = {}  # visit -> (state, end time)
        self._callbacks: dict[object, str] = {}  # visit -> state, for .waitForTaskToken tasks
        self._tokens: list[str] = []
        self._announced: set[str] = set()
        self._outcome: dict[object, tuple[str, str] | None] = {}  # visit -> last (error, cause)
        self._item_failures: dict[object, dict[int, tuple[str, str]]] = {}  # Map visit -> index -> why
        self._failed_items: dict[object, dict[int, tuple[str, str]]] = {}  # ... of failed iterations
        self._failed = False
        self._holding = True  # not drawing (before start, after stop, while the user types)

    def start(self) -> None:
        self._holding = False
        self._live.start()

    def stop(self) -> None:
        self._holding = True  # for good: hold(False) no longer restarts it
        self._live.stop()

    def hold(self, holding: bool) -> None:
        """While the user types a callback's answer, stop redrawing the live area: its refresh
        would draw over the line the terminal echoes (the user would type blind). What was
        printed stays; events still print their lines. ``hold(False)`` redraws again."""
        if holding == self._holding:
            return
        self._holding = holding
        if holding:
            self._live.stop()
        else:
            self._live.start()

    def on_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            if self._failed:
                return
            try:
                self._handle(event)
            except Exception:  # a display problem must never fail the user's execution
                self._failed = True

    # -- events -------------------------------------------------------------------------------
    def _handle(self, event: Mapping[str, Any]) -> None:
        step = self._tracker.feed(event)
        kind, state = step.kind, step.state
        retry = self._tracker.retried_after(event)
        if retry is not None:
            error, delay = retry
            waited = f", waited {delay:.1f}s" if delay is not None else ""
            self.console.print(f"[yellow]↻ retrying[/] {_where(state, step.item)} attempt "
                               f"{step.attempt} after {escape(error)}{waited}")
        if kind.endswith("StateEntered") and state:
            self._entered(step, state)
        elif kind.endswith("StateExited") and state:
            self._exited(step, state)
        elif kind.endswith(_FAILED_SUFFIXES) and not kind.startswith("Execution"):
            self._failure(step)
        elif kind.endswith("Succeeded") and not kind.startswith(("Execution", "MapIteration")):
            self._outcome[step.visit] = None
            if step.item is not None:  # a retry succeeded: the item has not failed
                visit = self._tracker.map_visit(step.item[0])
                self._item_failures.get(visit, {}).pop(step.item[1], None)
        if kind == "MapStateStarted" and state:
            total = step.details.get("length")
            if not isinstance(total, int | float) or isinstance(total, bool):
                total = None  # unknown: a bar without a total (rich compares it with numbers)
            self._maps[state] = self._progress.add_task(f"Map [bold]{escape(state)}[/]", total=total)
        elif kind in _ITERATION_EVENTS[1:]:
            self._iteration_ended(step)
        elif kind.endswith("Scheduled") and str(step.details.get("resource", "")).endswith(
                ".waitForTaskToken"):
            self._callbacks[step.visit] = state or "?"
        self._spinner.update(text=Text.from_markup(f"running [bold]{escape(self.running() or '-')}[/]"))

    def _entered(self, step: Step, state: str) -> None:
        self._running[state] += 1
        self._outcome[step.visit] = None
        if step.kind == "WaitStateEntered" and state in self._definitions and step.when is not None:
            duration = wait_seconds(self._definitions[state], step.details.get("input"), step.when)
            if duration is not None:
                self._waits[step.visit] = (state, self._now() + duration)

    def _exited(self, step: Step, state: str) -> None:
        self._running[state] -= 1
        self._waits.pop(step.visit, None)
        self._callbacks.pop(step.visit, None)
        caught = self._outcome.pop(step.visit, None)
        if caught is not None:
            error, cause = caught
            why = f": {escape(cause)}" if cause else ""
            self.console.print(f"[cyan]⤷ caught[/] {escape(error)} in {_where(state, step.item)}{why}")

    def _failure(self, step: Step) -> None:
        error = str(step.details.get("error") or "")
        cause = short_cause(step.details.get("cause"))
        if step.kind == "MapStateFailed":
            failures = self._failed_items.get(step.visit, {})  # not items aborted or retried
            first = next(iter(failures.values()), ("", ""))  # the first item that failed
            error, cause = error or first[0], cause or first[1]
            listed = ", ".join(f"{i} ({escape(e)})" for i, (e, _) in sorted(failures.items()))
            self.console.print(f"[red]✗ Map[/] {_where(step.state, step.item)} failed"
                               + (f": item{'s' * (len(failures) > 1)} {listed}" if listed else ""))
        if error:
            self._outcome[step.visit] = (error, cause)
            if step.item is not None and not step.kind.startswith(("Map", "Parallel")):
                failures = self._item_failures.setdefault(self._tracker.map_visit(step.item[0]), {})
                failures.pop(step.item[1], None)  # keep the order in which items failed
                failures[step.item[1]] = (error, cause)
            if not step.kind.startswith(("Map", "Parallel")):
                # the Maps and Parallels around it fail with it unless something handles it
                # first (a Retry or Catch inside, after which they succeed and forget it);
                # the history of a caught Parallel has no ParallelStateFailed: this is how it shows
                for _, visit in self._tracker.containers(step.ident):
                    self._outcome[visit] = (error, cause)
        self._waits.pop(step.visit, None)
        self._callbacks.pop(step.visit, None)

    def _iteration_ended(self, step: Step) -> None:
        task = self._maps.get(str(step.state))
        if task is not None:
            self._progress.advance(task)
        if step.kind == "MapIterationFailed":
            index = _index(step.details)
            error, cause = self._item_failures.get(step.visit, {}).get(index, ("", ""))
            self._failed_items.setdefault(step.visit, {})[index] = (error, cause)
            why = f": {escape(error)}" + (f": {escape(cause)}" if cause else "") if error else ""
            self.console.print(f"[red]✗ item {index}[/] of Map [bold]{escape(str(step.state))}[/] "
                               f"failed{why}")

    # -- callbacks (cli/run.py passes the execution's waiting tokens) ---------------------------
    def callbacks(self, tokens: Iterable[str]) -> list[str]:
        """Record the tokens waiting now; print each new one once with how to answer it.
        Returns the new tokens."""
        with self._lock:
            self._tokens = list(tokens)
            fresh = [t for t in self._tokens if t not in self._announced]
            for token in fresh:
                self._announced.add(token)
                states = ", ".join(sorted(set(self._callbacks.values()))) or "a task"
                self.console.print(f"[magenta]⏸ {escape(states)}[/] waits for a callback, task token "
                                   f"[bold]{escape(token)}[/]\n  {escape(self._answer_help)}")
            return fresh

    # -- the live area --------------------------------------------------------------------------
    def waiting_lines(self) -> list[Text]:
        """Lines under the spinner: each Wait's countdown, each callback waiting. Called by
        rich's refresh thread without our lock (on_event prints while holding it): it reads
        snapshots, and a display problem shows nothing rather than a traceback."""
        try:
            return self._waiting_lines()
        except Exception:
            return []

    def _waiting_lines(self) -> list[Text]:
        now = self._now()
        lines = [Text.from_markup(f"  ⏳ [bold]{escape(state)}[/] waits {max(0.0, end - now):.0f}s more")
                 for state, end in list(self._waits.values())]
        if self._callbacks:
            token = f" (token {self._tokens[0]})" if len(self._tokens) == 1 else ""
            names = ", ".join(sorted(set(self._callbacks.values())))
            lines.append(Text.from_markup(f"  ⏸ [bold]{escape(names)}[/] waits for a callback"
                                          f"{escape(token)}: {escape(self._answer_help)}"))
        return lines

    def running(self) -> str:
        """The states running now, comma-separated (sorted)."""
        return ", ".join(sorted(name for name, count in self._running.items() if count > 0))

    def map_progress(self) -> dict[str, tuple[float, float | None]]:
        """Map state name -> (iterations finished, total)."""
        tasks = {task.id: task for task in self._progress.tasks}
        return {name: (tasks[i].completed, tasks[i].total) for name, i in self._maps.items()}

    def summary(
        self, history: Iterable[Mapping[str, Any]], status: str, seconds: float | None
    ) -> None:
        """Print the table of states, then the execution's status and duration."""
        self.console.print(summary_table(history))
        colour = "green" if status == "SUCCEEDED" else "red"
        took = f" in {seconds:.3f}s" if seconds is not None else ""
        self.console.print(f"[bold {colour}]{status}[/]{took}")


# -- the summary table ------------------------------------------------------------------------
@dataclasses.dataclass(slots=True)
class _Row:
    type: str
    entered: int = 0
    attempts: int = 0
    spans: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    open: dict[object, float | None] = dataclasses.field(default_factory=dict)
    failed: bool = False
    caught: list[str] = dataclasses.field(default_factory=list)
    last_error: dict[object, str | None] = dataclasses.field(default_factory=dict)
    item_error: str | None = None  # the last error inside this Map's items
    last_seen: dict[object, float] = dataclasses.field(default_factory=dict)  # visit -> last event

    def wall_seconds(self) -> float:
        """The union of the visits' [entered, exited] spans: concurrent Map iterations of
        one state count once, a loop's sequential visits add up."""
        total, end = 0.0, float("-inf")
        for start, stop in sorted(self.spans):
            if stop > end:
                total += stop - max(start, end)
                end = stop
        return total


def _collect(history: Iterable[Mapping[str, Any]]) -> dict[str, _Row]:
    rows: dict[str, _Row] = {}
    tracker = StateTracker()
    for event in history:
        step = tracker.feed(event)
        if step.state is None:
            continue
        kind = step.kind
        row = rows.setdefault(step.state, _Row(type=kind.removesuffix("StateEntered")))
        if step.when is not None:
            row.last_seen[step.visit] = step.when
        if kind.endswith("StateEntered"):
            row.entered += 1
            row.open[step.visit] = step.when
            row.last_error[step.visit] = None
        elif kind.endswith("StateExited") and step.visit in row.open:
            started = row.open.pop(step.visit)
            if started is not None and step.when is not None:
                row.spans.append((started, max(started, step.when)))
            error = row.last_error.pop(step.visit, None)
            if error is not None:
                row.caught.append(error)
        elif kind.endswith("Scheduled"):
            row.attempts += 1
        elif kind.endswith(_FAILED_SUFFIXES) and kind not in _ITERATION_EVENTS:
            row.failed = True
            error = step.details.get("error")
            if step.item is not None and error and step.item[0] in rows:
                rows[step.item[0]].item_error = str(error)
            if not error and kind.startswith("Map"):
                error = row.item_error
            row.last_error[step.visit] = str(error or kind)
            if not kind.startswith(("Map", "Parallel")):  # the containers fail with it, unless handled
                for state, visit in tracker.containers(step.ident):
                    if state in rows:
                        rows[state].last_error[visit] = str(error or kind)
                        if step.when is not None:
                            rows[state].last_seen[visit] = step.when
        elif kind.endswith("Succeeded") and kind not in _ITERATION_EVENTS:
            row.last_error[step.visit] = None
        elif kind == "MapIterationFailed":
            row.failed = True
    for row in rows.values():  # visits that never exited (failed, aborted) ran until their last event
        for visit, started in row.open.items():
            stopped = row.last_seen.get(visit)
            if started is not None and stopped is not None:
                row.spans.append((started, max(started, stopped)))
    return rows


def _result(row: _Row) -> str:
    if row.open:
        return "[red]failed[/]" if row.failed else "[yellow]not exited[/]"
    if row.caught:
        return "[cyan]caught " + escape(", ".join(dict.fromkeys(row.caught))) + "[/]"
    return "[yellow]ok after errors[/]" if row.failed else "[green]ok[/]"


def summary_table(history: Iterable[Mapping[str, Any]]) -> Table:
    """A rich table with one row per state, in the order the states were first entered;
    Duration is the state's wall time (see ``_Row.wall_seconds``)."""
    table = Table(title="States", title_justify="left")
    for column in ("State", "Type", "Entered", "Attempts", "Duration", "Result"):
        table.add_column(
            column, justify="right" if column in ("Entered", "Attempts", "Duration") else "left"
        )
    for name, row in _collect(history).items():
        attempts = str(row.attempts) if row.attempts else ""
        table.add_row(escape(name), row.type, str(row.entered), attempts,
                      f"{row.wall_seconds():.3f}s", _result(row))
    return table
