from hypothesis import given
from hypothesis import strategies as st

from perpscope.errors import DecodeError
from perpscope.model import Liquidation, PositionSide, Venue, decode_event, encode_event, event_record
from perpscope.symbols import canonical_symbol, venue_symbol

coins = st.from_regex(r"[A-Z][A-Z0-9]{1,9}", fullmatch=True).filter(lambda s: not s.endswith("USDT"))


@given(coin=coins, venue=st.sampled_from(list(Venue)))
def test_symbol_round_trip(coin: str, venue: Venue) -> None:
    assert canonical_symbol(venue, venue_symbol(venue, coin)) == coin


def test_symbol_maps() -> None:
    assert venue_symbol(Venue.BINANCE, "BTC") == "BTCUSDT"
    assert venue_symbol(Venue.OKX, "eth") == "ETH-USDT-SWAP"
    assert venue_symbol(Venue.HYPERLIQUID, "SOL") == "SOL"
    assert canonical_symbol(Venue.OKX, "DOGE-USDT-SWAP") == "DOGE"


def test_non_usdt_perp_rejected() -> None:
    for venue, name in [(Venue.BINANCE, "BTCUSD_PERP"), (Venue.OKX, "BTC-USD-SWAP"), (Venue.BYBIT, "USDT")]:
        try:
            canonical_symbol(venue, name)
        except DecodeError:
            continue
        raise AssertionError(f"{venue} {name} accepted")


def test_event_round_trip_and_record() -> None:
    ev = Liquidation(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1,
        ts_recv=2,
        side=PositionSide.LONG,
        price=9910.0,
        quantity=0.014,
        notional_usd=138.74,
        sampled=True,
    )
    assert decode_event(encode_event(ev)) == ev
    rec = event_record(ev)
    assert list(rec)[:8] == [
        "kind",
        "venue",
        "symbol",
        "ts_event",
        "side",
        "price",
        "quantity",
        "notional_usd",
    ]
    assert rec["kind"] == "liquidation" and rec["side"] == "long" and rec["sampled"] is True
