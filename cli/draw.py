"""CLI stage, ``sm graph`` and ``sm schema``: a definition file in, its problems on stderr and
(when it is valid) a diagram on stdout; or the bundled JSON Schema on stdout. Neither loads
the runtime."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_diagnostics, with_file


def graph_command(args: argparse.Namespace) -> int:
    """Draw ``args.file`` in ``args.format``. The definition is validated first: with errors
    they go to stderr, nothing is drawn and the exit code is 1 (a diagram of a machine AWS
    would refuse misleads); warnings go to stderr beside the diagram. Exit 2 when the file
    cannot be read or parsed."""
    from statemachine.errors import DefinitionError
    from statemachine.graph import render
    from statemachine.loader import load_source
    from statemachine.validation import validate

    try:
        document = load_source(Path(args.file))
    except DefinitionError as exc:
        print_diagnostics(with_file(exc.diagnostics, args.file), sys.stderr)
        return EXIT_USAGE
    if not isinstance(document.data, Mapping):  # the loader reports this; stay safe anyway
        print(f"sm: error: {args.file}: the definition is not an object", file=sys.stderr)
        return EXIT_USAGE
    diagnostics = with_file(validate(document), args.file)
    print_diagnostics(diagnostics, sys.stderr)
    errors = sum(d.severity == "error" for d in diagnostics)
    if errors:
        print(f"sm: {args.file} is not a valid definition ({errors} error{'s' if errors > 1 else ''}): "
              "nothing drawn", file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(render(document.data, args.format))
    return EXIT_OK


def schema_command(args: argparse.Namespace) -> int:
    """Print the JSON Schema that ``sm validate`` uses (for editors and other tools)."""
    from statemachine.validation import bundled_schema

    print(json.dumps(bundled_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK


def command(args: argparse.Namespace) -> int:
    return schema_command(args) if args.command == "schema" else graph_command(args)
