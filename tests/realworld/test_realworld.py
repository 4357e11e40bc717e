"""Real-world definitions in the styles deployment tools leave them in (issue 11): SAM
(DefinitionUri + DefinitionSubstitutions), CDK (a synthesized DefinitionString: one Fn::Join),
Terraform (templatefile) and the Serverless Framework (YAML with ${self:...} and Fn::GetAtt).
Every one is valid without values (placeholders are warnings) and valid and warning-free with
the values in the ``*.substitutions.*`` file beside it; mutations that AWS refuses are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import statemachine
from statemachine import templates
from statemachine.loader import load_source
from statemachine.validation import check

HERE = Path(__file__).parent
DEFINITIONS = sorted(p for p in HERE.rglob("*") if p.suffix in (".json", ".yml", ".yaml")
                     and not p.stem.endswith(".substitutions"))


def _values(definition: Path) -> dict[str, str]:
    stem = definition.name.split(".")[0]
    (found,) = [p for p in definition.parent.iterdir() if p.name.startswith(stem + ".substitutions.")]
    return templates.read_substitutions(str(found))


def test_every_tool_style_is_represented() -> None:
    assert {p.parent.name for p in DEFINITIONS} == {"sam", "cdk", "terraform", "serverless"}


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_valid_without_values_placeholders_are_warnings(definition: Path) -> None:
    found = check(definition)
    assert [d.format() for d in found if d.severity == "error"] == []
    assert {d.code for d in found} <= {"template-placeholder"}  # (a CDK string without tokens has none)


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_valid_and_quiet_with_the_values(definition: Path) -> None:
    assert [d.format() for d in check(definition, substitutions=_values(definition))] == []


def test_sm_validate_takes_the_folder_and_the_values() -> None:
    def sm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "statemachine.cli", "validate", *args],
                              capture_output=True, text=True, check=False)

    result = sm(str(HERE))  # the substitutions files beside the definitions are not definitions
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(DEFINITIONS)} files checked: {len(DEFINITIONS)} valid" in result.stdout
    cdk = HERE / "cdk" / "snapshot-backup.definition-string.json"
    filled = sm("--substitutions", str(HERE / "cdk" / "snapshot-backup.substitutions.json"), str(cdk))
    assert filled.returncode == 0 and filled.stdout.strip() == "1 file checked: 1 valid, 0 invalid (0 errors, 0 warnings)"


def test_the_jsonpath_forms_run_with_jayways_meaning() -> None:
    definition = HERE / "sam" / "translation-router.asl.json"
    machine = statemachine.load(definition, substitutions=_values(definition))
    translations = [{"TargetLanguageCode": "fr", "TranslatedText": "bonjour", "Length": 7},
                    {"TargetLanguageCode": "es", "TranslatedText": "hola", "Length": 4}]
    execution = machine.run({"translations": translations})
    assert execution.status == "SUCCEEDED"
    assert execution.output == {
        "text": "hola",                                  # [?(@.TargetLanguageCode==es)]: the bare word is text
        "pairs": [{"TargetLanguageCode": "fr", "TranslatedText": "bonjour"},   # .[*].['a', 'b']: merged
                  {"TargetLanguageCode": "es", "TranslatedText": "hola"}],
        "long": ["fr"],                                  # .[?(@.Length > 4)] after filling ${MaxLength}
    }
    fallback = machine.run({"translations": translations[:1]})
    assert fallback.output == {"text": "bonjour", "language": "en"}  # .[0]: the first item


def test_running_without_the_values_it_needs_is_refused() -> None:
    with pytest.raises(statemachine.DefinitionError) as info:
        statemachine.load(HERE / "terraform" / "ingest.asl.json")
    needed = {d.pointer for d in info.value.diagnostics}
    assert {d.code for d in info.value.diagnostics} == {"template-placeholder"}
    assert "/States/Process objects/MaxConcurrency" in needed  # unquoted: "MaxConcurrency": ${max_concurrency}


def _mutated(definition: Path, old: str, new: str) -> str:
    text = definition.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


# What AWS refuses, filled as the deployment tool fills it, is refused here too.
REFUSED: list[tuple[str, str, str, str]] = [
    # Filled inside quotes an integer field holds a string: AWS says "SCHEMA_VALIDATION_FAILED:
    # Expected value of type Integer" (serverless-operations/serverless-step-functions#188).
    ("sam/order-fulfilment.asl.json", '"Seconds": ${ReminderTimeout}', '"Seconds": "${ReminderTimeout}"', "wrong-type"),
    # A misspelt service integration is not an integration AWS knows.
    ("sam/order-fulfilment.asl.json", ":states:::sns:publish", ":states:::sns:publsh", "unknown-integration"),
    # A Next that names no state (AWS: MISSING_TRANSITION_TARGET).
    ("terraform/ingest.asl.json", '"Next": "Summarise"', '"Next": "Summarize"', "unknown-next-target"),
    # A JSONPath Jayway cannot compile ("Character '.' on position 2 is not valid").
    ("terraform/ingest.asl.json", '"$.objects.[?(@.Size > 1048576)].Key"', '"$...objects"', "invalid-payload"),
    # Terraform: a Next into a %{ if } block that the values leave out names no state.
    ("terraform/nightly-reports.asl.json", "%{ if enable_quality_gate ~}", "%{ if !enable_quality_gate ~}",
     "unknown-next-target"),
    # Serverless: #{AWS::Partition} filled, a misspelt integration is still one AWS does not know.
    ("serverless/refund.yml", "arn:aws:states:::dynamodb:getItem", "arn:aws:states:::dynamodb:getitem", "unknown-integration"),
    # SAM: ToleratedFailurePercentage above 100 (AWS: "must be between 0 and 100").
    ("sam/batch-export.asl.json", '"ToleratedFailurePercentage": ${ToleratedFailurePercentage}',
     '"ToleratedFailurePercentage": 150', "wrong-type"),
    # SAM JSONata: a Condition that is no JSONata expression ("{% ... %}") once filled.
    ("sam/score-router.asl.json", '"{% $states.input.score > ${Threshold} %}"', '"$states.input.score > ${Threshold}"',
     "invalid-choice-rule"),
    # CDK: the definition inside a token-free DefinitionString is checked like any other.
    ("cdk/normalise.definition-string.json", '\\"Next\\":\\"Done?\\"', '\\"Next\\":\\"Done!\\"', "unknown-next-target"),
]


@pytest.mark.parametrize(("name", "old", "new", "code"), REFUSED, ids=[r[3] for r in REFUSED])
def test_what_aws_refuses_is_refused(name: str, old: str, new: str, code: str) -> None:
    definition = HERE / name
    found = check(_mutated(definition, old, new), name=name, substitutions=_values(definition))
    assert code in {d.code for d in found if d.severity == "error"}, [d.format() for d in found]


def test_cdk_definition_string_renders_its_intrinsics() -> None:
    data: Any = json.loads((HERE / "cdk" / "snapshot-backup.definition-string.json").read_text(encoding="utf-8"))
    text = templates.whole_text(data)
    assert text is not None and "arn:${AWS::Partition}:states:::lambda:invoke" in text
    assert '"FunctionName":"${TagSnapshotFunctionB7A5A1C3.Arn}"' in text


def test_terraform_directives_read_the_branch_the_values_select() -> None:
    definition = HERE / "terraform" / "nightly-reports.asl.json"
    values = _values(definition)
    with_gate: Any = load_source(definition, substitutions=values).data
    without: Any = load_source(definition, substitutions={**values, "enable_quality_gate": "false"}).data
    assert with_gate["States"]["Start crawler"]["Next"] == "Quality gate" and "Quality gate" in with_gate["States"]
    assert without["States"]["Start crawler"]["Next"] == "Build reports" and "Quality gate" not in without["States"]


def test_a_cdk_string_definition_runs_with_jayways_paths() -> None:
    machine = statemachine.load(HERE / "cdk" / "normalise.definition-string.json")
    execution = machine.run({"records": [{"id": "r1"}, {"id": "r2"}]})
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"first": {"id": "r1"}, "ids": ["r1", "r2"], "count": 2}
