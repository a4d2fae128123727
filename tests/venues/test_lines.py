"""Capture line reader: formats, compression, stdin, session files, line numbers, decoding a capture."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from perpscope.model import Kind, Trade
from perpscope.venues import bybit
from perpscope.venues.lines import CaptureReader, DecodedCapture, prefix_to_ns, read_lines, seconds_text_to_ns

TRADE = (
    b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT",'
    b'"t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}'
)


def test_plain_lines(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    path.write_bytes(b'{"a":1}\n\n{"b":2}\r\n   \n[3]')
    reader = CaptureReader(path)
    got = []
    for ts, payload in reader:
        got.append((ts, payload.strip(), reader.line_no))
    assert got == [(None, b'{"a":1}', 1), (None, b'{"b":2}', 3), (None, b"[3]", 5)]
    assert reader.format == "plain"
    assert reader.skipped == {"blank": 2}


def test_ns_prefix_lines_and_units(tmp_path: Path) -> None:
    path = tmp_path / "ns.txt"
    path.write_bytes(
        b"1723161255030314667 " + TRADE + b"\n"
        b"1723161255030314 {}\n"  # µs
        b"1723161255030 {}\n"  # ms
        b"1723161255 {}\n"  # s
        b'{"no":"prefix"}\n'
        b"12abc {}\n"  # not a time prefix: passed through for the decoder to reject
    )
    rows = list(read_lines(path))
    assert rows[0] == (1723161255030314667, TRADE + b"\n")
    assert [ts for ts, _ in rows[1:4]] == [1723161255030314000, 1723161255030000000, 1723161255000000000]
    assert rows[4] == (None, b'{"no":"prefix"}\n')
    assert rows[5] == (None, b"12abc {}\n")


def test_compressed_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = b"".join(b"%d %s\n" % (1723161255030314667 + i, TRADE) for i in range(3))
    gz = tmp_path / "c.txt.gz"
    gz.write_bytes(gzip.compress(content))
    zst = tmp_path / "c.txt.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(content))
    plain = list(read_lines(io.BytesIO(content)))
    assert len(plain) == 3
    assert list(read_lines(gz)) == plain
    assert list(read_lines(str(zst))) == plain
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(content))))
    assert list(read_lines("-")) == plain
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(content)))
    assert list(read_lines(None)) == plain


def test_session_format(fixtures_dir: Path) -> None:
    path = fixtures_dir / "bybit" / "session_small.jsonl"
    reader = CaptureReader(path)
    rows = [(ts, payload[:30], reader.line_no) for ts, payload in reader]
    assert reader.format == "session"
    assert [r[0] for r in rows] == [
        1786310819526619000,
        1786310819500000000,
        1786310819965677000,
        1786310820500000000,
    ]
    assert [r[2] for r in rows] == [5, 6, 8, 9]
    assert rows[0][1].startswith(b'{"success":true')
    assert reader.skipped == {
        "session:header": 1,
        "session:connect": 2,
        "session:send": 1,
        "session:http": 1,
        "blank": 1,
    }
    filtered = CaptureReader(path, keep_connection=bybit.accepts_ws_url)
    assert len(list(filtered)) == 3
    assert filtered.skipped["other_connection"] == 1


def test_forced_format_and_bad_format(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"123 {}\n")
    assert list(read_lines(path, fmt="plain")) == [(123_000_000_000, b"{}\n")]  # prefixes still honoured
    with pytest.raises(ValueError, match="unknown capture format"):
        CaptureReader(path, fmt="csv")  # type: ignore[arg-type]


def test_reader_closes_its_file(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"{}\n{}\n")
    reader = CaptureReader(path)
    it = iter(reader)
    next(it)
    stream = reader._stream
    assert stream is not None and not stream.closed
    it.close()
    assert stream.closed


@given(sec=st.integers(0, 4_102_444_800), frac=st.text("0123456789", min_size=0, max_size=9))
def test_seconds_text_to_ns_is_exact(sec: int, frac: str) -> None:
    text = f"{sec}.{frac}" if frac else str(sec)
    assert seconds_text_to_ns(text) == sec * 1_000_000_000 + int((frac + "0" * 9)[:9])
    assert seconds_text_to_ns(text.encode()) == seconds_text_to_ns(text)


def test_seconds_text_exponent_and_sign() -> None:
    assert seconds_text_to_ns("1.5e3") == 1_500_000_000_000
    assert seconds_text_to_ns("-1.25") == -1_250_000_000


@given(ns=st.integers(10**18, 4 * 10**18))
def test_prefix_units_round_trip(ns: int) -> None:
    assert prefix_to_ns(str(ns).encode()) == ns
    assert prefix_to_ns(str(ns // 1_000).encode()) == ns // 1_000 * 1_000
    assert prefix_to_ns(str(ns // 1_000_000).encode()) == ns // 1_000_000 * 1_000_000
    assert prefix_to_ns(str(ns // 1_000_000_000).encode()) == ns // 1_000_000_000 * 1_000_000_000


def test_decoded_capture_counts_bad_lines(fixtures_dir: Path) -> None:
    path = fixtures_dir / "bybit" / "session_small.jsonl"
    capture = DecodedCapture("bybit", path)
    events = list(capture)
    assert [(e.kind_name, e.ts_recv) for e in events] == [(Kind.TRADE, 1786310819965677000)]
    stats = capture.stats
    assert stats.messages == 3  # ack, trade, bad trade (the spot frame is filtered out)
    assert stats.events == {"trade": 1}
    assert stats.bad == 1 and stats.bad_by_error == {"DecodeError": 1}
    ((line, reason),) = stats.bad_lines
    assert line == 9 and "Expected `float`" in reason
    assert stats.no_event == {"control": 1}
    assert stats.skipped["other_connection"] == 1
    everything = DecodedCapture("bybit", path, all_connections=True)
    assert len(list(everything)) == 2


def test_decoded_capture_without_receive_times(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    path.write_bytes(TRADE + b"\n")
    (ev,) = list(DecodedCapture("binance", path))
    assert isinstance(ev, Trade) and ev.ts_recv == ev.ts_event == 1723161256322_000_000


def test_decoded_capture_reports_decoder_bugs_without_stopping(tmp_path: Path) -> None:
    class Broken:
        def decode(self, raw: bytes | str, ts_recv: int) -> list:
            raise KeyError("boom")

    path = tmp_path / "x.jsonl"
    path.write_bytes(b"{}\n{}\n")
    capture = DecodedCapture("binance", path, decoder=Broken())
    assert list(capture) == []
    assert capture.stats.bad == 2
    assert capture.stats.bad_lines[0] == (1, "unexpected KeyError: 'boom'")
