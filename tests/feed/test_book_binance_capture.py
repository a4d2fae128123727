"""The real Binance USD-M capture (2024-08-08, hftbacktest) replayed through the production decoder into a
LocalBook: the documented sync succeeds, no gaps, never crossed, and the top of the book equals the venue's
own bookTicker stream at every matching update id."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec

from perpscope.feed.book import Applied, BookState, LocalBook
from perpscope.model import BookDelta, BookSnapshot
from perpscope.venues.binance import Decoder
from perpscope.venues.lines import CaptureReader

CAPTURE = "binance-usdm-ws-btcusdt-2024-08-08.txt.gz"


class _Ticker(msgspec.Struct):
    u: int  # order book update id
    b: str  # best bid price
    B: str  # best bid size
    a: str  # best ask price
    A: str  # best ask size


class _TickerMsg(msgspec.Struct):
    stream: str
    data: _Ticker


_TICKER = msgspec.json.Decoder(_TickerMsg)


def test_capture_syncs_and_matches_book_ticker(shared: Callable[[str], Path]) -> None:
    path = shared(CAPTURE)
    decoder = Decoder()
    book = LocalBook("binance", "BTC", raise_on_gap=True)  # a gap anywhere fails the test
    outcomes: dict[Applied, int] = {}
    tops: dict[int, tuple[float, float, float, float]] = {}  # u → best bid px/sz, best ask px/sz after it
    tickers: dict[int, _Ticker] = {}
    crossed = 0
    before_snapshot: list[BookDelta] = []
    snapshot_id = None
    for ts_recv, payload in CaptureReader(path):
        if b"@bookTicker" in payload[:40]:
            t = _TICKER.decode(payload).data
            tickers[t.u] = t
        for ev in decoder.decode(payload, ts_recv or 0):
            if not isinstance(ev, BookSnapshot | BookDelta):
                continue
            if isinstance(ev, BookSnapshot):
                snapshot_id = ev.update_id
            elif snapshot_id is None:
                before_snapshot.append(ev)
            out = book.apply(ev)
            outcomes[out] = outcomes.get(out, 0) + 1
            if out is Applied.SNAPSHOT:
                assert book.synced and book.last_update_id is not None
            if isinstance(ev, BookDelta) and out is Applied.APPLIED and book.synced:
                bid, ask = book.best_bid(), book.best_ask()
                assert bid is not None and ask is not None
                tops[ev.update_id] = (bid[0], bid[1], ask[0], ask[1])
            crossed += book.crossed
    # the REST snapshot sits inside the stream: the diffs before it were buffered, then replayed
    assert snapshot_id == 5123107852948
    assert outcomes[Applied.BUFFERED] == 6 and outcomes[Applied.SNAPSHOT] == 1
    assert book.stats.stale_dropped == 4  # buffered diffs entirely older than lastUpdateId
    assert book.state is BookState.SYNCED and book.stats.gaps == 0 and book.stats.crossed == 0
    assert crossed == 0
    assert book.stats.deltas_applied == 6547
    # the documented bridge: the first diff kept has U <= lastUpdateId <= u
    kept = [d for d in before_snapshot if d.update_id >= snapshot_id]
    assert len(kept) == 2 and kept[0].first_update_id is not None
    assert kept[0].first_update_id <= snapshot_id <= kept[0].update_id
    # the venue's own bookTicker at the same update ids agrees with the rebuilt book, price and size
    common = sorted(set(tops) & set(tickers))
    assert len(common) > 500
    for u in common:
        t = tickers[u]
        assert tops[u] == (float(t.b), float(t.B), float(t.a), float(t.A)), u
