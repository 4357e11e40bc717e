"""Expression stage: intrinsic-function call text -> compiled ``IntrinsicCall``.

Grammar (a tokenizer and a recursive-descent parser of our own)::

    call     := NAME '(' [argument (',' argument)*] ')'        NAME is States.<Function>
    argument := call | STRING | NUMBER | PATH | 'true' | 'false' | 'null'

STRING is single-quoted; inside it AWS reserves ``'``, ``{``, ``}`` and ``\\``, which must
be escaped as ``\\'``, ``\\{``, ``\\}``, ``\\\\``; any other backslash sequence is an error
(AWS rejects ``\\"``). PATH is a JSONPath on the input (``$.x``), the context object
(``$$.x``) or a variable (``$var.x``). Function names and argument counts are checked here
against ``functions.FUNCTIONS`` (so the validator reuses this parser); argument types are
checked when the call is evaluated.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal

from statemachine.expressions.functions import FUNCTIONS, FormatTemplate, FunctionSpec
from statemachine.expressions.jsonpath import JsonPath, PathSyntaxError, compile_path
from statemachine.expressions.scope import Scope
from statemachine.values import JSON

__all__ = ["IntrinsicCall", "IntrinsicSyntaxError", "is_intrinsic", "parse_intrinsic"]

TokenKind = Literal["name", "(", ")", ",", "string", "number", "path", "keyword"]


class IntrinsicSyntaxError(ValueError):
    """An intrinsic call that cannot be parsed; ``position`` is the 0-based offset."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclasses.dataclass(frozen=True, slots=True)
class _Token:
    kind: TokenKind
    text: str
    position: int
    value: JSON = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Constant:
    value: JSON

    def evaluate(self, scope: Scope, rng: random.Random | None = None) -> JSON:
        return self.value


@dataclasses.dataclass(frozen=True, slots=True)
class _PathArgument:
    path: JsonPath

    def evaluate(self, scope: Scope, rng: random.Random | None = None) -> JSON:
        return self.path.evaluate(scope)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class IntrinsicCall:
    """A parsed call: ``spec`` is the function's table entry, ``args`` the argument nodes."""

    text: str
    spec: FunctionSpec
    args: tuple[_Constant | _PathArgument | IntrinsicCall, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickles as its text (the function table holds lambdas); unpickling parses again."""
        return parse_intrinsic, (self.text,)

    def evaluate(self, scope: Scope, rng: random.Random | None = None) -> JSON:
        """Evaluate the arguments, then the function.

        Raises StatesError("States.IntrinsicFailure", message) for arguments of the wrong type or
        value, and jsonpath.PathNotFound when a path argument matches nothing (the caller knows
        the field name AWS's message needs).
        """
        return self.spec.call([arg.evaluate(scope, rng) for arg in self.args], rng)

    def paths(self) -> Iterator[JsonPath]:
        """Every JSONPath argument, nested calls included (the validator checks variables)."""
        for arg in self.args:
            if isinstance(arg, _PathArgument):
                yield arg.path
            elif isinstance(arg, IntrinsicCall):
                yield from arg.paths()


def is_intrinsic(text: JSON) -> bool:
    """Does the ``.$`` value look like an intrinsic call rather than a path?"""
    return isinstance(text, str) and text.startswith("States.")


def parse_intrinsic(text: str) -> IntrinsicCall:
    """Parse ``States.Fn(args...)``; raises IntrinsicSyntaxError (unknown names, arg counts)."""
    tokens = list(_tokenize(text))
    parser = _Parser(text, tokens)
    call = parser.call()
    if parser.index != len(tokens):
        extra = tokens[parser.index]
        raise IntrinsicSyntaxError(f"Unexpected {extra.text!r} after the end of the call", extra.position)
    return call


# --- tokenizer -------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_KEYWORDS = {"true": True, "false": False, "null": None}
_ESCAPABLE = frozenset("'{}\\")
_PUNCTUATION: Final[Mapping[str, TokenKind]] = {"(": "(", ")": ")", ",": ","}


def _tokenize(text: str) -> Iterator[_Token]:
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char.isspace():
            pos += 1
        elif char in _PUNCTUATION:
            yield _Token(_PUNCTUATION[char], char, pos)
            pos += 1
        elif char == "'":
            token = _string(text, pos)
            yield token
            pos += len(token.text)
        elif char == "$":
            end = _path_end(text, pos)
            yield _Token("path", text[pos:end], pos)
            pos = end
        else:
            token = _word(text, pos)
            yield token
            pos += len(token.text)


def _word(text: str, pos: int) -> _Token:
    number = _NUMBER.match(text, pos)
    if number is not None:
        literal = number.group()
        value = float(literal) if any(c in literal for c in ".eE") else int(literal)
        return _Token("number", literal, pos, value)
    name = _NAME.match(text, pos)
    if name is None:
        raise IntrinsicSyntaxError(f"Unexpected character {text[pos]!r}", pos)
    word = name.group()
    if word in _KEYWORDS:
        return _Token("keyword", word, pos, _KEYWORDS[word])
    return _Token("name", word, pos)


def _string(text: str, start: int) -> _Token:
    """A quoted literal; ``value`` is the list of pieces between unescaped ``{}`` pairs."""
    pieces, current, pos = [], [], start + 1
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            escaped = text[pos + 1:pos + 2]
            if escaped not in _ESCAPABLE or not escaped:
                raise IntrinsicSyntaxError(
                    f"Invalid escape sequence '\\{escaped}' in a string literal: only \\', \\{{, \\}} and \\\\ are allowed", pos)
            current.append(escaped)
            pos += 2
        elif char == "'":
            pieces.append("".join(current))
            return _Token("string", text[start:pos + 1], start, tuple(pieces))
        elif char == "{" and text[pos + 1:pos + 2] == "}":
            pieces.append("".join(current))
            current = []
            pos += 2
        else:
            current.append(char)
            pos += 1
    raise IntrinsicSyntaxError("Unterminated string literal", start)


def _path_end(text: str, pos: int) -> int:
    """End of a JSONPath argument: the first ``,`` / ``)`` / space outside brackets and quotes."""
    depth, quote = 0, ""
    while pos < len(text):
        char = text[pos]
        if quote:
            if char == "\\":
                pos += 1
            elif char == quote:
                quote = ""
        elif char in "'\"" and depth:
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])" and depth:
            depth -= 1
        elif not depth and (char in ",)" or char.isspace()):
            return pos
        pos += 1
    return pos


# --- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0

    def next(self, expected: str) -> _Token:
        if self.index >= len(self.tokens):
            raise IntrinsicSyntaxError(f"Unexpected end of the expression: expected {expected}", len(self.text))
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind: str) -> _Token:
        token = self.next(repr(kind))
        if token.kind != kind:
            raise IntrinsicSyntaxError(f"Expected {kind!r} but found {token.text!r}", token.position)
        return token

    def call(self) -> IntrinsicCall:
        name = self.expect("name")
        spec = FUNCTIONS.get(name.text)
        if spec is None:
            raise IntrinsicSyntaxError(f"Unknown intrinsic function {name.text!r}", name.position)
        self.expect("(")
        args: list[_Constant | _PathArgument | IntrinsicCall] = []
        if self.peek_kind() != ")":
            args.append(self.argument())
            while self.peek_kind() == ",":
                self.index += 1
                args.append(self.argument())
        close = self.expect(")")
        problem = spec.arity_error(len(args))
        if problem is not None:
            raise IntrinsicSyntaxError(problem, name.position)
        if spec.name == "States.Format" and isinstance(args[0], _Constant) and isinstance(args[0].value, tuple):
            args[0] = _Constant(FormatTemplate(args[0].value))
        args = [_Constant("{}".join(a.value)) if isinstance(a, _Constant) and isinstance(a.value, tuple) else a
                for a in args]
        return IntrinsicCall(self.text[name.position:close.position + 1], spec, tuple(args))

    def peek_kind(self) -> str | None:
        return self.tokens[self.index].kind if self.index < len(self.tokens) else None

    def argument(self) -> _Constant | _PathArgument | IntrinsicCall:
        token = self.next("an argument")
        if token.kind in ("string", "number", "keyword"):
            return _Constant(token.value)
        if token.kind == "path":
            try:
                return _PathArgument(compile_path(token.text))
            except PathSyntaxError as exc:
                raise IntrinsicSyntaxError(f"Invalid JSONPath argument {token.text!r}: {exc.message}",
                                           token.position + exc.position) from None
        if token.kind == "name":
            self.index -= 1
            return self.call()
        raise IntrinsicSyntaxError(f"Expected an argument but found {token.text!r}", token.position)
