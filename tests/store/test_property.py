"""Property: any batch of valid events written (streamed or in one go) reads back as the same multiset."""

from __future__ import annotations

import tempfile
from collections import Counter

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpscope.model import (
    Bar,
    BookDelta,
    BookSnapshot,
    Candle,
    Cascade,
    Funding,
    Kind,
    Liquidation,
    MarkPrice,
    OpenInterest,
    PositionSide,
    Side,
    Trade,
    Venue,
)
from perpscope.store import Store

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
opt_finite = st.none() | finite
ts = st.integers(min_value=0, max_value=4_000_000_000_000_000_000)  # up to 2096
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
levels = st.lists(st.tuples(finite, finite), max_size=4)


def _common() -> dict:
    return {
        "venue": st.sampled_from(list(Venue)),
        "symbol": st.sampled_from(["BTC", "ETH", "kPEPE", "1000PEPE", "SOL"]),
        "ts_event": ts,
        "ts_recv": ts,
    }


events = st.one_of(
    st.builds(
        Liquidation,
        **_common(),
        side=st.sampled_from(list(PositionSide)),
        price=finite,
        quantity=finite,
        notional_usd=finite,
        sampled=st.booleans(),
    ),
    st.builds(
        Trade,
        **_common(),
        side=st.sampled_from(list(Side)),
        price=finite,
        quantity=finite,
        notional_usd=finite,
        trade_id=st.text(max_size=8),
    ),
    st.builds(OpenInterest, **_common(), oi_base=finite, oi_usd=finite),
    st.builds(
        Funding,
        **_common(),
        rate=finite,
        interval_hours=finite,
        next_funding_ts=st.none() | ints,
        settled_rate=opt_finite,
    ),
    st.builds(MarkPrice, **_common(), mark_price=finite, index_price=opt_finite),
    st.builds(
        Candle,
        **_common(),
        interval_s=ints,
        open=finite,
        high=finite,
        low=finite,
        close=finite,
        volume=finite,
        quote_volume=opt_finite,
        taker_buy_volume=opt_finite,
        closed=st.booleans(),
    ),
    st.builds(
        Bar,
        **_common(),
        interval_s=ints,
        open=finite,
        high=finite,
        low=finite,
        close=finite,
        oi_usd=finite,
        funding_rate=opt_finite,
        volume=opt_finite,
        taker_buy_volume=opt_finite,
    ),
    st.builds(
        BookSnapshot, **_common(), bids=levels, asks=levels, update_id=ints, cross_seq=st.none() | ints
    ),
    st.builds(
        BookDelta,
        **_common(),
        bids=levels,
        asks=levels,
        update_id=ints,
        first_update_id=st.none() | ints,
        prev_update_id=st.none() | ints,
        cross_seq=st.none() | ints,
    ),
    st.builds(
        Cascade,
        **_common(),
        side=st.sampled_from(list(PositionSide)),
        ts_end=ints,
        count=ints,
        notional_usd=finite,
        venues=st.lists(st.sampled_from(list(Venue)), max_size=4),
        price_low=finite,
        price_high=finite,
        sampled=st.booleans(),
    ),
)


def _bag(evs: list) -> Counter:
    return Counter(msgspec.json.encode(e) for e in evs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(events, max_size=40), streamed=st.booleans())
def test_write_then_read_gives_the_same_multiset(batch: list, streamed: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = Store(d)
        if streamed:
            with store.writer(background=False, max_buffer=7) as w:
                w.extend(batch)
            assert w.rejected.total == 0
        else:
            store.write_batch(batch)
        got = [e for kind in Kind for e in store.events(kind)]
        assert _bag(got) == _bag(batch)
        for kind in Kind:
            ts_sorted = store.read(kind, columns=["ts_event"]).column("ts_event").to_pylist()
            assert ts_sorted == sorted(ts_sorted)
