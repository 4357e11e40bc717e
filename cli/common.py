"""CLI stage, shared pieces: exit codes, terminal detection, lazy rich consoles, and the
plain/rich rendering of diagnostics used by ``sm validate``, ``sm run`` and ``sm graph``."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final, TextIO

if TYPE_CHECKING:  # rich is imported only when a terminal needs it
    from rich.console import Console

    from statemachine.errors import Diagnostic

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1  # invalid definition (validate, graph), failed execution (run)
EXIT_USAGE: Final = 2  # bad arguments, unreadable input, invalid definition for run
EXIT_INTERRUPTED: Final = 130  # Ctrl-C (128 + SIGINT), the shell convention

#: How ``sm run`` tells the user to answer a waiting callback (cli/run.py reads the answer from
#: the terminal: stdin, or /dev/tty when stdin is the piped input) ...
ANSWER_HELP: Final = "type its output as JSON + Enter to succeed, or !fail ERROR [CAUSE]; Ctrl-C aborts"
#: ... and what it says when there is no terminal to type on (CI, stderr redirected).
NO_ANSWER_HELP: Final = ("no terminal to type its answer on: it waits for the task's TimeoutSeconds or "
                         "HeartbeatSeconds (at once with --virtual-time), --timeout, or Ctrl-C")


def is_terminal(stream: TextIO) -> bool:
    """True when ``stream`` is an interactive terminal (not a pipe, a file, or TERM=dumb)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def make_console(stream: TextIO) -> Console:
    """A rich console writing to ``stream``; rich decides colours (NO_COLOR is honoured)."""
    from rich.console import Console

    return Console(file=stream, highlight=False, soft_wrap=True)


def error(message: str, *, code: int = EXIT_USAGE) -> int:
    """Print ``sm: error: message`` as one line on stderr and return the exit code."""
    one_line = " ".join(str(message).split())
    print(f"sm: error: {one_line}", file=sys.stderr)
    return code


def with_file(diagnostics: Iterable[Diagnostic], file: str) -> list[Diagnostic]:
    """The diagnostics with ``file`` filled where the validator left it empty."""
    return [d if d.file else dataclasses.replace(d, file=file) for d in diagnostics]


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int, str]:
    return (diagnostic.file or "", diagnostic.line, diagnostic.column, diagnostic.code)


def print_diagnostics(diagnostics: Sequence[Diagnostic], stream: TextIO) -> None:
    """One line per diagnostic, coloured on a terminal, plain text otherwise."""
    ordered = sorted(diagnostics, key=sort_key)
    if not is_terminal(stream):
        for diagnostic in ordered:
            print(diagnostic.format(), file=stream)
        return
    console = make_console(stream)
    for diagnostic in ordered:
        console.print(rich_line(diagnostic))


def rich_line(diagnostic: Diagnostic) -> object:
    """A rich ``Text`` for one diagnostic: location, severity, code, state, message."""
    from rich.text import Text

    colour = "red" if diagnostic.severity == "error" else "yellow"
    text = Text()
    text.append(diagnostic.location(), style="bold cyan")
    text.append(": ")
    text.append(diagnostic.severity, style=f"bold {colour}")
    text.append(f" [{diagnostic.code}]", style="dim")
    if diagnostic.state:
        text.append(" state ")
        text.append(repr(diagnostic.state), style="bold")
        text.append(":")
    text.append(f" {diagnostic.message}")
    if diagnostic.pointer:
        text.append(f" ({diagnostic.pointer})", style="dim")
    return text
