"""errors.py's docstring draws the exception tree (issue 10): every exception a user can meet
-- each StateMachineError, each exception class a module exports in ``__all__`` -- is drawn
there under its real base class."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import statemachine
from statemachine import errors
from statemachine.errors import StateMachineError


def _drawn() -> dict[str, str]:
    """name -> the name of its parent in the drawn tree."""
    text = errors.__doc__ or ""
    tree = text[text.index("::"):]
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in tree.splitlines():
        match = re.match(r"\s*((?:[│ ]   )*)(?:[├└]── )?([A-Z]\w+)\b", line)
        if not match or ("──" not in line and match.group(2) != "Exception"):
            continue
        depth = len(match.group(1)) // 4 + (0 if match.group(2) == "Exception" else 1)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[match.group(2)] = stack[-1][1]
        stack.append((depth, match.group(2)))
    return parents


def _public_exceptions() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    names = ["statemachine", *(info.name for info in pkgutil.walk_packages(statemachine.__path__, "statemachine."))]
    for module in map(importlib.import_module, names):
        for name in getattr(module, "__all__", []):
            value = getattr(module, name, None)
            if inspect.isclass(value) and issubclass(value, BaseException):
                found.add(value)
    pending = [StateMachineError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_exception_is_drawn_under_its_base() -> None:
    drawn = _drawn()
    public = _public_exceptions()
    assert {"InvalidJsonError", "StoreLocked", "ResourceMapError", "MockConfigError"} <= {c.__name__ for c in public}
    for cls in public:
        assert cls.__name__ in drawn, f"{cls.__name__} is not in errors.py's tree"
        assert drawn[cls.__name__] == cls.__bases__[0].__name__, (cls.__name__, drawn[cls.__name__])
