"""Resources stage: local stand-ins for the S3 actions a Distributed Map uses
(``arn:aws:states:::s3:getObject``, ``s3:listObjectsV2``, ``s3:putObject``), on folders.

Every bucket is a folder directly inside one root the user configured, and nothing outside
that root is ever read or written, whatever the definition or the execution input says:

- the root: ``local_s3: FOLDER`` in a resource map (relative to the map file), or
  ``local_s3: true`` for the default, ``$SM_S3_ROOT`` or else the ``s3`` folder beside the
  definition; in code ``LocalS3(root).handlers()`` for ``load(resources=...)``;
- ``Bucket`` must be a valid S3 bucket name (3-63 characters of ``a-z 0-9 . -``, starting and
  ending with a letter or digit, no ``..``), so ``/``, ``..``, absolute paths and nested
  paths are refused as S3 refuses them (``S3.InvalidBucketName``); the bucket's folder must
  exist (``S3.NoSuchBucket``; putObject creates no bucket, as on S3);
- ``Key`` is split at ``/``; a key with an empty, ``.`` or ``..`` segment has no file inside
  the bucket and is refused (``S3.AccessDenied``); a file or folder that is a link resolving
  outside the bucket is refused the same way (reads follow links that stay inside it;
  putObject never writes through a link); a missing object is ``S3.NoSuchKey``.

Error names are S3's error codes behind the ``S3.`` prefix and the causes S3's messages with
the status code and error code; inside a Distributed Map the interpreter reports them as
``States.ItemReaderFailed`` / ``States.ResultWriterFailed`` with this cause.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from statemachine.errors import StatesError
from statemachine.resources.base import ResourceHandler
from statemachine.resources.python import PythonHandler
from statemachine.values import JSON

GET_OBJECT: Final = "arn:aws:states:::s3:getObject"
LIST_OBJECTS: Final = "arn:aws:states:::s3:listObjectsV2"
PUT_OBJECT: Final = "arn:aws:states:::s3:putObject"
ROOT_VARIABLE: Final = "SM_S3_ROOT"
DEFAULT_FOLDER: Final = "s3"

_BUCKET = re.compile(r"\A[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_IP = re.compile(r"\A\d+\.\d+\.\d+\.\d+\Z")
#: S3's error codes: (HTTP status, message).
_ERRORS: Final = {
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "AccessDenied": (403, "Access Denied"),
}


def s3_error(code: str, detail: str) -> StatesError:
    status, message = _ERRORS[code]
    return StatesError(f"S3.{code}", f"{message} (Service: S3, Status Code: {status}, "
                                     f"Error Code: {code}; {detail})")


def default_root(definition_dir: Path | None) -> Path:
    """``$SM_S3_ROOT``, else the ``s3`` folder beside the definition (or in the working directory)."""
    configured = os.environ.get(ROOT_VARIABLE)
    if configured:
        return Path(configured)
    return (definition_dir or Path.cwd()) / DEFAULT_FOLDER


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _text(params: Mapping[str, JSON], field: str) -> str:
    value = params.get(field, "")
    return value if isinstance(value, str) else json.dumps(value)


class LocalS3:
    """Buckets as folders directly inside ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalS3({str(self.root)!r})"

    def handlers(self) -> dict[str, ResourceHandler]:
        """``{resource: handler}`` for ``load(resources=...)`` or a registry."""
        actions = {GET_OBJECT: self.get_object, LIST_OBJECTS: self.list_objects_v2, PUT_OBJECT: self.put_object}
        return {resource: PythonHandler(action, name=resource) for resource, action in actions.items()}

    # -- confinement -------------------------------------------------------------------------
    def bucket(self, params: JSON) -> Path:
        """The real folder of ``params["Bucket"]``; S3.InvalidBucketName / S3.NoSuchBucket."""
        name = params.get("Bucket") if isinstance(params, dict) else None
        if not isinstance(name, str) or not _BUCKET.match(name) or ".." in name or _IP.match(name):
            shown = name if isinstance(name, str) else type(name).__name__
            raise s3_error("InvalidBucketName", f"BucketName: {shown!r}")
        root = self.root.resolve()
        folder = (root / name).resolve()
        if folder.parent != root:  # a link that leaves the root
            raise s3_error("AccessDenied", f"bucket {name!r} is a link out of the S3 root")
        if not folder.is_dir():
            raise s3_error("NoSuchBucket", f"BucketName: {name!r} (no folder {name!r} in {str(root)!r})")
        return folder

    def object_path(self, bucket: Path, key: str) -> Path:
        """The file of ``key`` inside ``bucket``; S3.AccessDenied when it would leave it."""
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") for part in parts) or "\0" in key:
            raise s3_error("AccessDenied", f"key {key!r} names no file inside bucket {bucket.name!r}")
        path = bucket.joinpath(*parts)
        if not _inside(path.resolve(), bucket):
            raise s3_error("AccessDenied", f"key {key!r} is a link out of bucket {bucket.name!r}")
        return path

    # -- the actions ---------------------------------------------------------------------------
    def get_object(self, params: JSON) -> JSON:
        """s3:getObject: the object's text."""
        bucket = self.bucket(params)
        key = _text(params, "Key") if isinstance(params, dict) else ""
        path = self.object_path(bucket, key)
        if not path.is_file():
            raise s3_error("NoSuchKey", f"Bucket: {bucket.name!r}, Key: {key!r}")
        return path.read_text(encoding="utf-8")

    def list_objects_v2(self, params: JSON) -> JSON:
        """s3:listObjectsV2: every object whose key starts with Prefix, sorted by key."""
        bucket = self.bucket(params)
        prefix = _text(params, "Prefix") if isinstance(params, dict) else ""
        contents: list[JSON] = []
        for key, path in sorted(self._objects(bucket)):
            if key.startswith(prefix):
                stat = path.stat()
                digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
                contents.append({"Key": key, "Size": stat.st_size, "StorageClass": "STANDARD",
                                 "ETag": f'"{digest}"', "LastModified": int(stat.st_mtime)})
        return {"Contents": contents, "IsTruncated": False, "KeyCount": len(contents)}

    def _objects(self, bucket: Path) -> list[tuple[str, Path]]:
        found = []
        for folder, _, files in os.walk(bucket):  # links to folders are not descended
            for name in files:
                path = Path(folder) / name
                if path.is_file() and _inside(path.resolve(), bucket):
                    found.append((path.relative_to(bucket).as_posix(), path))
        return found

    def put_object(self, params: JSON) -> JSON:
        """s3:putObject: writes Body (text; other JSON as JSON text) to the object's file."""
        bucket = self.bucket(params)
        key = _text(params, "Key") if isinstance(params, dict) else ""
        path = self.object_path(bucket, key)
        body = params.get("Body", "") if isinstance(params, dict) else ""
        data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not _inside(path.parent.resolve(), bucket):  # a folder on the way was a link out
            raise s3_error("AccessDenied", f"key {key!r} is a link out of bucket {bucket.name!r}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        try:
            descriptor = os.open(path, flags, 0o644)
        except OSError as exc:  # the file is a link (O_NOFOLLOW) or not writable
            raise s3_error("AccessDenied", f"key {key!r}: {exc.strerror}") from None
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        return {"ETag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'}
