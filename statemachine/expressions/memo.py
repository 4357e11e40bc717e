"""Expressions stage helper: one compiled expression per distinct text within a scope.

Validation parses every JSONata expression (syntax, references AWS refuses) and then compiles
every state; ``load()`` compiles the machine after validating it. Inside ``compile_memo()``
they all share one parse per distinct text. The memo lives in a ContextVar and is dropped when
the outermost block ends, so nothing is kept between definitions (a global cache would either
grow without bound or, when smaller than a big definition, miss on every pass).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["compile_memo", "memoized", "memoized_object"]

T = TypeVar("T")

_MEMO: contextvars.ContextVar[dict[object, object] | None] = contextvars.ContextVar(
    "statemachine_compile_memo", default=None)


@contextlib.contextmanager
def compile_memo() -> Iterator[None]:
    """Share compiled expressions inside the block (nested blocks join the outer one)."""
    if _MEMO.get() is not None:
        yield
        return
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def memoized(text: str, compile: Callable[[str], T]) -> T:
    """``compile(text)``, once per text inside a ``compile_memo()`` block; raises what it raises."""
    memo = _MEMO.get()
    if memo is None:
        return compile(text)
    found = memo.get(text)
    if found is None:
        found = memo[text] = compile(text)
    return found  # type: ignore[return-value]  # one compile function per memo (JSONata's)


def memoized_object(value: object, field: str, compile: Callable[[], T]) -> T:
    """``compile()`` (a pure function of ``value`` and ``field``: a payload template, a Choice
    rule), once per (object, field) inside a ``compile_memo()`` block, so the validation rules
    and the compile pass share it; raises what it raises (failures are not kept). Keyed by
    identity: the definition's objects live as long as the block, and the entry keeps
    ``value`` so a reused id never matches another object."""
    memo = _MEMO.get()
    if memo is None:
        return compile()
    key = (id(value), field)
    found = memo.get(key)
    if found is not None and found[0] is value:  # type: ignore[index]  # entries under tuple keys are (value, result)
        return found[1]  # type: ignore[index,no-any-return]  # as above
    result = compile()
    memo[key] = (value, result)
    return result
