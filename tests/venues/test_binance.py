"""Binance USD-M adapter: documented payloads, recorded captures, bad input, REST and stream builders."""

from __future__ import annotations

import csv
import gzip
import itertools
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
from perpscope.venues import _checks, binance, make_decoder
from perpscope.venues.binance import Decoder

RECV = 1_700_000_000_000_000_000


def load(fixtures_dir: Path, name: str) -> bytes:
    return (fixtures_dir / "binance" / name).read_bytes()


def wrap(stream: str, payload: bytes | str) -> bytes:
    data = payload if isinstance(payload, bytes) else payload.encode()
    return b'{"stream":"' + stream.encode() + b'","data":' + data.strip() + b"}"


# -- documented payloads (venues.md), wrapped and bare -------------------------------------------------------


def test_force_order_documented(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_forceOrder.json")
    expected = Liquidation(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1568014460893_000_000,
        ts_recv=RECV,
        side=PositionSide.LONG,  # order SELL = a long was liquidated
        price=9910.0,  # ap (average fill), not p
        quantity=0.014,  # z (filled)
        notional_usd=9910.0 * 0.014,
        sampled=True,
    )
    assert Decoder().decode(raw, RECV) == [expected]
    assert Decoder().decode(wrap("btcusdt@forceOrder", raw), RECV) == [expected]
    assert Decoder().decode(wrap("!forceOrder@arr", raw), RECV) == [expected]


def test_force_order_uses_average_price_and_filled_size() -> None:
    msg = {
        "e": "forceOrder",
        "E": 1733330785587,
        "o": {
            "s": "ETHUSDT",
            "S": "BUY",
            "o": "LIMIT",
            "f": "IOC",
            "q": "2.0",
            "p": "3900.00",
            "ap": "3880.50",
            "X": "PARTIALLY_FILLED",
            "l": "0.5",
            "z": "1.5",
            "T": 1733330785584,
        },
    }
    (ev,) = Decoder().decode(json.dumps(msg), RECV)
    assert isinstance(ev, Liquidation)
    assert ev.side is PositionSide.SHORT  # order BUY = a short was liquidated
    assert (ev.price, ev.quantity, ev.notional_usd) == (3880.5, 1.5, 3880.5 * 1.5)
    assert ev.ts_event == 1733330785584_000_000  # the order trade time T


def test_agg_trade_documented(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_aggTrade.json")
    expected = Trade(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=123456785_000_000,
        ts_recv=RECV,
        side=Side.SELL,  # m=true: the buyer was the maker, the seller aggressed
        price=0.001,
        quantity=100.0,
        notional_usd=0.001 * 100.0,
        trade_id="5933014",
    )
    assert Decoder().decode(raw, RECV) == [expected]
    assert Decoder().decode(wrap("btcusdt@aggTrade", raw), RECV) == [expected]


def test_trade_documented(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_trade.json")
    expected = Trade(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1723161256322_000_000,
        ts_recv=RECV,
        side=Side.BUY,  # m=false: the buyer aggressed
        price=61800.3,
        quantity=0.006,
        notional_usd=61800.3 * 0.006,
        trade_id="5266583935",
    )
    assert Decoder().decode(raw, RECV) == [expected]
    assert Decoder().decode(wrap("btcusdt@trade", raw), RECV) == [expected]


def test_non_market_raw_trade_is_counted_not_emitted(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_trade.json").replace(b'"MARKET"', b'"INSURANCE_FUND"')
    dec = Decoder()
    assert dec.decode(wrap("btcusdt@trade", raw), RECV) == []
    assert dec.counts["non_market_trade"] == 1


def test_mark_price_documented(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_markPriceUpdate.json")
    mark, funding = Decoder().decode(wrap("btcusdt@markPrice@1s", raw), RECV)
    assert mark == MarkPrice(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1562305380000_000_000,
        ts_recv=RECV,
        mark_price=11794.15,
        index_price=11784.62659091,
    )
    assert funding == Funding(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1562305380000_000_000,
        ts_recv=RECV,
        rate=0.00038167,  # r, not P (the estimated settle price)
        interval_hours=8.0,
        next_funding_ts=1562306400000_000_000,
    )


def test_mark_price_known_funding_interval(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_markPriceUpdate.json")
    _, funding = Decoder(funding_interval_hours={"btc": 4}).decode(raw, RECV)
    assert isinstance(funding, Funding) and funding.interval_hours == 4.0


def test_all_mark_prices_array(fixtures_dir: Path) -> None:
    one = load(fixtures_dir, "ws_markPriceUpdate.json").strip()
    other = one.replace(b"BTCUSDT", b"ETHUSDT")
    events = Decoder().decode(b'{"stream":"!markPrice@arr@1s","data":[' + one + b"," + other + b"]}", RECV)
    assert [(e.kind_name.value, e.symbol) for e in events] == [
        ("mark_price", "BTC"),
        ("funding", "BTC"),
        ("mark_price", "ETH"),
        ("funding", "ETH"),
    ]
    assert Decoder().decode(b"[" + one + b"]", RECV)[0] == events[0]  # a bare array works too


def test_depth_update_documented(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_depthUpdate.json")
    expected = BookDelta(
        venue=Venue.BINANCE,
        symbol="BNB",
        ts_event=123456788_000_000,
        ts_recv=RECV,
        bids=[(0.0024, 10.0)],
        asks=[(0.0026, 100.0)],
        update_id=160,
        first_update_id=157,
        prev_update_id=149,
    )
    assert Decoder().decode(raw, RECV) == [expected]
    assert Decoder().decode(wrap("bnbusdt@depth@100ms", raw), RECV) == [expected]


def test_partial_depth_is_a_snapshot(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_depthUpdate.json")
    (ev,) = Decoder().decode(wrap("bnbusdt@depth5@100ms", raw), RECV)
    assert isinstance(ev, BookSnapshot)
    assert (ev.update_id, ev.bids, ev.asks) == (160, [(0.0024, 10.0)], [(0.0026, 100.0)])


def test_kline(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_kline.json")
    expected = Candle(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1638747660000_000_000,
        ts_recv=RECV,
        interval_s=60,
        open=0.001,
        high=0.0025,
        low=0.0015,
        close=0.002,
        volume=1000.0,
        quote_volume=1.0,
        taker_buy_volume=500.0,
        closed=False,
    )
    assert Decoder().decode(wrap("btcusdt@kline_1m", raw), RECV) == [expected]
    assert Decoder().decode(raw, RECV) == [expected]


def test_book_ticker_validated_but_silent(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_bookTicker.json")
    dec = Decoder()
    assert dec.decode(wrap("bnbusdt@bookTicker", raw), RECV) == []
    assert dec.decode(raw, RECV) == []
    assert dec.counts["bookTicker"] == 2
    with pytest.raises(DecodeError, match="bookTicker"):
        dec.decode(wrap("bnbusdt@bookTicker", raw.replace(b'"25.35190000"', b'"-1"')), RECV)


def test_rest_depth_snapshot_line(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "rest_depth.json")
    expected = BookSnapshot(
        venue=Venue.BINANCE,
        symbol="BNB",
        ts_event=1589436922959_000_000,
        ts_recv=RECV,
        bids=[(4.0, 431.0)],
        asks=[(4.000002, 12.0)],
        update_id=1027024,
    )
    assert Decoder(symbol="bnb").decode(raw, RECV) == [expected]
    # Without a symbol the decoder takes the one depth stream it has seen on this connection.
    dec = Decoder()
    dec.decode(load(fixtures_dir, "ws_depthUpdate.json"), RECV)
    assert dec.decode(raw, RECV) == [expected]
    with pytest.raises(DecodeError, match="without a symbol"):
        Decoder().decode(raw, RECV)
    assert binance.parse_depth_snapshot(raw, symbol="BNB", ts_recv=RECV) == expected


def test_control_replies() -> None:
    dec = Decoder()
    assert dec.decode(b'{"result":null,"id":1}', RECV) == []
    assert dec.counts["control"] == 1
    with pytest.raises(DecodeError, match="Invalid request"):
        dec.decode(b'{"error":{"code":2,"msg":"Invalid request"},"id":2}', RECV)


def test_delivery_contracts_in_all_liquidations_are_skipped(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_forceOrder.json").replace(b'"BTCUSDT"', b'"BTCUSDT_250328"')
    dec = Decoder()
    assert dec.decode(wrap("!forceOrder@arr", raw), RECV) == []
    usdc = load(fixtures_dir, "ws_forceOrder.json").replace(b'"BTCUSDT"', b'"BTCUSDC"')
    assert dec.decode(wrap("!forceOrder@arr", usdc), RECV) == []
    assert dec.counts["not_usdt_perp"] == 2


def test_make_decoder_is_this_module() -> None:
    assert isinstance(make_decoder("binance"), Decoder)
    assert binance.VENUE is Venue.BINANCE


# -- bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "error", "match"),
    [
        (b"not json", DecodeError, "malformed"),
        (b'{"stream":"btcusdt@trade","data":{"e":"trade"', DecodeError, "malformed"),
        (b'{"stream":"btcusdt@foo","data":{}}', UnknownChannel, "unknown stream"),
        (b'{"e":"continuous_kline","E":1}', UnknownChannel, "unknown event"),
        (b'{"foo":1}', UnknownChannel, "no stream"),
        (b'{"stream":"btcusdt@trade"}', DecodeError, "missing required field `data`"),
        (b"42", DecodeError, "Expected `object`"),
    ],
)
def test_bad_messages(raw: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Decoder().decode(raw, RECV)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("p", None, "missing required field `p`"),
        ("p", '"abc"', "Expected `float`"),
        ("p", '"NaN"', "Expected `float` > 0.0"),
        ("p", '"-61800.30"', "Expected `float` > 0.0"),
        ("p", '"0"', "Expected `float` > 0.0"),
        ("p", '"1e12"', "<= 1000000000.0"),
        ("q", '"1e15"', "<= 10000000000000.0"),
        ("q", '"inf"', "<= 10000000000000.0"),
        ("T", '"yesterday"', "Expected `int`"),
        ("m", '"maybe"', "Expected `bool`"),
        ("e", '"aggTrade"', "Invalid enum value 'aggTrade'"),
    ],
)
def test_bad_trade_fields(fixtures_dir: Path, field: str, value: str | None, match: str) -> None:
    msg = json.loads(load(fixtures_dir, "ws_trade.json"))
    if value is None:
        del msg[field]
    else:
        msg[field] = json.loads(value)
    with pytest.raises(DecodeError, match=match):
        Decoder().decode(wrap("btcusdt@trade", json.dumps(msg)), RECV)


def test_absurd_notional_is_rejected(fixtures_dir: Path) -> None:
    msg = json.loads(load(fixtures_dir, "ws_trade.json"))
    msg.update(p="900000000", q="1000")  # 9e11 USD in one print
    with pytest.raises(DecodeError, match="absurd notional"):
        Decoder().decode(json.dumps(msg), RECV)


def test_bad_depth_level(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_depthUpdate.json")
    for bad in (b'[["0.0024","-10"]]', b'[["x","10"]]', b'[["0.0024"]]', b'[["nan","1"]]'):
        with pytest.raises(DecodeError, match=r"\$\.b\[0\]"):
            Decoder().decode(raw.replace(b'[["0.0024","10"]]', bad), RECV)


def test_bad_mark_price_and_funding(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "ws_markPriceUpdate.json")
    with pytest.raises(DecodeError, match="not a number"):
        Decoder().decode(raw.replace(b'"0.00038167"', b'"x"'), RECV)
    with pytest.raises(DecodeError, match="absurd funding rate"):
        Decoder().decode(raw.replace(b'"0.00038167"', b'"3.5"'), RECV)
    with pytest.raises(DecodeError, match="mark price"):
        Decoder().decode(raw.replace(b'"11794.15000000"', b'"-1"'), RECV)


# -- numeric parsing properties ------------------------------------------------------------------------------

decimal_text = st.decimals(min_value="0.00000001", max_value="999999999", places=8, allow_nan=False).map(str)


@given(price=decimal_text, qty=decimal_text)
def test_wire_decimals_parse_like_python_float(price: str, qty: str) -> None:
    """msgspec's lax string→float conversion gives exactly float(text) for venue decimals."""

    msg = {
        "e": "aggTrade",
        "E": 1,
        "s": "ETHUSDT",
        "a": 1,
        "p": price,
        "q": qty,
        "f": 1,
        "l": 1,
        "T": 1,
        "m": False,
    }
    try:
        events = Decoder().decode(json.dumps(msg), RECV)
    except DecodeError as exc:
        assert "notional" in str(exc)
        assert float(price) * float(qty) > _checks.MAX_NOTIONAL_USD
        return
    (ev,) = events
    assert isinstance(ev, Trade)
    assert ev.price == float(price) and ev.quantity == float(qty)


@given(text=st.text(max_size=12))
def test_any_price_text_is_accepted_only_if_checks_accept_it(text: str) -> None:
    """Whatever the wire holds, the decoder's constrained floats agree with venues/_checks.py."""

    msg = {
        "e": "aggTrade",
        "E": 1,
        "s": "ETHUSDT",
        "a": 1,
        "p": text,
        "q": "1",
        "f": 1,
        "l": 1,
        "T": 1,
        "m": True,
    }
    try:
        (ev,) = Decoder().decode(json.dumps(msg), RECV)
    except DecodeError:
        return
    assert isinstance(ev, Trade)
    assert ev.price == _checks.check_price(_checks.to_float(text, "p"))


@given(x=st.floats(allow_nan=True, allow_infinity=True))
def test_price_bounds_match_checks(x: float) -> None:
    msg = (
        '{"e":"aggTrade","E":1,"s":"ETHUSDT","a":1,"p":"' + repr(x) + '","q":"1","f":1,"l":1,"T":1,"m":true}'
    )
    try:
        _checks.check_price(x)
        ok = True
    except DecodeError:
        ok = False
    try:
        Decoder().decode(msg, RECV)
        decoded = True
    except DecodeError:
        decoded = False
    assert decoded == ok


# -- recorded captures (../shared/data) ----------------------------------------------------------------------


@pytest.mark.shared_data
def test_capture_replay_exact_counts(shared) -> None:  # type: ignore[no-untyped-def]
    path = shared("binance-usdm-ws-btcusdt-2024-08-08.txt.gz")
    from perpscope.venues.lines import CaptureReader

    dec = Decoder()
    kinds: Counter[str] = Counter()
    per_stream: Counter[str] = Counter()
    deltas: list[BookDelta] = []
    snapshot: BookSnapshot | None = None
    sides: Counter[Side] = Counter()
    errors = 0
    reader = CaptureReader(path)
    for ts_recv, payload in reader:
        assert ts_recv is not None
        stream = (
            json.loads(payload).get("stream", "<no stream>") if payload[:9] == b'{"stream"' else "<no stream>"
        )
        per_stream[stream] += 1
        try:
            events = dec.decode(payload, ts_recv)
        except DecodeError:
            errors += 1
            continue
        for ev in events:
            kinds[ev.kind_name.value] += 1
            assert ev.ts_recv == ts_recv and ev.symbol == "BTC"
            if isinstance(ev, BookDelta):
                deltas.append(ev)
            elif isinstance(ev, BookSnapshot):
                snapshot = ev
            elif isinstance(ev, Trade):
                sides[ev.side] += 1
    assert errors == 0
    assert reader.line_no == 93_954
    assert per_stream == {
        "btcusdt@depth@0ms": 6_551,
        "btcusdt@trade": 21_313,
        "btcusdt@bookTicker": 66_089,
        "<no stream>": 1,
    }
    assert kinds == {"book_delta": 6_551, "trade": 21_313, "book_snapshot": 1}
    assert dec.counts == {"bookTicker": 66_089}
    assert sides[Side.BUY] > 0 and sides[Side.SELL] > 0
    # The documented sync: the snapshot's lastUpdateId falls inside one diff's [U, u], and from there on each
    # pu equals the previous u.
    assert snapshot is not None
    first = next(i for i, d in enumerate(deltas) if d.first_update_id <= snapshot.update_id <= d.update_id)
    chain = deltas[first:]
    assert all(b.prev_update_id == a.update_id for a, b in itertools.pairwise(chain))


@pytest.mark.shared_data
def test_capture_depth_levels_equal_python_float(shared) -> None:  # type: ignore[no-untyped-def]
    """Lax msgspec number conversion is exact for every level in the real capture."""

    path = shared("binance-usdm-ws-btcusdt-2024-08-08.txt.gz")
    dec = Decoder()
    checked = 0
    with gzip.open(path) as f:
        for line in f:
            payload = line.split(b" ", 1)[1]
            if b"depthUpdate" not in payload[:80]:
                continue
            (ev,) = dec.decode(payload, 0)
            data = json.loads(payload)["data"]
            assert isinstance(ev, BookDelta)
            assert ev.bids == [(float(p), float(q)) for p, q in data["b"]]
            assert ev.asks == [(float(p), float(q)) for p, q in data["a"]]
            checked += len(data["b"]) + len(data["a"])
    assert checked > 100_000


@pytest.mark.shared_data
def test_force_order_csv_side_and_notional(shared) -> None:  # type: ignore[no-untyped-def]
    """Each row of the real forceOrder CSV, rebuilt as the wire message, decodes to the right position side
    and ap×z notional; totals match the CSV's own sums."""

    path = shared("binance-forceorder-btcusdt-2024-12-04_2024-12-06.csv")
    dec = Decoder()
    long_usd = short_usd = 0.0
    expected_long = expected_short = 0.0
    n_long = n_short = 0
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        msg = {
            "e": "forceOrder",
            "E": int(row["event_time_ms"]),
            "o": {
                "s": row["symbol"],
                "S": row["order_side"],
                "o": row["order_type"],
                "f": row["time_in_force"],
                "q": row["orig_qty"],
                "p": row["price"],
                "ap": row["avg_price"],
                "X": row["status"],
                "l": row["last_filled_qty"],
                "z": row["filled_qty"],
                "T": int(row["trade_time_ms"]),
            },
        }
        (ev,) = dec.decode(msgspec.json.encode({"stream": "btcusdt@forceOrder", "data": msg}), 0)
        assert isinstance(ev, Liquidation) and ev.sampled
        assert ev.price == float(row["avg_price"]) and ev.quantity == float(row["filled_qty"])
        usd = float(row["avg_price"]) * float(row["filled_qty"])
        if row["order_side"] == "SELL":
            assert ev.side is PositionSide.LONG
            long_usd += ev.notional_usd
            expected_long += usd
            n_long += 1
        else:
            assert ev.side is PositionSide.SHORT
            short_usd += ev.notional_usd
            expected_short += usd
            n_short += 1
    assert (n_long, n_short) == (729, 1_115)
    assert long_usd == pytest.approx(expected_long, rel=1e-12)
    assert short_usd == pytest.approx(expected_short, rel=1e-12)
    assert round(long_usd) == 7_584_768 and round(short_usd) == 19_269_060


# -- stream names and URLs -----------------------------------------------------------------------------------


def test_stream_names_and_routes() -> None:
    assert binance.liquidation_stream("btc") == "btcusdt@forceOrder"
    assert binance.agg_trade_stream("ETH") == "ethusdt@aggTrade"
    assert binance.trade_stream("SOL") == "solusdt@trade"
    assert binance.mark_price_stream("BTC") == "btcusdt@markPrice@1s"
    assert binance.depth_stream("BTC") == "btcusdt@depth@100ms"
    assert binance.depth_stream("BTC", speed_ms=250) == "btcusdt@depth"
    assert binance.kline_stream("BTC", interval="5m") == "btcusdt@kline_5m"
    assert binance.book_ticker_stream("DOGE") == "dogeusdt@bookTicker"
    routes = {
        "btcusdt@depth@100ms": "public",
        "btcusdt@depth20@100ms": "public",
        "btcusdt@bookTicker": "public",
        "btcusdt@trade": "public",
        "btcusdt@aggTrade": "market",
        "btcusdt@markPrice@1s": "market",
        "btcusdt@kline_1m": "market",
        "btcusdt@forceOrder": "market",
        "!forceOrder@arr": "market",
    }
    assert {s: binance.stream_route(s) for s in routes} == routes


def test_combined_stream_urls_split_by_route_and_limit() -> None:
    streams = [binance.agg_trade_stream(f"C{i}") for i in range(250)] + [binance.depth_stream("BTC")]
    urls = binance.combined_stream_urls([*streams, streams[0]])
    assert urls[0] == "wss://fstream.binance.com/public/stream?streams=btcusdt@depth@100ms"
    market = urls[1:]
    assert [u.split("?")[0] for u in market] == ["wss://fstream.binance.com/market/stream"] * 2
    counts = [len(u.split("streams=")[1].split("/")) for u in market]
    assert counts == [200, 50]
    emu = binance.combined_stream_urls(
        ["!forceOrder@arr"], endpoints=binance.Endpoints(ws="ws://127.0.0.1:9/")
    )
    assert emu == ["ws://127.0.0.1:9/market/stream?streams=!forceOrder@arr"]


# -- REST ----------------------------------------------------------------------------------------------------


def test_rest_requests() -> None:
    assert (
        binance.open_interest_request("btc").url
        == "https://fapi.binance.com/fapi/v1/openInterest?symbol=BTCUSDT"
    )
    req = binance.open_interest_hist_request("ETH", start_ms=1, end_ms=2)
    assert req.path == "/futures/data/openInterestHist"
    assert req.params == {"symbol": "ETHUSDT", "period": "5m", "limit": 500, "startTime": 1, "endTime": 2}
    assert binance.funding_rate_request("SOL", limit=10).params == {"symbol": "SOLUSDT", "limit": 10}
    assert binance.premium_index_request().weight == 10
    assert binance.premium_index_request("BTC").params == {"symbol": "BTCUSDT"}
    assert binance.funding_info_request().path == "/fapi/v1/fundingInfo"
    k = binance.klines_request("BTC", interval="1h", limit=1500)
    assert (k.params["interval"], k.weight) == ("1h", 10)
    assert binance.klines_request("BTC", limit=99).weight == 1
    d = binance.depth_request("BTC", limit=1000)
    assert (d.path, d.weight, d.params) == ("/fapi/v1/depth", 20, {"symbol": "BTCUSDT", "limit": 1000})
    assert binance.exchange_info_request(endpoints=binance.Endpoints(rest="http://emu")).url == (
        "http://emu/fapi/v1/exchangeInfo"
    )
    with pytest.raises(ValueError):
        binance.depth_request("BTC", limit=7)
    with pytest.raises(ValueError):
        binance.open_interest_hist_request("BTC", limit=501)
    with pytest.raises(DecodeError):
        binance.klines_request("BTC", interval="1M")


def test_parse_open_interest(fixtures_dir: Path) -> None:
    ev = binance.parse_open_interest(load(fixtures_dir, "rest_openInterest.json"), mark_price=60000.0)
    assert ev == OpenInterest(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1589437530011_000_000,
        ts_recv=1589437530011_000_000,
        oi_base=10659.509,
        oi_usd=10659.509 * 60000.0,
    )


def test_parse_open_interest_hist(fixtures_dir: Path) -> None:
    (ev,) = binance.parse_open_interest_hist(load(fixtures_dir, "rest_openInterestHist.json"))
    assert ev == OpenInterest(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1591261042378_000_000,
        ts_recv=1591261042378_000_000,
        oi_base=20403.12,
        oi_usd=176196512.12,
    )


def test_parse_funding_rate(fixtures_dir: Path) -> None:
    (ev,) = binance.parse_funding_rate(load(fixtures_dir, "rest_fundingRate.json"))
    assert ev == Funding(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1570608000000_000_000,
        ts_recv=1570608000000_000_000,
        rate=-0.0375,
        interval_hours=8.0,
        settled_rate=-0.0375,
    )
    history = binance.parse_funding_rate(load(fixtures_dir, "rest_fundingRate_history.json"))
    assert [e.rate for e in history] == [0.0001, 0.00012, -0.00002]
    assert {e.interval_hours for e in history} == {4.0}  # inferred from the 4 h spacing


def test_parse_premium_index(fixtures_dir: Path) -> None:
    mark, funding = binance.parse_premium_index(load(fixtures_dir, "rest_premiumIndex.json"))
    assert isinstance(mark, MarkPrice) and isinstance(funding, Funding)
    assert (mark.symbol, mark.mark_price, mark.index_price) == ("BTC", 11793.63104562, 11781.8049597)
    assert (funding.rate, funding.next_funding_ts) == (0.00038246, 1597392000000_000_000)
    assert mark.ts_event == 1597370495002_000_000
    events = binance.parse_premium_index(
        load(fixtures_dir, "rest_premiumIndex_all.json"), funding_interval_hours={"DOGE": 4}
    )
    assert [(e.kind_name.value, e.symbol) for e in events] == [
        ("mark_price", "BTC"),
        ("funding", "BTC"),
        ("mark_price", "DOGE"),
        ("funding", "DOGE"),
    ]
    assert isinstance(events[3], Funding) and events[3].interval_hours == 4.0


def test_parse_funding_info(fixtures_dir: Path) -> None:
    rows = binance.parse_funding_info(load(fixtures_dir, "rest_fundingInfo.json"))
    assert [(r.symbol, r.fundingIntervalHours) for r in rows] == [("BLZUSDT", 8), ("DOGEUSDT", 4)]
    assert binance.funding_intervals(rows) == {"BLZ": 8.0, "DOGE": 4.0}


def test_parse_klines(fixtures_dir: Path) -> None:
    first, second = binance.parse_klines(
        load(fixtures_dir, "rest_klines.json"), symbol="btc", interval="1w", now_ms=1500000000000
    )
    assert first == Candle(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1499040000000_000_000,
        ts_recv=1499040000000_000_000,
        interval_s=604800,
        open=0.0163479,
        high=0.8,
        low=0.015758,
        close=0.015771,
        volume=148976.11427815,
        quote_volume=2434.19055334,
        taker_buy_volume=1756.87402397,
        closed=True,
    )
    assert not second.closed  # closes at 1500249599999 > now


def test_parse_exchange_info(fixtures_dir: Path) -> None:
    infos = binance.parse_exchange_info(load(fixtures_dir, "rest_exchangeInfo.json"))
    assert infos == [
        binance.SymbolInfo(
            symbol="BTC",
            venue_symbol="BTCUSDT",
            status="TRADING",
            tick_size=0.1,
            step_size=0.001,
            min_qty=0.001,
            min_notional=100.0,
        ),
        binance.SymbolInfo(
            symbol="1000PEPE",
            venue_symbol="1000PEPEUSDT",
            status="SETTLING",
            tick_size=1e-7,
            step_size=1.0,
            min_qty=1.0,
        ),
    ]


def test_parse_leverage_brackets(fixtures_dir: Path) -> None:
    tiers = binance.parse_leverage_brackets(load(fixtures_dir, "rest_leverageBracket.json"))
    assert tiers == {
        "ETH": [
            {"notional_floor": 0.0, "notional_cap": 50000.0, "mmr": 0.004, "cum": 0.0, "max_leverage": 125.0},
            {
                "notional_floor": 50000.0,
                "notional_cap": 600000.0,
                "mmr": 0.005,
                "cum": 50.0,
                "max_leverage": 100.0,
            },
        ]
    }


def test_rest_error_bodies(fixtures_dir: Path) -> None:
    body = load(fixtures_dir, "rest_error.json")
    with pytest.raises(DecodeError, match=r"-1121: Invalid symbol"):
        binance.parse_open_interest_hist(body)
    with pytest.raises(DecodeError, match="sumOpenInterest"):
        binance.parse_open_interest_hist(
            b'[{"symbol":"BTCUSDT","sumOpenInterest":"x","sumOpenInterestValue":"1","timestamp":1}]'
        )
