"""Stage 1, loading: a file name, YAML/JSON text or a dict in, a ``SourceDocument`` out.

The document holds the parsed definition, the file name for messages and a source map
(JSON pointer -> 1-based line and column) so that every later diagnostic can say
``file:line:column``. Every way loading can fail (unreadable file, bad syntax, not an object,
too large, too deep) raises ``DefinitionError`` with a ``Diagnostic``; a raw yaml/json
exception never escapes. Problems that do not stop loading are kept in
``SourceDocument.problems`` so that validation reports them with everything else: duplicate
keys (errors: AWS rejects them; the last value is kept so the rest can still be checked).

YAML is read with a YAML 1.2-core-like resolver: ``on``/``yes``/``no`` stay strings, ``010``
is ten, dates stay strings, ``1_000`` and ``1:20`` stay strings. Values whose meaning YAML 1.1
would change are reported as warnings (``yaml-ambiguous-value``) in ``SourceDocument.problems``.
JSON text is parsed by the json module (exact JSON semantics); its source map is computed
lazily, only when a diagnostic needs a position.

Definitions written as templates (SAM, CDK, Terraform, Serverless) go through
``statemachine.templates`` first (``_load_template``): ``${Name}`` filled from the given
values, unquoted placeholders quoted, intrinsic functions rendered; what is left is recorded
in ``SourceDocument.template`` for validation to judge.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import yaml

from statemachine import templates
from statemachine.errors import DefinitionError, Diagnostic
from statemachine.values import JSON

__all__ = ["MAX_BYTES", "MAX_DEPTH", "SourceDocument", "load_source", "pointer_join", "yaml_value"]

#: AWS limits a definition to 1 MiB; we accept ten times that for generated files.
MAX_BYTES = 10 * 1024 * 1024
#: Deepest nesting of objects/arrays accepted (ASL definitions rarely pass 30).
MAX_DEPTH = 256
#: Most nodes a document may expand to (guards against alias "billion laughs" bombs).
MAX_NODES = 2_000_000

_Position = tuple[int, int]
_NO_TEMPLATE = templates.TemplateInfo()
_PLAIN = templates.TemplateInfo(present=False)


def pointer_join(pointer: str, key: str | int) -> str:
    """Append one reference token to a JSON pointer (RFC 6901 escaping)."""
    token = key if type(key) is str else str(key)
    if "~" in token or "/" in token:  # rare: most keys need no escaping (validation joins many)
        token = token.replace("~", "~0").replace("/", "~1")
    return f"{pointer}/{token}"


@dataclasses.dataclass(frozen=True, slots=True)
class SourceDocument:
    """A loaded definition: ``data`` plus where each part of it was written."""

    data: JSON
    path: str | None
    source_map: Mapping[str, _Position]
    problems: tuple[Diagnostic, ...] = ()  # found while loading, loading went on
    #: template placeholders seen while loading (``statemachine.templates``)
    template: templates.TemplateInfo = _NO_TEMPLATE

    def position(self, pointer: str) -> _Position:
        """Line and column of ``pointer``, or of its nearest mapped ancestor; (0, 0) if none."""
        current = pointer
        while True:
            found = self.source_map.get(current)
            if found is not None:
                return found
            if not current:
                return (0, 0)
            current = current.rsplit("/", 1)[0]


def load_source(
    source: str | os.PathLike[str] | bytes | Mapping[str, JSON], *, name: str | None = None,
    substitutions: Mapping[str, str] | None = None,
) -> SourceDocument:
    """Load a definition from a dict, a file (PathLike or a str naming a file) or text.

    ``substitutions`` (name -> value) fill ``${name}`` template placeholders in the text
    before it is parsed, as SAM/CloudFormation/Terraform do (see ``statemachine.templates``);
    whether given or not, placeholders left in the text do not stop loading.
    Raises ``DefinitionError`` with codes ``file-not-found``, ``unreadable``, ``too-large``,
    ``not-text``, ``syntax-error``, ``too-deep`` or ``not-an-object``; duplicate keys are in
    the document's ``problems`` (``duplicate-key`` errors).
    """
    if isinstance(source, Mapping):
        label = name or "<dict>"
        doc = SourceDocument(dict(source), label, {}, tuple(_not_json(source, label)))
        return doc if substitutions is None else _templated(doc, substitutions)
    if isinstance(source, (bytes, bytearray)):
        return _load_template(_decode(bytes(source), name or "<bytes>"), name or "<bytes>", None, substitutions)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _names_file(source)):
        path = os.fspath(source)
        return _load_template(_read_file(path), name or path, path, substitutions)
    if not isinstance(source, str):
        _fail("not-an-object", f"cannot load a definition from {type(source).__name__}", name)
    return _load_template(source, name or "<string>", None, substitutions)


def _load_template(text: str, name: str, path: str | None, substitutions: Mapping[str, str] | None) -> SourceDocument:
    """Fill placeholders, quote those left bare in JSON, load; a whole-document Fn::Join/Fn::Sub
    (a CDK DefinitionString) is rendered to its text and loaded again."""
    if text.lstrip()[:1] == '"':  # a CDK DefinitionString without tokens: one JSON string
        held = _json_string(text)
        if held is not None and held.lstrip().startswith("{"):  # positions are of the inner text
            return dataclasses.replace(_load_template(held, name, None, substitutions), source_map={})
    intrinsics = templates.may_hold_intrinsics(text)
    if not templates.may_hold_placeholders(text) and substitutions is None and not intrinsics and "%{" not in text:
        return dataclasses.replace(_load_text(text, name, path), template=_PLAIN)  # the common case
    literal: frozenset[str] = frozenset()
    if substitutions is not None:
        left = {name for name in templates.names(text) if name not in substitutions}
        literal = frozenset(templates.escaped_names(text) - left)
        text = templates.substitute(text, substitutions)
    rendering, guessed = templates.directives(text, substitutions)  # Terraform's %{ if }: one rendering
    try:
        doc, bare, plain = _read_template(rendering, name, path)
    except DefinitionError as first_error:
        if not any(not d.loop for d in guessed):
            raise
        # the first branches do not parse (a separator's comma in a %{ for }): the second
        # ones inside loops, then everywhere
        for first_in_loops, first in ((False, True), (False, False)):
            other, others = templates.directives(text, substitutions, first=first, first_in_loops=first_in_loops)
            try:
                doc, bare, plain = _read_template(other, name, path)
            except DefinitionError:
                continue
            rendering, guessed = other, others
            break
        else:
            raise first_error from None
    text = rendering
    rendered = templates.whole_text(doc.data)
    if rendered is not None:  # positions are of the rendered text, not of the file: left out
        inner = _load_template(rendered, name, None, substitutions)
        return dataclasses.replace(inner, source_map={})
    info = templates.TemplateInfo(tuple(bare), literal, tuple(plain),
                                  present=templates.may_hold_placeholders(text) or intrinsics or bool(guessed),
                                  directives=tuple(guessed))
    doc = dataclasses.replace(doc, template=info)
    return _templated(doc, substitutions) if intrinsics else doc


def _read_template(text: str, name: str, path: str | None,
                   ) -> tuple[SourceDocument, list[templates.Placeholder], list[templates.Placeholder]]:
    """Load text holding placeholders: JSON's bare ones quoted first, YAML's unquoted ones noted."""
    bare: list[templates.Placeholder] = []
    plain: list[templates.Placeholder] = []
    if _looks_like_json(text, path):
        text, bare = templates.quote_bare(text)
        plain = templates.serverless_variables(text)  # "${self:custom.n}": a number once filled
    elif templates.may_hold_placeholders(text):
        plain = templates.unquoted_yaml(text)
    return _load_text(text, name, path), bare, plain


def _json_string(text: str) -> str | None:
    """The string a whole JSON document holds, when it is one JSON string; else None."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def _templated(doc: SourceDocument, substitutions: Mapping[str, str] | None) -> SourceDocument:
    """Intrinsic functions (Fn::GetAtt, Ref, ...) become the strings they produce."""
    data = templates.render_intrinsics(doc.data, substitutions)
    return doc if data is doc.data else dataclasses.replace(doc, data=data)


def _not_json(data: Mapping[str, Any], name: str) -> Iterator[Diagnostic]:
    """Errors (code ``not-json``) for values of a dict definition that JSON cannot hold: other
    types, non-string keys, Infinity/NaN, integers beyond 4,300 digits; ``too-deep`` past
    MAX_DEPTH. A definition given as a dict must be what a JSON file could have given."""
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        pointer, value, depth = stack.pop()
        problem = _json_problem(value)
        if depth > MAX_DEPTH:
            yield Diagnostic("too-deep", f"definition is nested more than {MAX_DEPTH} levels deep",
                             pointer, 0, 0, None, "error", name)
        elif problem is not None:
            yield Diagnostic("not-json", problem, pointer, 0, 0, None, "error", name)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    yield Diagnostic("not-json", f"object keys must be strings, not {key!r:.40}",
                                     pointer, 0, 0, None, "error", name)
                else:
                    stack.append((pointer_join(pointer, key), item, depth + 1))
        elif isinstance(value, list):
            stack.extend((pointer_join(pointer, i), item, depth + 1) for i, item in enumerate(value))


def _json_problem(value: Any) -> str | None:
    if value is None or isinstance(value, (str, bool, Mapping, list)):
        return None
    if isinstance(value, int):
        if value.bit_length() <= 14_283:  # at most 4,300 decimal digits
            return None
        try:
            str(value)
        except ValueError:
            return f"an integer of more than {sys.get_int_max_str_digits()} digits cannot be read as a JSON number"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a JSON number"
    return f"a {type(value).__name__} is not a JSON value"


def _names_file(source: str) -> bool:
    """Is this str a file name (an existing file, or one ending in .yaml/.yml/.json)?"""
    if "\n" in source or len(source) > 4096 or not source.strip():
        return False
    if source.lstrip().startswith(("{", "[")):
        return False
    if _FILE_NAME.match(source):
        return True
    try:
        return Path(source).is_file()
    except (OSError, ValueError):
        return False


_FILE_NAME = re.compile(r"[^{}\[\]:\n]+\.(?:ya?ml|json)\Z", re.IGNORECASE)


def _fail(code: str, message: str, file: str | None, line: int = 0, column: int = 0) -> NoReturn:
    raise DefinitionError([Diagnostic(code, message, "", line, column, None, "error", file)])


def _read_file(path: str) -> str:
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            _fail("too-large", f"file is {size / 1048576:.1f} MB; the limit is {MAX_BYTES // 1048576} MB", path)
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        _fail("file-not-found", f"no such file: {path}", path)
    except IsADirectoryError:
        _fail("unreadable", f"{path} is a directory, not a definition file", path)
    except OSError as exc:
        _fail("unreadable", f"cannot read {path}: {exc.strerror or exc}", path)
    return _decode(raw, path)


def _decode(raw: bytes, path: str) -> str:
    if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        _fail("not-text", "file is binary, not YAML or JSON text", path)
    try:
        text = raw.decode("utf-8-sig") if not raw.startswith((b"\xff\xfe", b"\xfe\xff")) else raw.decode("utf-16")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        _fail("not-text", f"file is not UTF-8 text (undecodable byte at offset {exc.start})", path, line)
    return text


def _load_text(text: str, name: str, path: str | None) -> SourceDocument:
    if len(text) > MAX_BYTES:
        _fail("too-large", f"definition is {len(text) / 1048576:.1f} MB; the limit is {MAX_BYTES // 1048576} MB", name)
    bad = _CONTROL.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        _fail("not-text", f"definition contains a control character (U+{ord(bad.group()):04X}); is it a binary file?", name, line)
    if _looks_like_json(text, path):
        try:
            return _load_json(text, name)
        except DefinitionError:
            if path is not None and path.lower().endswith(".json"):
                raise
            try:
                return _load_yaml(text, name)
            except DefinitionError:
                pass
            raise
    return _load_yaml(text, name)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _looks_like_json(text: str, path: str | None) -> bool:
    if path is not None and path.lower().endswith(".json"):
        return True
    return text.lstrip()[:1] in ("{", "[")


# --- JSON --------------------------------------------------------------------------------


def _load_json(text: str, name: str) -> SourceDocument:
    _check_flow_depth(text, name)
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items):
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    repeated.append(key)
                seen.add(key)
        return result

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        _fail("syntax-error", f"invalid JSON: {exc.msg}", name, exc.lineno, exc.colno)
    except (RecursionError, ValueError) as exc:
        _fail("too-deep" if isinstance(exc, RecursionError) else "syntax-error", f"invalid JSON: {exc}", name)
    _check_object(data, name)
    problems = _json_duplicates(text, repeated, name) if repeated else ()
    return SourceDocument(data, name, _LazySourceMap(text), problems)


def _json_duplicates(text: str, keys: list[str], name: str) -> tuple[Diagnostic, ...]:
    """Duplicate-key errors with positions: the YAML composer's walk finds the exact places;
    when it cannot read the text, the second ``"key":`` in the text is the fallback."""
    builder = _Builder(name)
    try:
        node = yaml.compose(text, Loader=_Loader)
        if node is not None:
            builder.build(node)
    except (DefinitionError, yaml.YAMLError, RecursionError):
        pass
    found = tuple(w for w in builder.problems if w.code == "duplicate-key")
    if found:
        return found
    diagnostics = []
    for key in dict.fromkeys(keys):
        matches = list(re.finditer(re.escape(json.dumps(key)) + r"\s*:", text))
        offset = matches[1].start() if len(matches) > 1 else 0
        line, column = (text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)) if offset else (0, 0)
        diagnostics.append(Diagnostic("duplicate-key", f"duplicate key '{key}' (AWS rejects duplicate keys)",
                                      "", line, column, None, "error", name))
    return tuple(diagnostics)


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON number")


class _LazySourceMap(Mapping[str, _Position]):
    """Source map of a JSON text, each position found when it is first asked for.

    A lookup walks from the root along the pointer with the json module's own C scanner
    (``raw_decode`` skips a value, ``scanstring`` reads a key), recording the positions of the
    siblings it passes, so a few diagnostics in a 20,000-state file cost about one pass of
    ``json.loads`` over the objects on their way, not a full YAML composition of the text
    (seconds). Positions are those the YAML composer gives: a member at its key's opening
    quote, an array item at its first character, lines and columns 1-based.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._decoder = json.JSONDecoder(parse_constant=_no_constant)
        start = _skip_space(text, 0)
        self._key_at: dict[str, int] = {"": start}  # pointer -> offset of its key (or item)
        self._value_at: dict[str, int] = {"": start}  # pointer -> offset of its value
        self._opened: set[str] = set()
        self._line_starts: list[int] | None = None

    def __getitem__(self, pointer: str) -> _Position:
        offset = self._find(pointer)
        if offset is None:
            raise KeyError(pointer)
        return self._line_column(offset)

    def __iter__(self) -> Iterator[str]:
        pending = [""]
        while pending:
            pointer = pending.pop()
            before = set(self._key_at)
            self._open(pointer)
            pending.extend(key for key in self._key_at if key not in before)
        return iter(sorted(self._key_at))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _find(self, pointer: str) -> int | None:
        if pointer not in self._key_at and pointer:
            parent = pointer.rsplit("/", 1)[0]
            if self._find(parent) is None:
                return None
            self._open(parent)
        return self._key_at.get(pointer)

    def _open(self, pointer: str) -> int | None:
        """Record the key and value offsets of every child of the container at ``pointer``;
        the offset just past it (None if it was opened before, is no container or is not
        the JSON json.loads accepted). The root's container children are opened on the way
        rather than skipped with the decoder: /States is indexed anyway when a diagnostic
        lies in a state, and decoding it only to skip it costs a json.loads of it."""
        if pointer in self._opened:
            return None
        self._opened.add(pointer)
        text, index = self._text, self._value_at[pointer]
        closing = {"{": "}", "[": "]"}.get(text[index:index + 1])
        if closing is None:
            return None
        # one turn per child (20,000 under /States of a large file): names bound once, and the
        # C scanner called directly (raw_decode is a Python frame around it)
        space, scan, key_at_of, value_at_of = _SPACE.match, self._decoder.scan_once, self._key_at, self._value_at  # type: ignore[attr-defined]  # scan_once: not in typeshed
        is_object, is_root = closing == "}", not pointer
        try:
            index, count = space(text, index + 1).end(), 0  # type: ignore[union-attr]  # the pattern matches empty
            while text[index] != closing:
                key_at = index
                if is_object:
                    key, index = _scanstring(text, index + 1)
                    index = space(text, space(text, index).end() + 1).end()  # type: ignore[union-attr]  # past the colon
                    child = pointer_join(pointer, key)
                else:
                    child, count = pointer_join(pointer, count), count + 1
                key_at_of[child] = key_at
                value_at_of[child] = index
                end = None
                if is_root:
                    if child in self._opened:  # a repeated key: its last value counts
                        self._forget(child)
                    end = self._open(child)
                if end is None:  # no container (or a malformed one: the scanner raises)
                    end = scan(text, index)[1]
                index = space(text, end).end()  # type: ignore[union-attr]  # as above
                if text[index] == ",":
                    index = space(text, index + 1).end()  # type: ignore[union-attr]  # as above
        except (ValueError, IndexError, StopIteration):  # not the JSON json.loads accepted: positions unknown
            return None
        return index + 1

    def _forget(self, pointer: str) -> None:
        """Drop what opening ``pointer`` recorded below it (a repeated root key)."""
        inside = pointer + "/"
        for recorded in [p for p in self._key_at if p.startswith(inside)]:
            del self._key_at[recorded], self._value_at[recorded]
        self._opened -= {p for p in self._opened if p == pointer or p.startswith(inside)}

    def _line_column(self, offset: int) -> _Position:
        if self._line_starts is None:
            self._line_starts = [0, *(m.end() for m in re.finditer("\n", self._text))]
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1


def _skip_space(text: str, index: int) -> int:
    """The index of the first character at or after ``index`` that is not JSON whitespace."""
    return _SPACE.match(text, index).end()  # type: ignore[union-attr]  # the pattern matches empty


_SPACE = re.compile(r"[ \t\n\r]*")
#: The json module's string scanner (C): (text, index after the opening quote) -> (str, end).
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]  # not in typeshed


# --- YAML --------------------------------------------------------------------------------

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc]  # the base is picked at import time (libyaml's CSafeLoader when built)
    """The fastest safe loader with no implicit resolvers: plain scalars arrive as strings
    and ``_Builder`` resolves them the YAML 1.2 core way."""

    yaml_implicit_resolvers: dict[str, list[Any]] = {}  # noqa: RUF012 - class-level config of PyYAML


def _load_yaml(text: str, name: str) -> SourceDocument:
    _check_flow_depth(text, name)
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        problem = " ".join(filter(None, [exc.context, exc.problem]))
        _fail("syntax-error", f"invalid YAML: {problem}", name, line, column)
    except (yaml.YAMLError, RecursionError) as exc:
        _fail("syntax-error", f"invalid YAML: {exc}", name)
    if len(nodes) > 1:
        mark = nodes[1].start_mark
        _fail("syntax-error", "a definition file holds one YAML document, found several", name, mark.line + 1, 1)
    builder = _Builder(name)
    data = builder.build(nodes[0]) if nodes else None
    _check_object(data, name)
    return SourceDocument(data, name, builder.source_map, tuple(builder.problems))


def yaml_value(text: str, name: str) -> JSON:
    """One YAML document as a JSON value of any type (an execution input file), read like a
    definition (YAML 1.2 scalars, same size/depth limits). Raises DefinitionError."""
    _check_flow_depth(text, name)
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        _fail("syntax-error", " ".join(filter(None, [exc.context, exc.problem])), name, line, column)
    except (yaml.YAMLError, RecursionError) as exc:
        _fail("syntax-error", f"invalid YAML: {exc}", name)
    if len(nodes) > 1:
        _fail("syntax-error", "one YAML document expected, found several", name,
              nodes[1].start_mark.line + 1, 1)
    return _Builder(name).build(nodes[0]) if nodes else None


def _check_flow_depth(text: str, name: str) -> None:
    """Refuse absurd bracket nesting before a parser recurses into it (libyaml can crash)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(text):
        depth = depth + 1 if bracket in "[{" else depth - 1
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH + 8:
        _fail("too-deep", f"definition is nested more than {MAX_DEPTH} levels deep", name)


_BRACKETS = re.compile(r"[\[\]{}]")


def _check_object(data: JSON, name: str) -> None:
    if not isinstance(data, dict):
        kind = "empty" if data is None else _json_type(data)
        _fail("not-an-object", f"a definition must be a JSON object (a mapping); this one is {kind}", name, 1, 1)


def _json_type(value: JSON) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    names: dict[type, str] = {str: "a string", list: "an array"}
    return names.get(type(value), type(value).__name__)


_STR = "tag:yaml.org,2002:str"
#: CloudFormation's short-form YAML tags -> the long form (a deployment tool resolves them).
_CFN_TAGS = {f"!{name.removeprefix('Fn::')}": name for name in templates.INTRINSICS}
_NULL = re.compile(r"(?:~|null|Null|NULL)?\Z")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCT_HEX = re.compile(r"0o[0-7]+\Z|0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z")
#: Plain scalars that YAML 1.1 (and so many tools) read differently from YAML 1.2.
_YAML11_SURPRISE = re.compile(
    r"(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)\Z"
    r"|[-+]?0[0-9_]+\Z|0o[0-7]+\Z|[-+]?[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?\Z|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\Z"
)
_TAG_RESOLVERS: dict[str, Callable[[str], JSON]] = {
    "tag:yaml.org,2002:int": int,
    "tag:yaml.org,2002:float": lambda v: _finite_float(v),
    "tag:yaml.org,2002:bool": lambda v: _BOOL[v],
    "tag:yaml.org,2002:null": lambda v: None,
}


def _finite_float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


class _Builder:
    """Turns a composed YAML node tree into JSON values and a source map."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.source_map: dict[str, _Position] = {}
        self.problems: list[Diagnostic] = []
        self.nodes = 0
        #: Collections already built, by node id: an alias reuses the value (and counts its
        #: size) instead of walking the subtree again, so alias bombs fail fast.
        self._built: dict[int, tuple[JSON, int]] = {}

    def build(self, node: yaml.Node) -> JSON:
        self.source_map[""] = (node.start_mark.line + 1, node.start_mark.column + 1)
        return self._value(node, "", 0)

    def _value(self, node: yaml.Node, pointer: str, depth: int) -> JSON:
        self.nodes += 1
        if depth > MAX_DEPTH:
            self._fail("too-deep", f"definition is nested more than {MAX_DEPTH} levels deep", node)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, pointer)
        seen = self._built.get(id(node))
        if seen is not None:
            self._count(seen[1], node)
            return seen[0]
        before = self.nodes
        if isinstance(node, yaml.MappingNode):
            value: JSON = self._mapping(node, pointer, depth)
        else:
            assert isinstance(node, yaml.SequenceNode)  # the composer makes only these three kinds
            value = self._sequence(node, pointer, depth)
        if node.tag in _CFN_TAGS:  # !Join [",", [...]], !Sub [text, {...}]: the long form
            value = {_CFN_TAGS[node.tag]: value}
        self._built[id(node)] = (value, self.nodes - before)
        return value

    def _count(self, size: int, node: yaml.Node) -> None:
        self.nodes += size
        if self.nodes > MAX_NODES:
            self._fail("too-deep", f"definition is too large once aliases are expanded (over {MAX_NODES} values)", node)

    def _sequence(self, node: yaml.SequenceNode, pointer: str, depth: int) -> list[JSON]:
        result = []
        for index, item in enumerate(node.value):
            child = pointer_join(pointer, index)
            self.source_map[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
            result.append(self._value(item, child, depth + 1))
        return result

    def _mapping(self, node: yaml.MappingNode, pointer: str, depth: int) -> dict[str, JSON]:
        result: dict[str, JSON] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._fail("syntax-error", "object keys must be strings, not collections", key_node)
            key = key_node.value
            if key == "<<" and not key_node.style:
                self._fail("syntax-error", "YAML merge keys (<<) are not supported in definitions", key_node)
            child = pointer_join(pointer, key)
            if key in result:  # an error, but not one that stops loading: report all at once
                self.problems.append(Diagnostic(
                    "duplicate-key", f"duplicate key '{key}' (AWS rejects duplicate keys)", child,
                    key_node.start_mark.line + 1, key_node.start_mark.column + 1, None, "error", self.name))
            self.source_map[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self._value(value_node, child, depth + 1)
        return result

    def _scalar(self, node: yaml.ScalarNode, pointer: str) -> JSON:
        value: str = node.value
        if node.tag in _CFN_TAGS:  # !GetAtt F.Arn, !Ref X, !Sub '...': the long form
            return {_CFN_TAGS[node.tag]: value}
        if node.tag != _STR:
            resolve = _TAG_RESOLVERS.get(node.tag)
            if resolve is None:
                self._fail("syntax-error", f"unsupported YAML tag {node.tag}", node)
            try:
                return resolve(value)
            except (ValueError, KeyError):
                self._fail("syntax-error", f"'{value}' is not a valid {node.tag.rsplit(':', 1)[-1]}", node)
        if node.style:  # quoted or block scalar ("" or None means plain)
            return value
        return self._plain(value, node, pointer)

    def _plain(self, value: str, node: yaml.ScalarNode, pointer: str) -> JSON:
        """Resolve a plain scalar the YAML 1.2 core way."""
        try:
            return self._resolve_plain(value, node, pointer)
        except ValueError:  # an integer beyond Python's 4,300-digit conversion limit
            digits = sum(ch.isdigit() for ch in value)
            self._fail("syntax-error", f"a number of {digits} digits is too long to read "
                       f"(the limit is {sys.get_int_max_str_digits()} digits)", node)

    def _resolve_plain(self, value: str, node: yaml.ScalarNode, pointer: str) -> JSON:
        if _YAML11_SURPRISE.match(value):
            self._warn(value, node, pointer)
            return _as_yaml12(value)
        if _NULL.match(value):
            return None
        if value in _BOOL:
            return _BOOL[value]
        if _INT.match(value):
            return int(value)
        if _OCT_HEX.match(value):
            return int(value, 0)
        if _FLOAT.match(value) or _SPECIAL_FLOAT.match(value):
            return self._finite(value, node)
        return value

    def _finite(self, value: str, node: yaml.ScalarNode) -> float:
        # JSON has no NaN or Infinity (AWS refuses them); YAML's .inf/.nan and overflowing
        # numbers such as 1e999 would otherwise reach outputs as non-JSON text.
        number = float(value.lower().replace(".", "")) if _SPECIAL_FLOAT.match(value) else float(value)
        if not math.isfinite(number):
            self._fail("syntax-error", f"'{value}' is not a JSON number (JSON has no NaN or Infinity)", node)
        return number

    def _warn(self, value: str, node: yaml.Node, pointer: str) -> None:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        message = (
            f"'{value}' is ambiguous in YAML: it is read as {json.dumps(_as_yaml12(value))} (YAML 1.2), "
            "but YAML 1.1 tools read it differently; quote it if it is text"
        )
        self.problems.append(Diagnostic("yaml-ambiguous-value", message, pointer, line, column, None, "warning", self.name))

    def _fail(self, code: str, message: str, node: yaml.Node) -> NoReturn:
        _fail(code, message, self.name, node.start_mark.line + 1, node.start_mark.column + 1)


def _as_yaml12(value: str) -> JSON:
    """How YAML 1.2 core reads one of the ``_YAML11_SURPRISE`` values."""
    if _INT.match(value):
        return int(value, 10)
    return int(value, 0) if _OCT_HEX.match(value) else value
