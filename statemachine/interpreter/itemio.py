"""Interpreter stage: a Distributed Map's ItemReader and ResultWriter.

Both call resources resolved through the registry before the run (api.load), like Task
resources, so a definition whose reader/writer has no handler fails ``load()``:

* ItemReader: the reader handler (``arn:aws:states:::s3:getObject`` / ``s3:listObjectsV2``) is
  called with the evaluated Parameters (JSONPath) / Arguments (JSONata) as its input. What it
  returns is read as AWS reads the S3 answer: getObject gives the object's text (a str,
  bytes, or a dict with ``Body``; a JSON reader also takes an already parsed list), parsed per
  ReaderConfig.InputType (JSON array, JSONL, CSV rows as objects of strings keyed by the
  header); listObjectsV2 gives ``{"Contents": [...]}`` (pages followed through
  NextContinuationToken) or a list, each object as ``{Etag, Key, LastModified, Size,
  StorageClass}``. MaxItems / MaxItemsPath limit the items (0 = no limit).
  Every failure is ``States.ItemReaderFailed``.
* ResultWriter: with Resource + Parameters {Bucket, Prefix}, the writer handler
  (``arn:aws:states:::s3:putObject``) is called once per object it would write to S3 with
  ``{"Bucket", "Key", "Body"}`` (Body = the file text): ``<Prefix>/<map run id>/SUCCEEDED_0.json``
  (FAILED_0.json for tolerated failures) and then ``manifest.json``; the Map's result becomes
  ``{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}``. WriterConfig.Transformation
  NONE (the default when exporting) writes AWS's per-execution records, COMPACT the outputs,
  FLATTEN the outputs with arrays flattened; without Resource the transformed results are
  the Map's result. Every failure is ``States.ResultWriterFailed``.

Local files: ``local_s3:`` in a resource map (statemachine.resources.s3_local) runs the three S3
actions on folders, one per bucket, inside one configured root and never outside it.
``local_get_object`` / ``local_list_objects`` / ``local_put_object`` here are the same
handlers rooted at ``$SM_S3_ROOT`` (else ``./s3``), kept for maps that name them.

The plain Map never imports this module (the compiler and parallel.py only do so when a Map
has an ItemReader or a ResultWriter).
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import inspect
import io
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from statemachine import errors
from statemachine.clock import format_timestamp
from statemachine.errors import StatesError
from statemachine.expressions.scope import Scope
from statemachine.interpreter.execution import Runtime
from statemachine.interpreter.states import resolve_field
from statemachine.model import ItemReader, MapState, ResultWriter
from statemachine.values import JSON, MISSING

__all__ = ["MapRunIO", "local_get_object", "local_list_objects", "local_put_object"]

MAX_ITEMS_LIMIT = 100_000_000  # AWS's upper bound; MaxItems 0 means "all", i.e. this
_MAX_PAGES = 100_000


# --- calling a resource handler --------------------------------------------------------------

async def _call(rt: Runtime, resource: str, payload: JSON, ctx: Any, state_name: str) -> JSON:
    """Call the handler resolved for ``resource`` (sync ones in a worker thread); raises
    StatesError(name, cause) for whatever the handler raised."""
    from statemachine.resources.base import TaskRequest

    handler = rt.resolve(resource)
    request = TaskRequest(resource=resource, input=payload, context=ctx or {}, state_name=state_name)
    try:
        with rt.clock.busy():
            call = None if inspect.isfunction(handler) else type(handler).__call__
            if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call):
                return await handler(request)
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(rt.executor(), handler, request)
            return await result if inspect.isawaitable(result) else result
    except StatesError:
        raise
    except Exception as exc:
        raise StatesError(type(exc).__name__, str(exc)) from None


def _message(exc: StatesError) -> str:
    """The readable part of a handler's error (a Lambda-shaped JSON cause gives errorMessage)."""
    cause = exc.cause or ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        cause = parsed["errorMessage"]
    name = exc.name or "Error"
    return f"{name}: {cause}" if cause else name


class MapRunIO:
    """The ItemReader / ResultWriter work of one Map run (created only when one is present)."""

    def __init__(self, rt: Runtime, state: MapState, value: JSON, ctx: Any, variables: Any,
                 run_arn: str) -> None:
        self.rt = rt
        self.state = state
        self.scope = Scope(value, ctx, variables)
        self.ctx = ctx
        self.run_arn = run_arn
        self.records: list[JSON] = []
        self.inputs: list[JSON] = []

    # -- reading ------------------------------------------------------------------------------
    async def read(self) -> list[JSON]:
        """The items of the ItemReader; Failure(States.ItemReaderFailed) on any problem."""
        reader = self.state.item_reader
        assert reader is not MISSING
        try:  # a payload-template error keeps its own name (States.Runtime, ...)
            payload = (reader.parameters.evaluate(self.scope, self.rt.rng)
                       if reader.parameters is not MISSING else {})
        except StatesError as exc:
            raise StatesError(exc.name, exc.cause, recorded=True) from None
        try:
            limit = self._max_items(reader)
            if reader.resource.rsplit(":", 1)[-1].startswith("listObjects"):
                items = await self._list_objects(reader, payload, limit)
            else:
                answer = await _call(self.rt, reader.resource, payload, self.ctx, self.state.name)
                items = parse_items(reader, answer, limit)
        except StatesError as exc:
            cause = exc.cause if exc.name == errors.ITEM_READER_FAILED else _message(exc)
            raise StatesError(errors.ITEM_READER_FAILED, cause, recorded=True) from None
        return items[:limit]

    async def read_stream(self) -> tuple[int, Iterator[JSON]]:
        """``(count, items)`` read lazily: a CSV or JSON Lines object is counted first and its
        rows parsed as they are consumed, so a million-row file is never a million objects in
        memory (the remote executor streams them to the cluster in batches). Other readers
        give ``read()``'s list. Failures as ``read()``'s, also while iterating."""
        reader = self.state.item_reader
        assert reader is not MISSING
        kind = reader.input_type if reader.input_type is not MISSING else "JSON"
        if kind not in ("CSV", "JSONL") or reader.resource.rsplit(":", 1)[-1].startswith("listObjects"):
            items = await self.read()
            return len(items), iter(items)
        try:
            payload = (reader.parameters.evaluate(self.scope, self.rt.rng)
                       if reader.parameters is not MISSING else {})
        except StatesError as exc:
            raise StatesError(exc.name, exc.cause, recorded=True) from None
        try:
            limit = self._max_items(reader)
            answer = await _call(self.rt, reader.resource, payload, self.ctx, self.state.name)
            text = _object_text(answer)
            if kind == "JSONL":
                count = min(limit, sum(1 for line in io.StringIO(text) if line.strip()))
                rows: Iterator[JSON] = (_json(line) for line in io.StringIO(text) if line.strip())
            else:
                count = min(limit, sum(1 for _ in _csv_records(text, reader)[1]))
                rows = csv_stream(text, reader)
        except StatesError as exc:
            cause = exc.cause if exc.name == errors.ITEM_READER_FAILED else _message(exc)
            raise StatesError(errors.ITEM_READER_FAILED, cause, recorded=True) from None
        return count, _reader_failures(itertools.islice(rows, count))

    def _max_items(self, reader: ItemReader) -> int:
        field = reader.max_items
        if field is MISSING:
            return MAX_ITEMS_LIMIT
        value = resolve_field(field, self.scope.input, self.ctx, self.scope.variables, self.rt.rng)
        if isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            where = f": {field.path.text}" if field.path is not MISSING else ""
            raise StatesError(errors.ITEM_READER_FAILED,
                              f"The {field.field} field refers to value '{value}' which is not a valid integer{where}")
        if value < 0:
            raise StatesError(errors.ITEM_READER_FAILED, "field MaxItems must be positive")
        return min(int(value), MAX_ITEMS_LIMIT) or MAX_ITEMS_LIMIT

    async def _list_objects(self, reader: ItemReader, payload: JSON, limit: int) -> list[JSON]:
        items: list[JSON] = []
        request = dict(payload) if isinstance(payload, dict) else {}
        for _ in range(_MAX_PAGES):
            answer = await _call(self.rt, reader.resource, request, self.ctx, self.state.name)
            page = answer.get("Contents", []) if isinstance(answer, dict) else answer
            if not isinstance(page, list):
                raise StatesError(errors.ITEM_READER_FAILED,
                                  "The listObjectsV2 handler returned no object list (Contents).")
            items.extend(s3_object(obj) for obj in page)
            token = answer.get("NextContinuationToken") if isinstance(answer, dict) else None
            if len(items) >= limit or not token or not answer.get("IsTruncated", True):
                break
            request["ContinuationToken"] = token
        return items

    # -- writing ------------------------------------------------------------------------------
    def recorded(self, run: Callable[[int], Any], inputs: list[JSON]) -> Callable[[int], Any]:
        """``run`` that also keeps each child execution's record (for the result files)."""
        self.inputs = inputs
        self.records = [None] * len(inputs)

        async def recorded(index: int) -> JSON:
            start = self.rt.clock.now()
            try:
                output = await run(index)
            except StatesError as failure:
                self.records[index] = self._record(index, start, "FAILED", failure)
                raise
            self.records[index] = self._record(index, start, "SUCCEEDED", output)
            return output

        return recorded

    def _record(self, index: int, start: float, status: str, outcome: Any,
                stop: float | None = None) -> JSON:
        label = self.state.label if self.state.label is not MISSING else self.state.name
        machine_arn = f"{self.rt.machine_ctx.get('Id', '')}/{label}"
        name = str(uuid.UUID(int=self.rt.rng.getrandbits(128), version=4))
        record: dict[str, JSON] = {
            "ExecutionArn": f"{machine_arn.replace(':stateMachine:', ':execution:')}:{name}",
            "Input": _text(self.inputs[index]), "InputDetails": {"Included": True}, "Name": name,
        }
        if isinstance(outcome, StatesError):
            record.update(outcome.output())
        else:
            record.update({"Output": _text(outcome), "OutputDetails": {"Included": True}})
        record.update({"StartDate": format_timestamp(start), "StateMachineArn": machine_arn,
                       "Status": status,
                       "StopDate": format_timestamp(self.rt.clock.now() if stop is None else stop)})
        return record

    async def write(self, results: list[JSON]) -> JSON:
        """The Map's result under the ResultWriter; Failure(States.ResultWriterFailed)."""
        writer = self.state.result_writer
        assert writer is not MISSING
        exporting = writer.resource is not MISSING
        transformation = writer.transformation
        if transformation is MISSING:
            transformation = "NONE" if exporting else "COMPACT"
        if not exporting:
            return transform(transformation, results, self.records)
        try:
            return await self._export(writer, transformation, results)
        except StatesError as exc:
            cause = exc.cause if exc.name == errors.RESULT_WRITER_FAILED else _message(exc)
            raise StatesError(errors.RESULT_WRITER_FAILED, cause, recorded=True) from None

    async def _export(self, writer: ResultWriter, transformation: str, results: list[JSON]) -> JSON:
        params = writer.parameters.evaluate(self.scope, self.rt.rng) if writer.parameters is not MISSING else {}
        bucket = params.get("Bucket") if isinstance(params, dict) else None
        if not isinstance(bucket, str) or not bucket:
            raise StatesError(errors.RESULT_WRITER_FAILED, "The ResultWriter Parameters must name a Bucket.")
        prefix = str(params.get("Prefix", "") or "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        folder = f"{prefix}{self.run_arn.rsplit(':', 1)[-1]}/"
        files: dict[str, list[dict[str, JSON]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        suffix = "jsonl" if writer.output_type == "JSONL" else "json"
        for status in ("SUCCEEDED", "FAILED"):
            chosen = [i for i, r in enumerate(self.records) if isinstance(r, dict) and r["Status"] == status]
            if not chosen:
                continue
            body = _body(transform(transformation, results, self.records, chosen), writer.output_type)
            key = f"{folder}{status}_0.{suffix}"
            await self._put(writer, bucket, key, body)
            files[status].append({"Key": key, "Size": len(body.encode())})
        manifest = {"DestinationBucket": bucket, "MapRunArn": self.run_arn, "ResultFiles": files}
        key = f"{folder}manifest.json"
        await self._put(writer, bucket, key, json.dumps(manifest, indent=2))
        return {"MapRunArn": self.run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}}

    async def _put(self, writer: ResultWriter, bucket: str, key: str, body: str) -> None:
        payload: JSON = {"Bucket": bucket, "Key": key, "Body": body}
        await _call(self.rt, str(writer.resource), payload, self.ctx, self.state.name)


# --- pure helpers ----------------------------------------------------------------------------

def transform(transformation: str, results: list[JSON], records: list[JSON],
              chosen: list[int] | None = None) -> list[JSON]:
    """Results per WriterConfig.Transformation: NONE = execution records; COMPACT = outputs;
    FLATTEN = outputs with array outputs spliced in. A failed execution stays its record."""
    indexes = range(len(results)) if chosen is None else chosen
    out: list[JSON] = []
    for i in indexes:
        record = records[i] if i < len(records) else None
        failed = isinstance(record, dict) and record.get("Status") == "FAILED"
        if transformation == "NONE" or failed:
            out.append(record if record is not None else results[i])
        elif transformation == "FLATTEN" and isinstance(results[i], list):
            out.extend(results[i])
        else:
            out.append(results[i])
    return out


def parse_items(reader: ItemReader, answer: JSON, limit: int) -> list[JSON]:
    """The items in a getObject answer, per ReaderConfig.InputType (JSON when absent)."""
    kind = reader.input_type if reader.input_type is not MISSING else "JSON"
    if kind == "JSON" and isinstance(answer, list):
        return answer
    text = _object_text(answer)
    if kind == "JSON":
        items = _json(text)
        if not isinstance(items, list):
            raise StatesError(errors.ITEM_READER_FAILED, "Attempting to map over non-iterable node.")
        return items
    if kind == "JSONL":
        return [_json(line) for line in text.splitlines() if line.strip()]
    if kind == "CSV":
        return csv_rows(text, reader, limit)
    raise StatesError(errors.ITEM_READER_FAILED,
                      f"ReaderConfig InputType {kind} is not supported by this interpreter.")


def csv_rows(text: str, reader: ItemReader, limit: int) -> list[JSON]:
    return list(itertools.islice(csv_stream(text, reader), limit))


def csv_stream(text: str, reader: ItemReader) -> Iterator[JSON]:
    """The CSV rows as objects keyed by the headers, parsed as they are consumed."""
    headers, rows = _csv_records(text, reader)
    for row in rows:
        yield {h: (row[i] if i < len(row) else "") for i, h in enumerate(headers)}


def _csv_records(text: str, reader: ItemReader) -> tuple[list[str], Iterator[list[str]]]:
    # AWS: quoted fields may hold delimiters and newlines, "" keeps a quote, and a backslash
    # escapes the next character (a backslash before any other character is dropped)
    lines = csv.reader(io.StringIO(text), delimiter=reader.delimiter, escapechar="\\")
    rows = (row for row in lines if row)
    headers: list[str] = list(reader.headers)
    if reader.header_location == "FIRST_ROW":
        headers = next(rows, [])
    if len(set(headers)) < len(headers):
        raise StatesError(errors.ITEM_READER_FAILED, "CSV headers cannot contain duplicates.")
    return headers, rows


def _reader_failures(rows: Iterator[JSON]) -> Iterator[JSON]:
    """``rows``, a parse error met while iterating as a recorded States.ItemReaderFailed."""
    try:
        yield from rows
    except StatesError as exc:
        raise StatesError(errors.ITEM_READER_FAILED, exc.cause, recorded=True) from None


def s3_object(obj: JSON) -> JSON:
    """One listObjectsV2 entry as AWS passes it to a child execution (the ItemReader page's
    example): ``{Etag, Key, LastModified (epoch seconds), Size, StorageClass}``."""
    if not isinstance(obj, dict):
        return obj
    item = {"Etag": obj.get("Etag", obj.get("ETag")), "Key": obj.get("Key"),
            "LastModified": _epoch(obj.get("LastModified")), "Size": obj.get("Size"),
            "StorageClass": obj.get("StorageClass")}
    return {key: value for key, value in item.items() if value is not None}


def _epoch(value: Any) -> Any:
    """A boto3 datetime or an ISO 8601 text as epoch seconds; anything else as it is."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    return value


def _object_text(answer: JSON) -> str:
    body: Any = answer.get("Body") if isinstance(answer, dict) else answer
    if isinstance(body, bytes | bytearray):  # GZIP-compressed objects are read uncompressed
        data = bytes(body)
        body = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8")
    elif hasattr(body, "read"):  # a boto3 StreamingBody
        data = body.read()
        body = data.decode("utf-8") if isinstance(data, bytes) else data
    if not isinstance(body, str):
        raise StatesError(errors.ITEM_READER_FAILED,
                          f"The getObject handler returned no object content: {_text(answer)[:200]}")
    return body


def _json(text: str) -> JSON:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StatesError(errors.ITEM_READER_FAILED, f"The object content is not valid JSON: {exc}") from None


def _text(value: JSON) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except TypeError:
        return str(value)


def _body(items: list[JSON], output_type: str) -> str:
    if output_type == "JSONL":
        return "".join(_text(item) + "\n" for item in items)
    return _text(items)


# --- local-folder S3 stand-ins -----------------------------------------------------------------
# Kept for resource maps that name them; they are statemachine.resources.s3_local's handlers,
# confined to $SM_S3_ROOT (else ./s3 of the working directory). Prefer `local_s3:` in the map.

def _local_s3() -> Any:
    from statemachine.resources.s3_local import LocalS3, default_root

    return LocalS3(default_root(None))


def local_get_object(params: JSON) -> JSON:
    """s3:getObject on a folder: the file's text (statemachine.resources.s3_local)."""
    return _local_s3().get_object(params)


def local_list_objects(params: JSON) -> JSON:
    """s3:listObjectsV2 on a folder: every file whose key starts with Prefix (sorted by key)."""
    return _local_s3().list_objects_v2(params)


def local_put_object(params: JSON) -> JSON:
    """s3:putObject into a folder: writes Body (text) to Bucket/Key."""
    return _local_s3().put_object(params)
