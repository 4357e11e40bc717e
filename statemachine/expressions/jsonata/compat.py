"""Expressions stage: where jsonata-python's errors differ from JavaScript JSONata's, in one place.

In: jsonata-python's module and its built-in functions. Out: replacement functions (same
names, same signatures) that raise the error code JavaScript JSONata raises for the same
failure -- AWS runs JSONata and quotes its code in States.QueryEvaluationError causes --
and ``code_of(exc)``, which names the code of an error jsonata-python raised without one.

The differences (found by evaluating a failing expression per JSONata error code in both
implementations; jsonata-js 2.x source read for the expected code):

=================================  ==============================  ===========================
expression                         jsonata-python                  JavaScript JSONata (AWS)
=================================  ==============================  ===========================
``$formatNumber(1, 'x')``          D3085 (first rule that fails)   D3086 (the last one: every
                                                                   F&O 4.7.3 rule is checked)
``$formatNumber(1, '#,,#')``       D3087                           D3089
``$formatNumber(1, '#e')``         formats ``1e``                  D3093
``$formatNumber(1, '#%e0')``       a free-text error               D3092
``$number('abc')``                 Python ValueError               D3030
``$power(10, 1000)``               Python OverflowError            D3061
``$toMillis('x')``                 Python ValueError               D3110
``$fromMillis(0, '[Q]')``          Python KeyError                 D3132
``$fromMillis``/``$formatInteger`` Python RuntimeError (text only) D3130-D3135 (by the text)
``$replace('a', 'a', 'b', -1)``    the text as the code            D3010/D3011 (by the text)
``$decodeUrl('%')``                returns ``%``                   D3140 (malformed URL)
``1 / 0``                          Python ZeroDivisionError        D1001 (number out of range)
``$power(-1, 1.5)``                Python TypeError (complex)      D3061 (NaN)
``$sort([1, 'a'])``                Python TypeError                D3070
``$split('a', function..)``        Python AttributeError           T1010 (matcher function)
``$replace('a','a',function..)``   Python TypeError                D3012 (non-string result)
any built-in given ``null`` where  a Python error                  T0410 (signature mismatch)
its signature wants a value
=================================  ==============================  ===========================

Known differences left (numeric edge cases no workflow meets): a regex that matches the empty
string repeatedly (D1004 in JavaScript; jsonata-python advances), ``$round``/``$formatBase``
of numbers near 1e300, ``$fromMillis`` beyond year 9999.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any

from statemachine.expressions.jsonata import bounds

#: JSONata's decimal-format defaults (F&O 4.7.3), which AWS never overrides.
_DEFAULTS: Mapping[str, str] = {
    "decimal-separator": ".",
    "grouping-separator": ",",
    "exponent-separator": "e",
    "percent": "%",
    "per-mille": "\u2030",
    "zero-digit": "0",
    "digit": "#",
    "pattern-separator": ";",
}
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _picture_error(picture: str, options: Mapping[str, str] | None) -> str | None:
    """The code JavaScript JSONata raises for a bad ``$formatNumber`` picture, or None.

    Every rule is checked and the LAST one that fails gives the code, as jsonata-js does.
    """
    props = {**_DEFAULTS, **(options or {})}
    zero = ord(props["zero-digit"][0])
    digits = {chr(code) for code in range(zero, zero + 10)}
    active = digits | {props[k] for k in ("decimal-separator", "exponent-separator",
                                          "grouping-separator", "digit", "pattern-separator")}
    subpictures = picture.split(props["pattern-separator"])
    if len(subpictures) > 2:
        return "D3080"
    error = None
    for sub in subpictures:
        error = _subpicture_error(sub, props, digits, active) or error
    return error


def _parts(sub: str, props: Mapping[str, str], active: set[str]) -> tuple[str, str, str | None, str, str]:
    """(active part, mantissa, exponent or None, integer part, fractional part)."""
    marks = [i for i, ch in enumerate(sub) if ch in active and ch != props["exponent-separator"]]
    prefix_len = marks[0] if marks else 0
    suffix_len = len(sub) - marks[-1] - 1 if marks else 0
    active_part = sub[prefix_len : len(sub) - suffix_len]
    exponent_at = sub.find(props["exponent-separator"], prefix_len)
    exponent: str | None = None
    mantissa = active_part
    if exponent_at != -1 and exponent_at <= len(sub) - suffix_len:
        mantissa, exponent = active_part[:exponent_at], active_part[exponent_at + 1 :]
    decimal_at = mantissa.find(props["decimal-separator"])
    if decimal_at == -1:
        return active_part, mantissa, exponent, mantissa, sub[len(sub) - suffix_len :]
    return active_part, mantissa, exponent, mantissa[:decimal_at], mantissa[decimal_at + 1 :]


def _subpicture_error(sub: str, props: Mapping[str, str], digits: set[str],
                      active: set[str]) -> str | None:
    active_part, mantissa, exponent, integer, fraction = _parts(sub, props, active)
    decimal, group = props["decimal-separator"], props["grouping-separator"]
    percent, mille, digit = props["percent"], props["per-mille"], props["digit"]
    checks = [
        ("D3081", sub.count(decimal) > 1),
        ("D3082", sub.count(percent) > 1),
        ("D3083", sub.count(mille) > 1),
        ("D3084", percent in sub and mille in sub),
        ("D3085", not any(ch in digits or ch == digit for ch in mantissa)),
        ("D3086", any(ch not in active for ch in active_part)),
        ("D3087", decimal in sub and group in (_at(sub, sub.find(decimal) - 1), _at(sub, sub.find(decimal) + 1))),
        ("D3088", decimal not in sub and integer.endswith(group)),
        ("D3089", group + group in sub),
        ("D3090", digit in integer and any(ch in digits for ch in integer[: integer.find(digit)])),
        ("D3091", digit in fraction and any(ch in digits for ch in fraction[fraction.rfind(digit) :])),
        ("D3092", bool(exponent) and (percent in sub or mille in sub)),
        ("D3093", exponent is not None and (exponent == "" or any(ch not in digits for ch in exponent))),
    ]
    failed = [code for code, fails in checks if fails]
    return failed[-1] if failed else None


def _at(text: str, index: int) -> str:
    return text[index] if 0 <= index < len(text) else ""


def _check_url(text: Any) -> bool:
    """False when JavaScript's decodeURI(Component) would throw URIError."""
    if not isinstance(text, str) or "%" not in text:
        return True
    if _MALFORMED_ESCAPE.search(text):
        return False
    try:
        urllib.parse.unquote(text, errors="strict")
    except UnicodeDecodeError:
        return False
    return True


def _normalised(text: str) -> str:
    # jsonata-python's catalogue says "Object" for "function" and quotes with " or '.
    return re.sub(r"\bObject\b", "function", text).replace('"', "'")


@functools.cache
def _templates(lib: ModuleType) -> tuple[tuple[str, re.Pattern[str]], ...]:
    found = []
    for code, template in lib.JException.error_codes.items():
        pieces = re.split(r"\{\{\{?\w+\}\}\}?", _normalised(template))
        pattern = "(.*)".join(re.escape(piece) for piece in pieces)
        if pattern != "(.*)":  # D3137/D3141 are free text: never guessed from a message
            found.append((code, re.compile(pattern)))
    return tuple(found)


def code_of(lib: ModuleType, exc: BaseException) -> str | None:
    """JSONata's code for an error jsonata-python raised without one: a JException whose
    "code" is the message itself, or a RuntimeError carrying the message text."""
    text = exc.error if isinstance(exc, lib.JException) else str(exc)
    if not isinstance(text, str):
        return None
    text = _normalised(text).replace("%s", "null")
    for code, pattern in _templates(lib):
        if pattern.fullmatch(text):
            return code
    return None


def _raising(lib: ModuleType, code: str, *values: Any) -> Exception:
    error: Exception = lib.JException(code, -1, *values)
    return error


_Maker = Callable[[tuple[Any, ...], BaseException], Exception]


#: Python exceptions jsonata-python's built-ins let through on arguments they do not expect.
_PYTHON_ERRORS: tuple[type[BaseException], ...] = (
    TypeError, AttributeError, ValueError, ArithmeticError, RuntimeError, KeyError, IndexError)


def wrap(lib: ModuleType, name: str, check: Callable[..., None],
         errors: Mapping[type[BaseException], _Maker]) -> Any:
    """Built-in ``name`` with ``check(*args)`` run first and ``errors`` translating the Python
    exceptions it lets through (exception type -> maker of the JSONata error to raise). Any
    other Python exception caused by a ``null`` argument is T0410, as JavaScript JSONata's
    signature check rejects null where a number, string, array or function is expected."""
    native = lib.Jsonata.static_frame.lookup(name)
    null = lib.Utils.NULL_VALUE

    class _Fixed:
        __slots__ = ()

        def call(self, input: Any, args: Any) -> Any:
            values = tuple(args or ())
            check(*values)
            try:
                return native.call(input, args)
            except lib.JException:
                raise
            except _PYTHON_ERRORS as exc:
                for index, value in enumerate(values):
                    if value is null:
                        raise _raising(lib, "T0410", index + 1, name) from None
                for kind, make in errors.items():
                    if isinstance(exc, kind):
                        raise make(values, exc) from None
                raise

    class _Function(lib.Jsonata.JFunction):  # type: ignore[misc, name-defined]  # a runtime base
        def get_number_of_args(self) -> int:  # higher-order calls ($map(a, $number)) read it
            return int(native.get_number_of_args())

    function = _Function(_Fixed(), None)
    function.signature = native.signature
    return function


def _no_check(*values: Any) -> None:
    return None


@functools.cache
def _fixed_functions(lib: ModuleType) -> tuple[tuple[str, Any], ...]:
    def fail(code: str) -> Callable[[tuple[Any, ...], BaseException], Exception]:
        return lambda values, exc: _raising(lib, code, values[0] if values else None)

    def by_text(values: tuple[Any, ...], exc: BaseException) -> Exception:
        found = code_of(lib, exc)
        return _raising(lib, found) if found else exc if isinstance(exc, Exception) else RuntimeError(str(exc))

    def picture(value: Any = None, pic: Any = None, options: Any = None, *rest: Any) -> None:
        if isinstance(pic, str):
            code = _picture_error(pic, options if isinstance(options, Mapping) else None)
            if code is not None:
                raise _raising(lib, code)

    def url(name: str) -> Callable[..., None]:
        def check(text: Any = None, *rest: Any) -> None:
            if not _check_url(text):
                raise _raising(lib, "D3140", name, text)
        return check

    def encodable(name: str) -> Callable[..., None]:
        def check(text: Any = None, *rest: Any) -> None:
            if isinstance(text, str) and any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
                raise _raising(lib, "D3140", name, text)
        return check

    def matcher(function: str) -> _Maker:
        # JSONata: a function given as the pattern is a custom matcher; one that does not
        # return a match object is T1010 (jsonata-python fails inside Python instead).
        def make(values: tuple[Any, ...], exc: BaseException) -> Exception:
            if len(values) > 1 and not isinstance(values[1], str) and not hasattr(values[1], "finditer"):
                return _raising(lib, "T1010", function)
            if function == "replace" and len(values) > 2 and not isinstance(values[2], str):
                return _raising(lib, "D3012")  # a replacement function returned a non-string
            return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
        return make

    def sort_error(values: tuple[Any, ...], exc: BaseException) -> Exception:
        # JSONata: "The single argument form of the sort function can only be applied to an
        # array of strings or an array of numbers" (mixed types compared without a function).
        if len(values) < 2 or values[1] is None:
            return _raising(lib, "D3070")
        return exc if isinstance(exc, Exception) else RuntimeError(str(exc))

    def power_error(values: tuple[Any, ...], exc: BaseException) -> Exception:
        return _raising(lib, "D3061", values[0], values[1] if len(values) > 1 else None)

    def unknown_specifier(values: tuple[Any, ...], exc: BaseException) -> Exception:
        return _raising(lib, "D3132", exc.args[0] if exc.args else None)

    date_errors: dict[type[BaseException], _Maker] = {
        RuntimeError: by_text, KeyError: unknown_specifier, ValueError: fail("D3110")}
    return (
        ("formatNumber", wrap(lib, "formatNumber", picture, {})),
        ("number", wrap(lib, "number", _no_check, {ValueError: fail("D3030")})),
        ("sort", wrap(lib, "sort", _no_check, {TypeError: sort_error})),
        ("pad", wrap(lib, "pad", bounds.ARGUMENT_CHECKS["pad"], {})),
        ("join", wrap(lib, "join", bounds.ARGUMENT_CHECKS["join"], {})),
        # JSONata: a matcher function that does not return a match object is T1010.
        ("replace", wrap(lib, "replace", bounds.ARGUMENT_CHECKS["replace"],
                         {AttributeError: matcher("replace"), TypeError: matcher("replace")})),
        ("split", wrap(lib, "split", _no_check, {AttributeError: matcher("split")})),
        ("match", wrap(lib, "match", _no_check, {AttributeError: matcher("match")})),
        ("contains", wrap(lib, "contains", _no_check, {TypeError: matcher("contains")})),
        # JavaScript: Math.pow(-1, 1.5) is NaN, not a JSON number; Python makes it complex.
        ("power", wrap(lib, "power", _no_check, {OverflowError: power_error, TypeError: power_error})),
        ("toMillis", wrap(lib, "toMillis", _no_check, date_errors)),
        ("fromMillis", wrap(lib, "fromMillis", _no_check, date_errors)),
        ("formatInteger", wrap(lib, "formatInteger", _no_check, {RuntimeError: by_text})),
        ("parseInteger", wrap(lib, "parseInteger", _no_check, {RuntimeError: by_text})),
        ("decodeUrl", wrap(lib, "decodeUrl", url("decodeUrl"), {})),
        ("decodeUrlComponent", wrap(lib, "decodeUrlComponent", url("decodeUrlComponent"), {})),
        ("encodeUrl", wrap(lib, "encodeUrl", encodable("encodeUrl"), {})),
        ("encodeUrlComponent", wrap(lib, "encodeUrlComponent", encodable("encodeUrlComponent"), {})),
    )


@functools.cache
def _guarded(lib: ModuleType, name: str) -> Any:
    specific = dict(_fixed_functions(lib))
    if name in specific:
        return specific[name]
    return wrap(lib, name, _no_check, {})


def fixed_functions(lib: ModuleType, names: Iterable[str]) -> dict[str, Any]:
    """``name -> function`` replacing the jsonata-python built-ins among ``names`` (the function
    names an expression uses) whose errors differ from JavaScript JSONata's."""
    builtins = lib.Jsonata.static_frame.bindings
    return {name: _guarded(lib, name) for name in names
            if isinstance(builtins.get(name), lib.Jsonata.JNativeFunction)}
