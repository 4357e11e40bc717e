"""CLI stage, entry point: ``sm`` argument parsing and dispatch to the subcommand modules.

Only argparse is imported here; each subcommand imports what it needs when it runs, so
``sm --help`` costs an interpreter start-up and little more.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Final

from .common import EXIT_INTERRUPTED, EXIT_USAGE

VERSION: Final = "0.1.0"

MAIN_HELP: Final = """\
Validate, draw and run Amazon States Language (AWS Step Functions) state machines locally.

examples:
  sm validate definitions/*.yaml                 check definitions (CI: --format github)
  sm run definitions/hello.yaml --input '{"name": "world"}'
  sm graph definitions/etl.yaml --format mermaid
  sm schema > asl.schema.json                     JSON Schema for editors
  sm test definitions/                            run the *.test.yaml cases (mocks, expectations)
  sm test-state flow.yaml --state Charge --input '{}' --inspection-level DEBUG
  sm schedules create nightly --expression 'cron(30 2 * * ? *)' --machine flow.yaml
  sm serve --db executions.db                    the AWS Step Functions API on 127.0.0.1:8083

exit codes:
  0    success (all definitions valid / execution SUCCEEDED)
  1    a definition is invalid (validate, graph) / the execution FAILED, TIMED_OUT or was ABORTED
       / a test case failed (test) / the tested state FAILED or is RETRIABLE (test-state)
  2    usage error: bad arguments, unreadable input, invalid definition given to run, a bad
       test or mock file (file:line in the message)
  130  interrupted with Ctrl-C (run: the execution is aborted cleanly first); the process
       then ends by SIGINT, as POSIX asks of a program that handled it, so a shell reports 130
       and stops its loop (Python's subprocess reports -2)
"""

VALIDATE_HELP: Final = """\
examples:
  sm validate flow.yaml
  sm validate definitions/                         every *.yaml, *.yml, *.json below it
  sm validate --format github definitions/*.yaml  GitHub Actions annotations
  sm validate --format json flow.yaml | jq .      machine-readable
  sm validate --format sarif definitions/ > asl.sarif   GitHub code scanning (SARIF 2.1.0)
  sm validate --format junit definitions/ > asl.xml     JUnit XML, one test case per file
  sm validate --resources resources.yaml flow.yaml   also check Task resources resolve locally
  sm validate statemachine/flow.asl.json           SAM/CDK/Terraform template: ${Name} placeholders
                                                   are accepted with a warning (template-placeholder)
  sm validate --substitutions values.json --substitute Timeout=30 flow.asl.json
                                                   fill them first, as the deployment tool does

All problems of all files are reported at once, as file:line:col, state, code and message.
Warnings are shown but do not make a definition invalid.

exit codes:
  0  every definition is valid (warnings allowed)
  1  at least one definition has an error
  2  usage error (no files given, unknown option, resource map or substitutions file not found)
"""

RUN_HELP: Final = """\
examples:
  sm run flow.yaml --input '{"name": "world"}'
  sm run flow.yaml --input @input.json
  echo '{"n": 3}' | sm run flow.yaml          # piped stdin is the input
  sm run flow.yaml --input @input.yaml        # YAML input file
  sm run flow.yaml --virtual-time --json          Wait states and retry delays take no time
  sm run flow.yaml --timeout 60                   abort the execution after 60 s (status ABORTED)
  sm run aws-flow.yaml --resources resources.yaml  local stand-ins for Lambda and services
  sm run flow.asl.json --substitute Timeout=30     fill ${Timeout} (a SAM/Terraform template) first
  sm run LambdaSQSIntegration.asl.json --mock-config MockConfigFile.json --test-case HappyPath
                                                  Step Functions Local mocks (also: SFN_MOCK_CONFIG)
  sm run flow.yaml --log-level ERROR --log-file run.log   JSON log lines like AWS's CloudWatch logs
  opentelemetry-instrument sm run flow.yaml --telemetry    spans and metrics to your OTel exporters

On success the output JSON is printed on stdout; on failure the error and cause go to stderr.
On a terminal a live view shows the running states, Map progress and retries, then a table
of states and durations (--quiet turns it off; it is always off in pipes). A .waitForTaskToken
task prints its token; type its output as JSON (or !fail ERROR [CAUSE]) on the terminal, also
when the input is piped in.

exit codes:
  0    the execution SUCCEEDED
  1    the execution FAILED, TIMED_OUT or was ABORTED
  2    invalid definition (validator messages on stderr), unresolvable resource, bad input
       (invalid JSON, missing file, larger than the 256 KiB payload limit), bad arguments
  130  interrupted with Ctrl-C: the execution was aborted (status ABORTED)
"""

TEST_HELP: Final = """\
examples:
  sm test                                          every *.test.yaml below the current folder
  sm test definitions/order_saga.test.yaml
  sm test definitions/ --junit-xml report.xml      and a JUnit report for CI
  sm test definitions/ --json | jq .summary

A test file lists cases for one definition: input, mocks (by state name, in Step Functions
Local's mock-file format, or a test case of a MockConfigFile) and what to expect: status,
output (exact) or output_subset, error, cause, path (the states entered, in order). Waits and
retry delays take no time (virtual time). All cases run at once in this one process.

exit codes:
  0  every case passed
  1  at least one case failed (what differed is shown as a diff)
  2  a test file, mock file or definition cannot be used (file:line:column in the message)
"""

TEST_STATE_HELP: Final = """\
examples:
  sm test-state flow.yaml --state Charge --input '{"amount": 5}'
  sm test-state flow.yaml --state Charge --input @in.json --inspection-level DEBUG \\
      --mock '{"result": "{\\"ok\\": true}"}'
  sm test-state flow.yaml --state Charge --mock '{"errorOutput": {"error": "Boom"}}' \\
      --state-configuration '{"retrierRetryCount": 1}'

Runs one state the way AWS's TestState API does and prints its response as JSON: output or
error and cause, nextState, status (SUCCEEDED, FAILED, RETRIABLE, CAUGHT_ERROR) and, at DEBUG
and TRACE, inspectionData (input, afterInputPath, afterParameters or afterArguments, result,
afterResultSelector, afterResultPath, variables, errorDetails). Activity, .sync and
.waitForTaskToken Tasks, Map and Parallel states need --mock, as in AWS.

exit codes:
  0  status SUCCEEDED or CAUGHT_ERROR
  1  status FAILED or RETRIABLE
  2  bad arguments, invalid definition, unknown state, a state that needs a mock
"""

GRAPH_HELP: Final = """\
examples:
  sm graph flow.yaml                               Mermaid flowchart (paste into Markdown)
  sm graph flow.yaml --format dot | dot -Tsvg > flow.svg

The definition is validated first; its problems go to stderr. Parallel branches and Map
item processors are drawn as nested clusters that join again at their state's successor.

exit codes:
  0  the diagram was printed (warnings, if any, on stderr)
  1  the definition is invalid: its errors on stderr, nothing drawn
  2  the file cannot be read or parsed, or bad arguments
"""

SCHEMA_HELP: Final = """\
examples:
  sm schema > asl.schema.json
  # then, first line of a definition:  # yaml-language-server: $schema=./asl.schema.json

exit codes:
  0  the schema was printed
"""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def _history_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value != 0 and value < 2:
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or at least 2: {text!r}")
    return value


def _subparser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    epilog: str,
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _template_arguments(parser: argparse.ArgumentParser) -> None:
    """--substitute / --substitutions: fill ${Name} placeholders (SAM, CDK, Terraform)."""
    parser.add_argument(
        "--substitute",
        action="append",
        metavar="NAME=VALUE",
        help="fill the template placeholder ${NAME} with VALUE before parsing (repeatable)",
    )
    parser.add_argument(
        "--substitutions",
        metavar="FILE",
        help="JSON or YAML map of placeholder names to values (--substitute wins over it)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``sm`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="sm", description=MAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"sm {VERSION}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = _subparser(commands, "validate", "Check definitions for errors.", VALIDATE_HELP)
    validate.add_argument("files", nargs="+", metavar="FILE", help="definition files or folders")
    validate.add_argument(
        "--format", choices=("human", "json", "github", "sarif", "junit"), default="human"
    )
    validate.add_argument(
        "--resources", metavar="MAP.yaml", help="resource map to resolve Tasks with"
    )
    _template_arguments(validate)

    run = _subparser(commands, "run", "Run a definition and print its output.", RUN_HELP)
    run.add_argument("file", metavar="FILE", help="definition file (YAML or JSON)")
    run.add_argument(
        "--input",
        default=None,
        metavar="JSON|@FILE|-",
        help="execution input: JSON text, @file (.json, .yaml/.yml) or - for stdin "
        "(default: stdin when it is piped or redirected, else {})",
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="print status, output, error, cause, executionArn as one JSON object",
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no live progress or summary table")
    run.add_argument(
        "--virtual-time", action="store_true", help="finish Wait states and retry delays at once"
    )
    run.add_argument(
        "--resources", metavar="MAP.yaml", help="resource map (local stand-ins for AWS resources)"
    )
    run.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="S",
        help="abort the execution after S seconds of wall time",
    )
    run.add_argument(
        "--history-limit",
        type=_history_limit,
        default=25_000,
        metavar="N",
        help="fail the execution (States.Runtime) when its history reaches N events, as AWS "
        "does at 25,000 (default); 0: no limit",
    )
    run.add_argument("--name", help="execution name (default: a generated one)")
    _template_arguments(run)
    run.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed of every random value the run draws (--json shows the one used)",
    )

    run.add_argument(
        "--mock-config",
        metavar="FILE",
        help="Step Functions Local mock file (default with --test-case: $SFN_MOCK_CONFIG); "
             "needs --test-case",
    )
    run.add_argument("--test-case", metavar="NAME", help="the mock file's test case to run")
    run.add_argument(
        "--state-machine",
        metavar="NAME",
        help="the mock file's StateMachines key (default: the file name up to its first dot)",
    )

    run.add_argument(
        "--executor",
        metavar="WHERE",
        help="where Map iterations and Parallel branches run: local (default), dask (a local "
             "Dask cluster of worker processes) or dask://HOST:PORT (a running scheduler; "
             "$SM_EXECUTOR_TIMEOUT seconds to reach it, default 10)",
    )
    run.add_argument("--db", metavar="PATH|URL",
                     help="persist the execution in this database (durable; ARN on stderr)")
    from .observability import add_arguments as add_log_arguments  # argparse only at import
    from .observability import add_telemetry_argument

    add_log_arguments(run)
    add_telemetry_argument(run)

    test = _subparser(commands, "test", "Run test files (*.test.yaml).", TEST_HELP)
    test.add_argument("paths", nargs="*", metavar="PATH", help="test files or folders (default .)")
    test.add_argument("--junit-xml", metavar="FILE", help="also write a JUnit XML report")
    test.add_argument("--json", action="store_true", help="print the results as JSON")

    test_state = _subparser(
        commands, "test-state", "Test one state as AWS's TestState API does.", TEST_STATE_HELP
    )
    test_state.add_argument("file", metavar="FILE", help="definition file (YAML or JSON)")
    test_state.add_argument("--state", required=True, metavar="NAME", help="the state to test")
    test_state.add_argument("--input", metavar="JSON|@FILE|-", help="state input (default: piped stdin, else {})")
    test_state.add_argument(
        "--inspection-level", choices=("INFO", "DEBUG", "TRACE"), default="INFO"
    )
    test_state.add_argument("--mock", metavar="JSON|@FILE", help='{"result": "<JSON text>"} or '
                            '{"errorOutput": {"error": ..., "cause": ...}}')
    test_state.add_argument("--variables", metavar="JSON|@FILE", help="workflow variables")
    test_state.add_argument("--context", metavar="JSON|@FILE", help="context object ($$) fields")
    test_state.add_argument(
        "--state-configuration", metavar="JSON|@FILE", help='e.g. {"retrierRetryCount": 1}'
    )
    test_state.add_argument("--resources", metavar="MAP.yaml", help="resource map")

    graph = _subparser(commands, "graph", "Draw the state graph.", GRAPH_HELP)
    graph.add_argument("file", metavar="FILE", help="definition file (YAML or JSON)")
    graph.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")

    _subparser(commands, "schema", "Print the bundled JSON Schema of the language.", SCHEMA_HELP)
    from .durable import add_commands  # durable executions (argparse only at import)

    add_commands(commands, _subparser)
    from .schedules import add_commands as add_schedule_commands  # argparse only at import

    add_schedule_commands(commands, _subparser)
    from .serve import add_command as add_serve  # sm serve (argparse only at import)

    add_serve(commands, _subparser)
    return parser


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    """The subcommand's ``command`` function, imported only now (lazy start-up)."""
    if name == "validate":
        from .validate import command
    elif name in ("start", "worker", "executions", "stop", "redrive", "task", "run-db"):
        from .durable import command
    elif name == "schedules":
        from .schedules import command
    elif name == "run":
        from .run import command
    elif name == "serve":
        from .serve import command
    elif name == "test":
        from .test import command
    elif name == "test-state":
        from .test_state import command
    else:
        from .draw import command  # graph and schema
    return command


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sm`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if args.command == "run":
            # Ctrl-C must reach a run even when the parent shell started it with SIGINT
            # ignored (a background job of a non-interactive shell): it is how a user aborts an
            # execution. Set here, before the imports and the load: a Ctrl-C while they run is
            # "sm: interrupted", not lost.
            signal.signal(signal.SIGINT, signal.default_int_handler)
        durable_run = args.command == "run" and getattr(args, "db", None)
        return _command("run-db" if durable_run else args.command)(args)
    except KeyboardInterrupt:
        print("sm: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (sm ... | head): stop quietly, as other Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def entry() -> None:
    """The ``sm`` script and ``python -m statemachine.cli``: :func:`main`, then the exit.

    Interrupted (Ctrl-C, exit code 130), the process ends *by* SIGINT once it has cleaned up:
    the convention for a program that handles SIGINT (a shell then stops its loop), and what
    CPython itself does on its own when a KeyboardInterrupt has passed through code it runs
    from text (``exec``, as a dataclass being defined does), even one ``main`` caught: so
    every interruption ends the same way. The shell's ``$?`` is 130 either way.
    """
    code = main()
    if code != EXIT_INTERRUPTED:
        raise SystemExit(code)
    sys.stdout.flush()
    # A KeyboardInterrupt left unhandled, quietly (main already said "sm: interrupted"):
    # the interpreter runs the exit hooks, finalizes, then re-raises SIGINT with its default
    # action. (Calling os.kill ourselves would skip the first two.)
    previous = sys.excepthook

    def quiet(kind: type[BaseException], value: BaseException, trace: TracebackType | None) -> None:
        if not issubclass(kind, KeyboardInterrupt):
            previous(kind, value, trace)

    sys.excepthook = quiet
    raise KeyboardInterrupt


if __name__ == "__main__":  # pragma: no cover
    entry()
