"""Observability: execution logs as AWS Step Functions writes them to CloudWatch Logs.

In: the history events of an execution (``observe.Observer.event``). Out: one JSON object per
line, in the shape of a Step Functions CloudWatch log event, on stderr or appended to a file::

    {"id": "1", "type": "ExecutionStarted", "details": {"input": "{}", "inputDetails":
     {"truncated": false}, "roleArn": "..."}, "previous_event_id": "0",
     "event_timestamp": "1579540923281", "execution_arn": "arn:aws:states:...",
     "redrive_count": "0"}

AWS's LoggingConfiguration decides what is written: ``level`` ALL (every event), ERROR (the
events of failures: ``*Failed``, ``*TimedOut``, ``*Aborted`` and FailStateEntered), FATAL
(ExecutionFailed, ExecutionTimedOut, ExecutionAborted) or OFF; ``include_execution_data``
(AWS: includeExecutionData, default false) keeps the payloads -- input, output, task
parameters, assigned variables -- which are otherwise left out of ``details``. As on AWS a
payload whose text is over 248 KiB is cut there and its ``...Details.truncated`` is true. Ids,
the timestamp (epoch milliseconds) and the redrive count are strings, as AWS writes them.

Nothing is written that the history does not hold, and the history holds no secret (the HTTP
Task redacts connection values from every cause: resources/http.py), so logs hold none either.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Literal, get_args

from statemachine.history import details_key
from statemachine.observe import BaseObserver, ExecutionInfo, Observer

if TYPE_CHECKING:
    from statemachine.history import Event

__all__ = ["LEVELS", "LogLevel", "LoggingConfiguration", "log_record"]

LogLevel = Literal["ALL", "ERROR", "FATAL", "OFF"]
LEVELS: Final[tuple[str, ...]] = get_args(LogLevel)
ENV_LEVEL: Final = "SM_LOG_LEVEL"
ENV_INCLUDE_DATA: Final = "SM_LOG_INCLUDE_DATA"
ENV_FILE: Final = "SM_LOG_FILE"
#: AWS: escaped input or output over 248 KB is truncated in CloudWatch Logs.
TRUNCATE_AT: Final = 248 * 1024
_FATAL = frozenset({"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"})
_ERROR_SUFFIXES = ("Failed", "TimedOut", "Aborted")
_PAYLOADS = ("input", "output")
_YES = frozenset({"1", "true", "yes", "on"})
_NO = frozenset({"", "0", "false", "no", "off"})
_DATA_FIELDS = frozenset({"input", "inputDetails", "output", "outputDetails", "parameters",
                          "assignedVariables", "assignedVariablesDetails"})


def logged(level: str, event_type: str) -> bool:
    """Does ``level`` log events of ``event_type``? (AWS's table of log levels.)"""
    if level == "ALL":
        return True
    if level == "FATAL":
        return event_type in _FATAL
    if level == "ERROR":
        return event_type.endswith(_ERROR_SUFFIXES) or event_type == "FailStateEntered"
    return False


@dataclasses.dataclass(frozen=True, slots=True)
class LoggingConfiguration:
    """AWS's LoggingConfiguration for local executions.

    ``level``: "ALL", "ERROR", "FATAL" or "OFF". ``include_execution_data``: keep input,
    output, parameters and assigned variables in the log lines. ``destination``: None for
    stderr, a path (str or PathLike) to append JSON lines to (created with its folder), or an
    open text stream. Raises ValueError for an unknown level or a folder as destination. Give it to ``load`` or ``run``
    (``logging=``), ``sm run --log-level``, or the ``logging`` section of a worker's config.
    """

    level: LogLevel = "ALL"
    include_execution_data: bool = False
    destination: str | os.PathLike[str] | IO[str] | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {self.level!r}")
        if isinstance(self.destination, (str, os.PathLike)) and os.path.isdir(self.destination):
            raise ValueError(f"log destination {os.fspath(self.destination)} is a folder, not a file")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoggingConfiguration:
        """From AWS's spelling (``{"level": "ERROR", "includeExecutionData": true}``, the
        first letter in either case) plus ``destination`` (a file path); ValueError for
        anything else."""
        known = {"level", "includeexecutiondata", "destination"}
        lowered = {str(k)[0].lower() + str(k)[1:]: v for k, v in data.items()}
        unknown = sorted(k for k in lowered if k.lower() not in known)
        if unknown:
            raise ValueError(f"logging: unknown field(s) {', '.join(unknown)} "
                             "(expected level, includeExecutionData, destination)")
        include = lowered.get("includeExecutionData", False)
        if not isinstance(include, bool):
            raise ValueError(f"logging: includeExecutionData must be true or false, not {include!r}")
        destination = lowered.get("destination")
        if destination is not None and not isinstance(destination, str):
            raise ValueError(f"logging: destination must be a file path, not {destination!r}")
        return cls(str(lowered.get("level", "ALL")).upper(), include, destination)  # type: ignore[arg-type]  # checked in __post_init__

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> LoggingConfiguration | None:
        """``SM_LOG_LEVEL`` (ALL, ERROR, FATAL, OFF), ``SM_LOG_INCLUDE_DATA`` (1/true) and
        ``SM_LOG_FILE`` (default stderr); None when ``SM_LOG_LEVEL`` is unset or empty.
        ValueError naming the variable for an unknown level or a yes/no that is neither. ``sm worker`` and ``sm serve`` read these."""
        env = os.environ if environ is None else environ
        level = env.get(ENV_LEVEL, "").strip().upper()
        if not level:
            return None
        if level not in LEVELS:
            raise ValueError(f"{ENV_LEVEL}: log level must be one of {', '.join(LEVELS)}, not {level!r}")
        raw = env.get(ENV_INCLUDE_DATA, "").strip().lower()
        if raw not in _YES and raw not in _NO:
            raise ValueError(f"{ENV_INCLUDE_DATA} must be 1, true, yes or on (or 0, false, no, off), "
                             f"not {env[ENV_INCLUDE_DATA]!r}")
        return cls(level, raw in _YES, env.get(ENV_FILE) or None)  # type: ignore[arg-type]  # checked above

    def observer(self, execution: ExecutionInfo) -> Observer:
        if self.level == "OFF":
            return BaseObserver()
        return _LogObserver(self, execution, _sink(self.destination))


def log_record(event: Event, execution: ExecutionInfo, *, include_execution_data: bool) -> dict[str, Any]:
    """The CloudWatch log event of one history event (see the module docstring)."""
    details: dict[str, Any] = {}
    if event.details is not None:
        details = event.to_dict()[details_key(event.type)]
        if include_execution_data:
            for field in _PAYLOADS:
                text = details.get(field)
                if isinstance(text, str) and len(text) > TRUNCATE_AT // 4 \
                        and len(text.encode()) > TRUNCATE_AT:
                    details[field] = text.encode()[:TRUNCATE_AT].decode(errors="ignore")
                    details[field + "Details"] = {"truncated": True}
        else:
            details = {k: v for k, v in details.items() if k not in _DATA_FIELDS}
    return {
        "id": str(event.id),
        "type": event.type,
        "details": details,
        "previous_event_id": str(event.previous_id),
        "event_timestamp": str(round(event.timestamp * 1000)),
        "execution_arn": execution.execution_arn,
        "redrive_count": str(execution.redrive_count),
    }


class _LogObserver(BaseObserver):
    """Writes the events its level logs; a Distributed Map's child executions are not logged
    (their histories are their own)."""

    def __init__(self, config: LoggingConfiguration, execution: ExecutionInfo, sink: _Sink) -> None:
        super().__init__()
        self.level = config.level
        self.include = config.include_execution_data
        self.execution = execution
        self.sink = sink
        self.replays: list[Event] = []  # durable: stored events passed again before a new one
        self.fresh = True

    def replayed(self, event: Event) -> None:
        super().replayed(event)
        if self.fresh:
            self.replays.append(event)

    def event(self, event: Event) -> None:
        if self.fresh:
            self.fresh = False
            # a durable execution's ExecutionStarted is stored when it is started (Service):
            # its first run logs it, before the first event the run adds
            if len(self.replays) == 1 and self.replays[0].type == "ExecutionStarted":
                self._write(self.replays[0])
            self.replays = []
        self._write(event)

    def _write(self, event: Event) -> None:
        if logged(self.level, event.type):
            record = log_record(event, self.execution, include_execution_data=self.include)
            self.sink.write(json.dumps(record, ensure_ascii=False, separators=(",", ":"),
                                       default=str) + "\n")


class _Sink:
    """One output shared by every execution logging to it: whole lines under a lock."""

    def __init__(self, stream: IO[str] | None, path: Path | None = None) -> None:
        self._stream = stream
        self._path = path
        self._lock = threading.Lock()
        self._warned = False

    def write(self, line: str) -> None:
        """Write one line; a destination that refuses it (disk full, closed stream) costs the
        line, said once on stderr, never the execution (AWS: logging is a side channel)."""
        with self._lock:
            try:
                self._write(line)
            except (OSError, ValueError) as failure:  # ValueError: I/O on a closed file
                if not self._warned:
                    self._warned = True
                    where = self._path or "its stream"
                    reason = getattr(failure, "strerror", None) or failure
                    sys.stderr.write(f"statemachine: cannot write the execution log to {where}: "
                                     f"{reason}; log lines are dropped\n")

    def _write(self, line: str) -> None:
        stream = self._stream
        if stream is None:
            if self._path is None:  # stderr as it is now (tests and the CLI swap it)
                sys.stderr.write(line)
                sys.stderr.flush()
                return
            self._path.parent.mkdir(parents=True, exist_ok=True)
            stream = self._stream = open(self._path, "a", encoding="utf-8")  # noqa: SIM115  # kept open for the process
        stream.write(line)
        stream.flush()

    def close(self) -> None:
        """Close a file this sink opened (it reopens on the next line)."""
        with self._lock:
            if self._path is not None and self._stream is not None:
                with contextlib.suppress(OSError):  # its last lines were reported by write
                    self._stream.close()
                self._stream = None


_SINKS: dict[str, _Sink] = {}
_SINKS_LOCK = threading.Lock()
_STDERR = _Sink(None)


@atexit.register
def _close_files() -> None:
    """Log files stay open for the process (one open per file, not per line): close them."""
    with _SINKS_LOCK:
        for sink in _SINKS.values():
            sink.close()


def _sink(destination: str | os.PathLike[str] | IO[str] | None) -> _Sink:
    if destination is None:
        return _STDERR
    if not isinstance(destination, (str, os.PathLike)):
        return _Sink(destination)
    key = os.path.abspath(os.fspath(destination))
    with _SINKS_LOCK:
        found = _SINKS.get(key)
        if found is None:
            found = _SINKS[key] = _Sink(None, Path(key))
        return found
