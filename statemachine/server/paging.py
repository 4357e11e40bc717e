"""Server stage, pagination: ``maxResults`` and ``nextToken`` as AWS's list operations take them.

In: a list's full items (in the operation's order) and the request's ``Params``. Out: one
page ``{<key>: [...], "nextToken": ...}``. A token is opaque text naming the offset and the
listing it belongs to (operation and filters); one from another listing, or malformed, is
InvalidToken, as on AWS. ``maxResults`` 0 or absent means 100 (AWS's default page), at most
1000.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from typing import Any, Final

from statemachine.server.params import Params
from statemachine.server.protocol import AwsError

__all__ = ["DEFAULT_PAGE", "offset_of", "page", "token_for"]

DEFAULT_PAGE: Final = 100


def _scope(listing: str) -> str:
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def token_for(listing: str, offset: int) -> str:
    """The nextToken of ``listing`` resuming at ``offset``."""
    raw = json.dumps({"o": offset, "s": _scope(listing)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def offset_of(p: Params, listing: str) -> int:
    """The offset the request's nextToken names (0 without one). Raises InvalidToken."""
    token = p.text("nextToken", max_len=1024)
    if token is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = data["o"]
        scope = data["s"]
    except (ValueError, binascii.Error, KeyError, TypeError, UnicodeDecodeError):
        raise AwsError("InvalidToken", f"Invalid Token: '{token[:64]}'") from None
    if scope != _scope(listing) or not isinstance(offset, int) or offset < 0:
        raise AwsError("InvalidToken", f"Invalid Token: '{token[:64]}' belongs to another listing")
    return offset


def page_size(p: Params) -> int:
    return p.integer("maxResults", low=0, high=1000) or DEFAULT_PAGE


def page(items: Sequence[Any], p: Params, key: str, listing: str) -> dict[str, Any]:
    """One page of ``items`` under ``key``, with ``nextToken`` when more follow."""
    size = page_size(p)
    start = offset_of(p, listing)
    out: dict[str, Any] = {key: list(items[start:start + size])}
    if start + size < len(items):
        out["nextToken"] = token_for(listing, start + size)
    return out
