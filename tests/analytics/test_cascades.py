"""Cascade detection: definition, batch == incremental, and the defaults validated on the real Binance
forceOrder file (2024-12-04 … 2024-12-06, incl. the 2024-12-05 flush)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.analytics.cascades import (
    CascadeDetector,
    CascadeParams,
    detect_cascades,
    detect_cascades_incremental,
    detect_cascades_table,
    format_cascade,
)
from perpscope.model import Liquidation, PositionSide, Venue
from perpscope.timeutil import NS_PER_MS, NS_PER_S, parse_time_ns
from perpscope.venues.binance import Decoder

S = NS_PER_S


def liq(
    t_s: float,
    usd: float,
    *,
    side: PositionSide = PositionSide.LONG,
    venue: Venue = Venue.BYBIT,
    price: float = 100.0,
    symbol: str = "BTC",
) -> Liquidation:
    ts = round(t_s * S)
    return Liquidation(
        venue=venue,
        symbol=symbol,
        ts_event=ts,
        ts_recv=ts,
        side=side,
        price=price,
        quantity=usd / price,
        notional_usd=usd,
        sampled=venue in (Venue.BINANCE, Venue.OKX),
    )


# ---- the definition on small constructed runs -----------------------------------------------------------


def test_count_rule_needs_the_usd_floor() -> None:
    dust = [liq(i, 3_000) for i in range(8)]  # 8 events in 8 s but $24k: sampled-feed dust
    assert detect_cascades_table(dust) == []
    real = [liq(i, 30_000) for i in range(5)]  # 5 events, $150k in 4 s
    (c,) = detect_cascades_table(real)
    assert (c.count, c.notional_usd, c.side) == (5, 150_000, PositionSide.LONG)
    assert (c.ts_event, c.ts_end) == (0, 4 * S)


def test_usd_rule_needs_two_events() -> None:
    assert detect_cascades_table([liq(0, 5_000_000)]) == []
    (c,) = detect_cascades_table([liq(0, 900_000), liq(3, 200_000)])
    assert c.count == 2 and c.notional_usd == pytest.approx(1_100_000)
    # the two prints more than the window apart are not one window, but still one run (gap 10 s each)
    assert detect_cascades_table([liq(0, 900_000), liq(10.5, 200_000)]) == []


def test_run_extends_while_events_arrive_within_the_gap_and_includes_the_lead_in() -> None:
    lead_in = [liq(t, 1_000) for t in (0, 9, 18)]  # trickle, each within 10 s of the previous
    burst = [liq(20 + i, 40_000) for i in range(5)]
    tail = [liq(t, 1_000) for t in (33, 42)]
    after_gap = [liq(60, 1_000)]
    (c,) = detect_cascades_table(lead_in + burst + tail + after_gap)
    assert c.count == 10 and c.ts_event == 0 and c.ts_end == 42 * S
    assert c.notional_usd == pytest.approx(205_000)


def test_window_and_gap_include_their_end() -> None:
    # five events spanning exactly the 10 s window qualify; 10 s + 1 ns does not
    assert len(detect_cascades_table([liq(t, 30_000) for t in (0, 1, 2, 3, 10)])) == 1
    late = [liq(t, 30_000) for t in (0, 1, 2, 3)] + [liq(10 + 1e-9, 30_000)]
    assert detect_cascades_table(late) == []


def test_sides_are_independent_and_venues_are_merged() -> None:
    longs = [
        liq(i, 30_000, venue=[Venue.BINANCE, Venue.BYBIT, Venue.OKX][i % 3], price=100 - i) for i in range(6)
    ]
    shorts = [liq(i + 0.5, 1_000, side=PositionSide.SHORT) for i in range(6)]
    (c,) = detect_cascades_table(longs + shorts)
    assert c.side is PositionSide.LONG and c.count == 6
    assert c.venues == [Venue.BINANCE, Venue.BYBIT, Venue.OKX] and c.venue is Venue.BINANCE
    assert (c.price_low, c.price_high) == (95.0, 100.0)
    assert c.sampled  # Binance/OKX events inside: totals are lower bounds
    assert "≥$180,000" in format_cascade(c)


def test_symbols_are_separate_and_params_per_symbol() -> None:
    btc = [liq(i, 30_000) for i in range(5)]
    doge = [liq(i, 5_000, symbol="DOGE") for i in range(5)]
    assert [c.symbol for c in detect_cascades_table(btc + doge)] == ["BTC"]
    per_symbol = {"DOGE": CascadeParams(min_count_usd=20_000)}
    assert [c.symbol for c in detect_cascades_table(btc + doge, params=per_symbol)] == ["BTC", "DOGE"]


def test_array_inputs_and_bad_side() -> None:
    ts = np.arange(5) * S
    out = detect_cascades(
        ts, np.ones(5, dtype=bool), np.full(5, 30_000.0), np.full(5, 1.0), ["okx"] * 5, False
    )
    assert len(out) == 1 and out[0].venues == [Venue.OKX] and not out[0].sampled
    with pytest.raises(ValueError, match="long"):
        detect_cascades(ts, ["buy"] * 5, np.ones(5), np.ones(5), ["okx"] * 5, False)
    with pytest.raises(ValueError):
        CascadeParams(window_ns=0)


def test_incremental_lifecycle_open_update_close() -> None:
    det = CascadeDetector()
    statuses = []
    for i in range(7):
        statuses += [u.status for u in det.push_event(liq(i, 30_000))]
    assert statuses == ["open", "update", "update"]  # qualifies at the 5th event
    assert det.open_cascades[0].count == 7
    assert det.advance(6 * S + 10 * S) == []  # exactly the gap: still open
    (closed,) = det.advance(6 * S + 10 * S + 1)
    assert closed.status == "close" and closed.cascade.count == 7 and det.open_cascades == []


def test_incremental_reorders_within_lateness() -> None:
    events = [liq(i * 0.7, 30_000, venue=[Venue.BINANCE, Venue.BYBIT][i % 2]) for i in range(12)]
    shuffled = events[1::2] + events[0::2]  # up to ~8 s out of order
    assert detect_cascades_incremental(shuffled, lateness_ns=9 * S) == detect_cascades_table(events)
    det = CascadeDetector()
    for e in shuffled:
        det.push_event(e)
    det.flush()
    assert det.late > 0  # without lateness, late events are clamped and counted


# ---- batch == incremental (property) ---------------------------------------------------------------------

event = st.tuples(
    st.integers(0, 60).map(lambda q: q * 250),  # ms since the previous event (coarse: hits the boundaries)
    st.booleans(),  # long?
    st.one_of(st.floats(0, 50_000), st.floats(50_000, 2_000_000)),
    st.floats(1.0, 200_000.0),
    st.sampled_from(list(Venue)),
)
params = st.builds(
    CascadeParams,
    window_ns=st.integers(1, 20).map(lambda s: s * S),
    gap_ns=st.integers(1, 20).map(lambda s: s * S),
    min_count=st.integers(1, 8),
    min_count_usd=st.sampled_from([0.0, 50_000.0, 100_000.0]),
    min_usd=st.sampled_from([200_000.0, 1_000_000.0]),
    min_usd_count=st.integers(1, 3),
)


def _events(rows: list[tuple[int, bool, float, float, Venue]]) -> list[Liquidation]:
    out, t = [], 0
    for dt_ms, is_long, usd, price, venue in rows:
        t += dt_ms * NS_PER_MS
        side = PositionSide.LONG if is_long else PositionSide.SHORT
        out.append(
            Liquidation(
                venue=venue,
                symbol="BTC",
                ts_event=t,
                ts_recv=t,
                side=side,
                price=price,
                quantity=usd / price,
                notional_usd=usd,
                sampled=venue is Venue.BINANCE,
            )
        )
    return out


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(event, max_size=80), p=params)
def test_batch_equals_incremental(
    rows: list[tuple[int, bool, float, float, Venue]], p: CascadeParams
) -> None:
    events = _events(rows)
    assert detect_cascades_incremental(events, params=p) == detect_cascades_table(events, params=p)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(event.filter(lambda r: r[0] > 0), max_size=60),
    jitter=st.lists(st.integers(0, 3_000), min_size=60, max_size=60),
    p=params,
)
def test_batch_equals_incremental_out_of_order_within_lateness(
    rows: list[tuple[int, bool, float, float, Venue]], jitter: list[int], p: CascadeParams
) -> None:
    events = _events(rows)  # distinct timestamps
    # arrival order: by ts + a delay of at most 3 s, so nothing is later than the 3 s lateness allows
    arrival = sorted(range(len(events)), key=lambda i: events[i].ts_event + jitter[i] * NS_PER_MS)
    got = detect_cascades_incremental([events[i] for i in arrival], params=p, lateness_ns=3 * S)
    assert got == detect_cascades_table(events, params=p)


# ---- validation on the real Binance forceOrder file ------------------------------------------------------

FORCE_ORDER = "binance-forceorder-btcusdt-2024-12-04_2024-12-06.csv"


def _load_force_orders(path: Path) -> list[Liquidation]:
    """Each CSV row rebuilt as the forceOrder message it was and decoded by the production decoder."""

    dec = Decoder()
    out: list[Liquidation] = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            order = {
                "s": r["symbol"],
                "S": r["order_side"],
                "o": r["order_type"],
                "f": r["time_in_force"],
                "q": r["orig_qty"],
                "p": r["price"],
                "ap": r["avg_price"],
                "X": r["status"],
                "l": r["last_filled_qty"],
                "z": r["filled_qty"],
                "T": int(r["trade_time_ms"]),
            }
            msg = json.dumps({"e": "forceOrder", "E": int(r["event_time_ms"]), "o": order})
            (ev,) = dec.decode(msg, int(r["event_time_ms"]) * NS_PER_MS)
            assert isinstance(ev, Liquidation)
            out.append(ev)
    return out


def _in(cascades: list, start: str, end: str) -> list:  # type: ignore[type-arg]
    a, b = parse_time_ns(start), parse_time_ns(end)
    return [c for c in cascades if a <= c.ts_event < b]


@pytest.mark.shared_data
def test_defaults_on_the_real_forceorder_file(shared: Callable[[str], Path]) -> None:
    events = _load_force_orders(shared(FORCE_ORDER))
    assert len(events) == 1_844 and all(e.sampled for e in events)
    found = detect_cascades_table(events)
    assert len(found) == 24

    # the 2024-12-05 flush (19:35–20:35 UTC, price 100.6k → 97.95k): 8 long cascades, 103 pushes,
    # ≥ $3.31M, plus one short cascade on the bounce
    flush = _in(found, "2024-12-05T19:35Z", "2024-12-05T20:35Z")
    longs = [c for c in flush if c.side is PositionSide.LONG]
    assert len(longs) == 8 and len(flush) == 9
    assert [c.count for c in longs] == [26, 11, 12, 11, 14, 11, 7, 11]
    assert sum(c.notional_usd for c in longs) == pytest.approx(3_313_285.68, abs=0.01)
    assert min(c.price_low for c in longs) == pytest.approx(98_120.6)
    assert all(c.sampled and c.venues == [Venue.BINANCE] for c in longs)
    # the 2024-12-04 short squeeze (95.4k → 99.1k): short cascades only
    squeeze = _in(found, "2024-12-04T17:00Z", "2024-12-04T21:00Z")
    assert len(squeeze) == 11 and all(c.side is PositionSide.SHORT for c in squeeze)

    # quiet hours stay silent: 12-04 16:00 and 12-06 18:00 (under $100k each) and the whole 12-05 Asian
    # session (00:00–09:00: 368 pushes, $2.5M) — where the bare "5 events in 10 s" rule fires 10 times
    bare = detect_cascades_table(events, params=CascadeParams(min_count_usd=0.0, min_usd_count=1))
    assert len(bare) == 81
    quiet = [
        ("2024-12-04T16:00Z", "2024-12-04T17:00Z"),
        ("2024-12-05T00:00Z", "2024-12-05T09:00Z"),
        ("2024-12-06T18:00Z", "2024-12-06T19:00Z"),
    ]
    for a, b in quiet:
        assert _in(found, a, b) == [], (a, b)
    assert sum(len(_in(bare, a, b)) for a, b in quiet) == 10
    assert len(_in(found, "2024-12-05T17:40Z", "2024-12-05T19:35Z")) == 0  # the slow bleed before the flush

    # the live detector agrees with the batch function on the real tape
    assert detect_cascades_incremental(events, lateness_ns=S) == found
