"""Stage 1a, templates: definition text written for a deployment tool in, the text (or data)
AWS would see out, and the ``${Name}`` placeholders left without a value.

SAM's DefinitionSubstitutions, CloudFormation's ``Fn::Sub``, Terraform's ``templatefile`` and
the Serverless Framework fill ``${Name}`` placeholders in the definition before AWS sees it,
by plain text replacement (CloudFormation's StepFunctions resource provider replaces each
``${key}`` of DefinitionSubstitutions in the definition text, before it is parsed when the
definition comes from S3). ``substitute`` does the same. Escapes, only honoured when values are
given (the file is then declared a template): Terraform's ``$${x}`` and Fn::Sub's ``${!x}``
both stand for the literal ``${x}``; without values they are simply not placeholders.

What the tools resolve before AWS sees the definition, and so what is a placeholder here:
- ``${Name}`` anywhere in the text (``${AWS::Region}``, ``${Func.Arn}``, ``${self:custom.x}``,
  ``${opt:stage, 'dev'}``, ``${var_name}``), and the Serverless Framework's ``#{AWS::Region}``. JSONPath (``$.x``, ``$$.Task.Token``), intrinsic
  functions (``States.Format('{}', $.x)``) and JSONata (``{% $x %}``) never write ``${``.
- CloudFormation intrinsic functions where a value stands (``{"Fn::GetAtt": [F, "Arn"]}``,
  ``{"Ref": "X"}``, ``Fn::Join``, ``Fn::Sub``, and YAML's ``!GetAtt``/``!Ref``/``!Sub``/``!Join``):
  ``render_intrinsics`` turns them into the string they produce, each unknown part a placeholder
  (``${F.Arn}``, ``${X}``). A whole definition that is one ``Fn::Join``/``Fn::Sub`` (the
  DefinitionString of a CDK-synthesized template) is rendered to its text and then read.
- Terraform's template directives ``%{ if c }...%{ else }...%{ endif }`` and
  ``%{ for x in xs }...%{ endfor }`` (``directives``): without a value for ``c`` the first
  branch is read (one of the definitions Terraform may render) and the other is blanked out;
  with ``c`` given as ``true``/``false`` (``--substitute c=false``) the branch it selects is
  read. A ``for`` body is read once. Blanking keeps every line and column where it was.
What they leave alone: everything else.

An unquoted placeholder in JSON (``"Seconds": ${Timeout}``) is valid once filled, not before:
``quote_bare`` wraps it in quotes so the text parses, and reports where it was.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from statemachine.values import JSON

__all__ = [
    "INTRINSICS",
    "Directive",
    "Placeholder",
    "SubstitutionsError",
    "TemplateInfo",
    "directives",
    "escaped_names",
    "find",
    "has_placeholder",
    "intrinsic_name",
    "is_placeholder",
    "is_serverless_variable",
    "may_hold_intrinsics",
    "may_hold_placeholders",
    "names",
    "parse_assignment",
    "quote_bare",
    "read_substitutions",
    "render_intrinsics",
    "serverless_variables",
    "strings",
    "substitute",
    "unquoted_yaml",
    "whole_text",
]

#: ``${Name}``, not ``$${Name}`` (Terraform's escape) nor ``${!Name}`` (Fn::Sub's escape); and
#: ``#{Name}``, the Serverless Framework's pseudo-parameter form (``#{AWS::Region}``), which
#: serverless-step-functions turns into an ``Fn::Sub`` ``${Name}`` before AWS sees it.
#: Between the braces: a name (``Timeout``, ``self:custom.x``) or a Terraform expression whose
#: own braces and JSON strings are balanced (``${jsonencode({"a": [1]})}``), three levels deep.
_PLAIN_CHAR = r'(?:[^{}"\n\\]|"(?:[^"\\\n]|\\.)*")'
_NESTED = _PLAIN_CHAR
for _ in range(3):
    _NESTED = rf"(?:{_PLAIN_CHAR}|\{{{_NESTED}*\}})"
_PLACEHOLDER = re.compile(rf"(?:(?<!\$)\$|#)\{{(?!!)({_NESTED}+)\}}")
_ESCAPE = re.compile(r"\$\$\{|\$\{!")


@dataclasses.dataclass(frozen=True, slots=True)
class Placeholder:
    """One ``${name}`` in a text: ``name`` as written between the braces (trimmed), 1-based
    ``line`` and ``column`` of its ``$``."""

    name: str
    line: int
    column: int


@dataclasses.dataclass(frozen=True, slots=True)
class TemplateInfo:
    """What loading learnt about a template: ``bare`` placeholders stood outside a JSON string
    (now read as strings, where the JSON would not parse); ``literal`` names are ``${x}`` written by an escape (``$${x}``,
    ``${!x}``), literal text for AWS, so no placeholders."""

    bare: tuple[Placeholder, ...] = ()
    literal: frozenset[str] = frozenset()
    #: YAML placeholders written unquoted: once filled, their value has its own YAML type
    plain: tuple[Placeholder, ...] = ()
    #: may the data hold placeholders? None: not known (a dict was given, not text)
    present: bool | None = None
    #: Terraform directives whose branch was guessed (no value decided it)
    directives: tuple[Directive, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Directive:
    """A Terraform ``%{ if c }`` or ``%{ for x in xs }`` whose outcome was not known: ``text``
    as written, 1-based ``line`` and ``column`` of its ``%``; ``condition`` the name whose
    ``true``/``false`` value would decide it (None when it is not a plain name, or a ``for``);
    ``loop`` for a ``for``; ``first``: the first branch of an ``if`` was read (else the second);
    ``assumed``: the value the condition's name was read with."""

    text: str
    line: int
    column: int
    condition: str | None
    loop: bool = False
    first: bool = True
    assumed: bool = True


class SubstitutionsError(ValueError):
    """A substitutions file or ``NAME=VALUE`` that cannot be used; the message is one line."""


def may_hold_placeholders(text: str) -> bool:
    """A cheap test on the text: could it hold a placeholder (``${`` or ``#{``)?"""
    return "${" in text or "#{" in text


def has_placeholder(text: str) -> bool:
    """Does ``text`` hold a ``${Name}`` (or ``#{Name}``) placeholder (escapes excluded)?"""
    return may_hold_placeholders(text) and _PLACEHOLDER.search(text) is not None


def is_placeholder(text: str) -> bool:
    """Is ``text`` one placeholder and nothing else (``${Timeout}``, ``#{AWS::Region}``)?"""
    return _PLACEHOLDER.fullmatch(text) is not None


def names(text: str) -> list[str]:
    """The placeholder names in ``text``, in order (repeats kept)."""
    return [match.group(1).strip() for match in _PLACEHOLDER.finditer(text)]


def escaped_names(text: str) -> set[str]:
    """Names written with an escape (``$${x}``, ``${!x}``): literal ``${x}`` once filled."""
    return {(m.group(1) or m.group(2)).strip() for m in _ESCAPED.finditer(text)}


_ESCAPED = re.compile(r"\$\$\{([^{}\n\"\\]+)\}|\$\{!([^{}\n\"\\]+)\}")


def find(text: str) -> list[Placeholder]:
    """Every placeholder of ``text`` with its position."""
    return [_placeholder(text, match) for match in _PLACEHOLDER.finditer(text)]


def _placeholder(text: str, match: re.Match[str]) -> Placeholder:
    start = match.start()
    line = text.count("\n", 0, start) + 1
    return Placeholder(match.group(1).strip(), line, start - text.rfind("\n", 0, start))


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace each ``${name}`` that has a value, in one pass (a value is not searched again);
    then turn the escapes ``$${x}`` and ``${!x}`` into the literal ``${x}``. Placeholders
    without a value stay as written."""
    def fill(match: re.Match[str]) -> str:
        return values.get(match.group(1).strip(), match.group(0))

    def fill_nested(match: re.Match[str]) -> str:
        quote, body = match.group(1), match.group(2)
        written = match.group(0)[len(quote):len(match.group(0)) - len(quote)]
        if "{" in body:
            # The Serverless Framework resolves nested variables from the inside out:
            # ${self:custom.tables.${sls:stage}} is ${self:custom.tables.prod} once the stage is known.
            inner = _PLACEHOLDER.sub(fill, body)
            name, unfilled = inner.strip(), written[:2] + inner + "}"
        else:
            name, unfilled = body.strip(), written
        value = values.get(name)
        if value is None:
            return quote + unfilled + quote
        if quote and is_serverless_variable(name) and _SCALAR.fullmatch(value.strip()):
            # Serverless resolves a string that is one variable to the variable's value, of
            # its own type: '${self:custom.delay}' is the number 30, not the text "30"
            return value.strip()
        return quote + value + quote

    def fill_all(segment: str) -> str:
        return _WITH_NESTED.sub(fill_nested, segment)  # one pass: a value is not searched again

    pieces = []
    last = 0
    for escape in _ESCAPE.finditer(text):  # the escapes are literal text: never filled
        pieces.append(fill_all(text[last:escape.start()]))
        pieces.append("${")
        last = escape.end()
    pieces.append(fill_all(text[last:]))
    return "".join(pieces)


#: A placeholder, possibly with placeholders inside its braces (``${self:custom.${sls:stage}}``),
#: with the quotes around it when it is a whole quoted string.
_WITH_NESTED = re.compile(
    rf"(['\"]?)(?:(?<!\$)\$|#)\{{(?!!)((?:[$#]\{{[^{{}}\n\"\\]+\}}|{_NESTED})+)\}}\1")
#: A JSON number, boolean or null.
_SCALAR = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")
#: The Serverless Framework's variable sources (``${self:...}``, ``${opt:...}``, ``${file(...)}``).
_SERVERLESS = re.compile(r"\s*(?:self|opt|sls|env|ssm|cf|s3|file|aws|param|strToBool)\s*[:(]")


def is_serverless_variable(name: str) -> bool:
    """Is ``name`` a Serverless Framework variable (``self:custom.x``, ``opt:stage``, ...)?
    Serverless resolves variables in the parsed document, so a string that is one variable
    takes the type of its value, quoted or not."""
    return _SERVERLESS.match(name) is not None


#: A Terraform template directive (``%%{`` is its escape for a literal ``%{``).
_DIRECTIVE = re.compile(r"(?<!%)%\{~?\s*(if|else|endif|for|endfor)\b([^{}]*?)~?\}")
_CONDITION = re.compile(r"\s*(!?)\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*")


def directives(text: str, values: Mapping[str, str] | None = None, *,
               first: bool = True, first_in_loops: bool | None = None) -> tuple[str, list[Directive]]:
    """Terraform text: read one rendering of its ``%{ if }``/``%{ for }`` directives.

    Each directive and each branch not read becomes spaces (line breaks kept), so positions in
    the result are those of the file. An ``if`` whose condition is a name given in ``values``
    as ``true`` or ``false`` (``!name`` too) reads the branch it selects. Without a value a name
    is taken as ``first`` (inside a ``for`` body, ``first_in_loops`` when given) everywhere it
    stands, and any other condition reads its first branch when ``first`` (else its second, the
    ``else`` or nothing); those are returned as undecided, as is every ``for`` (its body is read
    once).
    Unbalanced directives leave the text as it is.
    """
    if "%{" not in text:
        return text, []
    chars = list(text)
    stack: list[list[bool]] = []  # per open directive: [is_if, reading the current branch]
    guessed: list[Directive] = []
    last = 0
    for match in _DIRECTIVE.finditer(text):
        if not all(frame[1] for frame in stack):
            _blank(chars, last, match.start())
        _blank(chars, match.start(), match.end())
        last = match.end()
        keyword, rest = match.group(1), match.group(2)
        if keyword == "if":
            decided = _decide(rest, values)
            in_loop = first_in_loops is not None and any(not frame[0] for frame in stack)
            guess = first_in_loops if in_loop and first_in_loops is not None else first
            if decided is None:
                # a plain name is assumed `guess` wherever it stands: %{ if !x } agrees with %{ if x }
                plain = _CONDITION.fullmatch(rest)
                decided = guess if plain is None else guess != bool(plain.group(1))
                guessed.append(dataclasses.replace(_directive(text, match, rest), first=decided, assumed=guess))
            stack.append([True, decided])
        elif keyword == "for":
            stack.append([False, True])
            guessed.append(dataclasses.replace(_directive(text, match, None), loop=True))
        elif keyword == "else":
            if not stack or not stack[-1][0]:
                return text, []
            stack[-1][1] = not stack[-1][1]
        elif not stack or stack.pop()[0] != (keyword == "endif"):
            return text, []
    if stack:
        return text, []
    return "".join(chars), guessed


def _blank(chars: list[str], start: int, end: int) -> None:
    for index in range(start, end):
        if chars[index] not in "\r\n":
            chars[index] = " "


def _decide(condition: str, values: Mapping[str, str] | None) -> bool | None:
    match = _CONDITION.fullmatch(condition)
    if match is None or values is None:
        return None
    value = values.get(match.group(2), "").strip().strip('"').lower()
    if value not in ("true", "false"):
        return None
    return (value == "true") != bool(match.group(1))


def _directive(text: str, match: re.Match[str], condition: str | None) -> Directive:
    where = _placeholder(text, match)
    name = None
    if condition is not None:
        plain = _CONDITION.fullmatch(condition)
        name = plain.group(2) if plain is not None else None
    return Directive(match.group(0), where.line, where.column, name)


def quote_bare(text: str) -> tuple[str, list[Placeholder]]:
    """JSON text: wrap each placeholder that stands outside a string in quotes, so it parses.

    Returns the new text and the placeholders that were bare (positions in the old text).
    """
    if not may_hold_placeholders(text):
        return text, []
    bare: list[Placeholder] = []
    out: list[str] = []
    last = scanned = 0
    in_string = False
    for match in _PLACEHOLDER.finditer(text):
        in_string = _string_state(text, scanned, match.start(), in_string)
        scanned = match.start()
        if in_string:
            continue
        scanned = match.end()  # a bare expression's own quotes are not the document's
        bare.append(_placeholder(text, match))
        out.append(text[last:match.start()] + json.dumps(match.group(0)))
        last = match.end()
    out.append(text[last:])
    return ("".join(out), bare) if bare else (text, [])


def unquoted_yaml(text: str) -> list[Placeholder]:
    """YAML text: the placeholders not written inside quotes (``Seconds: ${T}``); YAML reads them
    as strings, though once filled they have the type of their value."""
    return [_placeholder(text, m) for m in _PLACEHOLDER.finditer(text)
            if m.start() == 0 or text[m.start() - 1] not in "\"'" or is_serverless_variable(m.group(1))]


def serverless_variables(text: str) -> list[Placeholder]:
    """The Serverless Framework variables of ``text``: quoted or not, once filled a string that
    is one of them has the type of its value."""
    return [_placeholder(text, m) for m in _PLACEHOLDER.finditer(text) if is_serverless_variable(m.group(1))]


def _string_state(text: str, start: int, end: int, in_string: bool) -> bool:
    """Whether offset ``end`` is inside a JSON string, knowing the answer at ``start``."""
    index = start
    while True:
        quote = text.find('"', index, end)
        if quote == -1:
            return in_string
        if in_string:
            backslashes = 0
            while text[quote - backslashes - 1] == "\\":
                backslashes += 1
            if backslashes % 2 == 0:
                in_string = False
        else:
            in_string = True
        index = quote + 1


# --- CloudFormation intrinsic functions -------------------------------------------------------

#: Intrinsic functions a deployment tool resolves, by their long (JSON) name.
INTRINSICS = frozenset({
    "Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::ImportValue", "Fn::Select", "Fn::If",
    "Fn::FindInMap", "Fn::Base64", "Fn::GetAZs", "Fn::Split", "Fn::Cidr", "Fn::Length",
    "Fn::ToJsonString",
})


# Searched one by one: "Fn::", "Ref" and "!" are literal prefixes the regex engine finds with a
# fast scan; one alternation (or a leading \b) made it try every position of a 5 MB text.
_REF = re.compile(r"Ref\b")
_WORD = re.compile(r"\w")
_YAML_TAG = re.compile(r"![A-Z][A-Za-z]+")


def may_hold_intrinsics(text: str) -> bool:
    """A cheap test on the text: could its data hold intrinsic functions (or YAML tags of them)?
    (``Fn::``, the word ``Ref``, or a ``!Tag``.)"""
    if "Fn::" in text or _YAML_TAG.search(text) is not None:
        return True
    return any(m.start() == 0 or _WORD.match(text, m.start() - 1) is None for m in _REF.finditer(text))


def intrinsic_name(value: JSON) -> str | None:
    """``"Fn::GetAtt"`` for ``{"Fn::GetAtt": ...}`` (an object with that one key), else None."""
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key if key in INTRINSICS else None
    return None


def render_intrinsics(value: JSON, values: Mapping[str, str] | None = None) -> JSON:
    """``value`` with every intrinsic-function object replaced by the string it produces,
    unknown parts as placeholders (filled from ``values`` when given). Shares what it does not
    change."""
    name = intrinsic_name(value)
    if name is not None:
        text = _render(name, value[name])
        return substitute(text, values) if values is not None else text
    if isinstance(value, dict):
        changed = {k: render_intrinsics(v, values) for k, v in value.items()}
        return value if all(changed[k] is value[k] for k in value) else changed
    if isinstance(value, list):
        items = [render_intrinsics(v, values) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def _render(name: str, argument: JSON) -> str:
    """The text an intrinsic function produces; what only the deployment knows is ``${...}``."""
    if name == "Ref" and isinstance(argument, str):
        return "${" + argument + "}"
    if name == "Fn::GetAtt":
        parts = argument.split(".", 1) if isinstance(argument, str) else argument
        if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
            return "${" + ".".join(str(p) for p in parts) + "}"
    if name == "Fn::Sub":
        template = argument[0] if isinstance(argument, list) and argument else argument
        if isinstance(template, str):
            if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
                # [template, {Name: !Ref Worker}]: ${Name} is what its variable produces (${Worker})
                local = {key: _piece(value) for key, value in argument[1].items()}
                return _PLACEHOLDER.sub(lambda m: local.get(m.group(1).strip(), m.group(0)), template)
            return template
    if name == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
        delimiter, items = argument
        if isinstance(delimiter, str) and isinstance(items, list):
            return delimiter.join(_piece(item) for item in items)
    return "${" + name + "}"  # Fn::If, Fn::Select, ...: some value only the deployment knows


def _piece(item: JSON) -> str:
    if isinstance(item, str):
        return item
    name = intrinsic_name(item)
    return _render(name, item[name]) if name is not None else json.dumps(item)


def whole_text(data: JSON) -> str | None:
    """The definition text when the whole document is one ``Fn::Join``/``Fn::Sub`` (a CDK
    DefinitionString); None otherwise."""
    name = intrinsic_name(data)
    if name in ("Fn::Join", "Fn::Sub"):
        text = _render(name, data[name])
        return text if text.lstrip().startswith("{") else None
    return None


def strings(value: JSON, pointer: str = "") -> Iterator[tuple[str, str]]:
    """Every (JSON pointer, string) of ``value`` whose string holds a placeholder."""
    if isinstance(value, str):
        if has_placeholder(value):
            yield pointer, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{pointer}/{index}")


# --- where values come from -------------------------------------------------------------------


def parse_assignment(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` -> (NAME, VALUE); the value may hold ``=``. Raises SubstitutionsError."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise SubstitutionsError(f"--substitute expects NAME=VALUE, got {text!r}")
    return name.strip(), value


def read_substitutions(path: str) -> dict[str, str]:
    """A JSON or YAML file holding one map of names to values (numbers and booleans are
    written as JSON spells them, since they are pasted into the text). Raises SubstitutionsError."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SubstitutionsError(f"substitutions file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SubstitutionsError(f"cannot read substitutions file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SubstitutionsError(f"{path} is not valid JSON or YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise SubstitutionsError(f"{path} must hold a map of names to values")
    result: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict | list) or value is None:
            raise SubstitutionsError(f"{path}: the value of '{key}' must be a string, number or boolean")
        result[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return result
