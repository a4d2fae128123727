"""Bybit v5 linear adapter: documented payloads, the recorded session, bad input, REST and subscriptions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpscope.errors import DecodeError, UnknownChannel
from perpscope.model import (
    BookDelta,
    BookSnapshot,
    Candle,
    Funding,
    Liquidation,
    MarkPrice,
    OpenInterest,
    PositionSide,
    Side,
    Trade,
    Venue,
)
from perpscope.venues import bybit, make_decoder
from perpscope.venues.bybit import Decoder
from perpscope.venues.lines import CaptureReader

RECV = 1_700_000_000_000_000_000


def load(fixtures_dir: Path, name: str) -> bytes:
    return (fixtures_dir / "bybit" / name).read_bytes()


# -- documented payloads -------------------------------------------------------------------------------------


def test_all_liquidation_documented(fixtures_dir: Path) -> None:
    assert Decoder().decode(load(fixtures_dir, "ws_allLiquidation.json"), RECV) == [
        Liquidation(
            venue=Venue.BYBIT,
            symbol="ROSE",
            ts_event=1739502302929_000_000,
            ts_recv=RECV,
            side=PositionSide.SHORT,  # S is the POSITION side: Sell = a short was liquidated
            price=0.04499,  # bankruptcy price
            quantity=20000.0,
            notional_usd=0.04499 * 20000.0,
            sampled=False,  # allLiquidation pushes every liquidation
        )
    ]


def test_all_liquidation_batch_reads_every_entry(fixtures_dir: Path) -> None:
    events = Decoder().decode(load(fixtures_dir, "ws_allLiquidation_batch.json"), RECV)
    assert [(e.side, e.price, e.quantity) for e in events if isinstance(e, Liquidation)] == [
        (PositionSide.LONG, 96000.5, 0.5),  # Buy = a long was liquidated
        (PositionSide.LONG, 95990.1, 0.012),
        (PositionSide.SHORT, 97010.0, 1.25),
    ]
    assert [e.ts_event for e in events] == [
        1739502303101_000_000,
        1739502303230_000_000,
        1739502303400_000_000,
    ]


def test_deprecated_liquidation_topic(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_liquidation_deprecated.json")
    expected = Liquidation(
        venue=Venue.BYBIT,
        symbol="BTC",
        ts_event=1703485237953_000_000,
        ts_recv=RECV,
        side=PositionSide.SHORT,  # position side per the later docs: Sell = a short was liquidated
        price=43511.7,
        quantity=0.003,
        notional_usd=43511.7 * 0.003,
        sampled=True,  # at most one per symbol per second
    )
    assert Decoder().decode(raw, RECV) == [expected]
    # The parameter table spells the time "updateTime"; both spellings are read.
    assert Decoder().decode(raw.replace(b"updatedTime", b"updateTime"), RECV) == [expected]
    as_array = raw.replace(b'"data":{', b'"data":[{').replace(b'"}}', b'"}]}')
    assert Decoder().decode(as_array, RECV) == [expected]


def test_public_trade_documented(fixtures_dir: Path) -> None:
    assert Decoder().decode(load(fixtures_dir, "ws_publicTrade.json"), RECV) == [
        Trade(
            venue=Venue.BYBIT,
            symbol="BTC",
            ts_event=1672304486865_000_000,
            ts_recv=RECV,
            side=Side.BUY,  # taker side
            price=16578.5,
            quantity=0.001,
            notional_usd=16578.5 * 0.001,
            trade_id="20f43950-d8dd-5b31-9112-a178eb6023af",
        )
    ]


def test_orderbook_snapshot_delta_and_reset(fixtures_dir: Path) -> None:
    dec = Decoder()
    assert dec.decode(load(fixtures_dir, "ws_orderbook_snapshot.json"), RECV) == [
        BookSnapshot(
            venue=Venue.BYBIT,
            symbol="BTC",
            ts_event=1672304484978_000_000,
            ts_recv=RECV,
            bids=[(16493.5, 0.006), (16493.0, 0.1)],
            asks=[(16611.0, 0.029), (16612.0, 0.213)],
            update_id=18521288,
            cross_seq=7961638724,
        )
    ]
    (delta,) = dec.decode(load(fixtures_dir, "ws_orderbook_delta.json"), RECV)
    assert isinstance(delta, BookDelta)
    assert (delta.update_id, delta.cross_seq, delta.ts_event) == (
        177400507,
        66544703342,
        1687940967466_000_000,
    )
    assert delta.bids[-1] == (30240.0, 0.0)  # size 0 deletes the level
    assert len(delta.bids) == 5 and len(delta.asks) == 7
    (reset,) = dec.decode(load(fixtures_dir, "ws_orderbook_reset.json"), RECV)
    assert isinstance(reset, BookSnapshot)  # u == 1: the venue restarted the book
    assert (reset.update_id, reset.bids, reset.asks) == (1, [(30247.2, 1.5)], [(30248.7, 2.5)])


def test_tickers_snapshot_then_deltas(fixtures_dir: Path) -> None:
    dec = Decoder()
    ts = 1673272861686_000_000
    mark, funding, oi = dec.decode(load(fixtures_dir, "ws_tickers_snapshot.json"), RECV)
    assert mark == MarkPrice(
        venue=Venue.BYBIT, symbol="BTC", ts_event=ts, ts_recv=RECV, mark_price=17217.33, index_price=17227.36
    )
    assert funding == Funding(
        venue=Venue.BYBIT,
        symbol="BTC",
        ts_event=ts,
        ts_recv=RECV,
        rate=-0.000212,
        interval_hours=8.0,
        next_funding_ts=1673280000000_000_000,
    )
    # No singleOpenInterest in this (2023) payload: the two-sided openInterest is halved.
    assert oi == OpenInterest(
        venue=Venue.BYBIT,
        symbol="BTC",
        ts_event=ts,
        ts_recv=RECV,
        oi_base=68744.761 / 2,
        oi_usd=1183601235.91 / 2,
    )
    # A delta carries only what changed; the rest comes from the merged state.
    mark2, oi2 = dec.decode(load(fixtures_dir, "ws_tickers_delta.json"), RECV)
    assert isinstance(mark2, MarkPrice) and (mark2.mark_price, mark2.index_price) == (17218.0, 17227.36)
    assert isinstance(oi2, OpenInterest) and (oi2.oi_base, oi2.oi_usd) == (68744.761 / 2, 1183647295.0 / 2)
    assert dec.decode(load(fixtures_dir, "ws_tickers_delta_quotes.json"), RECV) == []
    assert dec.counts["ticker_other"] == 1
    (funding2,) = dec.decode(load(fixtures_dir, "ws_tickers_delta_funding.json"), RECV)
    assert isinstance(funding2, Funding)
    assert (funding2.rate, funding2.interval_hours, funding2.next_funding_ts) == (
        -0.00025,
        4.0,
        1673280000000_000_000,
    )


def test_tickers_prefer_single_sided_fields(fixtures_dir: Path) -> None:
    dec = Decoder()
    events = dec.decode(load(fixtures_dir, "ws_tickers_snapshot_single.json"), RECV)
    (oi,) = [e for e in events if isinstance(e, OpenInterest)]
    assert (oi.symbol, oi.oi_base, oi.oi_usd) == ("ETH", 450000.25, 1125180100.125)
    # A later two-sided value without its one-sided twin makes the stored twin stale: halve the new one.
    delta = b'{"topic":"tickers.ETHUSDT","type":"delta","ts":1786310000223,"data":{"symbol":"ETHUSDT",'
    delta += b'"openInterest":"900002.00","openInterestValue":"2250365000.00"}}'
    (oi2,) = dec.decode(delta, RECV)
    assert isinstance(oi2, OpenInterest) and (oi2.oi_base, oi2.oi_usd) == (450001.0, 1125182500.0)


def test_kline_documented(fixtures_dir: Path) -> None:
    assert Decoder().decode(load(fixtures_dir, "ws_kline.json"), RECV) == [
        Candle(
            venue=Venue.BYBIT,
            symbol="BTC",
            ts_event=1672324800000_000_000,
            ts_recv=RECV,
            interval_s=300,
            open=16649.5,
            high=16677.0,
            low=16608.0,
            close=16677.0,
            volume=2.081,
            quote_volume=34666.4005,
            closed=False,
        )
    ]


def test_control_frames(fixtures_dir: Path) -> None:
    dec = Decoder()
    assert dec.decode(load(fixtures_dir, "ws_subscribe_ack.json"), RECV) == []
    assert dec.decode(load(fixtures_dir, "ws_pong.json"), RECV) == []
    assert dec.decode(b'{"op":"pong","args":["1675418560633"],"conn_id":"x"}', RECV) == []
    assert dec.counts["control"] == 3
    with pytest.raises(DecodeError, match="handler not found"):
        dec.decode(load(fixtures_dir, "ws_subscribe_rejected.json"), RECV)


def test_non_usdt_perpetuals_are_skipped() -> None:
    dec = Decoder()
    msg = b'{"topic":"publicTrade.BTCPERP","type":"snapshot","ts":1,"data":[{"T":1,"s":"BTCPERP","S":"Buy",'
    msg += b'"v":"1","p":"1","i":"a"}]}'
    assert dec.decode(msg, RECV) == []
    assert dec.counts["not_usdt_perp"] == 1
    assert isinstance(make_decoder("bybit"), Decoder)


# -- bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "error", "match"),
    [
        (b"{not json", DecodeError, "malformed"),
        (b"[1,2]", DecodeError, "Expected `object`"),
        (b'{"topic":"insurance.USDT","type":"snapshot","ts":1,"data":[]}', UnknownChannel, "unknown topic"),
        (b'{"hello":"world"}', UnknownChannel, "neither a topic nor an op"),
        (b'{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1}', DecodeError, "no data"),
        (
            b'{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Up","v":"1","p":"1","i":"x"}]}',
            DecodeError,
            "Invalid enum value 'Up'",
        ),
        (
            b'{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"1","i":"x"}]}',
            DecodeError,
            "missing required field `p`",
        ),
        (
            b'{"topic":"allLiquidation.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"1","p":"nan"}]}',
            DecodeError,
            r"Expected `float` > 0.0 - at `\$\[0\].p`",
        ),
        (
            b'{"topic":"allLiquidation.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"-2","p":"1"}]}',
            DecodeError,
            "Expected `float` > 0.0",
        ),
        (
            b'{"topic":"allLiquidation.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"1e14","p":"1"}]}',
            DecodeError,
            "<= 10000000000000.0",
        ),
        (
            b'{"topic":"allLiquidation.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"1e6","p":"1e6"}]}',
            DecodeError,
            "absurd notional",
        ),
        (
            b'{"topic":"orderbook.50.BTCUSDT","type":"weird","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":5}}',
            DecodeError,
            "unknown type",
        ),
        (
            b'{"topic":"tickers.BTCUSDT","type":"snapshot","ts":1,"data":{"symbol":"BTCUSDT","markPrice":"abc"}}',
            DecodeError,
            "not a number",
        ),
        (
            b'{"topic":"tickers.BTCUSDT","type":"snapshot","ts":1,"data":{"symbol":"BTCUSDT","fundingRate":"NaN"}}',
            DecodeError,
            "not finite",
        ),
        (
            b'{"topic":"kline.M.BTCUSDT","ts":1,"data":[{"start":1,"end":2,"interval":"M","open":"1","close":"1",'
            b'"high":"1","low":"1","volume":"1","turnover":"1","confirm":true,"timestamp":1}]}',
            DecodeError,
            "unsupported kline interval 'M'",
        ),
    ],
)
def test_bad_messages(raw: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Decoder().decode(raw, RECV)


@given(
    oi=st.decimals(min_value="0", max_value="1e9", places=3, allow_nan=False),
    value=st.decimals(min_value="0", max_value="1e10", places=2, allow_nan=False),
)
def test_open_interest_is_half_of_two_sided(oi: object, value: object) -> None:
    state = {"openInterest": str(oi), "openInterestValue": str(value)}
    assert bybit.one_sided_open_interest(state) == (float(str(oi)) / 2, float(str(value)) / 2)
    single = {**state, "singleOpenInterest": "7.5", "singleOpenInterestValue": "12.25"}
    assert bybit.one_sided_open_interest(single) == (7.5, 12.25)


# -- the recorded session (../shared/data) -------------------------------------------------------------------


@pytest.mark.shared_data
def test_session_replay_exact_counts(shared) -> None:  # type: ignore[no-untyped-def]
    path = shared("bybit-ws-session-2026-08-10.jsonl.zst")
    reader = CaptureReader(path, keep_connection=bybit.accepts_ws_url)
    dec = Decoder()
    topics: Counter[tuple[str, str]] = Counter()
    events: Counter[tuple[str, str]] = Counter()
    errors = 0
    last_u: dict[str, int] = {}
    oi_pairs = 0
    for ts_recv, payload in reader:
        msg = json.loads(payload)
        topics[(msg.get("topic", "control").rsplit(".", 1)[0], msg.get("type") or "-")] += 1
        if "tickers" in msg.get("topic", ""):
            d = msg["data"]
            if "openInterest" in d and "singleOpenInterest" in d:
                # The evidence for the one-sided choice: tickers openInterest is twice the single side, up to
                # the rounding of the single side's last digit.
                unit = 10.0 ** -len(d["singleOpenInterest"].partition(".")[2])
                assert abs(float(d["openInterest"]) - 2 * float(d["singleOpenInterest"])) <= 2 * unit + 1e-9
                oi_pairs += 1
        try:
            out = dec.decode(payload, ts_recv or 0)
        except DecodeError:
            errors += 1
            continue
        for ev in out:
            events[(ev.kind_name.value, ev.symbol)] += 1
            if isinstance(ev, BookDelta):
                assert ev.update_id > last_u[ev.symbol]
                last_u[ev.symbol] = ev.update_id
            elif isinstance(ev, BookSnapshot):
                last_u[ev.symbol] = ev.update_id
            elif isinstance(ev, OpenInterest):
                assert ev.oi_base > 0 and ev.oi_usd > 0
    assert errors == 0
    assert oi_pairs >= 4
    assert reader.skipped == {
        "other_connection": 681,  # the spot connection's frames
        "session:send": 24,
        "session:http": 2,
        "session:connect": 2,
        "session:header": 1,
    }
    assert topics == {
        ("control", "-"): 17,
        ("orderbook.200", "snapshot"): 4,
        ("orderbook.200", "delta"): 1_594,
        ("tickers", "snapshot"): 4,
        ("tickers", "delta"): 754,
        ("publicTrade", "snapshot"): 102,
        ("kline.1", "snapshot"): 71,
    }
    by_kind: Counter[str] = Counter()
    for (kind, _), n in events.items():
        by_kind[kind] += n
    assert by_kind == {
        "book_snapshot": 4,
        "book_delta": 1_594,
        "trade": 327,
        "candle": 75,
        "mark_price": 138,
        "funding": 6,
        "open_interest": 105,
    }
    assert {s for _, s in events} == {"BTC", "ETH", "SOL", "DOGE"}
    assert dec.counts == {"control": 17, "ticker_other": 602}


@pytest.mark.shared_data
def test_session_instruments_response(shared) -> None:  # type: ignore[no-untyped-def]
    """The session's real instruments-info response parses; the six default coins are there."""

    path = shared("bybit-ws-session-2026-08-10.jsonl.zst")
    import zstandard

    with open(path, "rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read()
    lines = [json.loads(line) for line in text.splitlines()]
    (linear,) = [x for x in lines if x["t"] == "http" and "category=linear" in x["url"]]
    instruments, _cursor = bybit.parse_instruments_info(linear["data"])
    by_symbol = {i.symbol: i for i in instruments}
    assert {"BTC", "ETH", "SOL", "BNB", "XRP", "DOGE"} <= set(by_symbol)
    assert by_symbol["BTC"].tick_size > 0 and by_symbol["BTC"].qty_step > 0
    assert len(instruments) > 100


# -- subscriptions -------------------------------------------------------------------------------------------


def test_topics() -> None:
    assert bybit.liquidation_topic("btc") == "allLiquidation.BTCUSDT"
    assert bybit.legacy_liquidation_topic("ETH") == "liquidation.ETHUSDT"
    assert bybit.trade_topic("SOL") == "publicTrade.SOLUSDT"
    assert bybit.orderbook_topic("BTC") == "orderbook.200.BTCUSDT"
    assert bybit.orderbook_topic("BTC", depth=1000) == "orderbook.1000.BTCUSDT"
    assert bybit.tickers_topic("DOGE") == "tickers.DOGEUSDT"
    assert bybit.kline_topic("XRP", interval="5") == "kline.5.XRPUSDT"
    with pytest.raises(ValueError):
        bybit.orderbook_topic("BTC", depth=40)  # type: ignore[arg-type]
    assert bybit.PING_MESSAGE == b'{"op":"ping"}' and bybit.PING_INTERVAL_S == 20


def test_subscribe_messages_respect_args_limit() -> None:
    topics = [bybit.trade_topic(f"COIN{i}") for i in range(2000)]
    conns = bybit.subscribe_messages([*topics, topics[0]])
    seen: list[str] = []
    for messages in conns:
        args = [t for m in messages for t in msgspec.json.decode(m)["args"]]
        assert len(json.dumps(args, separators=(",", ":"))) <= bybit.MAX_ARGS_CHARS
        assert all(len(msgspec.json.decode(m)["args"]) <= 10 for m in messages)
        assert all(msgspec.json.decode(m)["op"] == "subscribe" for m in messages)
        seen.extend(args)
    assert seen == topics  # every topic once, in order
    assert len(conns) == 3  # ~48,000 characters of topics
    assert bybit.subscribe_messages(["tickers.BTCUSDT"]) == [
        [b'{"op":"subscribe","args":["tickers.BTCUSDT"]}']
    ]


def test_connection_filter() -> None:
    assert bybit.accepts_ws_url("wss://stream.bybit.com/v5/public/linear")
    assert bybit.accepts_ws_url("ws://127.0.0.1:8765/v5/public/linear")
    assert not bybit.accepts_ws_url("wss://stream.bybit.com/v5/public/spot")
    assert not bybit.accepts_ws_url("wss://stream.bybit.com/v5/public/inverse")


# -- REST ----------------------------------------------------------------------------------------------------


def test_rest_requests() -> None:
    req = bybit.open_interest_request("btc", cursor="abc", start_ms=5)
    assert req.url == (
        "https://api.bybit.com/v5/market/open-interest?category=linear&symbol=BTCUSDT&intervalTime=5min"
        "&startTime=5&limit=200&cursor=abc"
    )
    assert bybit.funding_history_request("ETH", end_ms=9).params == {
        "category": "linear",
        "symbol": "ETHUSDT",
        "endTime": 9,
        "limit": 200,
    }
    assert bybit.tickers_request().params == {"category": "linear"}
    assert bybit.kline_request("SOL", interval="60", limit=1000).params["interval"] == "60"
    assert bybit.instruments_info_request(cursor="n").params == {
        "category": "linear",
        "limit": 1000,
        "cursor": "n",
    }
    assert bybit.orderbook_request("BTC", limit=500).path == "/v5/market/orderbook"
    emu = bybit.risk_limit_request(symbol="BTC", endpoints=bybit.Endpoints(rest="http://127.0.0.1:1"))
    assert emu.url == "http://127.0.0.1:1/v5/market/risk-limit?category=linear&symbol=BTCUSDT"
    with pytest.raises(ValueError):
        bybit.open_interest_request("BTC", limit=201)
    with pytest.raises(ValueError):
        bybit.orderbook_request("BTC", limit=501)


def test_parse_open_interest(fixtures_dir: Path) -> None:
    page = bybit.parse_open_interest(load(fixtures_dir, "rest_open_interest.json"))
    assert page == bybit.OpenInterestPage(
        symbol="BTC",
        points=[
            bybit.OpenInterestPoint(1786310400000_000_000, 29995.0),
            bybit.OpenInterestPoint(1786310700000_000_000, 30000.25),
        ],
        next_cursor="lastid%3D96211021",
    )
    legacy = bybit.parse_open_interest(load(fixtures_dir, "rest_open_interest_legacy.json"))
    assert [p.oi_base for p in legacy.points] == [49990.0 / 2, 50000.5 / 2]  # two-sided halved
    assert legacy.next_cursor == ""


def test_parse_funding_history(fixtures_dir: Path) -> None:
    events = bybit.parse_funding_history(load(fixtures_dir, "rest_funding_history.json"))
    assert events[0] == Funding(
        venue=Venue.BYBIT,
        symbol="ETH",
        ts_event=1672041600000_000_000,
        ts_recv=1672041600000_000_000,
        rate=0.00012,
        interval_hours=4.0,
        settled_rate=0.00012,
    )
    assert [e.rate for e in events] == [0.00012, -0.00005, 0.0001]


def test_parse_tickers(fixtures_dir: Path) -> None:
    events = bybit.parse_tickers(load(fixtures_dir, "rest_tickers.json"))
    assert [(e.kind_name.value, e.symbol) for e in events] == [
        ("mark_price", "BTC"),
        ("funding", "BTC"),
        ("open_interest", "BTC"),
        ("mark_price", "DOGE"),
        ("funding", "DOGE"),
        ("open_interest", "DOGE"),
    ]
    btc_oi, doge_oi = (e for e in events if isinstance(e, OpenInterest))
    assert (btc_oi.oi_base, btc_oi.oi_usd) == (30000.25, 2100336017.8)  # single-sided fields
    assert (doge_oi.oi_base, doge_oi.oi_usd) == (1e9, 400050000 / 2)  # halved
    doge_funding = events[4]
    assert isinstance(doge_funding, Funding) and doge_funding.interval_hours == 4.0
    assert {e.ts_event for e in events} == {1786310000000_000_000}


def test_parse_kline(fixtures_dir: Path) -> None:
    older, newer = bybit.parse_kline(load(fixtures_dir, "rest_kline.json"), interval="5")
    assert older == Candle(
        venue=Venue.BYBIT,
        symbol="BTC",
        ts_event=1786310400000_000_000,
        ts_recv=1786310400000_000_000,
        interval_s=300,
        open=65100.0,
        high=65125.5,
        low=65090.0,
        close=65120.1,
        volume=20.5,
        quote_volume=1334600.5,
        closed=True,
    )
    assert not newer.closed  # ends at 1786311000000 > response time


def test_parse_instruments_info(fixtures_dir: Path) -> None:
    instruments, cursor = bybit.parse_instruments_info(load(fixtures_dir, "rest_instruments_info.json"))
    assert cursor == "next%3D2"
    assert instruments == [
        bybit.Instrument(
            symbol="BTC",
            venue_symbol="BTCUSDT",
            status="Trading",
            tick_size=0.1,
            qty_step=0.001,
            min_qty=0.001,
            max_leverage=100.0,
            funding_interval_hours=8.0,
        ),
        bybit.Instrument(
            symbol="DOGE",
            venue_symbol="DOGEUSDT",
            status="Trading",
            tick_size=0.00001,
            qty_step=1.0,
            min_qty=1.0,
            max_leverage=75.0,
            funding_interval_hours=4.0,
        ),
    ]


def test_parse_orderbook(fixtures_dir: Path) -> None:
    assert bybit.parse_orderbook(load(fixtures_dir, "rest_orderbook.json"), ts_recv=RECV) == BookSnapshot(
        venue=Venue.BYBIT,
        symbol="BTC",
        ts_event=1716863719031_000_000,
        ts_recv=RECV,
        bids=[(65485.47, 47.081), (65485.0, 0.25)],
        asks=[(65557.7, 16.606), (65558.0, 1.5)],
        update_id=230704,
        cross_seq=1432604333,
    )


def test_parse_risk_limit(fixtures_dir: Path) -> None:
    tiers = bybit.parse_risk_limit(load(fixtures_dir, "rest_risk_limit.json"), symbol="BTC")
    assert tiers == [
        {"notional_floor": 0.0, "notional_cap": 2_000_000.0, "mmr": 0.005, "cum": 0.0, "max_leverage": 100.0},
        {
            "notional_floor": 2_000_000.0,
            "notional_cap": 2_600_000.0,
            "mmr": 0.0056,
            "cum": 1200.0,
            "max_leverage": 86.2,
        },
        {
            "notional_floor": 2_600_000.0,
            "notional_cap": 3_200_000.0,
            "mmr": 0.0062,
            "cum": pytest.approx(1200.0 + 2_600_000.0 * (0.0062 - 0.0056)),
            "max_leverage": 75.75,
        },
    ]
    percent = bybit.parse_risk_limit(load(fixtures_dir, "rest_risk_limit_percent.json"), symbol="XRP")
    assert [(t["mmr"], t["cum"]) for t in percent] == [(0.005, 0.0), (0.01, pytest.approx(150 * 0.005))]
    with pytest.raises(DecodeError, match="no tiers for SOLUSDT"):
        bybit.parse_risk_limit(load(fixtures_dir, "rest_risk_limit.json"), symbol="SOL")


def test_rest_error(fixtures_dir: Path) -> None:
    with pytest.raises(DecodeError, match="retCode 10001: params error"):
        bybit.parse_orderbook(load(fixtures_dir, "rest_error.json"))
    with pytest.raises(DecodeError, match="funding/history"):
        bybit.parse_funding_history(b"<html>busy</html>")
