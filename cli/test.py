"""CLI stage, ``sm test``: test files (``*.test.yaml``) in, one line per case plus a diff of
what differed out (rich on a terminal, plain in pipes), or ``--json``; ``--junit-xml FILE``
for CI. Exit 0 all passed, 1 a case failed, 2 a test or mock file is bad.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from .common import EXIT_FAILED, EXIT_OK, error, is_terminal, make_console

if TYPE_CHECKING:
    from statemachine.testing.testfile import CaseResult


def command(args: argparse.Namespace) -> int:
    """``sm test [PATHS]``: run every case of every test file found."""
    from statemachine.testing.mockconfig import MockConfigError
    from statemachine.testing.testfile import expand_test_paths, load_test_file, run_cases

    started = time.perf_counter()
    paths = expand_test_paths(args.paths or ["."])
    if not paths:
        return error("no test files (*.test.yaml) found in " + ", ".join(args.paths or ["."]))
    try:
        files = [load_test_file(path) for path in paths]
    except MockConfigError as exc:
        return error(exc.format())
    results = run_cases(files)
    seconds = time.perf_counter() - started
    if args.json:
        json.dump({"cases": [r.to_dict() for r in results], "summary": _summary(results, seconds)},
                  sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        render(results, seconds, sys.stdout)
    if args.junit_xml:
        try:
            write_junit(results, args.junit_xml, seconds)
        except OSError as exc:
            sys.stdout.flush()
            return error(f"cannot write --junit-xml {args.junit_xml}: {exc.strerror or exc}")
    return EXIT_FAILED if any(not r.passed for r in results) else EXIT_OK


def _summary(results: Sequence[CaseResult], seconds: float) -> dict[str, object]:
    failed = sum(not r.passed for r in results)
    return {"cases": len(results), "passed": len(results) - failed, "failed": failed,
            "seconds": round(seconds, 3)}


def _summary_line(results: Sequence[CaseResult], seconds: float) -> str:
    counts = _summary(results, seconds)
    cases = f"{counts['cases']} case{'s' * (counts['cases'] != 1)}"
    return f"{cases}: {counts['passed']} passed, {counts['failed']} failed in {seconds:.2f} s"


def render(results: Sequence[CaseResult], seconds: float, stream: TextIO) -> None:
    """One line per case; failures followed by what differed."""
    if not is_terminal(stream):
        for result in results:
            print(f"{'PASS' if result.passed else 'FAIL'} {result.file}:{result.line} {result.name}", file=stream)
            for failure in result.failures:
                print("  " + failure.replace("\n", "\n  "), file=stream)
        print(_summary_line(results, seconds), file=stream)
        return
    from rich.markup import escape

    console = make_console(stream)
    for result in results:
        mark = "[green]✓[/]" if result.passed else "[red]✗[/]"
        console.print(f"{mark} [dim]{escape(result.file)}:{result.line}[/] [bold]{escape(result.name)}[/]")
        for failure in result.failures:
            for line in failure.splitlines():
                style = "red" if line.startswith("-") else "green" if line.startswith("+") else ""
                console.print(f"    [{style}]{escape(line)}[/]" if style else f"    {escape(line)}")
    style = "red" if any(not r.passed for r in results) else "green"
    console.print(f"[bold {style}]{_summary_line(results, seconds)}[/]")


def write_junit(results: Sequence[CaseResult], path: str, seconds: float) -> None:
    """JUnit XML: one testsuite per test file, one testcase per case, failures with diffs."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="sm test", tests=str(len(results)),
                      failures=str(sum(not r.passed for r in results)), time=f"{seconds:.3f}")
    suites: dict[str, ET.Element] = {}
    for result in results:
        suite = suites.get(result.file)
        if suite is None:
            suite = suites[result.file] = ET.SubElement(root, "testsuite", name=result.file)
        case = ET.SubElement(suite, "testcase", classname=result.file, name=result.name,
                             file=result.file, line=str(result.line), time=f"{result.seconds:.3f}")
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=result.failures[0].splitlines()[0])
            failure.text = "\n\n".join(result.failures)
    for suite in suites.values():
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
