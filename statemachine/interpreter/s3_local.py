"""Interpreter stage (local stand-ins): S3 getObject / listObjectsV2 / putObject on folders.

A Distributed Map's ItemReader and ResultWriter (interpreter/itemio.py) call S3 through
resource handlers; these three are stand-ins where ``Bucket`` is a local folder (absolute, or
relative to the working directory) and ``Key`` a file inside it (a key that leaves the
folder is refused with ValueError). Map them in a MAP.yaml, e.g. ``resources:
{arn:aws:states:::s3:getObject: python:statemachine.interpreter.s3_local:local_get_object}``
(the older ``statemachine.interpreter.itemio:local_get_object`` names still work), or pass
them to ``load(resources=)``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from statemachine.values import JSON

__all__ = ["local_get_object", "local_list_objects", "local_put_object"]


def _local_path(params: JSON, key_field: str = "Key") -> tuple[Path, Path]:
    """(bucket folder, file) for ``{"Bucket": folder, "Key": key}``; keys stay inside the folder."""
    if not isinstance(params, dict) or not isinstance(params.get("Bucket"), str):
        raise ValueError("the S3 parameters must name a Bucket (a local folder)")
    root = Path(str(params["Bucket"])).resolve()
    path = (root / str(params.get(key_field, ""))).resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"the key {params.get(key_field)!r} leaves the bucket folder {root}")
    return root, path


def local_get_object(params: JSON) -> JSON:
    """s3:getObject on a folder: the file's text."""
    return _local_path(params)[1].read_text(encoding="utf-8")


def local_list_objects(params: JSON) -> JSON:
    """s3:listObjectsV2 on a folder: every file whose key starts with Prefix (sorted by key)."""
    root, _ = _local_path(params)
    prefix = str(params.get("Prefix", "") or "") if isinstance(params, dict) else ""
    contents: list[JSON] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = path.relative_to(root).as_posix()
        if key.startswith(prefix):
            stat = path.stat()
            contents.append({"Key": key, "Size": stat.st_size, "StorageClass": "STANDARD",
                             "ETag": f'"{hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()}"',
                             "LastModified": int(stat.st_mtime)})
    return {"Contents": contents, "IsTruncated": False, "KeyCount": len(contents)}


def local_put_object(params: JSON) -> JSON:
    """s3:putObject into a folder: writes Body (text) to Bucket/Key."""
    _, path = _local_path(params)
    body = params.get("Body", "") if isinstance(params, dict) else ""
    text = body if isinstance(body, str) else _text(body)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return {"ETag": f'"{hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()}"'}


def _text(value: JSON) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except TypeError:
        return str(value)
