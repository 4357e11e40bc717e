"""CLI stage, live view of ``sm run`` on a terminal: history events in (the execution's
``on_event`` callback, called from the execution's threads), a rich display out: the states
running now, a progress bar per Map state, a line per retry, and after the run a table of
states with their durations. Imported only when stderr is a terminal.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final, TextIO

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from .common import make_console

_FAILED_SUFFIXES: Final = ("Failed", "TimedOut", "StartFailed", "SubmitFailed")


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


class StateTracker:
    """Attributes every event to its state by following ``previousEventId`` links (AWS links
    a TaskScheduled to its TaskStateEntered, a retry's TaskScheduled to the failure)."""

    def __init__(self) -> None:
        self.state_of: dict[object, str | None] = {}
        self.failure_of: dict[object, str] = {}

    def feed(self, event: Mapping[str, Any]) -> str | None:
        kind = str(event.get("type", ""))
        details = _details(event)
        if kind.endswith("StateEntered") or kind.endswith("StateExited"):
            state = details.get("name")
        else:
            state = self.state_of.get(event.get("previousEventId"))
        self.state_of[event.get("id")] = state
        if kind.endswith(_FAILED_SUFFIXES) and not kind.startswith(
            ("Execution", "Map", "Parallel")
        ):
            self.failure_of[event.get("id")] = str(details.get("error") or kind)
        return state

    def retried_after(self, event: Mapping[str, Any]) -> str | None:
        """The error a ``...Scheduled`` event retries after, or None for a first attempt."""
        if not str(event.get("type", "")).endswith("Scheduled"):
            return None
        return self.failure_of.get(event.get("previousEventId"))


class LiveView:
    """The live display; ``on_event`` may be called from any thread."""

    def __init__(self, stream: TextIO) -> None:
        self.console = make_console(stream)
        self._spinner = Spinner("dots", text="starting")
        self._progress = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=self.console,
        )
        self._live = Live(
            Group(self._spinner, self._progress),
            console=self.console,
            transient=True,
            refresh_per_second=10,
        )
        self._lock = threading.Lock()
        self._tracker = StateTracker()
        self._running: collections.Counter[str] = collections.Counter()
        self._maps: dict[str, TaskID] = {}
        self._failed = False

    def start(self) -> None:
        self._live.start()

    def stop(self) -> None:
        self._live.stop()

    def on_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            if self._failed:
                return
            try:
                self._handle(event)
            except Exception:  # a display problem must never fail the user's execution
                self._failed = True

    def _handle(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("type", ""))
        state = self._tracker.feed(event)
        retry_error = self._tracker.retried_after(event)
        if retry_error is not None:
            self.console.print(f"[yellow]↻ retrying[/] [bold]{state}[/] after {retry_error}")
        if kind.endswith("StateEntered") and state:
            self._running[state] += 1
        elif kind.endswith("StateExited") and state:
            self._running[state] -= 1
        elif kind == "MapStateStarted" and state:
            total = _details(event).get("length")
            if not isinstance(total, int | float) or isinstance(total, bool):
                total = None  # unknown: a bar without a total (rich compares it with numbers)
            self._maps[state] = self._progress.add_task(f"Map [bold]{state}[/]", total=total)
        elif kind in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            task = self._maps.get(str(_details(event).get("name")))
            if task is not None:
                self._progress.advance(task)
        self._spinner.update(text=Text.from_markup(f"running [bold]{self.running() or '-'}[/]"))

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


@dataclasses.dataclass(slots=True)
class _Row:
    type: str
    entered: int = 0
    attempts: int = 0
    seconds: float = 0.0
    open: list[float | None] = dataclasses.field(default_factory=list)
    failed: bool = False


def _collect(history: Iterable[Mapping[str, Any]]) -> dict[str, _Row]:
    rows: dict[str, _Row] = {}
    tracker = StateTracker()
    for event in history:
        kind = str(event.get("type", ""))
        state = tracker.feed(event)
        if state is None:
            continue
        row = rows.setdefault(state, _Row(type=kind.removesuffix("StateEntered")))
        when = seconds(event.get("timestamp"))
        if kind.endswith("StateEntered"):
            row.entered += 1
            row.open.append(when)
        elif kind.endswith("StateExited") and row.open:
            started = row.open.pop(0)
            if started is not None and when is not None:
                row.seconds += max(0.0, when - started)
        elif kind.endswith("Scheduled"):
            row.attempts += 1
        elif kind.endswith(_FAILED_SUFFIXES):
            row.failed = True
    return rows


def summary_table(history: Iterable[Mapping[str, Any]]) -> Table:
    """A rich table with one row per state, in the order the states were first entered."""
    table = Table(title="States", title_justify="left")
    for column in ("State", "Type", "Entered", "Attempts", "Duration", "Result"):
        table.add_column(
            column, justify="right" if column in ("Entered", "Attempts", "Duration") else "left"
        )
    for name, row in _collect(history).items():
        if row.open:
            result = "[red]failed[/]" if row.failed else "[yellow]not exited[/]"
        else:
            result = "[yellow]ok after errors[/]" if row.failed else "[green]ok[/]"
        attempts = str(row.attempts) if row.attempts else ""
        table.add_row(name, row.type, str(row.entered), attempts, f"{row.seconds:.3f}s", result)
    return table
