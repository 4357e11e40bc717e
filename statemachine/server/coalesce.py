"""Server stage, the HTTP connection: uvicorn's httptools protocol with a response's writes
sent in one piece.

In: uvicorn's connection (``HttpToolsProtocol``). Out: the same protocol whose transport
gathers what one turn of the event loop writes (the status line and headers, then the body:
two ``write`` calls in uvicorn) and hands it to the socket at once -- one system call and
one TCP segment per small response instead of two. On loopback the sender's system call
also pays for the receiver's side of TCP, so this halves the kernel's share of a request
(bench/serve.py). ``sm serve`` uses it when httptools is installed (the server extra).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol"]


class _Coalesced(asyncio.Transport):
    """A transport passing everything to ``inner``, except that writes made during one turn
    of the loop are joined and written once, at the end of the turn (``call_soon``)."""

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._parts: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._parts:
            self._loop.call_soon(self._flush)
        self._parts.append(bytes(data))

    def _flush(self) -> None:
        parts, self._parts = self._parts, []
        if parts and not self._inner.is_closing():
            self._inner.write(b"".join(parts))

    def close(self) -> None:
        self._flush()
        self._inner.close()

    def abort(self) -> None:
        self._parts = []
        self._inner.abort()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + sum(len(part) for part in self._parts)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a ``_Coalesced`` transport (pass it as
    ``uvicorn.Config(http=...)``)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's own signature
        super().connection_made(_Coalesced(transport, self.loop))
