"""OKX v5 SWAP adapter: every documented payload decoded by the production decoder with exact values, the
contract-size rule, bad input, subscriptions and REST parsers."""

from __future__ import annotations

import json
import math
from pathlib import Path

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
from perpscope.venues import make_decoder, okx
from perpscope.venues._checks import MAX_NOTIONAL_USD
from perpscope.venues.instruments import Instruments, InstrumentSpec, UnknownInstrument

MS = 1_000_000
RECV = 1_790_000_000_000_000_000


@pytest.fixture
def okx_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "okx"


@pytest.fixture
def snapshot() -> Instruments:
    return Instruments.packaged()


@pytest.fixture
def dec(snapshot: Instruments) -> okx.Decoder:
    return okx.Decoder(snapshot)


def _msg(okx_dir: Path, name: str) -> bytes:
    return (okx_dir / name).read_bytes()


def _with_iost(base: Instruments) -> Instruments:
    iost = InstrumentSpec(venue=Venue.OKX, symbol="IOST", instrument="IOST-USDT-SWAP", contract_size=1000.0)
    return Instruments([*base.specs(), iost], as_of="test")


# -------------------------------------------------------------------------------------------------------
# liquidations


def test_documented_iost_liquidation_is_unknown_in_the_shipped_snapshot(
    dec: okx.Decoder, okx_dir: Path
) -> None:
    # venues.md's example is IOST-USDT-SWAP: not one of the six shipped coins → a counted, typed error
    # naming the fix, never a guess at ctVal.
    with pytest.raises(UnknownInstrument, match=r"IOST-USDT-SWAP.*perpscope instruments --refresh"):
        dec.decode(_msg(okx_dir, "ws_liquidation_iost_doc.json"), RECV)


def test_documented_iost_liquidation_with_its_ctval(snapshot: Instruments, okx_dir: Path) -> None:
    events = okx.Decoder(_with_iost(snapshot)).decode(_msg(okx_dir, "ws_liquidation_iost_doc.json"), RECV)
    assert events == [
        Liquidation(
            venue=Venue.OKX,
            symbol="IOST",
            ts_event=1692266434010 * MS,
            ts_recv=RECV,
            side=PositionSide.SHORT,  # posSide short (the forced buy closes it)
            price=0.007831,  # bkPx
            quantity=13 * 1000.0,  # 13 contracts × ctVal 1,000 IOST
            notional_usd=13000 * 0.007831,
            sampled=True,
        )
    ]


def test_btc_liquidation_reads_every_detail_in_coin(dec: okx.Decoder, okx_dir: Path) -> None:
    events = dec.decode(_msg(okx_dir, "ws_liquidation_btc_multi.json"), RECV)
    assert all(isinstance(e, Liquidation) and e.symbol == "BTC" and e.sampled for e in events)
    rows = [(e.side, e.price, e.quantity, e.notional_usd, e.ts_event // MS) for e in events]
    # quantity = sz (contracts) × ctVal 0.01 BTC; notional = quantity × bkPx
    assert rows == [
        (PositionSide.LONG, 97250.4, 0.25, 0.25 * 97250.4, 1733961600123),
        (PositionSide.LONG, 97248.1, 1.505, 1.505 * 97248.1, 1733961600456),
        # no posSide: a forced BUY closes a short
        (PositionSide.SHORT, 97300.0, 0.03, 0.03 * 97300.0, 1733961600789),
        # net mode: a forced SELL closes a long
        (PositionSide.LONG, 97310.5, 0.07, 0.07 * 97310.5, 1733961600999),
    ]
    assert rows[0][3] == 24312.6 and rows[1][3] == pytest.approx(146358.3905, rel=1e-15)


def test_inverse_swap_is_skipped_with_a_reason(dec: okx.Decoder, okx_dir: Path) -> None:
    with pytest.raises(okx.NotUsdtSwap, match=r"BTC-USD-SWAP.*inverse.*ctVal is in USD"):
        dec.decode(_msg(okx_dir, "ws_liquidation_inverse.json"), RECV)


def test_mixed_message_keeps_usdt_swaps_and_counts_the_skipped(dec: okx.Decoder, okx_dir: Path) -> None:
    events = dec.decode(_msg(okx_dir, "ws_liquidation_mixed.json"), RECV)
    assert len(events) == 1
    (e,) = events
    assert isinstance(e, Liquidation)
    assert (e.symbol, e.side, e.quantity) == ("DOGE", PositionSide.SHORT, 2 * 1000.0)
    assert e.notional_usd == pytest.approx(784.2)
    assert sum(dec.skipped.values()) == 1
    assert "BTC-USD-SWAP" in next(iter(dec.skipped))


# -------------------------------------------------------------------------------------------------------
# trades, open interest, funding, mark price


def test_documented_trade_sz_is_contracts(dec: okx.Decoder, okx_dir: Path) -> None:
    assert dec.decode(_msg(okx_dir, "ws_trades_doc.json"), RECV) == [
        Trade(
            venue=Venue.OKX,
            symbol="BTC",
            ts_event=1630048897897 * MS,
            ts_recv=RECV,
            side=Side.BUY,  # taker side
            price=42219.9,
            quantity=0.12,  # 12 contracts × ctVal 0.01 BTC
            notional_usd=0.12 * 42219.9,
            trade_id="130639474",
        )
    ]


def test_trades_all_on_doge(dec: okx.Decoder, okx_dir: Path) -> None:
    events = dec.decode(_msg(okx_dir, "ws_trades_all_doge.json"), RECV)
    assert [(e.side, e.quantity, e.notional_usd, e.trade_id) for e in events] == [  # type: ignore[union-attr]
        (Side.SELL, 4000.0, 4000.0 * 0.39215, "551"),
        (Side.BUY, 500.0, 500.0 * 0.3921, "552"),
    ]


def test_documented_open_interest_of_an_inverse_swap_is_skipped(dec: okx.Decoder, okx_dir: Path) -> None:
    with pytest.raises(okx.NotUsdtSwap, match="LTC-USD-SWAP"):
        dec.decode(_msg(okx_dir, "ws_open_interest_doc.json"), RECV)


def test_open_interest_in_coin_and_usd(dec: okx.Decoder, okx_dir: Path) -> None:
    assert dec.decode(_msg(okx_dir, "ws_open_interest_eth.json"), RECV) == [
        OpenInterest(
            venue=Venue.OKX,
            symbol="ETH",
            ts_event=1790165111452 * MS,
            ts_recv=RECV,
            oi_base=638584.898,  # oiCcy (= oi 6,385,848.98 contracts × ctVal 0.1), one side
            oi_usd=1737793854.62,
        )
    ]


def test_open_interest_without_oiusd_needs_a_price(dec: okx.Decoder, okx_dir: Path) -> None:
    with pytest.raises(DecodeError, match="no oiUsd and no price"):
        dec.decode(_msg(okx_dir, "ws_open_interest_no_usd.json"), RECV)
    (mark,) = dec.decode(_msg(okx_dir, "ws_mark_price_sol.json"), RECV)
    assert mark == MarkPrice(
        venue=Venue.OKX, symbol="SOL", ts_event=1768889770000 * MS, ts_recv=RECV, mark_price=132.38
    )
    (oi,) = dec.decode(_msg(okx_dir, "ws_open_interest_no_usd.json"), RECV)
    assert isinstance(oi, OpenInterest)
    assert oi.oi_base == 3140536.76 * 1.0  # oi contracts × ctVal 1 (no oiCcy)
    assert oi.oi_usd == 3140536.76 * 132.38


def test_funding_rate_interval_and_settled_rate(dec: okx.Decoder, okx_dir: Path) -> None:
    assert dec.decode(_msg(okx_dir, "ws_funding_rate.json"), RECV) == [
        Funding(
            venue=Venue.OKX,
            symbol="BTC",
            ts_event=1733961600123 * MS,
            ts_recv=RECV,
            rate=0.0001515,
            interval_hours=8.0,  # nextFundingTime − fundingTime
            next_funding_ts=1733990400000 * MS,  # fundingTime: when this rate settles
            settled_rate=0.0001699,
        )
    ]
    (f,) = dec.decode(_msg(okx_dir, "ws_funding_rate_4h.json"), RECV)
    assert isinstance(f, Funding)
    assert (f.symbol, f.rate, f.interval_hours, f.settled_rate) == ("DOGE", -0.0002, 4.0, None)


# -------------------------------------------------------------------------------------------------------
# books and candles


def test_books_snapshot_then_update_in_coin(dec: okx.Decoder, okx_dir: Path) -> None:
    (snap,) = dec.decode(_msg(okx_dir, "ws_books_snapshot.json"), RECV)
    assert snap == BookSnapshot(
        venue=Venue.OKX,
        symbol="ETH",
        ts_event=1733961600100 * MS,
        ts_recv=RECV,
        bids=[(3899.99, 0.7), (3899.5, 10.0)],  # contracts × ctVal 0.1 ETH
        asks=[(3900.01, 1.2), (3900.5, 0.15)],
        update_id=123456,
    )
    (delta,) = dec.decode(_msg(okx_dir, "ws_books_update.json"), RECV)
    assert delta == BookDelta(
        venue=Venue.OKX,
        symbol="ETH",
        ts_event=1733961600200 * MS,
        ts_recv=RECV,
        bids=[(3899.99, 0.9)],
        asks=[(3900.01, 0.0)],  # size 0 deletes the level
        update_id=123460,
        prev_update_id=123456,  # == the snapshot's seqId: no gap
    )


@pytest.mark.parametrize(
    ("name", "symbol", "bid", "ask", "update_id"),
    [
        ("ws_books5_xrp.json", "XRP", (2.4011, 1250.0), (2.4012, 3000.0), 77),
        ("ws_bbo_tbt_bnb.json", "BNB", (712.2, 0.11), (712.3, 0.4), 9001),
    ],
)
def test_top_of_book_channels_are_snapshots(
    dec: okx.Decoder, okx_dir: Path, name: str, symbol: str, bid: tuple, ask: tuple, update_id: int
) -> None:
    (snap,) = dec.decode(_msg(okx_dir, name), RECV)
    assert isinstance(snap, BookSnapshot)
    assert (snap.symbol, snap.bids, snap.asks, snap.update_id) == (symbol, [bid], [ask], update_id)


def test_candles(dec: okx.Decoder, okx_dir: Path) -> None:
    assert dec.decode(_msg(okx_dir, "ws_candle1m_doc.json"), RECV) == [
        Candle(
            venue=Venue.OKX,
            symbol="BTC",
            ts_event=1733961600000 * MS,
            ts_recv=RECV,
            interval_s=60,
            open=97001.1,
            high=97100.0,
            low=96950.5,
            close=97050.0,
            volume=12.34,  # volCcy: base coin (vol 1,234 is contracts)
            quote_volume=1197234.5,
            closed=True,
        )
    ]
    (c,) = dec.decode(_msg(okx_dir, "ws_candle1Dutc.json"), RECV)
    assert isinstance(c, Candle) and c.interval_s == 86400 and not c.closed and c.symbol == "ETH"


# -------------------------------------------------------------------------------------------------------
# control messages and bad input


def test_control_messages(dec: okx.Decoder, okx_dir: Path) -> None:
    assert dec.decode(_msg(okx_dir, "ws_event_subscribe.json"), RECV) == []
    assert dec.decode(_msg(okx_dir, "ws_event_notice.json"), RECV) == []
    assert dec.decode("pong", RECV) == []
    assert dec.decode(b"pong", RECV) == []
    with pytest.raises(DecodeError, match=r"okx error 60012: Invalid request"):
        dec.decode(_msg(okx_dir, "ws_event_error.json"), RECV)


def test_make_decoder_loads_the_snapshot() -> None:
    d = make_decoder("okx")
    assert isinstance(d, okx.Decoder) and len(d.instruments) > 0


def _liq(**detail: object) -> str:
    d = {"bkLoss": "0", "bkPx": "97000", "posSide": "long", "side": "sell", "sz": "1", "ts": "1733961600000"}
    d.update(detail)
    d = {k: v for k, v in d.items() if v is not None}
    return json.dumps(
        {
            "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
            "data": [{"instId": "BTC-USDT-SWAP", "details": [d]}],
        }
    )


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("{not json", "not an OKX message"),
        ("[]", "not an OKX message"),
        ('{"arg":{"channel":"tickers","instId":"BTC-USDT-SWAP"},"data":[{}]}', "unhandled channel"),
        ('{"arg":{"channel":"trades"}}', "neither"),
        (_liq(bkPx=None), "bkPx"),
        (_liq(sz="abc"), "sz"),
        (_liq(bkPx="NaN"), "bkPx"),
        (_liq(bkPx="-5"), "bkPx"),
        (_liq(sz="0"), "sz"),
        (_liq(sz="1e15"), "sz"),
        (_liq(bkPx="1e12"), "bkPx"),
        (_liq(ts="yesterday"), "ts"),
        (_liq(ts="12"), "ts"),
        (_liq(side="hold"), "side"),
        (_liq(posSide="sideways"), "posSide"),
        ('{"arg":{"channel":"candle1M","instId":"BTC-USDT-SWAP"},"data":[]}', "no fixed length"),
        (
            '{"arg":{"channel":"candle1m","instId":"BTC-USDT-SWAP"},"data":[["1733961600000","1","0.5","2","1",'
            '"1","1","1","1"]]}',
            "inconsistent OHLC",
        ),
        (
            '{"arg":{"channel":"funding-rate","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP",'
            '"fundingRate":"5","fundingTime":"1733990400000","ts":"1733961600123"}]}',
            "absurd funding rate",
        ),
        (
            '{"arg":{"channel":"books","instId":"ETH-USDT-SWAP"},"action":"partial","data":[{"asks":[],"bids":[],'
            '"ts":"1733961600100","seqId":1,"prevSeqId":0}]}',
            "unknown book action",
        ),
        (
            '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"1","px":"1",'
            '"sz":"1","side":"buy","ts":"1733961600000"}]}',
            "not a perpetual swap",
        ),
    ],
)
def test_bad_input_is_a_typed_decode_error(dec: okx.Decoder, raw: str, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        dec.decode(raw, RECV)


def test_unknown_channel_is_typed(dec: okx.Decoder) -> None:
    with pytest.raises(UnknownChannel):
        dec.decode('{"arg":{"channel":"index-tickers","instId":"BTC-USDT"},"data":[{}]}', RECV)
    with pytest.raises(UnknownChannel):
        dec.decode('{"event":"mystery"}', RECV)


# -------------------------------------------------------------------------------------------------------
# properties


CT_VALS = sorted({s.contract_size for s in Instruments.packaged().specs(venues=[Venue.OKX])})
OKX_SPECS = Instruments.packaged().specs(venues=[Venue.OKX])


@given(
    spec=st.sampled_from(OKX_SPECS),
    contracts=st.decimals(min_value="0.01", max_value="1000000", places=2),
    px=st.decimals(min_value="0.00001", max_value="200000", places=5),
    long=st.booleans(),
)
def test_liquidation_quantity_is_contracts_times_ctval(
    spec: InstrumentSpec, contracts, px, long: bool
) -> None:
    dec = okx.Decoder(Instruments.packaged())
    raw = json.dumps(
        {
            "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
            "data": [
                {
                    "instId": spec.instrument,
                    "details": [
                        {
                            "bkPx": str(px),
                            "sz": str(contracts),
                            "posSide": "long" if long else "short",
                            "side": "sell" if long else "buy",
                            "ts": "1733961600000",
                        }
                    ],
                }
            ],
        }
    )
    if float(contracts) * spec.contract_size * float(px) > MAX_NOTIONAL_USD:
        with pytest.raises(DecodeError, match="absurd notional"):
            dec.decode(raw, RECV)
        return
    (e,) = dec.decode(raw, RECV)
    assert isinstance(e, Liquidation)
    exact = float(contracts) * spec.contract_size
    assert e.quantity == okx.to_base(float(contracts), spec.contract_size)
    assert abs(e.quantity - exact) <= 1e-12 + 1e-15 * exact  # only the product's binary noise is removed
    assert e.notional_usd == e.quantity * float(px)
    assert e.side is (PositionSide.LONG if long else PositionSide.SHORT)


def _trade_raw(sz: str) -> str:
    row = {
        "instId": "BTC-USDT-SWAP",
        "tradeId": "1",
        "px": "100",
        "sz": sz,
        "side": "buy",
        "ts": "1733961600000",
    }
    return json.dumps({"arg": {"channel": "trades", "instId": "BTC-USDT-SWAP"}, "data": [row]})


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@given(
    text=st.text(min_size=1, max_size=12) | st.sampled_from(["nan", "NaN", "inf", "-inf", "-1", "0", "1e400"])
)
def test_non_numeric_or_non_finite_sizes_never_pass(text: str) -> None:
    x = _as_float(text)
    try:
        (t,) = okx.Decoder(Instruments.packaged()).decode(_trade_raw(text), RECV)
    except DecodeError:
        return
    # accepted: then it was a finite, positive, in-range number and is converted with ctVal
    assert x is not None and math.isfinite(x) and 0 < x <= 1e13
    assert isinstance(t, Trade) and t.quantity == okx.to_base(x, 0.01) and math.isfinite(t.notional_usd)


@given(sz=st.decimals(min_value="0.01", max_value="10000000", places=4))
def test_decimal_sizes_parse_exactly_like_float(sz) -> None:
    (t,) = okx.Decoder(Instruments.packaged()).decode(_trade_raw(str(sz)), RECV)
    assert isinstance(t, Trade) and t.quantity == round(float(str(sz)) * 0.01, 12)


@given(raw=st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_raise_only_decode_errors(raw: bytes | str) -> None:
    try:
        out = okx.Decoder(Instruments.packaged()).decode(raw, RECV)
    except DecodeError:
        return
    assert isinstance(out, list)


def test_ctval_set_covers_the_six_coins() -> None:
    assert {s.symbol: s.contract_size for s in OKX_SPECS} == {
        "BTC": 0.01,
        "ETH": 0.1,
        "SOL": 1.0,
        "BNB": 0.01,
        "XRP": 100.0,
        "DOGE": 1000.0,
    }
    assert CT_VALS == [0.01, 0.1, 1.0, 100.0, 1000.0]


# -------------------------------------------------------------------------------------------------------
# subscriptions and endpoints


def test_subscriptions_split_public_and_business() -> None:
    subs = okx.subscriptions(
        ["BTC", "ETH"], channels=["liquidation-orders", "trades", "candle1m", "trades-all"]
    )
    assert set(subs) == {okx.WS_PUBLIC_URL, okx.WS_BUSINESS_URL}
    (public,) = subs[okx.WS_PUBLIC_URL]
    assert json.loads(public) == {
        "op": "subscribe",
        "args": [
            {"channel": "liquidation-orders", "instType": "SWAP"},
            {"channel": "trades", "instId": "BTC-USDT-SWAP"},
            {"channel": "trades", "instId": "ETH-USDT-SWAP"},
        ],
    }
    (business,) = subs[okx.WS_BUSINESS_URL]
    assert [a["channel"] for a in json.loads(business)["args"]] == [
        "candle1m",
        "candle1m",
        "trades-all",
        "trades-all",
    ]
    assert okx.subscribe_message([okx.channel_arg("liquidation-orders")]) == (
        '{"op":"subscribe","args":[{"channel":"liquidation-orders","instType":"SWAP"}]}'
    )
    assert (
        json.loads(okx.subscribe_message([okx.channel_arg("books", "SOL")], unsubscribe=True))["op"]
        == "unsubscribe"
    )
    with pytest.raises(ValueError):
        okx.channel_arg("trades")
    with pytest.raises(DecodeError):
        okx.channel_arg("candle2M", "BTC")


def test_subscriptions_stay_under_the_request_size_limit() -> None:
    many = [f"COIN{i}" for i in range(3000)]
    msgs = okx.subscriptions(many, channels=["trades"])[okx.WS_PUBLIC_URL]
    assert len(msgs) > 1
    assert all(len(m) <= okx.MAX_SUBSCRIBE_MESSAGE_BYTES for m in msgs)
    assert sum(len(json.loads(m)["args"]) for m in msgs) == 3000


def test_keepalive_constants() -> None:
    assert okx.PING_TEXT == "ping" and okx.PING_AFTER_IDLE_S < 30
    assert okx.MAX_SUBSCRIBE_OPS_PER_HOUR == 480


# -------------------------------------------------------------------------------------------------------
# REST


def test_rest_request_builders() -> None:
    assert okx.instruments_request().url == "https://www.okx.com/api/v5/public/instruments?instType=SWAP"
    assert okx.open_interest_request("BTC").url == (
        "https://www.okx.com/api/v5/public/open-interest?instType=SWAP&instId=BTC-USDT-SWAP"
    )
    r = okx.open_interest_history_request("ETH", period="1H", begin_ms=1, end_ms=2, limit=50)
    assert r.path == "/api/v5/rubik/stat/contracts/open-interest-history"
    assert r.params == {"instId": "ETH-USDT-SWAP", "period": "1H", "limit": 50, "begin": 1, "end": 2}
    assert okx.funding_rate_history_request("SOL", after_ms=5).params == {
        "instId": "SOL-USDT-SWAP",
        "limit": 100,
        "after": 5,
    }
    assert okx.candles_request("BTC", bar="5m").path == "/api/v5/market/candles"
    h = okx.candles_request("BTC", bar="1H", history=True, after_ms=9)
    assert (h.path, h.params["limit"], h.params["after"]) == ("/api/v5/market/history-candles", 100, 9)
    assert okx.book_request("DOGE", depth=50).params == {"instId": "DOGE-USDT-SWAP", "sz": 50}
    assert okx.position_tiers_request("BTC").params == {
        "instType": "SWAP",
        "tdMode": "isolated",
        "instFamily": "BTC-USDT",
    }
    custom = okx.Endpoints(rest="http://127.0.0.1:9999")
    assert okx.book_request("BTC", endpoints=custom).url.startswith(
        "http://127.0.0.1:9999/api/v5/market/books"
    )
    for bad in (
        lambda: okx.open_interest_history_request("BTC", period="7m"),
        lambda: okx.open_interest_history_request("BTC", limit=101),
        lambda: okx.book_request("BTC", depth=401),
        lambda: okx.candles_request("BTC", limit=301),
    ):
        with pytest.raises(ValueError):
            bad()


def test_rest_open_interest(okx_dir: Path) -> None:
    rows = okx.parse_open_interest(_msg(okx_dir, "rest_open_interest.json"), ts_recv=RECV)
    assert [(o.symbol, o.oi_base, o.oi_usd, o.ts_event) for o in rows] == [
        ("BTC", 26602.3959000001773, 2433776053.94290622066283, 1768889635328 * MS),
        ("SOL", 3140536.76000000302, 415744256.2888003997876, 1768889772428 * MS),
    ]  # BTC-USD-SWAP (inverse) left out
    # oiCcy = oi × ctVal: the snapshot's ctVal agrees with OKX's own numbers
    assert pytest.approx(rows[0].oi_base, rel=1e-12) == 2660239.59000001773 * 0.01


def test_rest_open_interest_history(okx_dir: Path) -> None:
    rows = okx.parse_open_interest_history(_msg(okx_dir, "rest_open_interest_history.json"), symbol="btc")
    assert [(o.ts_event // MS, o.oi_base, o.oi_usd, o.symbol) for o in rows] == [
        (1733961600000, 26500.005, 2576000000.5, "BTC"),
        (1733961900000, 26600.0, 2587000000.0, "BTC"),
    ]


def test_rest_funding_history(okx_dir: Path) -> None:
    rows = okx.parse_funding_rate_history(_msg(okx_dir, "rest_funding_rate_history.json"))
    assert [(f.ts_event // MS, f.rate, f.settled_rate, f.interval_hours) for f in rows] == [
        (1733904000000, -0.00002, -0.00002, 8.0),  # realizedRate empty: the fundingRate
        (1733932800000, 0.00009, 0.00009, 8.0),
        (1733961600000, 0.00012, 0.00012, 8.0),  # realizedRate, not the predicted 0.0001
    ]


def test_rest_candles_oldest_first(okx_dir: Path) -> None:
    rows = okx.parse_candles(_msg(okx_dir, "rest_candles.json"), symbol="BTC", bar="1m")
    assert [(c.ts_event // MS, c.close, c.volume, c.closed) for c in rows] == [
        (1733961600000, 97050.0, 12.34, True),
        (1733961660000, 97070.0, 0.5, False),
    ]
    assert rows[0].ts_recv == rows[0].ts_event


def test_rest_book_in_coin(okx_dir: Path) -> None:
    snap = okx.parse_book(_msg(okx_dir, "rest_books.json"), symbol="DOGE", ts_recv=RECV)
    assert (snap.bids, snap.asks, snap.update_id) == (
        [(0.39215, 4000.0)],
        [(0.39216, 10000.0), (0.3922, 2500.0)],
        1733961600500,
    )


def test_rest_instruments_keeps_live_usdt_linear_swaps(okx_dir: Path) -> None:
    specs = okx.parse_instruments(_msg(okx_dir, "rest_instruments.json"))
    assert [
        (s.symbol, s.instrument, s.contract_size, s.tick_size, s.lot_size, s.max_leverage) for s in specs
    ] == [
        ("BTC", "BTC-USDT-SWAP", 0.01, 0.1, 0.01, 100.0),
        ("DOGE", "DOGE-USDT-SWAP", 1000.0, 0.00001, 0.01, 50.0),
        ("IOST", "IOST-USDT-SWAP", 1000.0, 0.000001, 1.0, 20.0),
    ]  # inverse BTC-USD-SWAP, USDC swap and a preopen listing left out


def test_rest_position_tiers(okx_dir: Path) -> None:
    body = _msg(okx_dir, "rest_position_tiers.json")
    base = okx.parse_position_tiers(body, contract_size=0.01)
    assert base == [
        {
            "notional_floor": 0.0,
            "notional_cap": 40.0,
            "mmr": 0.004,
            "cum": 0.0,
            "max_leverage": 100.0,
            "unit": "base",
        },
        {
            "notional_floor": 40.0,
            "notional_cap": 100.0,
            "mmr": 0.006,
            "cum": pytest.approx(40.0 * 0.002),
            "max_leverage": 75.0,
            "unit": "base",
        },
        {
            "notional_floor": 100.0,
            "notional_cap": 200.0,
            "mmr": 0.01,
            "cum": pytest.approx(0.08 + 100.0 * 0.004),
            "max_leverage": 50.0,
            "unit": "base",
        },
    ]
    usd = okx.parse_position_tiers(body, contract_size=0.01, price=100_000.0)
    assert [t["notional_cap"] for t in usd] == [4_000_000.0, 10_000_000.0, 20_000_000.0]
    assert usd[1]["cum"] == pytest.approx(4_000_000.0 * 0.002) and usd[0]["unit"] == "usd"


def test_rest_errors(okx_dir: Path) -> None:
    with pytest.raises(DecodeError, match=r"error 50011: Too Many Requests \(rate limited"):
        okx.parse_candles(_msg(okx_dir, "rest_error_rate_limit.json"), symbol="BTC", bar="1m")
    with pytest.raises(DecodeError, match="okx books"):
        okx.parse_book(b'{"code":"0","data":[]}', symbol="BTC")
    with pytest.raises(DecodeError):
        okx.parse_instruments(b"<html>")
    with pytest.raises(DecodeError, match="mmr"):
        okx.parse_position_tiers(
            b'{"code":"0","data":[{"tier":"1","minSz":"0","maxSz":"10","mmr":"1.5"}]}', contract_size=1.0
        )


def test_books_heartbeat_and_reset_pass_the_sequence_through(dec: okx.Decoder) -> None:
    # seqId == prevSeqId: a heartbeat without changes; seqId < prevSeqId: OKX reset its sequence. The book
    # (feed layer) decides what to do; the decoder passes both numbers through unchanged.
    beat = (
        '{"arg":{"channel":"books","instId":"BTC-USDT-SWAP"},"action":"update","data":[{"asks":[],"bids":[],'
        '"ts":"1733961600300","checksum":0,"prevSeqId":123460,"seqId":123460}]}'
    )
    (d,) = dec.decode(beat, RECV)
    assert isinstance(d, BookDelta)
    assert (d.bids, d.asks, d.update_id, d.prev_update_id) == ([], [], 123460, 123460)
    reset = beat.replace('"prevSeqId":123460,"seqId":123460', '"prevSeqId":123460,"seqId":17')
    (r,) = dec.decode(reset, RECV)
    assert isinstance(r, BookDelta) and (r.update_id, r.prev_update_id) == (17, 123460)
    assert not dec.skipped
