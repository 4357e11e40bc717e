"""Conformance: the cases_services cases (AWS runs that called seven small Lambda functions),
run through the public API with the functions as local stand-ins (a resource map built from
each case's ``lambda_functions``), compared like the execution cases.

The fixture functions live in tests/fixtures/lambdas/<source file stem>/handler.py; each
folder plays the role of the function's /var/task, as on AWS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance import corpus
from tests.conformance.test_execution_cases import case_params, check_execution, run_case

LAMBDAS = Path(__file__).resolve().parents[1] / "fixtures" / "lambdas"


def resource_map(case: corpus.Case) -> dict[str, Any]:
    """The MAP for a case: each recorded function ARN -> the fixture of its source file."""
    functions = {}
    for arn, spec in (case.data.get("lambda_functions") or {}).items():
        folder = Path(spec["source_file"]).stem
        if not (LAMBDAS / folder / "handler.py").is_file():
            raise AssertionError(f"no fixture for {spec['source_file']} ({spec['behaviour']})")
        functions[arn] = {"handler": "handler.handler", "code": folder}
    return {"base_dir": str(LAMBDAS), "lambda_functions": functions}


@pytest.mark.parametrize("case", case_params("cases_services", lambda case: "services"))
def test_case(case: corpus.Case) -> None:
    execution = run_case(case, resource_map=resource_map(case))
    problems = check_execution(case, execution)
    assert not problems, "\n".join(problems)
