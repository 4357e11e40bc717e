"""JSONPath forms that AWS's Jayway-based parser accepts and real definitions use (issue 11):
a dot before a bracket, multi-property brackets, bare words in filters. Expected values are
Jayway's meaning, read from its source (PathCompiler, FilterCompiler, PathToken)."""

from __future__ import annotations

from typing import Any

import pytest

from statemachine.expressions.jsonpath import PathNotFound, PathSyntaxError, compile_path
from statemachine.validation import check

SNAPSHOTS: dict[str, Any] = {"Snapshots": [{"State": "completed", "SnapshotId": "snap-1"}]}
OBJECTS: list[Any] = [{"bucket": "b1", "key": "k1", "size": 3}, {"bucket": "b2", "key": "k2"}]
ACCOUNTS: list[Any] = [{"Id": "a", "OU": 0}, {"Id": "b", "OU": 2}, {"Id": "c", "OU": 5}]
LABELS: dict[str, Any] = {"Labels": [{"Name": "Receipt", "Confidence": 98.5}, {"Name": "Text", "Confidence": 99}]}
TRANSLATIONS: list[Any] = [{"TargetLanguageCode": "fr", "TranslatedText": "bonjour"},
                           {"TargetLanguageCode": "es", "TranslatedText": "hola"}]


@pytest.mark.parametrize(
    ("text", "doc", "expected"),
    [
        # Jayway's readDotToken hands over to readNextToken: "$.[0]" is "$[0]".
        ("$.[0]", ["x", "y"], "x"),
        ("$.Snapshots.[0].State", SNAPSHOTS, "completed"),
        ("$.[?(@.OU > 0)]", ACCOUNTS, ACCOUNTS[1:]),
        ("$.[?(@.OU > 0)].Id", ACCOUNTS, ["b", "c"]),
        # [*] then a leaf multi-property token: one merged object per item (PathToken merge case).
        ("$.[*].['bucket', 'key']", OBJECTS, [{"bucket": "b1", "key": "k1"}, {"bucket": "b2", "key": "k2"}]),
        ("$.Snapshots.[*].State", SNAPSHOTS, ["completed"]),
        ("$.Snapshots.*.State", SNAPSHOTS, ["completed"]),
        # after a bracket, a name may follow without a dot (readPropertyOrFunctionToken)
        ("$['Snapshots'][0]State", SNAPSHOTS, "completed"),
    ],
)
def test_dot_before_bracket_means_the_bracket(text: str, doc: Any, expected: Any) -> None:
    assert compile_path(text).select(doc) == expected


def test_dot_bracket_paths_have_the_definiteness_of_the_bracket() -> None:
    assert compile_path("$.Snapshots.[0].State").definite is True
    assert compile_path("$.[*].['bucket', 'key']").definite is False


def test_leaf_multi_property_merges_into_one_object_and_is_definite() -> None:
    path = compile_path("$['bucket','key','absent']")
    assert path.definite is True
    assert path.select(OBJECTS[0]) == {"bucket": "b1", "key": "k1"}  # absent names are left out


def test_inner_multi_property_iterates() -> None:
    doc = {"a": {"v": 1}, "b": {"v": 2}}
    assert compile_path("$['a','b'].v").select(doc) == [1, 2]


def test_leaf_multi_property_on_a_non_object_is_not_found() -> None:
    with pytest.raises(PathNotFound) as info:
        compile_path("$.x['a','b']").select({"x": [1]})
    assert info.value.detail.startswith("Expected to find an object with property ['a','b'] in path $['x']")
    with pytest.raises(PathNotFound) as missing:
        compile_path("$.nope['a','b']").select({})
    assert missing.value.detail == "Missing property in path $['nope']"


@pytest.mark.parametrize(
    ("text", "doc", "expected"),
    [
        ("$.Labels[?(@.Name==Receipt)]", LABELS, [LABELS["Labels"][0]]),
        ("$.Labels[?(@.Name == Receipt)].Confidence", LABELS, [98.5]),
        ("$[?(@.TargetLanguageCode==es)].TranslatedText", TRANSLATIONS, ["hola"]),
        ("$[?(@.TargetLanguageCode!=es)].TranslatedText", TRANSLATIONS, ["bonjour"]),
        ("$[?(@.TargetLanguageCode==es && @.TranslatedText==hola)].TranslatedText", TRANSLATIONS, ["hola"]),
        ("$[?(@.TargetLanguageCode in [es, de])].TranslatedText", TRANSLATIONS, ["hola"]),
        # a bare word is text: it never equals a number, and numbers stay numbers
        ("$.Labels[?(@.Confidence==99)].Name", LABELS, ["Text"]),
        ("$.Labels[?(@.Confidence==99abc)].Name", LABELS, []),
        ("$.Labels[?(@.Confidence > .5)].Name", LABELS, ["Receipt", "Text"]),
        ("$.Labels[?(@.Name==true)]", LABELS, []),
        # Jayway also reads JSON object literals (FilterCompiler.readJsonLiteral)
        ("$[?(@.limits == {\"max\": 3})].id", [{"id": 1, "limits": {"max": 3}}, {"id": 2, "limits": {}}], [1]),
    ],
)
def test_filters_compare_with_bare_words_as_strings(text: str, doc: Any, expected: Any) -> None:
    assert compile_path(text).select(doc) == expected


@pytest.mark.parametrize(
    "text",
    [
        "$...a",            # Jayway: "Character '.' on position 2 is not valid."
        "$.a.",             # "Path must not end with a '.' or '..'"
        "$.[",              # an open bracket
        "$.a[?(Receipt)]",  # a literal alone is no filter ("Expected path node")
        "$.a[?(1)]",
    ],
)
def test_what_jayway_refuses_is_refused(text: str) -> None:
    with pytest.raises(PathSyntaxError):
        compile_path(text)


def _definition(path: str) -> dict[str, Any]:
    return {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"v.$": path}, "End": True}}}


@pytest.mark.parametrize(
    "path",
    ["$.[0]", "$.Snapshots.[0].State", "$.[*].['bucket', 'key']", "$.[?(@.OU > 0)]",
     "$.Labels[?(@.Name==Receipt)]", "$[?(@.TargetLanguageCode==es)].TranslatedText"],
)
def test_validator_accepts_the_forms_aws_accepts(path: str) -> None:
    errors = [d for d in check(_definition(path)) if d.severity == "error"]
    assert errors == []


def test_validator_still_rejects_a_broken_path() -> None:
    codes = {d.code for d in check(_definition("$.a[?(@.x ==)]")) if d.severity == "error"}
    assert codes


# Jayway's README: "$..book.length() | The number of books". Its CompiledPath turns a function at
# the end of a path that starts with a deep scan into the function of that path, and length()
# appends a wildcard to its argument: length($..book[*]) counts the children of every match.
STORE: dict[str, Any] = {"store": {"book": [{"price": 8.95}, {"price": 12.99}, {"price": 8.99}, {"price": 22.99}],
                                   "bicycle": {"price": 19.95}}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$..book.length()", 4),          # the documented example: the number of books, not 1 match
        ("$..bicycle.length()", 1),       # an object's children: its one property
        ("$.store.book.length()", 4),     # no deep scan: the length of the value itself
        ("$..price.sum()", 73.87),        # aggregations take every scanned value
    ],
)
def test_a_function_after_a_deep_scan_applies_to_what_it_found(text: str, expected: Any) -> None:
    assert compile_path(text).select(STORE) == pytest.approx(expected)


def test_not_in_is_the_negation_of_in_so_an_absent_property_matches() -> None:
    # Jayway's NotInEvaluator is !InEvaluator (like != is !==): an item without the property
    # is "not in" any list, just as it is "!=" any value.
    items = [{"id": 1, "tag": "x"}, {"id": 2, "tag": "y"}, {"id": 3}]
    assert compile_path("$[?(@.tag nin ['x'])].id").select(items) == [2, 3]
    assert compile_path("$[?(@.tag != 'x')].id").select(items) == [2, 3]
    assert compile_path("$[?(@.tag in ['x', 'y'])].id").select(items) == [1, 2]
