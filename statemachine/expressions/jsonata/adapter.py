"""Expressions stage: one JSONata expression over jsonata-python (compile once, run many).

In: an expression's text (without ``{% %}``) and, at run time, the bindings (``$states`` and
the workflow variables). Out: a JSON value, ``MISSING`` for JSONata's *undefined*, or an
error carrying JSONata's code and message. ``template.py`` builds ASL fields and AWS's causes
on top of this.

jsonata-python is imported lazily, on the first compile, so ``sm`` starts fast. Its
conventions are translated here and nowhere else: Python ``None`` is JSONata *undefined*,
``Utils.NULL_VALUE`` is JSON ``null``; results come back as plain JSON (lists, dicts,
integral numbers as ``int`` the way AWS prints ``3``). The simplest expressions (literals,
``$states.input.a.b``, comparisons of such) skip jsonata-python at run time: ``fastpath.py``.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import random
import re
import threading
import time
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from statemachine.clock import Interrupt, current_clock, current_interrupt
from statemachine.expressions import regexes
from statemachine.expressions.jsonata import bounds, compat
from statemachine.expressions.jsonata import functions as jsonata_functions
from statemachine.expressions.jsonata.fastpath import (
    FALLBACK,
    FastPath,
    compile_fast_path,
    is_bound_value,
)
from statemachine.expressions.scope import Scope
from statemachine.values import JSON, MISSING, Missing

#: ASL: a value is a JSONata expression only when the whole string is ``{% ... %}``; no
#: whitespace is allowed before ``{%`` or after ``%}``.
_OPEN, _CLOSE = "{%", "%}"
#: ``$name`` in an expression: the built-ins it may use (compat.py replaces them).
_FUNCTION_NAME = re.compile(r"\$(\w+)")
#: Largest integer a JavaScript number holds exactly; integral floats beyond it stay floats.
_MAX_SAFE_INTEGER = 2**53
#: Safety net (our choice; AWS documents no limit): an expression that runs longer, e.g. an
#: endless tail-recursive loop, fails with JSONata's D1012 instead of hanging the execution.
#: Sooner than that, the execution's abort, Ctrl-C or timeout stops it (clock.Interrupt).
EVALUATION_TIMEOUT_SECONDS = 10.0


class JsonataSyntaxError(ValueError):
    """A JSONata expression does not parse: ``position`` is a 0-based offset in the text."""

    def __init__(self, message: str, position: int, code: str) -> None:
        super().__init__(f"{code}: {message} (position {position})")
        self.message = message
        self.position = position
        self.code = code


class JsonataEvaluationError(ValueError):
    """Evaluating an expression failed: ``code`` is JSONata's (``T1006``, ...) when it has one."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message

    def describe(self) -> str:
        """``T1006: Attempted to invoke a non-function``, the way AWS quotes it in causes."""
        return str(self)


class UnsupportedResultError(ValueError):
    """An expression produced something that is not JSON (a function, for example)."""


@functools.cache
def _lib() -> ModuleType:
    import jsonata  # heavy: imported on the first compile only

    module: ModuleType = jsonata
    return module


def is_jsonata_expression(value: JSON) -> bool:
    """Is ``value`` a ``{% ... %}`` string (exactly, without surrounding whitespace)?"""
    return (
        isinstance(value, str)
        and len(value) >= 4
        and value.startswith(_OPEN)
        and value.endswith(_CLOSE)
    )


def expression_text(value: str) -> str:
    """The expression inside ``{% ... %}``, stripped the way AWS quotes it in messages."""
    return value[len(_OPEN) : -len(_CLOSE)].strip()


@dataclasses.dataclass(frozen=True, slots=True)
class JsonataExpression:
    """One parsed JSONata expression; evaluate it many times, from any thread."""

    text: str
    _compiled: Any = dataclasses.field(repr=False, compare=False)
    _uses_rng: bool = dataclasses.field(repr=False, compare=False)
    _local: threading.local = dataclasses.field(
        default_factory=threading.local, repr=False, compare=False
    )
    #: Set when the expression is a literal, ``$var.name.name`` or a comparison of such:
    #: evaluated without jsonata-python whenever the values allow it (see fastpath.py).
    fast: FastPath | None = dataclasses.field(default=None, repr=False, compare=False)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickles as its text (a compiled machine is shipped as data); unpickling recompiles."""
        return compile_jsonata, (self.text,)

    def evaluate(
        self, bindings: Mapping[str, JSON], *, rng: random.Random | None = None
    ) -> JSON | Missing:
        """Evaluate with ``bindings`` as ``$name`` variables; ``MISSING`` when undefined.

        Raises ``JsonataEvaluationError`` (JSONata's error code and message) and
        ``UnsupportedResultError`` (the result is not JSON, e.g. a function).
        """
        fast = self.fast
        if fast is not None:
            value = fast.evaluate(bindings)
            if value is not FALLBACK:
                return value
        raw = self.evaluate_raw(bindings, rng=rng)
        if raw is None:
            return MISSING
        if isinstance(raw, (dict, list)) and is_bound_value(raw, bindings):
            return raw  # a variable or $states.x returned whole: JSON already, share it
        return to_json(raw)

    def evaluate_raw(
        self, bindings: Mapping[str, JSON], *, rng: random.Random | None = None
    ) -> Any:
        """The result in jsonata-python's own representation (``None`` is undefined)."""
        lib = _lib()
        instance = self._instance(lib)
        frame = lib.Jsonata.Frame(instance.environment)
        frame.bindings = _frame_bindings(bindings)
        if self._uses_rng:
            frame.bindings.update(jsonata_functions.random_functions(lib, rng))
        frame.bindings["$"] = None
        limit = _Deadline(lib, EVALUATION_TIMEOUT_SECONDS, current_interrupt.get())
        frame.bindings["__evaluate_entry"] = limit
        frame.bindings["__evaluate_exit"] = limit.exit  # every node's value: the limits
        clock = current_clock.get()  # an execution's (possibly virtual) clock, for $now/$millis
        instance.timestamp = round(clock.now() * 1000) if clock is not None else lib.Timebox.current_milli_time()
        outer = getattr(lib.Jsonata.CURRENT, "jsonata", None)
        lib.Jsonata.CURRENT.jsonata = instance  # $now(), $millis() and lambdas read it
        outer_limit = getattr(regexes.ACTIVE, "limit", None)
        regexes.ACTIVE.limit = limit  # regex matches are bounded by it too
        try:
            return instance.eval(instance.ast, None, frame)
        except lib.JException as exc:
            raise _evaluation_error(lib, exc) from None
        except RecursionError:
            raise JsonataEvaluationError("D1011", jsonata_functions.STACK_OVERFLOW) from None
        except bounds.LimitExceeded as exc:
            raise JsonataEvaluationError(exc.code, exc.message) from None
        except ZeroDivisionError:  # JavaScript: x/0 is Infinity, "Number out of range" once used
            raise JsonataEvaluationError("D1001", "Number out of range: Infinity") from None
        except MemoryError:
            raise JsonataEvaluationError(None, bounds.OUT_OF_MEMORY) from None
        except (ArithmeticError, AttributeError, TypeError, ValueError, KeyError, IndexError, RuntimeError) as exc:
            # jsonata-python lets some Python errors through (e.g. on odd argument types).
            raise JsonataEvaluationError(None, f"{type(exc).__name__}: {exc}") from None
        finally:
            lib.Jsonata.CURRENT.jsonata = outer  # an expression evaluated inside another
            regexes.ACTIVE.limit = outer_limit

    def _instance(self, lib: ModuleType) -> Any:
        # jsonata-python keeps per-evaluation scratch state (input, environment, timestamp)
        # on the instance and finds "the current instance" through a thread-local; a shallow
        # copy per thread shares the parsed AST and keeps concurrent executions apart.
        instance = getattr(self._local, "instance", None)
        if instance is None:
            instance = copy.copy(self._compiled)
            self._local.instance = instance
        return instance


class _Deadline:
    """jsonata-python calls ``__evaluate_entry`` before every node; the clock is read rarely.
    The execution's Interrupt (abort, Ctrl-C, timeout) raises CancelledError through it."""

    __slots__ = ("deadline", "interrupt", "lib", "limit", "memory", "nodes")

    def __init__(self, lib: ModuleType, limit: float, interrupt: Interrupt | None = None) -> None:
        self.lib = lib
        self.limit = limit
        self.deadline = time.monotonic() + limit
        self.interrupt = interrupt
        self.nodes = 0
        self.memory = bounds.resident_bytes()  # at the start (bounds.MAX_MEMORY_GROWTH)

    def __call__(self, expr: Any, input: Any, environment: Any) -> None:
        self.nodes += 1
        if self.nodes & 1023 == 0:
            if self.interrupt is not None:
                self.interrupt.check()
            if time.monotonic() > self.deadline:
                raise self.expired()
            self._check_memory()

    def exit(self, expr: Any, input: Any, environment: Any, result: Any) -> None:
        """``__evaluate_exit``: bounds.check_result, and the memory check after a big value
        (a few big values add up between the checks every 1,024 nodes)."""
        bounds.check_result(expr, input, environment, result)
        kind = type(result)
        if (kind is str or kind is list) and len(result) > bounds.BIG_VALUE:
            self._check_memory()

    def _check_memory(self) -> None:
        resident = bounds.resident_bytes()
        if resident is not None and self.memory is not None and resident - self.memory > bounds.MAX_MEMORY_GROWTH:
            raise bounds.out_of_memory()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check_interrupt(self) -> None:
        if self.interrupt is not None:
            self.interrupt.check()

    def expired(self) -> Exception:
        exc: Exception = self.lib.JException("D1012", -1, round(self.limit * 1000))
        return exc


def _evaluation_error(lib: ModuleType, exc: Any) -> JsonataEvaluationError:
    # jsonata-python raises some errors with the message where the code belongs (compat.py).
    if exc.error not in lib.JException.error_codes:
        found = compat.code_of(lib, exc)
        if found is not None:
            return JsonataEvaluationError(found, jsonata_functions.message(lib.JException(found, -1)))
    return JsonataEvaluationError(exc.error, jsonata_functions.message(exc))


def _frame_bindings(bindings: Mapping[str, JSON]) -> dict[str, Any]:
    # A top-level None would read as undefined; JSON null is NULL_VALUE to jsonata-python
    # (inside objects and arrays it treats None as null by itself).
    null = _lib().Utils.NULL_VALUE
    return {name: null if value is None else value for name, value in bindings.items()}


def compile_jsonata(text: str) -> JsonataExpression:
    """Parse ``text`` (without the ``{% %}`` delimiters) once.

    Raises ``JsonataSyntaxError`` with JSONata's message, 0-based position and code.
    """
    lib = _lib()
    current = getattr(lib.Jsonata.CURRENT, "jsonata", None)
    try:
        compiled = lib.Jsonata(text, regexes.regex_engine)
    except lib.JException as exc:
        raise JsonataSyntaxError(jsonata_functions.message(exc), exc.location, exc.error) from None
    except KeyError as exc:  # jsonata-python: a token with no parser symbol, e.g. "!"
        token = str(exc.args[0]) if exc.args else ""
        # jsonata-js: S0204 "Unknown operator: !" (its position is the token's end)
        raise JsonataSyntaxError(f"Unknown operator: {token}", text.find(token) + len(token), "S0204") from None
    except (RecursionError, IndexError, TypeError, ValueError, AttributeError) as exc:
        # any other parser failure is a syntax error of the text, never a crash of the caller
        raise JsonataSyntaxError(f"The expression cannot be parsed ({type(exc).__name__})", 0, "S0201") from None
    finally:
        # The constructor makes itself "current" for the thread; keep evaluations in flight
        # (a compile may happen while another expression runs) pointing at their own.
        if current is not None:
            lib.Jsonata.CURRENT.jsonata = current
    for name, function in compat.fixed_functions(lib, _FUNCTION_NAME.findall(text)).items():
        compiled.register_function(name, function)
    for name, function in jsonata_functions.aws_functions(lib).items():  # AWS's win ($eval gone)
        compiled.register_function(name, function)
    uses_rng = re.search(r"\$(random|uuid)\b", text) is not None
    full = JsonataExpression(text=text, _compiled=compiled, _uses_rng=uses_rng)
    return full if uses_rng else _with_fast_path(full)


def _with_fast_path(full: JsonataExpression) -> JsonataExpression:
    """``full`` with a FastPath when its AST is in fastpath.py's subset."""

    def literal_value() -> JSON | Missing:
        try:
            return full.evaluate({})
        except (JsonataEvaluationError, UnsupportedResultError):
            return MISSING  # no fast path: the error is raised at run time, as before

    fast = compile_fast_path(full._compiled.ast, literal_value, to_json)
    if fast is None:
        return full
    return JsonataExpression(text=full.text, _compiled=full._compiled, _uses_rng=False, fast=fast)


def to_json(raw: Any) -> JSON:
    """jsonata-python's value -> plain JSON; raises UnsupportedResultError for functions.

    Containers are rebuilt only where something changes, so values from the input are
    shared, not copied.
    """
    kind = type(raw)
    if kind is str or kind is int or kind is bool or raw is None:
        return raw
    if kind is float:
        return int(raw) if raw.is_integer() and abs(raw) <= _MAX_SAFE_INTEGER else raw
    if isinstance(raw, dict):
        return _dict_to_json(raw)
    if isinstance(raw, list):
        return _list_to_json(raw)
    if raw is _lib().Utils.NULL_VALUE:
        return None
    raise UnsupportedResultError(kind.__name__)


def _dict_to_json(raw: dict[str, Any]) -> dict[str, JSON]:
    changed: dict[str, JSON] | None = None if type(raw) is dict else dict(raw)
    for key, value in raw.items():
        new = to_json(value)
        if new is not value:
            if changed is None:
                changed = dict(raw)
            changed[key] = new
    return raw if changed is None else changed


def _list_to_json(raw: list[Any]) -> list[JSON]:
    # JSONata's sequences (a list subclass with flags) become plain lists.
    changed: list[JSON] | None = None if type(raw) is list else list(raw)
    for index, item in enumerate(raw):
        new = to_json(item)
        if new is not item:
            if changed is None:
                changed = list(raw)
            changed[index] = new
    return raw if changed is None else changed


def states_bindings(scope: Scope) -> dict[str, JSON]:
    """The bindings an ASL JSONata expression sees: ``$states`` and every variable."""
    states: dict[str, JSON] = {"input": scope.input, "context": scope.context}
    if scope.result is not MISSING:
        states["result"] = scope.result
    if scope.error_output is not MISSING:
        states["errorOutput"] = scope.error_output
    bindings = dict(scope.variables)
    bindings["states"] = states
    return bindings
