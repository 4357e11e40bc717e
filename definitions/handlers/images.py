"""Fan-out example handler: compute a thumbnail for one image (no pixels are touched)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any


def thumbnail(event: dict[str, Any]) -> dict[str, Any]:
    """The thumbnail's key and size for ``event["image"]`` scaled to ``event["size"]`` wide."""
    image, size = event["image"], event["size"]
    path = PurePosixPath(image["key"])
    height = round(image["height"] * size / image["width"])
    return {
        "index": event["index"],
        "source": image["key"],
        "thumbnail": f"thumbnails/{path.stem}-{size}w{path.suffix}",
        "width": size,
        "height": height,
    }
