"""Resources stage: AWS Lambda as Step Functions calls it, in both forms.

- a bare function ARN as the Resource (``arn:aws:lambda:<region>:<acct>:function:<name>``):
  the effective input is the payload; the result is the function's parsed response;
- ``arn:aws:states:::lambda:invoke`` with Parameters ``FunctionName`` (name, ARN or partial
  ARN), ``Payload``, ``Qualifier``, ``InvocationType``, ``LogType``, ``ClientContext``: the
  result is the Invoke API envelope ``{ExecutedVersion, Payload, SdkHttpMetadata,
  SdkResponseMetadata, StatusCode}`` (plus ``LogResult`` for ``LogType: Tail``).

Who runs the function is an ``Invoker``: ``Boto3Invoker`` calls the real Lambda API (region,
credentials and ``endpoint_url`` from the standard AWS configuration, so
``AWS_ENDPOINT_URL_LAMBDA`` points it at a local endpoint); ``local_map.LocalInvoker`` runs a
local Python handler. Errors, as Step Functions reports them:

- a function error (``X-Amz-Function-Error``): error = the payload's ``errorType`` (or
  ``Lambda.Unknown`` without one); cause = the payload text (re-serialised compactly by the
  ``lambda:invoke`` integration, verbatim for a bare ARN);
- a Lambda API error: ``Lambda.<ErrorCode>`` (``Lambda.ResourceNotFoundException``, ...), cause
  ``<message> (Service: AWSLambda; Status Code: N; Error Code: X; Request ID: R; Proxy: null)``;
- no connection / no credentials: ``Lambda.SdkClientException``;
- a response over 256 KiB: ``States.DataLimitExceeded``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import threading
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any, Final, Protocol

from statemachine.errors import DATA_LIMIT_EXCEEDED, ResourceNotFoundError, StatesError
from statemachine.resources.base import ResourceHandler, TaskRequest
from statemachine.values import JSON

UNKNOWN_ERROR: Final = "Lambda.Unknown"
SDK_CLIENT_ERROR: Final = "Lambda.SdkClientException"
PAYLOAD_LIMIT: Final = 256 * 1024
_ARN = re.compile(
    r"^(?:arn:(?P<partition>[\w-]+):lambda:(?P<region>[\w-]+):)?(?:(?P<account>\d{12}):function:)?"
    r"(?P<name>[A-Za-z0-9_-]+)(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]+))?$"
)
#: botocore lower-cases response headers; Step Functions reports them in the service's casing.
_HEADER_CASE: Final = {
    h.lower(): h
    for h in (
        "Connection", "Content-Length", "Content-Type", "Date", "X-Amz-Executed-Version",
        "x-amzn-Remapped-Content-Length", "x-amzn-RequestId", "X-Amzn-Trace-Id",
        "X-Amz-Log-Result", "X-Amz-Function-Error",
    )
}


@dataclasses.dataclass(frozen=True, slots=True)
class FunctionRef:
    """A FunctionName (name, ARN or partial ARN) taken apart."""

    name: str
    qualifier: str | None = None
    region: str | None = None
    account: str | None = None

    @classmethod
    def parse(cls, text: str) -> FunctionRef:
        match = _ARN.match(text)
        if match is None:
            raise ValueError(f"invalid Lambda function name or ARN: {text!r}")
        return cls(match["name"], match["qualifier"], match["region"], match["account"])


def region_of(function_name: str) -> str | None:
    """The region of a function ARN (None for plain names and unparsable text)."""
    try:
        return FunctionRef.parse(function_name).region
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class InvokeCall:
    function_name: str
    payload: bytes
    qualifier: str | None = None
    invocation_type: str = "RequestResponse"
    log_type: str | None = None
    client_context: str | None = None
    credentials: JSON | None = None
    timeout_seconds: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class InvokeResult:
    status_code: int
    payload: bytes
    request_id: str
    headers: Mapping[str, str]
    function_error: str | None = None
    executed_version: str | None = "$LATEST"
    log_result: str | None = None


class LambdaServiceError(Exception):
    """The Lambda API refused the call (e.g. ResourceNotFoundException)."""

    def __init__(self, code: str, message: str, status: int, request_id: str) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.request_id = code, message, status, request_id

    def to_states_error(self) -> StatesError:
        cause = (
            f"{self.message} (Service: AWSLambda; Status Code: {self.status}; Error Code: "
            f"{self.code}; Request ID: {self.request_id}; Proxy: null)"
        )
        return StatesError(f"Lambda.{self.code}", cause)


class Invoker(Protocol):
    """How Lambda functions are reached: boto3 (``Boto3Invoker``), local stand-ins
    (``local_map.LocalInvoker``) or your own (tests, another transport).

    ``invoke`` gets one ``InvokeCall`` (function name or ARN, qualifier, invocation type
    ``RequestResponse``/``Event``/``DryRun``, payload as UTF-8 JSON bytes, log type, client
    context, credentials from the Task's ``Credentials``, ``timeout_seconds``) and returns an
    ``InvokeResult`` shaped like Lambda's Invoke response (HTTP status code, payload bytes,
    request id, response headers, ``function_error`` "Unhandled"/"Handled" or None, executed
    version, base64 log tail). The Lambda API refusing the call raises ``LambdaServiceError``
    (code, message, HTTP status, request id); the Task then fails with ``Lambda.<code>`` and
    AWS's cause text. The Task's TimeoutSeconds cancels the await.
    """

    async def invoke(self, call: InvokeCall) -> InvokeResult: ...


def response_headers(payload: bytes, request_id: str, *, version: str = "$LATEST",
                     extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers the Lambda service sends with an Invoke response."""
    headers = {
        "Connection": "keep-alive",
        "Content-Length": str(len(payload)),
        "Content-Type": "application/json",
        "Date": formatdate(usegmt=True),
        "X-Amz-Executed-Version": version,
        "x-amzn-Remapped-Content-Length": "0",
        "x-amzn-RequestId": request_id,
        "X-Amzn-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
    }
    headers.update(extra or {})
    return headers


# -- mapping results ------------------------------------------------------------------------------
def parse_payload(payload: bytes) -> JSON:
    """The payload as JSON, or as text when it is not JSON."""
    text = payload.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def function_error(result: InvokeResult, *, compact: bool) -> StatesError:
    """Step Functions' error for a response carrying X-Amz-Function-Error."""
    parsed = parse_payload(result.payload)
    name = parsed.get("errorType") if isinstance(parsed, dict) else None
    if compact and not isinstance(parsed, str):
        cause = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)
    else:
        cause = result.payload.decode("utf-8", "replace")
    return StatesError(name if isinstance(name, str) and name else UNKNOWN_ERROR, cause)


def check_size(result: InvokeResult, task_name: str) -> None:
    if len(result.payload) > PAYLOAD_LIMIT:
        raise StatesError(
            DATA_LIMIT_EXCEEDED,
            f"The state/task '{task_name}' returned a result with a size exceeding the maximum "
            "number of bytes service limit.",
        )


def envelope(result: InvokeResult) -> dict[str, JSON]:
    """The ``lambda:invoke`` result: the Invoke response as Step Functions serialises it."""
    doc: dict[str, JSON] = {}
    if result.executed_version is not None:
        doc["ExecutedVersion"] = result.executed_version
    if result.log_result is not None:
        doc["LogResult"] = result.log_result
    doc["Payload"] = parse_payload(result.payload) if result.payload else ""
    doc["SdkHttpMetadata"] = {
        "AllHttpHeaders": {k: [v] for k, v in result.headers.items()},
        "HttpHeaders": dict(result.headers),
        "HttpStatusCode": result.status_code,
    }
    doc["SdkResponseMetadata"] = {"RequestId": result.request_id}
    doc["StatusCode"] = result.status_code
    return doc


async def _invoke(invoker: Invoker, call: InvokeCall) -> InvokeResult:
    try:
        return await invoker.invoke(call)
    except LambdaServiceError as exc:
        raise exc.to_states_error() from exc


# -- handlers ---------------------------------------------------------------------------------------
def _payload_bytes(payload: JSON) -> bytes:
    # A string Payload is sent as it is (it must itself be JSON text); absent or null sends {}.
    if payload is None:
        return b"{}"
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, ensure_ascii=False).encode()


def _optional_str(params: Mapping[str, JSON], key: str) -> str | None:
    value = params.get(key)
    if value is not None and not isinstance(value, str):
        raise StatesError("Lambda.InvalidParameterValueException", f"{key} must be a string")
    return value


class LambdaInvokeHandler:
    """``arn:aws:states:::lambda:invoke`` (also ``.waitForTaskToken``)."""

    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker

    def __repr__(self) -> str:
        return f"LambdaInvokeHandler({self.invoker!r})"

    def call_for(self, request: TaskRequest) -> InvokeCall:
        params = request.input if isinstance(request.input, dict) else {}
        name = params.get("FunctionName")
        if not isinstance(name, str) or not name:
            raise StatesError("Lambda.InvalidParameterValueException", "FunctionName is required")
        return InvokeCall(
            function_name=name, payload=_payload_bytes(params.get("Payload")),
            qualifier=_optional_str(params, "Qualifier"),
            invocation_type=_optional_str(params, "InvocationType") or "RequestResponse",
            log_type=_optional_str(params, "LogType"),
            client_context=_optional_str(params, "ClientContext"),
            credentials=request.credentials, timeout_seconds=request.timeout_seconds,
        )

    async def __call__(self, request: TaskRequest) -> JSON:
        result = await _invoke(self.invoker, self.call_for(request))
        if result.function_error:
            raise function_error(result, compact=True)
        check_size(result, "lambda")
        return envelope(result)


class BareLambdaHandler:
    """A Lambda function ARN as the Resource: input in, parsed response out."""

    def __init__(self, invoker: Invoker, function_arn: str) -> None:
        self.invoker = invoker
        self.function_arn = function_arn

    def __repr__(self) -> str:
        return f"BareLambdaHandler({self.function_arn!r})"

    async def __call__(self, request: TaskRequest) -> JSON:
        call = InvokeCall(
            function_name=self.function_arn,
            payload=json.dumps(request.input, ensure_ascii=False).encode(),
            credentials=request.credentials, timeout_seconds=request.timeout_seconds,
        )
        result = await _invoke(self.invoker, call)
        if result.function_error:
            raise function_error(result, compact=False)
        check_size(result, self.function_arn)
        return parse_payload(result.payload)


def bare_arn_resolver(invoker: Invoker) -> Any:
    """Resolver for ``arn:aws:lambda:...:function:...`` resources."""

    def resolve(resource: str) -> ResourceHandler:
        arn = resource.removesuffix(".waitForTaskToken")
        try:
            FunctionRef.parse(arn)
        except ValueError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        return BareLambdaHandler(invoker, arn)

    return resolve


# -- boto3 --------------------------------------------------------------------------------------------
class Boto3Invoker:
    """Calls the Lambda Invoke API with boto3 (imported on first use)."""

    def __init__(self, *, session: Any = None, endpoint_url: str | None = None) -> None:
        self._session = session
        self._endpoint_url = endpoint_url
        self._clients: dict[tuple[str | None, str | None, float | None], Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "Boto3Invoker()"

    def _client(self, region: str | None, role_arn: str | None, timeout: float | None) -> Any:
        key = (region, role_arn, timeout)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._new_client(region, role_arn, timeout)
            return self._clients[key]

    def _new_client(self, region: str | None, role_arn: str | None, timeout: float | None) -> Any:
        import boto3
        from botocore.config import Config

        session = self._session or boto3.session.Session()
        if role_arn:
            creds = session.client("sts").assume_role(
                RoleArn=role_arn, RoleSessionName="statemachine-asl"
            )["Credentials"]
            session = boto3.session.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"], region_name=session.region_name,
            )
        config = Config(read_timeout=timeout or 900, connect_timeout=10,
                        retries={"total_max_attempts": 1})
        return session.client("lambda", region_name=region or session.region_name or "us-east-1",
                              endpoint_url=self._endpoint_url, config=config)

    def _invoke_sync(self, call: InvokeCall) -> InvokeResult:
        from botocore.exceptions import BotoCoreError, ClientError

        region = region_of(call.function_name)
        role = call.credentials.get("RoleArn") if isinstance(call.credentials, dict) else None
        role = role if isinstance(role, str) and role else None
        kwargs: dict[str, Any] = {"FunctionName": call.function_name, "Payload": call.payload,
                                  "InvocationType": call.invocation_type}
        for key, value in (("Qualifier", call.qualifier), ("LogType", call.log_type),
                           ("ClientContext", call.client_context)):
            if value is not None:
                kwargs[key] = value
        try:
            response = self._client(region, role, call.timeout_seconds).invoke(**kwargs)
        except ClientError as exc:
            raise _service_error(exc) from exc
        except BotoCoreError as exc:
            raise StatesError(SDK_CLIENT_ERROR, f"Unable to execute HTTP request: {exc}") from exc
        return _result_from_response(response)

    async def invoke(self, call: InvokeCall) -> InvokeResult:
        return await asyncio.to_thread(self._invoke_sync, call)


def _service_error(exc: Any) -> LambdaServiceError:
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    return LambdaServiceError(
        error.get("Code", "ServiceException"), error.get("Message", str(exc)),
        meta.get("HTTPStatusCode", 500), meta.get("RequestId", ""),
    )


def _result_from_response(response: Mapping[str, Any]) -> InvokeResult:
    meta = response.get("ResponseMetadata", {})
    raw = meta.get("HTTPHeaders", {})
    headers = {_HEADER_CASE.get(k.lower(), k): v for k, v in raw.items()}
    stream = response.get("Payload")
    return InvokeResult(
        status_code=response.get("StatusCode", meta.get("HTTPStatusCode", 200)),
        payload=stream.read() if stream is not None else b"",
        request_id=meta.get("RequestId", ""), headers=headers,
        function_error=response.get("FunctionError"),
        executed_version=response.get("ExecutedVersion"),
        log_result=response.get("LogResult"),
    )
