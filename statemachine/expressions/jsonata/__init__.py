"""Expressions stage: JSONata (``{% ... %}`` strings) behind one adapter.

- ``adapter``   : compile_jsonata / compile_jsonata_template, evaluation with ``$states`` and
                  workflow variables, AWS's States.QueryEvaluationError causes
- ``functions`` : the functions AWS adds ($partition, $range, $hash, $random, $uuid, $parse)
                  and JSONata's error messages in the words AWS quotes

jsonata-python itself is imported on the first compile only.
"""

from statemachine.expressions.jsonata.adapter import (
    ExpectedType,
    JsonataEvaluationError,
    JsonataExpression,
    JsonataSyntaxError,
    JsonataTemplate,
    UnsupportedResultError,
    compile_jsonata,
    compile_jsonata_template,
    expression_text,
    is_jsonata_expression,
    states_bindings,
    to_json,
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
