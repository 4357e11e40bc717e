"""Resources stage, static resolution: does every resource of a definition resolve, judged
WITHOUT executing anything (``sm validate --resources MAP.yaml``, what CI runs on pull requests).

``load()`` imports ``python:`` modules and the map's Lambda handlers (running their top-level
code) because it is about to run them. Validation must not: a pull request's handler module
could do anything at import. Here a module is *found* (``importlib.machinery.PathFinder``, the
same search ``import`` would do: the definition's folder, the working directory, then
``sys.path``; the map's folder for its entries; a Lambda's ``code`` folder) and its source is
*parsed* with ``ast``; the handler exists when the module binds the name at top level (``def``,
``class``, assignment, import, also inside top-level ``if``/``try``/``with`` blocks; a
``from x import *`` or a module ``__getattr__`` counts as binding every name). Modules without
Python source (built-in, compiled extensions) are accepted as found. Entry points are listed by
name, never loaded. The registry this builds resolves like the real one (same order, same
prefixes), with placeholders for the handlers it does not load; handlers that are safe to
build (shell, HTTP, Lambda API) are the real ones, so their load-time checks (``check_task``)
apply too.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata, util
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statemachine.errors import Diagnostic, ResourceNotFoundError
from statemachine.resources import (
    aws_lambda,
    callback_links,
    http,
    local_map,
    python,
    s3_local,
    shell,
    smtp,
)
from statemachine.resources.base import (
    ENTRY_POINT_GROUP,
    HTTP_INVOKE_RESOURCE,
    LAMBDA_ARN_PREFIX,
    LAMBDA_INVOKE_RESOURCE,
    PYTHON_PREFIX,
    SHELL_RESOURCE,
    ResourceHandler,
    TaskRequest,
)
from statemachine.resources.checks import check_tasks
from statemachine.resources.registry import ResourceRegistry
from statemachine.validation.resolution import resource_fields, unresolved_resources
from statemachine.values import JSON

if TYPE_CHECKING:
    from statemachine.loader import SourceDocument

_COMPOUND = (ast.If, ast.Try, ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)


class Placeholder:
    """Stands for a handler that was found but not loaded; it never runs."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"Placeholder({self.what})"

    def __call__(self, request: TaskRequest) -> JSON:
        raise ResourceNotFoundError(f"{self.what} was only checked, not loaded")


# -- finding a module and a name without importing ------------------------------------------------
def find_module(module: str, dirs: list[Path]) -> ModuleSpec | None:
    """The spec ``import module`` would use, searching ``dirs`` first; no module code runs
    (parent packages are searched through their ``__path__`` folders, never imported)."""
    top, *rest = module.split(".")
    spec = PathFinder.find_spec(top, [str(d) for d in dirs])
    if spec is None:
        try:  # installed packages (also editable installs' finders); a top-level name only
            spec = util.find_spec(top)
        except (ImportError, ValueError):
            return None
    name = top
    for part in rest:
        locations = spec.submodule_search_locations if spec is not None else None
        if locations is None:
            return None
        name = f"{name}.{part}"
        spec = PathFinder.find_spec(name, list(locations))
    return spec


def top_level_names(tree: ast.Module) -> tuple[set[str], bool]:
    """(names the module binds at top level, whether it may bind any name)."""
    names: set[str] = set()
    anything = False
    for node in _top_level(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            anything |= node.name == "__getattr__"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                anything |= alias.name == "*"
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names, anything


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        yield node
        if isinstance(node, _COMPOUND):
            for block in ("body", "orelse", "finalbody"):
                yield from _top_level(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                yield from _top_level(handler.body)


def _binds(spec: ModuleSpec, name: str) -> str | None:
    """None when the module found binds ``name`` (or cannot be read without loading); else the problem."""
    origin = spec.origin
    if origin in ("built-in", "frozen"):
        return None
    if origin is None:  # a namespace package: nothing but its submodules
        return f"module {spec.name!r} has no source file"
    return source_binds(origin, spec.name, name)


def source_binds(origin: str, module: str, name: str) -> str | None:
    """None when the Python source file ``origin`` binds ``name`` at top level; else the problem."""
    if not origin.endswith(".py"):
        return None  # compiled extension: found, its names cannot be read without loading it
    try:
        tree = ast.parse(Path(origin).read_bytes(), filename=origin)
    except (OSError, SyntaxError, ValueError) as exc:
        return f"cannot parse {origin}: {exc}"
    names, anything = top_level_names(tree)
    if anything or name.split(".")[0] in names:
        return None
    return f"module {module!r} ({origin}) defines no {name!r} at top level"


def check_target(target: str, dirs: list[Path], *, what: str) -> None:
    """ResourceNotFoundError unless ``module:function`` is found (never imported)."""
    module, func = python.parse_target(target)
    spec = find_module(module, dirs)
    if spec is None:
        searched = ", ".join(str(d) for d in dirs)
        raise ResourceNotFoundError(f"{what}: module {module!r} not found (searched {searched} and sys.path)")
    problem = _binds(spec, func)
    if problem is not None:
        raise ResourceNotFoundError(f"{what}: {problem}")


def _python_resolver(base_dir: Path | None) -> Callable[[str], ResourceHandler]:
    def resolve(resource: str) -> ResourceHandler:
        target = resource.removeprefix(PYTHON_PREFIX)
        for suffix in (".waitForTaskToken", ".sync"):
            target = target.removesuffix(suffix)
        check_target(target, python.search_dirs(base_dir), what=f"Resource {resource!r}")
        return Placeholder(target)

    return resolve


# -- the registry for checking ------------------------------------------------------------------
def checking_registry(base_dir: Path | None,
                      resource_map: str | os.PathLike[str] | Mapping[str, JSON] | None) -> ResourceRegistry:
    """A registry that resolves like ``ResourceRegistry.default()`` + the map, loading nothing."""
    registry = ResourceRegistry(base_dir=base_dir)
    registry.register_resolver(PYTHON_PREFIX, _python_resolver(base_dir))
    registry.register(SHELL_RESOURCE, shell.ShellHandler())
    registry.register(HTTP_INVOKE_RESOURCE, http.HttpInvokeHandler())
    invoker = aws_lambda.Boto3Invoker()  # builds no client until a call
    registry.register(LAMBDA_INVOKE_RESOURCE, aws_lambda.LambdaInvokeHandler(invoker))
    registry.register_resolver(LAMBDA_ARN_PREFIX, aws_lambda.bare_arn_resolver(invoker))
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        registry.register(entry.name.rstrip("*"), Placeholder(entry.value), prefix=entry.name.endswith("*"))
    if resource_map is not None:
        _apply_map(registry, resource_map)
    return registry


def _apply_map(registry: ResourceRegistry, mapping_or_path: str | os.PathLike[str] | Mapping[str, JSON]) -> None:
    data, base = local_map.read_map(mapping_or_path)
    root = local_map.s3_root(data, base, registry.base_dir)
    if root is not None:
        for name, handler in s3_local.LocalS3(root).handlers().items():
            registry.register(name, handler)
    if data.get("smtp") is not None:
        try:
            smtp.SmtpSettings.from_config(data["smtp"], base)
            if data.get("callbacks") is not None:
                callback_links.parse_config(data["callbacks"], base)
        except ValueError as exc:
            raise local_map.ResourceMapError(str(exc)) from None
        registry.register(smtp.SEND_EMAIL_RESOURCE, Placeholder("SMTP e-mail (smtp.py)"))
    for resource, spec in (data.get("resources") or {}).items():
        if not isinstance(spec, str):
            raise local_map.ResourceMapError(
                f"resources[{resource!r}]: expected 'python:module:function', got {type(spec).__name__}")
        registry.register(str(resource), _python_resolver(base)(spec if spec.startswith(PYTHON_PREFIX)
                                                                else PYTHON_PREFIX + spec))
    functions = data.get("lambda_functions") or {}
    if not isinstance(functions, dict):
        raise local_map.ResourceMapError("lambda_functions must be an object")
    if not functions:
        return
    names = {_check_function(str(key), spec, base) for key, spec in functions.items()}
    fallback = data.get("lambda_fallback", "none")
    if fallback not in ("none", "aws"):
        raise local_map.ResourceMapError(f"lambda_fallback must be 'none' or 'aws', got {fallback!r}")
    registry.register(LAMBDA_INVOKE_RESOURCE, aws_lambda.LambdaInvokeHandler(aws_lambda.Boto3Invoker()))
    registry.register_resolver(LAMBDA_ARN_PREFIX, _mapped_lambda(names, fallback == "aws"))


def _check_function(key: str, spec: JSON, base: Path) -> str:
    """The function name of one lambda_functions entry, its handler found in its code folder."""
    code, target = local_map.function_entry(key, spec, base)
    module, func = python.parse_target(target)
    what = f"lambda_functions[{key!r}]"
    file = next((c for c in local_map.module_files(Path(code).resolve(), module) if c.is_file()), None)
    if file is None:
        raise local_map.ResourceMapError(f"{what}: module {module!r} not found in {code}")
    problem = source_binds(str(file), module, func)
    if problem is not None:
        raise local_map.ResourceMapError(f"{what}: {problem}")
    try:
        return aws_lambda.FunctionRef.parse(key).name
    except ValueError as exc:
        raise local_map.ResourceMapError(f"lambda_functions: {key!r} is not a function name or ARN") from exc


def _mapped_lambda(names: set[str], fallback: bool) -> Callable[[str], ResourceHandler]:
    def resolve(resource: str) -> ResourceHandler:
        arn = resource.removesuffix(".waitForTaskToken")
        try:
            name = aws_lambda.FunctionRef.parse(arn).name
        except ValueError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        if name not in names and not fallback:
            raise ResourceNotFoundError(
                f"Lambda function {arn!r} is not in the resource map's lambda_functions "
                f"(mapped: {', '.join(sorted(names)) or 'none'}); set lambda_fallback: aws to call AWS")
        return Placeholder(arn)

    return resolve


# -- the check ----------------------------------------------------------------------------------
def check_resources(doc: SourceDocument,
                    resource_map: str | os.PathLike[str] | Mapping[str, JSON] | None) -> list[Diagnostic]:
    """Every unresolvable resource of ``doc`` (``unresolved-resource``, at its Resource field),
    plus the load-time checks of the handlers found; nothing is imported or executed."""
    base_dir = Path(doc.path).parent if doc.path and not doc.path.startswith("<") else None
    if not isinstance(doc.data, dict):
        return []
    try:
        registry = checking_registry(base_dir, resource_map)
    except ResourceNotFoundError as exc:  # a malformed map: one problem for the file
        return [Diagnostic("unresolved-resource", str(exc))]
    found = unresolved_resources(doc, registry)
    handlers: dict[str, Any] = {}
    for _, _, resource in resource_fields(doc.data):
        try:
            handlers[resource] = registry.resolve(resource)
        except ResourceNotFoundError:
            continue  # reported above
    return found + check_tasks(doc, handlers.get)

