"""Reading recorded websocket captures: one message per line, as ``(ts_recv_ns | None, payload bytes)``.

Line formats (detected from the first non-blank line, or forced with ``fmt=``):

- ``plain``: one JSON document per line; no receive time (``None``).
- ``ns``: ``<receive time> <json>`` (hftbacktest-style). The time is nanoseconds; shorter integers are read by
  magnitude as µs (15–17 digits), ms (12–14) or s (≤ 11). A line without the prefix is passed through with
  ``None``.
- ``session``: cryptofeed-style JSON lines with ``t`` = ``header``/``http``/``connect``/``send``/``recv``.
  Only ``recv`` frames are yielded (their raw message is the ``data`` string, the time ``ts`` in float
  seconds, converted to ns exactly from its decimal text); the other lines are counted in
  :attr:`CaptureReader.skipped`. ``keep_connection(url)`` can drop frames of connections whose ``connect``
  address it rejects (e.g. Bybit spot frames in a linear session).

``.gz`` and ``.zst`` input is decompressed transparently (detected by magic bytes); ``"-"`` or ``None``
reads standard input. Blank lines are skipped and counted. The reader does not judge the JSON: a malformed
line is yielded as it is and the decoder reports it. :class:`DecodedCapture` runs a venue's decoder over a
capture and counts what it rejects.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

import msgspec

from ..errors import DecodeError
from ..model import AnyEvent, Venue
from . import VenueDecoder, make_decoder, venue_module

Format = Literal["auto", "plain", "ns", "session"]
FORMATS: tuple[str, ...] = ("auto", "plain", "ns", "session")

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_SESSION_PREFIX = b'{"t":'
_NO_RAW = msgspec.Raw()


class _SessionLine(msgspec.Struct, frozen=True):
    t: str  # "header", "http", "connect", "send", "recv"
    ts: msgspec.Raw = _NO_RAW  # receive time, float seconds (kept raw for an exact ns conversion)
    conn: str | None = None  # connection id, e.g. "BYBIT.ws.2"
    addr: str | None = None  # URL of the connection ("connect", "send")
    data: msgspec.Raw = _NO_RAW  # the raw message: a JSON string holding the frame text


_SESSION = msgspec.json.Decoder(_SessionLine)
_STR = msgspec.json.Decoder(str)


def seconds_text_to_ns(text: bytes | str) -> int:
    """``b"1786310819.526357"`` → 1786310819526357000, exactly (no float rounding)."""

    s = text.decode() if isinstance(text, bytes) else text
    s = s.strip()
    if "e" in s or "E" in s:
        return round(float(s) * 1_000_000_000)
    neg = s.startswith("-")
    whole, _, frac = s.lstrip("+-").partition(".")
    ns = int(whole or "0") * 1_000_000_000 + int((frac + "000000000")[:9])
    return -ns if neg else ns


def prefix_to_ns(digits: bytes) -> int:
    """A receive-time prefix → ns, unit by magnitude: ≥ 18 digits ns, 15–17 µs, 12–14 ms, else s."""

    n = len(digits)
    value = int(digits)
    if n >= 18:
        return value
    if n >= 15:
        return value * 1_000
    if n >= 12:
        return value * 1_000_000
    return value * 1_000_000_000


def open_binary(source: str | os.PathLike[str] | BinaryIO | None) -> BinaryIO:
    """A binary stream over ``source`` (path, ``"-"``/None for stdin, or an open binary file), with gzip or
    zstd decompressed when the magic bytes say so."""

    if source is None or (isinstance(source, str) and source == "-"):
        raw: BinaryIO = sys.stdin.buffer
    elif isinstance(source, str | os.PathLike):
        raw = open(source, "rb")  # noqa: SIM115 - closed by CaptureReader
    else:
        raw = source
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    head = buffered.peek(4)[:4]  # type: ignore[attr-defined]
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    if head.startswith(_ZSTD_MAGIC):
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True, closefd=True)
        return io.BufferedReader(reader, buffer_size=1 << 16)  # type: ignore[arg-type,return-value]
    return buffered  # type: ignore[return-value]


class CaptureReader:
    """Iterates ``(ts_recv_ns | None, payload)`` over a capture file. After (or during) iteration,
    :attr:`line_no` is the 1-based line number of the last payload yielded, :attr:`format` the detected
    format and :attr:`skipped` counts lines that yielded nothing (``blank``, ``session:send``,
    ``other_connection``…).

    >>> for ts_recv, payload in CaptureReader("capture.txt.gz"): ...
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | BinaryIO | None,
        *,
        fmt: Format = "auto",
        keep_connection: Callable[[str], bool] | None = None,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown capture format {fmt!r}; choose from {', '.join(FORMATS)}")
        self.source = source
        self.format: Format = fmt
        self.keep_connection = keep_connection
        self.line_no = 0
        self.skipped: Counter[str] = Counter()
        self._stream: BinaryIO | None = None

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None and stream is not getattr(sys.stdin, "buffer", None):
            stream.close()

    def __iter__(self) -> Iterator[tuple[int | None, bytes]]:
        return self._generate()

    def _generate(self) -> Iterator[tuple[int | None, bytes]]:
        self._stream = open_binary(self.source)
        try:
            lines: Iterator[bytes] = iter(self._stream)
            n = 0
            skipped = self.skipped
            if self.format == "auto":
                for line in lines:
                    n += 1
                    if line.isspace() or not line:
                        skipped["blank"] += 1
                        continue
                    self.format = (
                        "session"
                        if line.startswith(_SESSION_PREFIX)
                        else "ns"
                        if line[:1].isdigit()
                        else "plain"
                    )
                    lines = itertools.chain((line,), lines)
                    n -= 1
                    break
            self.line_no = n
            if self.format == "session":
                yield from self._session(lines)
                return
            # ``<ns> <json>`` and plain JSON lines, each line deciding for itself (the hot path: inlined).
            for line in lines:
                n += 1
                if 48 <= (line[0] if line else 0) <= 57:  # a digit: a receive-time prefix
                    sp = line.find(b" ")
                    digits = line[:sp]
                    if sp > 0 and digits.isdigit():
                        self.line_no = n
                        yield (int(digits) if sp >= 18 else prefix_to_ns(digits)), line[sp + 1 :]
                        continue
                elif not line or line.isspace():
                    skipped["blank"] += 1
                    continue
                self.line_no = n
                yield None, line
        finally:
            self.close()

    def _session(self, lines: Iterator[bytes]) -> Iterator[tuple[int | None, bytes]]:
        addresses: dict[str, str] = {}
        keep = self.keep_connection
        n = self.line_no
        skipped = self.skipped
        for line in lines:
            n += 1
            if not line or line.isspace():
                skipped["blank"] += 1
                continue
            try:
                rec = _SESSION.decode(line)
            except msgspec.DecodeError:
                self.line_no = n
                yield None, line  # not a session record: let the decoder report it
                continue
            if rec.t != "recv":
                if rec.t == "connect" and rec.conn is not None and rec.addr is not None:
                    addresses[rec.conn] = rec.addr
                skipped[f"session:{rec.t}"] += 1
                continue
            addr = rec.addr or (addresses.get(rec.conn) if rec.conn is not None else None)
            if keep is not None and addr is not None and not keep(addr):
                skipped["other_connection"] += 1
                continue
            if not rec.data:
                skipped["session:recv_without_data"] += 1
                continue
            data = bytes(rec.data)
            payload = _STR.decode(data).encode() if data[:1] == b'"' else data
            self.line_no = n
            yield (seconds_text_to_ns(bytes(rec.ts)) if rec.ts else None), payload


def read_lines(
    source: str | os.PathLike[str] | BinaryIO | None,
    *,
    fmt: Format = "auto",
    keep_connection: Callable[[str], bool] | None = None,
) -> Iterator[tuple[int | None, bytes]]:
    """``(ts_recv_ns | None, payload)`` per message of a capture; see :class:`CaptureReader` for line numbers
    and skip counts."""

    return iter(CaptureReader(source, fmt=fmt, keep_connection=keep_connection))


# ---------------------------------------------------------------------------------------------------------
# Decoding a whole capture


@dataclass
class DecodeStats:
    """What happened while decoding a capture."""

    messages: int = 0  # payloads handed to the decoder
    events: Counter[str] = field(default_factory=Counter)  # per event kind
    bad: int = 0  # messages the decoder rejected
    bad_by_error: Counter[str] = field(default_factory=Counter)  # per error type
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line, reason), the first ``keep_bad``
    skipped: Counter[str] = field(default_factory=Counter)  # lines without a message (see CaptureReader)
    no_event: Counter[str] = field(default_factory=Counter)  # decoder counts: known messages without events


class DecodedCapture:
    """Normalized events of a capture file, decoded with a venue's production decoder. Messages the decoder
    rejects are counted in :attr:`stats` (with line number and reason) instead of stopping the iteration.

    Events without a receive time in the capture get ``ts_recv = ts_event``. For session captures, frames of
    connections the venue module's ``accepts_ws_url`` rejects (e.g. Bybit spot) are skipped unless
    ``all_connections``.
    """

    def __init__(
        self,
        venue: Venue | str,
        source: str | os.PathLike[str] | BinaryIO | None,
        *,
        fmt: Format = "auto",
        all_connections: bool = False,
        decoder: VenueDecoder | None = None,
        keep_bad: int = 1000,
    ) -> None:
        self.venue = Venue(venue)
        self.decoder = decoder if decoder is not None else make_decoder(self.venue)
        accepts = getattr(venue_module(self.venue), "accepts_ws_url", None)
        self.reader = CaptureReader(source, fmt=fmt, keep_connection=None if all_connections else accepts)
        self.keep_bad = keep_bad
        self.stats = DecodeStats()

    def __iter__(self) -> Iterator[AnyEvent]:
        decode = self.decoder.decode
        stats = self.stats
        events = stats.events
        reader = self.reader
        for ts_recv, payload in reader:
            stats.messages += 1
            try:
                out = decode(payload, 0 if ts_recv is None else ts_recv)
            except DecodeError as exc:
                self._bad(type(exc).__name__, str(exc))
                continue
            except Exception as exc:  # a decoder bug must not stop a capture: report it loudly instead
                self._bad(f"unexpected {type(exc).__name__}", f"unexpected {type(exc).__name__}: {exc}")
                continue
            for ev in out:
                events[ev.kind_name.value] += 1
                yield ev if ts_recv is not None else msgspec.structs.replace(ev, ts_recv=ev.ts_event)
        stats.skipped.update(reader.skipped)
        counts = getattr(self.decoder, "counts", None)
        if counts:
            stats.no_event.update(counts)

    def _bad(self, kind: str, reason: str) -> None:
        stats = self.stats
        stats.bad += 1
        stats.bad_by_error[kind] += 1
        if len(stats.bad_lines) < self.keep_bad:
            stats.bad_lines.append((self.reader.line_no, reason))
