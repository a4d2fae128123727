"""Hyperliquid adapter: websocket payloads decoded with exact values, one-sided open interest, info
requests and parsers, margin tiers, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpscope.errors import DecodeError, UnknownChannel
from perpscope.model import BookSnapshot, Candle, Funding, MarkPrice, OpenInterest, Side, Trade, Venue
from perpscope.venues import hyperliquid as hl
from perpscope.venues import make_decoder
from perpscope.venues._checks import MAX_NOTIONAL_USD

MS = 1_000_000
RECV = 1_733_961_601_000 * MS  # 2024-12-12 00:00:01 UTC


@pytest.fixture
def hl_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "hyperliquid"


@pytest.fixture
def dec() -> hl.Decoder:
    return hl.Decoder()


def _msg(hl_dir: Path, name: str) -> bytes:
    return (hl_dir / name).read_bytes()


def test_trades_side_b_is_buy_aggressor(dec: hl.Decoder, hl_dir: Path) -> None:
    assert dec.decode(_msg(hl_dir, "ws_trades.json"), RECV) == [
        Trade(
            venue=Venue.HYPERLIQUID,
            symbol="BTC",
            ts_event=1733961600123 * MS,
            ts_recv=RECV,
            side=Side.BUY,  # B: the buyer aggressed
            price=97001.0,
            quantity=0.0123,
            notional_usd=97001.0 * 0.0123,
            trade_id="771234567890",
        ),
        Trade(
            venue=Venue.HYPERLIQUID,
            symbol="BTC",
            ts_event=1733961600456 * MS,
            ts_recv=RECV,
            side=Side.SELL,  # A: the seller aggressed
            price=96999.0,
            quantity=0.5,
            notional_usd=96999.0 * 0.5,
            trade_id="771234567891",
        ),
    ]


def test_l2book_is_a_snapshot_keyed_by_time(dec: hl.Decoder, hl_dir: Path) -> None:
    assert dec.decode(_msg(hl_dir, "ws_l2book.json"), RECV) == [
        BookSnapshot(
            venue=Venue.HYPERLIQUID,
            symbol="ETH",
            ts_event=1733961600500 * MS,
            ts_recv=RECV,
            bids=[(3900.1, 1.5), (3900.0, 12.25)],
            asks=[(3900.2, 2.0), (3900.4, 0.75)],
            update_id=1733961600500,
        )
    ]


def test_candle(dec: hl.Decoder, hl_dir: Path) -> None:
    assert dec.decode(_msg(hl_dir, "ws_candle.json"), RECV) == [
        Candle(
            venue=Venue.HYPERLIQUID,
            symbol="SOL",
            ts_event=1733961600000 * MS,
            ts_recv=RECV,
            interval_s=60,
            open=200.1,
            high=202.0,
            low=199.5,
            close=201.25,
            volume=1234.5,
            closed=False,  # the running bar
        )
    ]


def test_active_asset_ctx_gives_funding_one_sided_oi_and_mark(dec: hl.Decoder, hl_dir: Path) -> None:
    funding, oi, mark = dec.decode(_msg(hl_dir, "ws_active_asset_ctx.json"), RECV)
    assert funding == Funding(
        venue=Venue.HYPERLIQUID,
        symbol="BTC",
        ts_event=RECV,  # the message has no time of its own
        ts_recv=RECV,
        rate=0.00003094,
        interval_hours=1.0,
        next_funding_ts=1733965200000 * MS,  # top of the next hour
    )
    assert oi == OpenInterest(
        venue=Venue.HYPERLIQUID,
        symbol="BTC",
        ts_event=RECV,
        ts_recv=RECV,
        oi_base=9942.2624 / 2,  # openInterest counts longs + shorts: one side is half
        oi_usd=9942.2624 / 2 * 107043.0,
    )
    assert mark == MarkPrice(
        venue=Venue.HYPERLIQUID,
        symbol="BTC",
        ts_event=RECV,
        ts_recv=RECV,
        mark_price=107043.0,
        index_price=106956.0,
    )
    assert hl.OI_SIDES_REPORTED == 2.0


@pytest.mark.parametrize("name", ["ws_bbo.json", "ws_subscription_response.json", "ws_pong.json"])
def test_known_messages_without_events(dec: hl.Decoder, hl_dir: Path, name: str) -> None:
    assert dec.decode(_msg(hl_dir, name), RECV) == []


def test_error_channel(dec: hl.Decoder, hl_dir: Path) -> None:
    with pytest.raises(DecodeError, match=r"hyperliquid error: Invalid subscription"):
        dec.decode(_msg(hl_dir, "ws_error.json"), RECV)


def test_no_liquidation_feed_is_documented() -> None:
    assert "No public liquidation feed" in (hl.__doc__ or "")
    assert isinstance(make_decoder("hyperliquid"), hl.Decoder)


def _trade(**fields: object) -> str:
    t = {"coin": "BTC", "side": "B", "px": "97000", "sz": "1", "time": 1733961600000, "tid": 1}
    t.update(fields)
    return json.dumps({"channel": "trades", "data": [{k: v for k, v in t.items() if v is not None}]})


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("nope", "not a Hyperliquid message"),
        ('{"data": []}', "not a Hyperliquid message"),
        ('{"channel":"trades"}', "without data"),
        (_trade(px=None), "px"),
        (_trade(px="abc"), "px"),
        (_trade(px="nan"), "px"),
        (_trade(px="-1"), "px"),
        (_trade(sz="0"), "sz"),
        (_trade(sz="1e20"), "sz"),
        (_trade(side="X"), "side"),
        (_trade(time=5), "time"),
        (_trade(px="90000000", sz="10000"), "absurd notional"),
        ('{"channel":"l2Book","data":{"coin":"BTC","time":1733961600000,"levels":[[]]}}', "levels"),
        (
            '{"channel":"candle","data":{"t":1733961600000,"T":1733961659999,"s":"SOL","i":"1M","o":"1","c":"1",'
            '"h":"1","l":"1","v":"1"}}',
            "no fixed length",
        ),
        (
            '{"channel":"candle","data":{"t":1733961600000,"T":1733961659999,"s":"SOL","i":"1m","o":"1","c":"1",'
            '"h":"0.5","l":"1","v":"1"}}',
            "inconsistent OHLC",
        ),
        (
            '{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"abc","openInterest":"1",'
            '"markPx":"1"}}}',
            "funding",
        ),
        (
            '{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"0.0001","openInterest":"-1",'
            '"markPx":"1"}}}',
            "openInterest",
        ),
    ],
)
def test_bad_input_is_a_typed_decode_error(dec: hl.Decoder, raw: str, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        dec.decode(raw, RECV)


def test_unknown_channel(dec: hl.Decoder) -> None:
    with pytest.raises(UnknownChannel, match="userFills"):
        dec.decode('{"channel":"userFills","data":{}}', RECV)


@given(
    oi=st.decimals(min_value="0", max_value="1e9", places=4),
    mark=st.decimals(min_value="0.0001", max_value="1e6"),
)
def test_open_interest_is_half_of_the_reported_both_sides(oi, mark) -> None:
    raw = json.dumps(
        {
            "channel": "activeAssetCtx",
            "data": {"coin": "ETH", "ctx": {"funding": "0", "openInterest": str(oi), "markPx": str(mark)}},
        }
    )
    if float(str(oi)) / 2 * float(str(mark)) > MAX_NOTIONAL_USD:
        with pytest.raises(DecodeError, match="absurd notional"):
            hl.Decoder().decode(raw, RECV)
        return
    _, o, _ = hl.Decoder().decode(raw, RECV)
    assert isinstance(o, OpenInterest)
    assert o.oi_base == float(str(oi)) / 2
    assert o.oi_usd == o.oi_base * float(str(mark))


@given(raw=st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_raise_only_decode_errors(raw: bytes | str) -> None:
    try:
        out = hl.Decoder().decode(raw, RECV)
    except DecodeError:
        return
    assert isinstance(out, list)


# -------------------------------------------------------------------------------------------------------
# subscriptions


def test_documented_subscribe_message() -> None:
    assert hl.subscribe_message(hl.subscription("trades", "btc")) == (
        '{"method":"subscribe","subscription":{"type":"trades","coin":"BTC"}}'
    )
    assert json.loads(
        hl.subscribe_message(hl.subscription("candle", "ETH", interval="5m"), unsubscribe=True)
    ) == {
        "method": "unsubscribe",
        "subscription": {"type": "candle", "coin": "ETH", "interval": "5m"},
    }
    msgs = hl.subscriptions(["BTC", "SOL"])
    assert len(msgs) == 6 and all(json.loads(m)["method"] == "subscribe" for m in msgs)
    assert json.loads(hl.PING_MESSAGE) == {"method": "ping"}
    assert hl.WS_URL == "wss://api.hyperliquid.xyz/ws"


# -------------------------------------------------------------------------------------------------------
# info requests and parsers


def test_info_requests() -> None:
    r = hl.meta_and_asset_ctxs_request()
    assert (r.method, r.url, r.json_body, r.weight) == (
        "POST",
        "https://api.hyperliquid.xyz/info",
        {"type": "metaAndAssetCtxs"},
        20,
    )
    assert hl.meta_request().json_body == {"type": "meta"}
    assert hl.funding_history_request("ETH", start_ms=1, end_ms=2).json_body == {
        "type": "fundingHistory",
        "coin": "ETH",
        "startTime": 1,
        "endTime": 2,
    }
    assert hl.predicted_fundings_request().json_body == {"type": "predictedFundings"}
    assert hl.candle_snapshot_request("BTC", interval="1h", start_ms=1, end_ms=2).json_body == {
        "type": "candleSnapshot",
        "req": {"coin": "BTC", "interval": "1h", "startTime": 1, "endTime": 2},
    }
    book = hl.l2_book_request("SOL", endpoints=hl.Endpoints(rest="http://127.0.0.1:1"))
    assert (book.url, book.json_body, book.weight) == (
        "http://127.0.0.1:1/info",
        {"type": "l2Book", "coin": "SOL"},
        2,
    )
    with pytest.raises(DecodeError):
        hl.candle_snapshot_request("BTC", interval="2m", start_ms=1, end_ms=2)


def test_meta_and_asset_ctxs(hl_dir: Path) -> None:
    events = hl.parse_meta_and_asset_ctxs(_msg(hl_dir, "rest_meta_and_asset_ctxs.json"), ts_recv=RECV)
    assert [type(e).__name__ for e in events] == [
        "Funding",
        "OpenInterest",
        "MarkPrice",
    ] * 2  # delisted OLD skipped
    btc_oi, doge_oi = events[1], events[4]
    assert isinstance(btc_oi, OpenInterest) and isinstance(doge_oi, OpenInterest)
    assert (btc_oi.symbol, btc_oi.oi_base, btc_oi.oi_usd) == ("BTC", 10000.0, 970_000_000.0)
    assert (doge_oi.symbol, doge_oi.oi_base, doge_oi.oi_usd) == ("DOGE", 1.5e9, 1.5e9 * 0.3921)
    assert events[3] == Funding(
        venue=Venue.HYPERLIQUID,
        symbol="DOGE",
        ts_event=RECV,
        ts_recv=RECV,
        rate=-0.00005,
        interval_hours=1.0,
        next_funding_ts=1733965200000 * MS,
    )
    with pytest.raises(DecodeError, match="contexts"):
        hl.parse_meta_and_asset_ctxs(
            b'[{"universe":[{"name":"BTC","szDecimals":5,"maxLeverage":40}]},[]]', ts_recv=RECV
        )


def test_funding_history(hl_dir: Path) -> None:
    rows = hl.parse_funding_history(_msg(hl_dir, "rest_funding_history.json"))
    assert [(f.symbol, f.ts_event // MS, f.rate, f.settled_rate, f.interval_hours) for f in rows] == [
        ("ETH", 1683846000012, 0.0000125, 0.0000125, 1.0),
        ("ETH", 1683849600076, -0.00022196, -0.00022196, 1.0),
    ]


def test_predicted_fundings_keeps_hyperliquid_only(hl_dir: Path) -> None:
    rows = hl.parse_predicted_fundings(_msg(hl_dir, "rest_predicted_fundings.json"), ts_recv=RECV)
    assert [(f.symbol, f.rate, f.interval_hours, f.next_funding_ts // MS) for f in rows] == [
        ("AVAX", 0.0000125, 1.0, 1733958000000),
        ("BTC", -0.00001, 1.0, 1733958000000),
    ]


def test_candle_snapshot(hl_dir: Path) -> None:
    rows = hl.parse_candle_snapshot(_msg(hl_dir, "rest_candle_snapshot.json"), now_ms=1733961700000)
    assert [(c.ts_event // MS, c.open, c.close, c.volume, c.closed) for c in rows] == [
        (1733961600000, 97001.0, 97050.0, 12.34, True),
        (1733961660000, 97050.0, 97070.0, 0.5, False),  # still running at now_ms
    ]


def test_l2_book_rest(hl_dir: Path) -> None:
    snap = hl.parse_l2_book(_msg(hl_dir, "rest_l2book.json"))
    assert (snap.symbol, snap.bids, snap.asks, snap.update_id, snap.ts_recv) == (
        "BTC",
        [(97000.0, 1.2)],
        [(97001.0, 0.4)],
        1733961600500,
        1733961600500 * MS,
    )


def test_instruments_from_meta(hl_dir: Path) -> None:
    specs = hl.parse_instruments(_msg(hl_dir, "rest_meta.json"))
    assert [
        (s.symbol, s.instrument, s.lot_size, s.max_leverage, s.tick_size, s.contract_size) for s in specs
    ] == [
        ("BTC", "BTC", 1e-5, 40.0, None, 1.0),
        ("ETH", "ETH", 1e-4, 25.0, None, 1.0),
        ("SOL", "SOL", 0.01, 20.0, None, 1.0),
        ("kPEPE", "kPEPE", 1.0, 10.0, None, 1.0),
        ("BNB", "BNB", 0.001, 10.0, None, 1.0),
    ]  # delisted OLD left out
    assert all(s.funding_interval_hours == 1.0 for s in specs)


def test_margin_tiers_half_initial_margin(hl_dir: Path) -> None:
    tiers = hl.parse_margin_tiers(_msg(hl_dir, "rest_meta.json"))
    assert tiers["BTC"] == [
        {
            "notional_floor": 0.0,
            "notional_cap": 150e6,
            "mmr": 0.0125,
            "cum": 0.0,
            "max_leverage": 40.0,
            "unit": "usd",
        },
        {
            "notional_floor": 150e6,
            "notional_cap": None,
            "mmr": 0.025,
            "cum": 150e6 * (0.025 - 0.0125),  # keeps maintenance margin continuous at the boundary
            "max_leverage": 20.0,
            "unit": "usd",
        },
    ]
    # id < 50: one tier whose leverage is the id; no table at all: one tier from maxLeverage
    assert tiers["kPEPE"] == [
        {
            "notional_floor": 0.0,
            "notional_cap": None,
            "mmr": 0.05,
            "cum": 0.0,
            "max_leverage": 10.0,
            "unit": "usd",
        }
    ]
    assert tiers["BNB"][0]["mmr"] == 0.05 and len(tiers["BNB"]) == 1
    assert "OLD" not in tiers
    # maintenance margin is continuous across the ETH boundary
    eth = tiers["ETH"]
    at = 100e6
    assert at * eth[0]["mmr"] - eth[0]["cum"] == pytest.approx(at * eth[1]["mmr"] - eth[1]["cum"])  # type: ignore[operator]


def test_parse_errors_are_typed(hl_dir: Path) -> None:
    for bad in (b"{", b'{"universe": 3}', b"[1, 2]"):
        with pytest.raises(DecodeError):
            hl.parse_instruments(bad)
    with pytest.raises(DecodeError):
        hl.parse_funding_history(b'[{"coin":"ETH","fundingRate":"x","time":1683846000012}]')
    with pytest.raises(DecodeError):
        hl.tier_rows([(10.0, 5.0)])
