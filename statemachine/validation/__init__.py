"""Stage 2, validation: a loaded ``SourceDocument`` in, every problem out as a list of
``Diagnostic`` (schema pass, then the semantic rules), each with its code, message, JSON
pointer, state name and the line/column from the source map.

``check(source)`` loads and validates in one call and turns loading failures into
diagnostics too. Warnings (severity "warning") do not make a definition invalid.
The rules are plain functions in tables (``RULES``: code -> function); each takes the walked
``Machine`` and yields Diagnostics.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping

from statemachine.errors import DefinitionError, Diagnostic
from statemachine.expressions.memo import compile_memo
from statemachine.loader import SourceDocument, load_source
from statemachine.validation import placeholders as placeholder_rules
from statemachine.validation.choice import CHOICE_RULES
from statemachine.validation.expressions import EXPRESSION_RULES
from statemachine.validation.fields import FIELD_RULES
from statemachine.validation.graph import GRAPH_RULES
from statemachine.validation.jsonata import JSONATA_RULES
from statemachine.validation.literals import LITERAL_RULES
from statemachine.validation.schema import bundled_schema, schema_diagnostics
from statemachine.validation.tasks import TASK_RULES
from statemachine.validation.variables import VARIABLE_RULES
from statemachine.validation.walk import Machine, MachineType, finding, state_of, walk
from statemachine.values import JSON

__all__ = ["RULES", "bundled_schema", "check", "validate"]

Rule = Callable[[Machine], Iterator[Diagnostic]]

#: Every semantic rule, by the code (or family of codes) it reports.
RULES: Mapping[str, Rule] = {**GRAPH_RULES, **FIELD_RULES, **CHOICE_RULES, **TASK_RULES, **EXPRESSION_RULES,
                               **VARIABLE_RULES, **LITERAL_RULES, **JSONATA_RULES}


def validate(
    doc: SourceDocument, *, machine_type: MachineType = "STANDARD", placeholders: placeholder_rules.Mode = "warn"
) -> list[Diagnostic]:
    """Every problem in ``doc`` (schema and semantic), positions filled from its source map.

    ``machine_type`` "EXPRESS" adds the Express restrictions (no activities, no .sync or
    .waitForTaskToken integrations). Template placeholders left in ``doc`` (``${Name}``):
    ``placeholders`` "warn" accepts them where a value could stand, with a warning
    ``template-placeholder``; "error" (loading to run) asks for the values the definition needs.
    """
    found = [dataclasses.replace(w, state=w.state or state_of(w.pointer)) for w in doc.problems]
    if not isinstance(doc.data, dict):
        found.append(Diagnostic("not-an-object", "a definition must be a JSON object"))
        return _placed(doc, found)
    if any(d.code == "not-json" for d in found):  # a dict holding non-JSON values: no pass can trust it
        return _placed(doc, found)
    if _is_cloudformation(doc.data):  # `sm validate .` in a SAM/CDK project meets template.yaml
        found.append(Diagnostic(
            "cloudformation-template",
            "this is a CloudFormation/SAM template, not a state machine definition: validate the file its "
            "DefinitionUri names, or the DefinitionString taken out of it (see the README, 'Validating SAM, "
            "CDK and Terraform projects')"))
        return _placed(doc, found)
    found += schema_diagnostics(doc.data)
    machine = walk(doc.data, machine_type)
    with compile_memo():  # each expression parsed once by the rules and the compile pass
        for rule in RULES.values():
            found.extend(rule(machine))
        found.extend(compile_problems(machine, found))
    return _placed(doc, placeholder_rules.settle(doc, _one_per_typo(found), placeholders))


#: Schema codes that already say what is wrong with a Choice rule's field.
_SCHEMA_CODES = frozenset({"wrong-type", "out-of-range", "invalid-value", "missing-field"})


def _one_per_typo(found: list[Diagnostic]) -> list[Diagnostic]:
    """One mistake in a Choice rule, one line. A misspelt operator is an unknown field to the
    schema (with its did-you-mean) and an unknown operator to the Choice grammar: report it
    as the unknown field. An operand of the wrong type or an empty And/Or is a schema error
    and a grammar error at the same field: report the schema's."""
    unknown = {d.pointer for d in found if d.code == "unknown-field"}
    schema = {d.pointer for d in found if d.code in _SCHEMA_CODES}
    return [d for d in found if not (d.code == "invalid-choice-rule" and (
        d.pointer in schema or (d.pointer in unknown and d.message.startswith("unknown comparison operator"))))]


def _is_cloudformation(data: Mapping[str, JSON]) -> bool:
    """A CloudFormation (or SAM) template rather than a definition: it has Resources (or the
    template version) and no StartAt."""
    return "StartAt" not in data and ("AWSTemplateFormatVersion" in data or isinstance(data.get("Resources"), dict))


def compile_problems(machine: Machine, found: list[Diagnostic]) -> Iterator[Diagnostic]:
    """Validation = compilation: compile every top-level state that no rule found an error in
    (its Parallel branches and Map processors included) with the compiler itself, and turn
    whatever stops it into a diagnostic. So a definition that validates also loads: the
    sub-language rules above give the precise messages, this pass is the guarantee."""
    from statemachine.compiler import CompileError, compile_state

    flagged = [d.pointer for d in found if d.severity == "error"]
    for state in machine.states:
        if state.scope.kind != "machine" or _has_error(state.pointer, flagged):
            continue
        try:
            compile_state(state.name, state.body, state.language)
        except CompileError as exc:
            yield finding(exc.code, exc.message, state.pointer + exc.pointer, state.name)
        except Exception as exc:  # never a traceback from validation
            message = f"the state cannot be compiled: {type(exc).__name__}: {str(exc)[:200]}"
            yield finding("does-not-compile", message, state.pointer, state.name)


def _has_error(pointer: str, flagged: list[str]) -> bool:
    """Is there an error at ``pointer`` or inside it (or in a field of the machine itself)?"""
    inside = pointer + "/"
    return any(p == pointer or p.startswith(inside) or p in ("", "/States", "/StartAt") for p in flagged)


def check(
    source: str | os.PathLike[str] | Mapping[str, JSON],
    *,
    name: str | None = None,
    machine_type: MachineType = "STANDARD",
    substitutions: Mapping[str, str] | None = None,
) -> list[Diagnostic]:
    """Load ``source`` (path, text or dict) and validate it; never raises DefinitionError.

    ``substitutions`` fill ``${name}`` template placeholders before parsing (see ``validate``
    for those left without a value).
    """
    try:
        doc = load_source(source, name=name, substitutions=substitutions)
    except DefinitionError as exc:
        return list(exc.diagnostics)
    return validate(doc, machine_type=machine_type)


def _placed(doc: SourceDocument, found: list[Diagnostic]) -> list[Diagnostic]:
    """Fill line, column and file; sort by position (unknown positions last), errors first."""
    placed = []
    for diagnostic in found:
        line, column = (diagnostic.line, diagnostic.column) if diagnostic.line else doc.position(diagnostic.pointer)
        placed.append(dataclasses.replace(diagnostic, line=line, column=column, file=diagnostic.file or doc.path))
    return sorted(placed, key=lambda d: (d.line == 0, d.line, d.column, d.severity != "error"))
