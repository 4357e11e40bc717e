"""Resources stage: local stand-ins for AWS resources (``sm run --resources MAP.yaml`` and
``load(..., resource_map=...)``), so an AWS state machine runs locally unchanged.

The map::

    lambda_functions:            # function name or ARN -> local handler(event, context)
      arn:aws:lambda:us-east-1:111111111111:function:echo: handlers.echo:handler
      greet: {handler: app.handler, code: functions/greet, timeout: 30}   # Lambda-style
    resources:                   # any other Resource string -> a Python handler
      arn:aws:states:::sqs:sendMessage: python:handlers.sqs:send
    lambda_fallback: none        # "aws": functions not listed here go to the real Lambda API
    local_s3: buckets            # S3 getObject/listObjectsV2/putObject on folders (s3_local.py):
                                 # one folder per bucket in this root; true = $SM_S3_ROOT or
                                 # the "s3" folder beside the definition
    smtp: {host: 127.0.0.1, port: 1025}   # sesv2:sendEmail through this SMTP server (smtp.py)
    callbacks: {url: http://127.0.0.1:8083}   # sign Approve/Reject links (callback_links.py)

Modules are found relative to the map file's folder (``base_dir:`` in a mapping given in
code; the working directory otherwise); ``code`` is a folder playing the role of Lambda's
``/var/task``; ``timeout`` is the function's own time limit in seconds (default 900, Lambda's
maximum; past it the invocation fails with ``Sandbox.Timedout`` as on AWS). A mapped function
behaves as AWS Lambda does, for bare ARNs and for ``arn:aws:states:::lambda:invoke`` alike:
the event is the JSON payload, a returned ``bytes`` value is the raw response payload, an
exception becomes a function error with Lambda's error document (stack frames under
``/var/task/...``), an unknown function is ``Lambda.ResourceNotFoundException``, a payload
over 256 KiB ``States.DataLimitExceeded``.
Functions run in daemon threads: a task timeout or an abort stops waiting for them (as Step
Functions stops waiting for a real Lambda) without blocking the interpreter's exit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import yaml

from statemachine.errors import ResourceNotFoundError
from statemachine.resources import python, s3_local
from statemachine.resources.aws_lambda import (
    BareLambdaHandler,
    Boto3Invoker,
    FunctionRef,
    InvokeCall,
    Invoker,
    InvokeResult,
    LambdaInvokeHandler,
    LambdaServiceError,
    response_headers,
)
from statemachine.resources.base import (
    LAMBDA_ARN_PREFIX,
    LAMBDA_INVOKE_RESOURCE,
    PYTHON_PREFIX,
    Resolver,
    ResourceHandler,
)
from statemachine.values import JSON

TASK_ROOT = "/var/task"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
_KEYS = frozenset({"lambda_functions", "resources", "lambda_fallback", "base_dir", "local_s3",
                   "smtp", "callbacks"})
_IMPORT_LOCK = threading.Lock()


class ResourceMapError(ResourceNotFoundError):
    """A resource map is malformed or names something that cannot be loaded."""


# -- the Lambda runtime stand-in ---------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class LambdaContext:
    """The ``context`` argument of a Python Lambda handler (the attributes handlers use)."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    memory_limit_in_mb: str = "128"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclasses.dataclass(frozen=True)
class LocalFunction:
    """One mapped function: ``module.function`` loaded from ``code_dir``."""

    name: str
    arn: str
    code_dir: Path
    func: Callable[..., Any]
    timeout: float = 900.0
    #: the ``module:function`` loaded from ``code_dir`` (how a pickled copy loads it again)
    target: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled by reference: a remote worker (statemachine.executors) loads the function
        from the same code folder under the same private module name."""
        if not self.target:  # made by hand around a live function: pickled as it is
            return (LocalFunction, (self.name, self.arn, self.code_dir, self.func, self.timeout))
        return (_reload, (self.name, self.arn, str(self.code_dir), self.target, self.timeout))

    def rewrite(self, filename: str) -> str:
        """Lambda reports the function's own files under /var/task."""
        with contextlib.suppress(ValueError):
            return f"{TASK_ROOT}/{Path(filename).resolve().relative_to(self.code_dir).as_posix()}"
        return filename

    def run(self, event: JSON, context: LambdaContext) -> tuple[bytes, str | None]:
        """Call the handler the way the Python runtime does: (payload, FunctionError)."""
        try:
            result = self.func(event, context)
        except Exception as exc:
            tb = _user_frames(exc.__traceback__)
            doc = python.error_payload(exc, tb, request_id=context.aws_request_id,
                                       rewrite=self.rewrite)
            return json.dumps(doc).encode(), "Unhandled"
        if isinstance(result, (bytes, bytearray)):
            return bytes(result), None
        try:
            return json.dumps(result).encode(), None
        except (TypeError, ValueError) as exc:
            doc = python.marshal_error_payload(exc, context.aws_request_id)
            return json.dumps(doc).encode(), "Unhandled"


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """Drop the runtime's own frame (LocalFunction.run) like Lambda drops bootstrap frames."""
    return tb.tb_next if tb is not None else None


class LocalInvoker:
    """Runs mapped functions; unknown names go to ``fallback`` or are ResourceNotFound."""

    def __init__(self, functions: Mapping[str, LocalFunction], fallback: Invoker | None = None) -> None:
        self.functions = dict(functions)
        self.fallback = fallback

    def __repr__(self) -> str:
        return f"LocalInvoker({sorted(self.functions)})"

    def lookup(self, function_name: str) -> LocalFunction | None:
        try:
            return self.functions.get(FunctionRef.parse(function_name).name)
        except ValueError:
            return None

    async def invoke(self, call: InvokeCall) -> InvokeResult:
        function = self.lookup(call.function_name)
        request_id = str(uuid.uuid4())
        if function is None:
            if self.fallback is not None:
                return await self.fallback.invoke(call)
            raise _not_found(call.function_name, request_id)
        try:
            event = json.loads(call.payload.decode() or "null")
        except ValueError as exc:
            raise LambdaServiceError(
                "InvalidRequestContentException",
                f"Could not parse request body into json: {exc}", 400, request_id,
            ) from exc
        context = LambdaContext(function.name, function.arn, request_id,
                                time.monotonic() + function.timeout)
        if call.invocation_type == "DryRun":
            return _result(b"", 204, request_id, None, call)
        if call.invocation_type == "Event":
            threading.Thread(target=function.run, args=(event, context), daemon=True).start()
            return _result(b"", 202, request_id, None, call)
        try:
            payload, error = await asyncio.wait_for(
                python.in_daemon_thread(lambda: function.run(event, context), f"lambda:{function.name}"),
                function.timeout)
        except TimeoutError:  # Lambda's own function timeout (the map's ``timeout``)
            payload, error = _timed_out(request_id, function.timeout), "Unhandled"
        return _result(payload, 200, request_id, error, call)


def _timed_out(request_id: str, seconds: float) -> bytes:
    return json.dumps({
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds",
    }).encode()


def _not_found(function_name: str, request_id: str) -> LambdaServiceError:
    try:
        ref = FunctionRef.parse(function_name)
    except ValueError:
        ref = FunctionRef(function_name)
    arn = (f"arn:aws:lambda:{ref.region or DEFAULT_REGION}:{ref.account or DEFAULT_ACCOUNT}"
           f":function:{ref.name}")
    return LambdaServiceError("ResourceNotFoundException", f"Function not found: {arn}", 404,
                              request_id)


def _result(payload: bytes, status: int, request_id: str, error: str | None,
            call: InvokeCall) -> InvokeResult:
    version = call.qualifier if call.qualifier and call.qualifier.isdigit() else "$LATEST"
    extra: dict[str, str] = {}
    log_result = None
    if call.log_type == "Tail":
        tail = (f"START RequestId: {request_id} Version: {version}\n"
                f"END RequestId: {request_id}\nREPORT RequestId: {request_id}\n")
        log_result = base64.b64encode(tail.encode()).decode()
        extra["X-Amz-Log-Result"] = log_result
    if error is not None:
        extra["X-Amz-Function-Error"] = error
    headers = response_headers(payload, request_id, version=version, extra=extra)
    return InvokeResult(status, payload, request_id, headers, error,
                        version if status == 200 else None, log_result)


# -- loading the map ------------------------------------------------------------------------------
def read_map(mapping_or_path: str | os.PathLike[str] | Mapping[str, JSON]) -> tuple[dict[str, Any], Path]:
    """The map as a dict and the folder its module paths are relative to."""
    if isinstance(mapping_or_path, Mapping):
        data = dict(mapping_or_path)
        base = Path(str(data.get("base_dir") or os.getcwd()))
    else:
        path = Path(mapping_or_path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ResourceMapError(f"cannot read resource map {str(path)!r}: {exc}") from exc
        base = path.resolve().parent / str(data.get("base_dir") or ".") if isinstance(data, dict) else path
    if not isinstance(data, dict):
        raise ResourceMapError(f"a resource map must be an object, got {type(data).__name__}")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ResourceMapError(f"unknown keys in resource map: {unknown}; allowed: {sorted(_KEYS)}")
    return data, base.resolve()


def function_entry(key: str, spec: JSON, base: Path) -> tuple[str, str]:
    """(code folder, 'module:function') of one lambda_functions entry."""
    if isinstance(spec, str):
        return str(base), spec if ":" in spec else ":".join(spec.rsplit(".", 1))
    if isinstance(spec, dict) and isinstance(spec.get("handler"), str):
        handler = spec["handler"]
        code = base / str(spec.get("code", "."))
        return str(code), handler if ":" in handler else ":".join(handler.rsplit(".", 1))
    raise ResourceMapError(f"lambda_functions[{key!r}]: expected 'module:function' or "
                           f"{{handler: module.function, code: folder}}, got {spec!r}")


def load_function(key: str, spec: JSON, base: Path) -> LocalFunction:
    code, target = function_entry(key, spec, base)
    code_dir = Path(code).resolve()
    module, func_name = python.parse_target(target)
    func = _load_isolated(code_dir, module, func_name, what=f"lambda_functions[{key!r}]")
    ref = FunctionRef.parse(key) if not key.startswith("arn:") or ":function:" in key else None
    if ref is None:
        raise ResourceMapError(f"lambda_functions: {key!r} is not a function name or ARN")
    arn = key if key.startswith("arn:") else (
        f"arn:aws:lambda:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:function:{ref.name}")
    timeout = float(spec.get("timeout", 900)) if isinstance(spec, dict) else 900.0
    return LocalFunction(ref.name, arn, code_dir, func, timeout, target)


def _reload(name: str, arn: str, code_dir: str, target: str, timeout: float) -> LocalFunction:
    """A LocalFunction unpickled in another process (see ``LocalFunction.__reduce__``)."""
    module, func_name = python.parse_target(target)
    func = _load_isolated(Path(code_dir), module, func_name, what=f"lambda function {name!r}")
    return LocalFunction(name, arn, Path(code_dir), func, timeout, target)


def module_files(code_dir: Path, module: str) -> list[Path]:
    """Where ``module`` may live inside a Lambda ``code`` folder (module file, package)."""
    relative = Path(*module.split("."))
    return [code_dir / relative.with_suffix(".py"), code_dir / relative / "__init__.py"]


def _load_isolated(code_dir: Path, module: str, func_name: str, *, what: str) -> Callable[..., Any]:
    """Load ``module`` from ``code_dir`` under a private name: two functions may both have a
    ``handler.py``, as two Lambda functions may."""
    file = next((c for c in module_files(code_dir, module) if c.is_file()), None)
    if file is None:
        raise ResourceMapError(f"{what}: module {module!r} not found in {code_dir}")
    digest = hashlib.sha1(str(file).encode()).hexdigest()[:12]
    private = f"_sm_lambda_{digest}_{module.replace('.', '_')}"
    with _IMPORT_LOCK, python.search_path([code_dir]):
        if private not in sys.modules:
            spec = importlib.util.spec_from_file_location(private, file)
            assert spec is not None and spec.loader is not None
            loaded = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(loaded)
            except Exception as exc:
                raise ResourceMapError(f"{what}: importing {file} failed: "
                                       f"{type(exc).__name__}: {exc}") from exc
            sys.modules[private] = loaded
    func: object = getattr(sys.modules[private], func_name, None)
    if not callable(func):
        raise ResourceMapError(f"{what}: {file} has no function {func_name!r}")
    return func


def _local_resource(resource: str, spec: JSON, base: Path) -> ResourceHandler:
    if not isinstance(spec, str):
        raise ResourceMapError(f"resources[{resource!r}]: expected 'python:module:function', got {spec!r}")
    target = spec if spec.startswith(PYTHON_PREFIX) else PYTHON_PREFIX + spec
    return python.resolver(base)(target)


def bare_resolver(invoker: LocalInvoker, names: list[str]) -> Callable[[str], ResourceHandler]:
    def resolve(resource: str) -> ResourceHandler:
        arn = resource.removesuffix(".waitForTaskToken")
        if invoker.lookup(arn) is None and invoker.fallback is None:
            raise ResourceNotFoundError(
                f"Lambda function {arn!r} is not in the resource map's lambda_functions "
                f"(mapped: {', '.join(names) or 'none'}); set lambda_fallback: aws to call AWS")
        return BareLambdaHandler(invoker, arn)

    return resolve


class Registrar(Protocol):
    """What ``apply`` needs of a registry (registry.ResourceRegistry; this module does not
    import it: the package's imports run one way, base -> handlers -> registry)."""

    def register(self, resource: str, handler: ResourceHandler, *, prefix: bool = False) -> None: ...

    def register_resolver(self, prefix: str, resolver: Resolver) -> None: ...


def s3_root(data: Mapping[str, Any], base: Path, definition_dir: Path | None) -> Path | None:
    """The folder of the map's ``local_s3`` buckets, or None when the map has none."""
    value = data.get("local_s3", False)
    if value is False or value is None:
        return None
    if value is True:
        return s3_local.default_root(definition_dir)
    if not isinstance(value, str) or not value:
        raise ResourceMapError(f"local_s3 must be true or a folder, got {value!r}")
    return base / value


def apply(registry: Registrar, mapping_or_path: str | os.PathLike[str] | Mapping[str, JSON],
          *, definition_dir: Path | None = None) -> None:
    """Layer the map's stand-ins over ``registry`` (modified in place). ``definition_dir``
    places the default ``local_s3`` root beside the definition."""
    data, base = read_map(mapping_or_path)
    root = s3_root(data, base, definition_dir)
    if root is not None:
        for resource, handler in s3_local.LocalS3(root).handlers().items():
            registry.register(resource, handler)
    if data.get("smtp") is not None:
        from statemachine.resources import smtp  # smtplib and email: only for maps that send

        try:
            handler = smtp.handler_from_config(data["smtp"], data.get("callbacks"), base)
        except ValueError as exc:  # SmtpConfigError, CallbackConfigError
            raise ResourceMapError(str(exc)) from None
        registry.register(smtp.SEND_EMAIL_RESOURCE, handler)
    for resource, spec in (data.get("resources") or {}).items():
        registry.register(str(resource), _local_resource(str(resource), spec, base))
    functions = data.get("lambda_functions") or {}
    if not isinstance(functions, dict):
        raise ResourceMapError("lambda_functions must be an object")
    if functions:
        loaded = [load_function(str(k), v, base) for k, v in functions.items()]
        fallback = data.get("lambda_fallback", "none")
        if fallback not in ("none", "aws"):
            raise ResourceMapError(f"lambda_fallback must be 'none' or 'aws', got {fallback!r}")
        invoker = LocalInvoker({f.name: f for f in loaded},
                               Boto3Invoker() if fallback == "aws" else None)
        registry.register(LAMBDA_INVOKE_RESOURCE, LambdaInvokeHandler(invoker))
        registry.register_resolver(LAMBDA_ARN_PREFIX, bare_resolver(invoker, sorted(functions)))
