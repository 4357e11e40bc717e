"""CLI stage, ``sm validate``: definition files in, every problem of every file out, as human
text (rich on a terminal, plain in pipes), JSON for tools, GitHub Actions annotations, SARIF
2.1.0 (GitHub code scanning) or JUnit XML.

All files are checked in this one process (``validation.check`` per file), so validating a
thousand files costs one interpreter start-up.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    error,
    is_terminal,
    make_console,
    rich_line,
    sort_key,
    with_file,
)

if TYPE_CHECKING:
    from statemachine.errors import Diagnostic

#: File names picked up when a folder is given (Terraform's ``templatefile`` sources,
#: ``*.tftpl``, hold definitions with ``${...}`` placeholders: see statemachine/templates.py).
SUFFIXES: Final = (".yaml", ".yml", ".json", ".tftpl")

#: On a terminal, files without problems are listed (with a tick) up to this many files.
_LIST_VALID_UP_TO: Final = 20

Report = list[tuple[str, list["Diagnostic"]]]


def expand(paths: Sequence[str]) -> Iterator[str]:
    """Files as given; folders replaced by their definition files (sorted, recursive).

    Inside a folder, resource maps (``*.resources.yaml``, the ``--resources`` files that sit
    beside the definitions they serve), HTTP Task connections files (``*.connections.yaml``,
    for $SM_CONNECTIONS_FILE), substitutions files (``*.substitutions.json``),
    execution inputs (``*.input.json``/``.yaml``) and test files (``*.test.yaml``) are
    not definitions and are left out; a file named explicitly is checked like any file.
    """
    for path in paths:
        if os.path.isdir(path):
            found = (p for p in Path(path).rglob("*")
                     if p.suffix in SUFFIXES and p.is_file() and not _is_companion(p))
            yield from sorted(str(p) for p in found)
        else:
            yield path


def _is_companion(path: Path) -> bool:
    """A resource map, a template's values file (``flow.substitutions.json``, for
    --substitutions), an execution input or a test file of ``sm test`` (``flow.test.yaml``)
    kept beside definitions."""
    return path.stem.endswith((".resources", ".connections", ".substitutions", ".input", ".test"))


def substitutions(args: argparse.Namespace) -> dict[str, str] | None:
    """The values of --substitutions FILE and --substitute NAME=VALUE (which wins), or None
    when neither is given. Raises statemachine.templates.SubstitutionsError."""
    from statemachine import templates

    if args.substitutions is None and not args.substitute:
        return None
    values = templates.read_substitutions(args.substitutions) if args.substitutions else {}
    values.update(templates.parse_assignment(item) for item in args.substitute or ())
    return values


def check_file(
    path: str, resource_map: str | None, values: Mapping[str, str] | None = None
) -> list[Diagnostic]:
    """Every diagnostic for one file; with a resource map, also unresolvable Task resources."""
    from statemachine.validation import check

    diagnostics = with_file(check(Path(path), name=path, substitutions=values), path)
    if resource_map is None or any(d.severity == "error" for d in diagnostics):
        return diagnostics
    return diagnostics + _resource_problems(path, resource_map, values)


def _resource_problems(path: str, resource_map: str,
                       values: Mapping[str, str] | None) -> list[Diagnostic]:
    """Unresolvable resources, found without importing or running any handler module
    (statemachine.resources.static): validation is what CI runs on untrusted pull requests.
    A Resource still holding a template placeholder is reported as a placeholder already."""
    from statemachine import templates
    from statemachine.errors import DefinitionError
    from statemachine.loader import load_source
    from statemachine.resources.static import check_resources

    try:
        doc = load_source(Path(path), name=path, substitutions=values)
    except DefinitionError as exc:
        return with_file([d for d in exc.diagnostics if d.code != "template-placeholder"], path)
    problems = [d for d in check_resources(doc, resource_map)
                if not (d.code == "unresolved-resource" and templates.has_placeholder(d.message))]
    return with_file(problems, path)


def _counts(report: Report) -> dict[str, int]:
    diagnostics = [d for _, found in report for d in found]
    return {
        "files": len(report),
        "invalid": sum(any(d.severity == "error" for d in found) for _, found in report),
        "errors": sum(d.severity == "error" for d in diagnostics),
        "warnings": sum(d.severity == "warning" for d in diagnostics),
    }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _summary(counts: Mapping[str, int]) -> str:
    files, invalid = counts["files"], counts["invalid"]
    problems = f"{_plural(counts['errors'], 'error')}, {_plural(counts['warnings'], 'warning')}"
    return (
        f"{_plural(files, 'file')} checked: {files - invalid} valid, {invalid} invalid ({problems})"
    )


def render_human(report: Report, stream: TextIO) -> None:
    counts = _counts(report)
    if not is_terminal(stream):
        for _, found in report:
            for diagnostic in sorted(found, key=sort_key):
                print(diagnostic.format(), file=stream)
        print(_summary(counts), file=stream)
        return
    console = make_console(stream)
    for path, found in report:
        if not found and len(report) > _LIST_VALID_UP_TO:
            continue  # many files: only those with problems are listed
        mark = "[red]✗[/]" if any(d.severity == "error" for d in found) else "[green]✓[/]"
        console.print(f"{mark} [bold]{path}[/]", highlight=False)
        for diagnostic in sorted(found, key=sort_key):
            console.print("  ", rich_line(diagnostic), sep="")
    style = "red" if counts["invalid"] else "green"
    console.print(f"[bold {style}]{_summary(counts)}[/]")


def render_json(report: Report, stream: TextIO) -> None:
    files = [
        {
            "file": path,
            "valid": not any(d.severity == "error" for d in found),
            "diagnostics": [d.to_dict() for d in sorted(found, key=sort_key)],
        }
        for path, found in report
    ]
    json.dump({"files": files, "summary": _counts(report)}, stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def _escape_data(text: str) -> str:
    # GitHub workflow commands: https://docs.github.com/actions/reference/workflow-commands-for-github-actions
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(diagnostic: Diagnostic) -> str:
    """``::error file=F,line=L,col=C,title=T::message`` (line/col left out when unknown)."""
    properties = [f"file={_escape_property(diagnostic.file or '')}"]
    if diagnostic.line:
        properties.append(f"line={diagnostic.line}")
        if diagnostic.column:
            properties.append(f"col={diagnostic.column}")
    properties.append(f"title={_escape_property(f'ASL {diagnostic.code}')}")
    where = f"state '{diagnostic.state}': " if diagnostic.state else ""
    pointer = f" ({diagnostic.pointer})" if diagnostic.pointer else ""
    message = _escape_data(f"{where}{diagnostic.message}{pointer}")
    return f"::{diagnostic.severity} {','.join(properties)}::{message}"


def render_github(report: Report, stream: TextIO) -> None:
    for _, found in report:
        for diagnostic in sorted(found, key=sort_key):
            print(github_line(diagnostic), file=stream)
    print(_summary(_counts(report)), file=stream)


def _uri(path: str) -> str:
    return Path(path).as_posix()


def render_sarif(report: Report, stream: TextIO) -> None:
    """SARIF 2.1.0 for GitHub code scanning: one rule per diagnostic code, one result per
    diagnostic (region left out when the line is unknown)."""
    from statemachine import __version__

    results: list[dict[str, object]] = []
    codes: dict[str, str] = {}
    for path, found in report:
        for diagnostic in sorted(found, key=sort_key):
            codes.setdefault(diagnostic.code, diagnostic.message)
            location: dict[str, object] = {"artifactLocation": {"uri": _uri(diagnostic.file or path)}}
            if diagnostic.line:
                region = {"startLine": diagnostic.line}
                if diagnostic.column:
                    region["startColumn"] = diagnostic.column
                location["region"] = region
            where = f"state '{diagnostic.state}': " if diagnostic.state else ""
            results.append({
                "ruleId": diagnostic.code,
                "level": "error" if diagnostic.severity == "error" else "warning",
                "message": {"text": where + diagnostic.message},
                "locations": [{"physicalLocation": location}],
            })
    rules = [{"id": code, "name": code, "shortDescription": {"text": f"ASL {code}"}} for code in sorted(codes)]
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "sm validate", "semanticVersion": __version__,
                                      "informationUri": "https://states-language.net/spec.html",
                                      "rules": rules}},
                  "results": results}],
    }
    json.dump(sarif, stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def render_junit(report: Report, stream: TextIO) -> None:
    """JUnit XML: one test case per file, failed when it has an error (every diagnostic of
    the file in the failure text; warnings alone go to system-out)."""
    import xml.etree.ElementTree as ET

    counts = _counts(report)
    suite = ET.Element("testsuite", name="sm validate", tests=str(counts["files"]),
                       failures=str(counts["invalid"]), errors="0")
    for path, found in report:
        case = ET.SubElement(suite, "testcase", classname="sm validate", name=path, file=path)
        lines = "\n".join(d.format() for d in sorted(found, key=sort_key))
        errors = [d for d in found if d.severity == "error"]
        if errors:
            failure = ET.SubElement(case, "failure", type=errors[0].code,
                                    message=f"{len(errors)} error{'s' * (len(errors) != 1)}")
            failure.text = lines
        elif lines:
            ET.SubElement(case, "system-out").text = lines
    stream.write(ET.tostring(suite, encoding="unicode", xml_declaration=True))
    stream.write("\n")


RENDERERS: Final[Mapping[str, Callable[[Report, TextIO], None]]] = {
    "human": render_human,
    "json": render_json,
    "github": render_github,
    "sarif": render_sarif,
    "junit": render_junit,
}


#: gc.set_threshold for `sm validate` (CPython's default is 700, 10, 10)
_GC_THRESHOLDS: Final = (100_000, 20, 20)


def command(args: argparse.Namespace) -> int:
    """``sm validate``: exit 0 when every file is valid, 1 when any has an error."""
    from statemachine.templates import SubstitutionsError

    from .run import InputError, check_resource_map

    try:
        check_resource_map(args.resources)  # missing, not a file, or not UTF-8: one line, exit 2
    except InputError as exc:
        return error(str(exc))
    try:
        values = substitutions(args)
    except SubstitutionsError as exc:
        return error(str(exc))
    files = list(expand(args.files))
    if not files:
        return error("no definition files found in " + ", ".join(args.files))
    # A one-shot process building large acyclic structures (the parsed definition, the walk, the
    # compiled states): the cyclic collector's default thresholds make it traverse them again
    # and again to free next to nothing (about 15% of the CPU time on a 20,000-state file,
    # bench/validate_large.py). Collect rarely, as other batch tools do (mypy).
    thresholds = gc.get_threshold()
    gc.set_threshold(*_GC_THRESHOLDS)
    try:
        report: Report = [(path, check_file(path, args.resources, values)) for path in files]
    finally:  # `main()` may run inside another program (tests): leave its collector as it was
        gc.set_threshold(*thresholds)
    RENDERERS[args.format](report, sys.stdout)
    sys.stdout.flush()
    return EXIT_FAILED if _counts(report)["invalid"] else EXIT_OK
