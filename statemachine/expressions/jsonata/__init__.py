"""Expressions stage: JSONata (``{% ... %}`` strings) behind one adapter.

- ``adapter``   : compile_jsonata and evaluation of one expression over jsonata-python
- ``template``  : compile_jsonata_template for ASL fields (``{% %}`` at any depth), evaluated
                  with ``$states`` and the workflow variables; AWS's QueryEvaluationError causes
- ``functions`` : the functions AWS adds ($partition, $range, $hash, $random, $uuid, $parse)
                  and JSONata's error messages in the words AWS quotes
- ``fastpath``  : literals, ``$var.a.b`` paths and comparisons of them evaluated on plain
                  dicts (no jsonata-python at run time), falling back whenever unsure

jsonata-python itself is imported on the first compile only.
"""

from statemachine.expressions.jsonata.adapter import (
    JsonataEvaluationError,
    JsonataExpression,
    JsonataSyntaxError,
    UnsupportedResultError,
    compile_jsonata,
    expression_text,
    is_jsonata_expression,
    states_bindings,
    to_json,
)
from statemachine.expressions.jsonata.template import (
    ExpectedType,
    JsonataTemplate,
    compile_jsonata_template,
)

__all__ = [
    "ExpectedType",
    "JsonataEvaluationError",
    "JsonataExpression",
    "JsonataSyntaxError",
    "JsonataTemplate",
    "UnsupportedResultError",
    "compile_jsonata",
    "compile_jsonata_template",
    "expression_text",
    "is_jsonata_expression",
    "states_bindings",
    "to_json",
]
