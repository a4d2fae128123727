"""Order flow: CVD, order-book imbalance, quadrants, footprint — properties, and the real Binance capture."""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.analytics.orderflow import (
    Book,
    Quadrant,
    aggressor_sign,
    as_book,
    band_sizes,
    book_imbalance,
    classify_quadrant,
    classify_quadrants,
    cvd,
    cvd_by_venue,
    footprint,
    imbalance_by_venue,
    nice_tick,
    quadrant_rows,
)
from perpscope.model import BookDelta, BookSnapshot, Side, Trade, Venue
from perpscope.timeutil import NS_PER_MS, NS_PER_S

S = NS_PER_S


def _trade(t_s: float, side: Side, qty: float, price: float, venue: Venue = Venue.BINANCE) -> Trade:
    ts = round(t_s * S)
    return Trade(
        venue=venue,
        symbol="BTC",
        ts_event=ts,
        ts_recv=ts,
        side=side,
        price=price,
        quantity=qty,
        notional_usd=qty * price,
    )


# ---- CVD -------------------------------------------------------------------------------------------------


def test_aggressor_sign_inputs() -> None:
    np.testing.assert_array_equal(aggressor_sign(["buy", "SELL", Side.BUY]), [1, -1, 1])
    np.testing.assert_array_equal(aggressor_sign(np.array([True, False])), [1, -1])
    np.testing.assert_array_equal(aggressor_sign(np.array([2.0, -0.5])), [1, -1])
    with pytest.raises(ValueError, match="buy"):
        aggressor_sign(["bid"])


def test_cvd_windows_are_half_open() -> None:
    c = cvd(
        [0, S, 2 * S, 3 * S], ["buy", "sell", "buy", "buy"], [1.0, 2.0, 3.0, 4.0], [10.0, 10.0, 20.0, 20.0]
    )
    assert c.window() == (6.0, 130.0)
    assert c.window(S, 3 * S) == (1.0, 40.0)  # trades at 1 s and 2 s, not the one at 3 s
    assert c.window(3 * S, S) == (0.0, 0.0)
    assert c.volume(0, 2 * S) == 3.0
    np.testing.assert_array_equal(c.bars([0, 2 * S, 4 * S])[0], [-1.0, 7.0])


trades_st = st.lists(
    st.tuples(
        st.integers(0, 10_000),
        st.sampled_from(["buy", "sell"]),
        st.floats(0.0, 50.0),
        st.floats(1.0, 1e5),
        st.sampled_from(list(Venue)),
    ),
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(rows=trades_st, cuts=st.lists(st.integers(-100, 10_100), min_size=2, max_size=6))
def test_cvd_additive_across_adjacent_windows(
    rows: list[tuple[int, str, float, float, Venue]], cuts: list[int]
) -> None:
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    c = cvd(ts, [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])
    edges = sorted(cuts)
    parts = [c.window(a, b) for a, b in itertools.pairwise(edges)]
    whole = c.window(edges[0], edges[-1])
    scale = sum(r[2] for r in rows) + 1.0
    assert sum(p[0] for p in parts) == pytest.approx(whole[0], abs=1e-9 * scale)
    assert sum(p[1] for p in parts) == pytest.approx(whole[1], abs=1e-9 * scale * 1e5)
    # and the venues add up to the aggregate
    table = pa.table(
        {
            "ts_event": ts,
            "venue": [r[4].value for r in rows],
            "side": [r[1] for r in rows],
            "quantity": [r[2] for r in rows],
            "price": [r[3] for r in rows],
        }
    )
    per = cvd_by_venue(table)
    by_venue = sum(v.window(edges[0], edges[-1])[0] for k, v in per.items() if k != "all")
    assert by_venue == pytest.approx(per["all"].window(edges[0], edges[-1])[0], abs=1e-9 * scale)


# ---- order-book imbalance ----------------------------------------------------------------------------------


def test_imbalance_counts_only_the_band_around_mid() -> None:
    book = Book.from_levels(
        [(99.9, 3.0), (99.6, 1.0), (90.0, 100.0)], [(100.1, 1.0), (100.4, 1.0), (120.0, 50.0)]
    )
    assert book.mid == pytest.approx(100.0)
    assert band_sizes(book) == (4.0, 2.0)  # ±0.5 %: 99.5 … 100.5
    assert book_imbalance(book) == pytest.approx(2 / 6)
    assert book_imbalance(book, pct=0.2) == pytest.approx((104 - 52) / 156)
    assert np.isnan(book_imbalance(Book.from_levels([], [])))
    # any book-ish input: tuples (unsorted, zero sizes dropped), snapshots, objects with to_arrays()
    tup = (
        np.array([99.6, 99.9, 99.8]),
        np.array([1.0, 3.0, 0.0]),
        np.array([100.4, 100.1]),
        np.array([1.0, 1.0]),
    )
    assert as_book(tup).bid_px.tolist() == [99.9, 99.6]
    snap = BookSnapshot(
        venue=Venue.OKX,
        symbol="BTC",
        ts_event=0,
        ts_recv=0,
        bids=[(99.9, 3.0)],
        asks=[(100.1, 1.0)],
        update_id=1,
    )
    assert book_imbalance(snap) == pytest.approx(0.5)

    class HasArrays:
        def to_arrays(self) -> tuple[np.ndarray, ...]:
            return tup

    assert book_imbalance(HasArrays()) == pytest.approx(book_imbalance(tup))


def test_imbalance_aggregates_venues_by_size() -> None:
    books = {
        "okx": Book.from_levels([(100.0, 1.0)], [(100.2, 3.0)]),
        "binance": Book.from_levels([(100.0, 5.0)], [(100.2, 1.0)]),
    }
    out = imbalance_by_venue(books)
    assert list(out) == ["binance", "okx", "all"]
    assert out["okx"] == pytest.approx(-0.5) and out["all"] == pytest.approx(2 / 10)


levels = st.lists(st.tuples(st.floats(0.01, 1e6), st.floats(0.0, 1e4)), max_size=30)


@given(bids=levels, asks=levels, pct=st.floats(0.0001, 0.5))
def test_imbalance_is_bounded(
    bids: list[tuple[float, float]], asks: list[tuple[float, float]], pct: float
) -> None:
    obi = book_imbalance(Book.from_levels(bids, asks), pct=pct)
    assert np.isnan(obi) or -1.0 <= obi <= 1.0
    agg = imbalance_by_venue({"a": Book.from_levels(bids, asks), "b": Book.from_levels(asks, bids)}, pct=pct)
    assert all(np.isnan(v) or -1.0 <= v <= 1.0 for v in agg.values())


# ---- quadrant ---------------------------------------------------------------------------------------


def test_quadrants_named_and_thresholded() -> None:
    assert classify_quadrant(5.0, 0.3) is Quadrant.BUYING_WITH_SUPPORT
    assert classify_quadrant(5.0, -0.3) is Quadrant.BUYING_INTO_WALL
    assert classify_quadrant(-5.0, 0.3) is Quadrant.SELLING_ABSORBED
    assert classify_quadrant(-5.0, -0.3) is Quadrant.SELLING_INTO_THIN_BIDS
    assert classify_quadrant(5.0, 0.03, min_obi=0.05) is Quadrant.NEUTRAL
    assert classify_quadrant(0.01, 0.3, min_cvd=0.02) is Quadrant.NEUTRAL
    assert classify_quadrant(float("nan"), 0.3) is Quadrant.NEUTRAL
    got = classify_quadrants(np.array([1.0, -1.0, 1.0]), np.array([-0.5, -0.5, 0.0]))
    assert got.tolist() == [Quadrant.BUYING_INTO_WALL, Quadrant.SELLING_INTO_THIN_BIDS, Quadrant.NEUTRAL]


def test_quadrant_rows_per_venue_and_all() -> None:
    trades = [_trade(1, Side.BUY, 3.0, 100.0), _trade(2, Side.SELL, 1.0, 100.0, Venue.BYBIT)]
    books = {
        "binance": Book.from_levels([(99.9, 1.0)], [(100.1, 4.0)]),
        "bybit": Book.from_levels([(99.9, 4.0)], [(100.1, 1.0)]),
    }
    rows = {r.venue: r for r in quadrant_rows("BTC", trades, books)}
    assert rows["binance"].quadrant is Quadrant.BUYING_INTO_WALL
    assert rows["bybit"].quadrant is Quadrant.SELLING_ABSORBED
    assert rows["all"].cvd_base == 2.0 and rows["all"].obi == 0.0 and rows["all"].quadrant is Quadrant.NEUTRAL
    d = rows["all"].to_dict()
    assert (
        set(d) >= {"symbol", "venue", "cvd_base", "cvd_usd", "obi", "quadrant"} and d["quadrant"] == "neutral"
    )
    # a window that excludes the sell
    only_buy = {r.venue: r for r in quadrant_rows("BTC", trades, books, end_ns=2 * S)}
    assert only_buy["all"].cvd_base == 3.0 and only_buy["bybit"].cvd_base == 0.0


# ---- footprint --------------------------------------------------------------------------------------


def test_footprint_bins_by_bar_level_and_aggressor() -> None:
    ts = np.array([0, 10, 65, 130]) * S
    fp = footprint(
        ts,
        [61800.3, 61800.35, 61800.0, 61801.2],
        [1.0, 2.0, 0.5, 4.0],
        ["buy", "sell", "buy", "sell"],
        bar_ns=60 * S,
        tick=0.1,
    )
    assert fp.bar_start_ns.tolist() == [0, 60 * S, 120 * S]
    assert fp.price[0] == pytest.approx(61800.0) and fp.buy.shape == (3, 13)
    lvl = round((61800.3 - 61800.0) / 0.1)
    assert fp.buy[0, lvl] == 1.0 and fp.sell[0, lvl] == 2.0  # 61800.30 is level 61800.3, not 61800.2
    assert fp.buy[1, 0] == 0.5 and fp.sell[2, 12] == 4.0
    assert fp.delta.sum() == pytest.approx(-4.5)
    np.testing.assert_allclose(fp.poc, [61800.3, 61800.0, 61801.2])


@settings(max_examples=100, deadline=None)
@given(rows=trades_st, bar=st.integers(1, 5_000))
def test_footprint_conserves_volume(rows: list[tuple[int, str, float, float, Venue]], bar: int) -> None:
    if not rows:
        return
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    qty = np.array([r[2] for r in rows])
    buy = np.array([r[1] == "buy" for r in rows])
    px = np.array([r[3] for r in rows])
    fp = footprint(ts, px, qty, buy, bar_ns=bar, tick=nice_tick(float(np.ptp(px)), levels=20))
    assert fp.buy.sum() == pytest.approx(qty[buy].sum()) and fp.sell.sum() == pytest.approx(qty[~buy].sum())
    per_bar = np.bincount((ts - fp.bar_start_ns[0]) // bar, weights=qty, minlength=fp.bar_start_ns.size)
    np.testing.assert_allclose(fp.total.sum(axis=1), per_bar, atol=1e-9)


def test_nice_tick() -> None:
    assert nice_tick(1000.0) == 20.0 and nice_tick(7.0) == 0.2 and nice_tick(0.0) == 1.0


# ---- the real Binance websocket capture -------------------------------------------------------------------

CAPTURE = "binance-usdm-ws-btcusdt-2024-08-08.txt.gz"


def _capture_lines(path: Path) -> list[tuple[int, str]]:
    with gzip.open(path, "rt") as fh:
        return [(int(ts), msg) for ts, msg in (line.rstrip("\n").split(" ", 1) for line in fh)]


@pytest.mark.shared_data
@pytest.mark.slow
def test_real_capture_cvd_and_imbalance(shared: Callable[[str], Path]) -> None:
    from perpscope.feed.book import Applied, LocalBook
    from perpscope.venues.binance import Decoder

    lines = _capture_lines(shared(CAPTURE))

    # hand-computed CVD: the raw trade payloads with json + Decimal; m=true means the seller aggressed
    hand_base, hand_usd, n = Decimal(0), Decimal(0), 0
    per_minute: dict[int, Decimal] = {}
    for _, msg in lines:
        if '"btcusdt@trade"' not in msg:
            continue
        d = json.loads(msg)["data"]
        assert d["X"] == "MARKET"
        q = Decimal(d["q"]) * (-1 if d["m"] else 1)
        hand_base += q
        hand_usd += q * Decimal(d["p"])
        per_minute[d["T"] // 60_000] = per_minute.get(d["T"] // 60_000, Decimal(0)) + q
        n += 1
    assert n == 21_313

    # analytics path: production decoder → Trade / book events → perpscope.analytics
    dec = Decoder()
    book = LocalBook(Venue.BINANCE, "BTC")
    trades: list[Trade] = []
    obi: dict[int, float] = {}  # message number → OBI of the synced book after it (every 5th message)
    applied = 0
    for k, (ts, msg) in enumerate(lines):
        if '"bookTicker"' in msg:
            continue  # carries no event
        for ev in dec.decode(msg, ts):
            if isinstance(ev, Trade):
                trades.append(ev)
            elif isinstance(ev, BookSnapshot | BookDelta):
                result = book.apply(ev)
                if result in (Applied.APPLIED, Applied.SNAPSHOT) and book.synced:
                    applied += 1
                    if k % 5 == 0 or result is Applied.SNAPSHOT:
                        obi[k] = book_imbalance(book)

    # the oracle: a dict book from the raw snapshot + diffs (diffs with u < lastUpdateId dropped), exact
    # decimals, OBI recomputed after every 10th message (a full scan each time)
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    snapshot_id: int | None = None
    pending: list[dict] = []  # type: ignore[type-arg]
    want: dict[int, float] = {}
    for k, (_, msg) in enumerate(lines):
        if '"depthUpdate"' not in msg and '"lastUpdateId"' not in msg:
            continue
        raw = json.loads(msg)
        if "lastUpdateId" in raw:
            snapshot_id = raw["lastUpdateId"]
            bids = {Decimal(p): Decimal(s) for p, s in raw["bids"]}
            asks = {Decimal(p): Decimal(s) for p, s in raw["asks"]}
            diffs, pending = [d for d in pending if d["u"] >= snapshot_id], []
        elif snapshot_id is None:
            pending.append(raw["data"])
            continue
        else:
            diffs = [raw["data"]]
        for d in diffs:
            for side, levels in ((bids, d["b"]), (asks, d["a"])):
                for p, s in levels:
                    if Decimal(s) == 0:
                        side.pop(Decimal(p), None)
                    else:
                        side[Decimal(p)] = Decimal(s)
        if k % 10 == 0 or "lastUpdateId" in raw:
            mid = (max(bids) + min(asks)) / 2
            lo, hi = mid * Decimal("0.995"), mid * Decimal("1.005")
            b = sum((s for p, s in bids.items() if lo <= p <= hi), Decimal(0))
            a = sum((s for p, s in asks.items() if lo <= p <= hi), Decimal(0))
            want[k] = float((b - a) / (b + a))

    flows = cvd_by_venue(trades)
    assert list(flows) == ["binance", "all"]
    base, usd = flows["all"].window()
    assert base == pytest.approx(float(hand_base), abs=1e-6)
    assert usd == pytest.approx(float(hand_usd), rel=1e-9)
    minutes = sorted(per_minute)
    got = flows["all"].bars(np.array([*minutes, minutes[-1] + 1]) * 60_000 * NS_PER_MS)[0]
    np.testing.assert_allclose(got, [float(per_minute[m]) for m in minutes], atol=1e-6)

    # imbalance from the depth diffs: bounded, equal to the oracle's after every diff, and it moves
    assert applied == 6_546  # the snapshot (with the buffered diffs replayed) + 6,545 live diffs
    o = np.array(list(obi.values()))
    assert o.size > 1_200 and np.all((o >= -1.0) & (o <= 1.0))
    checked = [k for k in want if k in obi]
    assert len(checked) > 600
    np.testing.assert_allclose([obi[k] for k in checked], [want[k] for k in checked], atol=1e-9)
    assert np.count_nonzero(np.diff(o)) > 0.9 * o.size and np.ptp(o) > 0.5
