"""Stage 2, validation (templates): the diagnostics of a definition that still holds template
placeholders (``${Name}``, see ``statemachine.templates``) in, the same diagnostics settled out.

A placeholder stands for a value the deployment tool fills in. Where it stands, any value of
the field's type could be there, so an error about the value at that very place (a wrong type,
an unrecognized ARN, a timestamp that does not parse) says nothing about the definition:
- ``placeholders="warn"`` (``sm validate``, ``check``): such errors are dropped, and each
  placeholder gets one warning ``template-placeholder`` naming it, so CI on a SAM, CDK or
  Terraform repository passes without a substitutions file;
- ``placeholders="error"`` (loading to run): a placeholder that the definition needs filled
  (an error stood on it, or it stood outside a JSON string) is an error ``template-placeholder``
  that asks for its value; placeholders inside free text run as the literal text.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from typing import Literal

from statemachine import templates
from statemachine.errors import Diagnostic
from statemachine.loader import SourceDocument
from statemachine.validation.walk import finding, state_of

__all__ = ["CODE", "Mode", "settle"]

CODE = "template-placeholder"
Mode = Literal["warn", "error"]


def settle(doc: SourceDocument, found: list[Diagnostic], mode: Mode) -> list[Diagnostic]:
    """``found`` with the errors that stand on a placeholder replaced as ``mode`` says."""
    if not isinstance(doc.data, dict) or doc.template.present is False:
        return found
    if doc.template.directives:
        found = found + [_directive(d, mode) for d in doc.template.directives]
    if doc.template.present is None and not templates.may_hold_placeholders(_text(doc.data)):  # a dict: one C-speed look
        return found
    literal = doc.template.literal
    held = {pointer: text for pointer, text in templates.strings(doc.data)
            if not literal or any(name not in literal for name in templates.names(text))}
    if not held:
        return found
    bare = {(p.name, p.line) for p in doc.template.bare}
    plain = {(p.name, p.line) for p in doc.template.plain}
    on_placeholder = {d.pointer for d in found if d.severity == "error" and d.pointer in held}
    if any(pointer.endswith("/End") for pointer in on_placeholder):
        on_placeholder.add("/StartAt")  # "End": ${IsLast} may be true: the machine may end there
    kept = [d for d in found if not (d.severity == "error" and d.pointer in on_placeholder
                                     and (d.pointer in held or d.code == "no-terminal-state"))]
    if mode == "warn" and any(_routes(doc, pointer, text, bare | plain) for pointer, text in held.items()):
        # "Next": "${AfterA}", "Catch": ${catchers}: which states are reached, and whether the
        # machine ends, depends on the values; AWS judges the filled definition
        kept = [d for d in kept if d.code not in _REACH]
    grouped: dict[str, list[str]] = {}  # name -> pointers of placeholders that need no note
    for pointer, text in held.items():
        unquoted = _was_bare(doc, pointer, text, bare)
        causes = [d for d in found if d.pointer == pointer and d.severity == "error"]
        if _was_bare(doc, pointer, text, plain):  # YAML `Seconds: ${T}`: filled, it is a number
            causes = [d for d in causes if d.code != "wrong-type"]
        if mode == "error":
            if pointer in on_placeholder or unquoted:
                kept.append(_diagnostic(pointer, templates.names(text), unquoted, causes, mode))
        elif unquoted or any(d.code == "wrong-type" for d in causes):
            kept.append(_diagnostic(pointer, templates.names(text), unquoted, causes, mode))
        else:
            for name in dict.fromkeys(templates.names(text)):
                grouped.setdefault(name, []).append(pointer)
    for name, pointers in grouped.items():  # one warning per name, where it first stands
        others = len(pointers) - 1
        also = f" (also in {others} other place{'s' * (others != 1)})" if others else ""
        kept.append(_diagnostic(pointers[0], [name], False, [], mode, also))
    return kept


#: Errors about which states are reached: a placeholder that routes makes them unknowable.
_REACH = frozenset({"unreachable-state", "no-terminal-state"})
#: Fields that name a transition target.
_TARGET = re.compile(r"/(Next|Default|StartAt)$")
#: Fields whose whole value (an unquoted placeholder) may hold transitions or states.
_ROUTING = re.compile(r"/(Catch|Choices|States|Branches)(/[^/]+)?$|/(ItemProcessor|Iterator|Parallel)$")


def _routes(doc: SourceDocument, pointer: str, text: str, bare: set[tuple[str, int]]) -> bool:
    """Does the placeholder at ``pointer`` decide where the machine goes?"""
    if _TARGET.search(pointer):
        return True
    return _ROUTING.search(pointer) is not None and _was_bare(doc, pointer, text, bare)


def _text(data: object) -> str:
    try:
        return json.dumps(data, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return "${"  # not plain JSON: let the walk decide


def _was_bare(doc: SourceDocument, pointer: str, text: str, bare: set[tuple[str, int]]) -> bool:
    names = templates.names(text)
    if not bare or len(names) != 1 or not templates.is_placeholder(text):
        return False
    line = doc.position(pointer)[0]
    if line == 0:  # no positions (a rendered CDK DefinitionString): match by name
        return any(name == names[0] for name, _ in bare)
    return (names[0], line) in bare


def _directive(directive: templates.Directive, mode: Mode) -> Diagnostic:
    """A Terraform directive read one way of several: a warning (validation), or an error
    (running), since which definition Terraform renders depends on values not given."""
    shown = " ".join(directive.text.split())
    if directive.loop:
        read, other = "its body was read once", "render the template with Terraform to check what it produces"
    else:
        read = f"its {'first' if directive.first else 'second'} branch was read"
        other = "render the template with Terraform to check the other"
        if directive.condition is not None:
            value = "false" if directive.assumed else "true"
            other = f"to check the other branch: --substitute {shlex.quote(directive.condition + '=' + value)}"
    if mode == "error":
        wanted = (f"--substitute {shlex.quote(directive.condition + '=true')} (or =false)"
                  if directive.condition is not None else "the rendered definition")
        message = f"Terraform template directive {shown} is not decided, and the definition depends on it: give {wanted}"
        return Diagnostic(CODE, message, "", directive.line, directive.column)
    message = f"Terraform template directive {shown} without a value: {read}; {other}"
    return Diagnostic(CODE, message, "", directive.line, directive.column, severity="warning")


def _diagnostic(pointer: str, names: Iterable[str], unquoted: bool, causes: list[Diagnostic], mode: Mode,
                also: str = "") -> Diagnostic:
    distinct = list(dict.fromkeys(names))
    shown = ", ".join("${" + n + "}" for n in distinct)
    hint = " ".join(f"--substitute {shlex.quote(n + '=VALUE')}" for n in distinct)
    kind = "unquoted template placeholder" if unquoted else "template placeholder"
    plural = "s" if len(distinct) > 1 else ""
    if mode == "error":
        message = f"{kind}{plural} {shown} has no value, and the definition needs one here: give it with {hint}"
        if causes:
            message += f" (as written: {causes[0].message})"
        return finding(CODE, message, pointer, state_of(pointer))
    message = f"{kind}{plural} {shown} without a value{also}: accepted where a value of the field's type could stand"
    if unquoted:
        message += " (unquoted: read as a placeholder for a value of any type, not as a syntax error)"
    elif any(d.code == "wrong-type" for d in causes):  # textual filling keeps the quotes
        message += " (but filled inside quotes it stays a string, which AWS refuses here: write it unquoted)"
    return finding(CODE, message + f"; to check the filled definition: {hint}", pointer, state_of(pointer),
                   warning=True)
