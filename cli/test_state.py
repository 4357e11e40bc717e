"""CLI stage, ``sm test-state``: one state of a definition file, an input and options in,
AWS's TestState response (output/error/cause, nextState, status, inspectionData) out as JSON.
Exit 0 SUCCEEDED or CAUGHT_ERROR, 1 FAILED or RETRIABLE, 2 bad arguments or definition.
"""

from __future__ import annotations

import argparse
import json
import sys

from .common import EXIT_FAILED, EXIT_OK, error, print_diagnostics, with_file


def command(args: argparse.Namespace) -> int:
    """``sm test-state FILE --state NAME --input JSON``: print the TestState response."""
    from statemachine.errors import DefinitionError, ResourceNotFoundError
    from statemachine.testing.mocks import load_for_test
    from statemachine.testing.teststate import TestStateError

    from .run import InputError, input_spec, read_input

    try:
        payload = read_input(input_spec(args))  # --input, else piped stdin, else {}
        mock = read_input(args.mock) if args.mock else None
        variables = read_input(args.variables) if args.variables else None
        context = read_input(args.context) if args.context else None
        configuration = read_input(args.state_configuration) if args.state_configuration else None
    except InputError as exc:
        return error(str(exc))
    try:
        machine = load_for_test(args.file, resource_map=args.resources)
    except DefinitionError as exc:
        print_diagnostics(with_file(exc.diagnostics, args.file), sys.stderr)
        return error(f"{args.file}: invalid definition")
    except (ResourceNotFoundError, OSError, ValueError) as exc:
        return error(f"{args.file}: {exc}")
    try:
        result = machine.test_state(args.state, payload, inspection_level=args.inspection_level,
                                    mock=mock, variables=variables, context=context,
                                    state_configuration=configuration)
    except TestStateError as exc:
        return error(str(exc))
    print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    return EXIT_OK if result.status in ("SUCCEEDED", "CAUGHT_ERROR") else EXIT_FAILED
