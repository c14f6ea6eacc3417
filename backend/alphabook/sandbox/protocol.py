"""The framing between the host and a sandboxed worker: length-prefixed messages of a JSON header and a body.

Nothing is ever pickled, in either direction: unpickling runs code, and the worker's replies must be read
as data the host distrusts. A message is a 12-byte prefix (magic ``ABX1``, header length, body length as
little-endian uint32), a small UTF-8 JSON header (the source, parameters and limits; or the reply's
status) and a body: the raw buffers :mod:`alphabook.sandbox.frames` describes in the header, or nothing.
The host reads replies against hard size caps, checking the prefix before it reads anything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from alphabook.sandbox.frames import OutputTooLarge

__all__ = ["MAGIC", "PREFIX", "MessageReader", "ProtocolError", "consume", "pack", "parse_header", "read_message",
           "truncate", "unpack", "write_message"]

MAGIC = b"ABX1"
PREFIX = struct.Struct("<4sII")  # magic, header bytes, body bytes
MAX_REQUEST_HEADER = 8 << 20  # the source code and parameters
MAX_REPLY_HEADER = 64 << 10  # a status and an error message
MAX_DETAIL = 4000  # characters of a creator-facing error message kept from a worker


class ProtocolError(Exception):
    """The byte stream from a worker does not follow the protocol; the worker is restarted."""


# --- framing -----------------------------------------------------------------------------------------

def pack(header: Mapping[str, Any], body: Sequence[Any] = ()) -> list[memoryview]:
    """The message as byte views to gather into one ``writev``: prefix and header, then the body's buffers.

    The body is a sequence of contiguous buffers (numpy arrays, bytes), sent as they are: never copied.
    """
    encoded = json.dumps(header, separators=(",", ":"), allow_nan=True).encode()
    views = [memoryview(chunk).cast("B") for chunk in body]
    size = sum(len(view) for view in views)
    return [memoryview(PREFIX.pack(MAGIC, len(encoded), size) + encoded), *views]


def write_message(fd: int, header: Mapping[str, Any], body: Sequence[Any] = ()) -> None:
    """Write one whole message to a blocking ``fd``, gathered (one writev: one wake-up for the reader)."""
    pending = pack(header, body)
    while pending:
        pending = consume(pending, os.writev(fd, pending))


def consume(pending: list[memoryview], written: int) -> list[memoryview]:
    """What is left of the chunks ``pending`` once their first ``written`` bytes have been written."""
    while pending and written >= len(pending[0]):
        written -= len(pending[0])
        pending = pending[1:]
    if pending and written:
        pending = [pending[0][written:], *pending[1:]]
    return pending


def _read_exactly(fd: int, size: int) -> bytearray | None:
    buffer = bytearray(size)
    return buffer if _read_into(fd, memoryview(buffer)) else None


def read_message(fd: int, max_header: int = MAX_REQUEST_HEADER, max_body: int = 1 << 40,
                 into: bytearray | None = None) -> tuple[dict[str, Any], memoryview] | None:
    """Read one message from a blocking ``fd``; ``None`` at end of file.

    The body lands in ``into`` when it fits (a buffer whose pages are already faulted in), else in a new one.
    """
    prefix = _read_exactly(fd, PREFIX.size)
    if prefix is None:
        return None
    magic, header_size, body_size = PREFIX.unpack(prefix)
    if magic != MAGIC or header_size > max_header or body_size > max_body:
        raise ProtocolError(f"bad message prefix {bytes(prefix)!r}")
    header = _read_exactly(fd, header_size)
    body = memoryview(into)[:body_size] if into is not None and len(into) >= body_size else \
        memoryview(bytearray(body_size))
    if header is None or not _read_into(fd, body):
        raise ProtocolError("the stream ended inside a message")
    return parse_header(header), body


def _read_into(fd: int, view: memoryview) -> bool:
    got = 0
    while got < len(view):
        count = os.readv(fd, [view[got:]])
        if count == 0:
            return False
        got += count
    return True


def parse_header(raw: bytes | bytearray | memoryview) -> dict[str, Any]:
    try:
        header = json.loads(bytes(raw))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"unreadable header: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("the header is not a JSON object")
    return header


class MessageReader:
    """Assembles messages from a non-blocking pipe, refusing anything bigger than the caps before reading it."""

    def __init__(self, max_header: int, max_body: int) -> None:
        self.max_header, self.max_body = max_header, max_body
        self.pending = bytearray()
        self._body: bytearray | None = None
        self._header: dict[str, Any] | None = None
        self._filled = 0

    def feed(self, fd: int) -> bool:
        """Read what ``fd`` has; ``False`` at end of file. Raises ProtocolError or OutputTooLarge."""
        if self._body is not None:  # read straight into the body buffer: no copies of large results
            count = os.readv(fd, [memoryview(self._body)[self._filled:]])
            self._filled += count
            return count > 0
        chunk = os.read(fd, 1 << 16)
        self.pending += chunk
        self._advance()
        if chunk and self._body is not None and self._filled < len(self._body):
            with contextlib.suppress(BlockingIOError):  # the rest of a body already in the pipe: no extra wake-up
                self._filled += os.readv(fd, [memoryview(self._body)[self._filled:]])
        return bool(chunk)

    def _advance(self) -> None:
        if self._header is not None or len(self.pending) < PREFIX.size:
            return
        magic, header_size, body_size = PREFIX.unpack_from(self.pending)
        if magic != MAGIC or header_size > self.max_header:
            raise ProtocolError(f"bad reply prefix {bytes(self.pending[:PREFIX.size])!r}")
        if body_size > self.max_body:
            raise OutputTooLarge(f"The indicator's output is {body_size} bytes; the limit is {self.max_body}.")
        if len(self.pending) < PREFIX.size + header_size:
            return
        self._header = parse_header(self.pending[PREFIX.size:PREFIX.size + header_size])
        rest = self.pending[PREFIX.size + header_size:]
        if len(rest) > body_size:
            raise ProtocolError("a worker wrote more than one reply")
        self._body = bytearray(body_size)
        self._body[:len(rest)] = rest
        self._filled = len(rest)
        self.pending = bytearray()

    def message(self) -> tuple[dict[str, Any], bytearray] | None:
        """The complete message, once it is complete."""
        if self._header is None or self._body is None or self._filled < len(self._body):
            return None
        return self._header, self._body


def truncate(detail: object) -> str:
    """A worker's message, bounded: it is shown to people and logged."""
    text = str(detail)
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "…"


def unpack(data: bytes | bytearray | memoryview, max_header: int = MAX_REQUEST_HEADER,
           max_body: int = 1 << 40) -> tuple[dict[str, Any], memoryview]:
    """One whole message held in memory (an HTTP body) -> its header and a view of its body."""
    view = memoryview(data)
    if len(view) < PREFIX.size:
        raise ProtocolError("the message is shorter than its prefix")
    magic, header_size, body_size = PREFIX.unpack_from(view)
    if magic != MAGIC or header_size > max_header or body_size > max_body:
        raise ProtocolError(f"bad message prefix {bytes(view[:PREFIX.size])!r}")
    if len(view) != PREFIX.size + header_size + body_size:
        raise ProtocolError("the message's length does not match its prefix")
    header = parse_header(view[PREFIX.size:PREFIX.size + header_size])
    return header, view[PREFIX.size + header_size:]
