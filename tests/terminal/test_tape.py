import csv
import io

from rich.console import Console

from perpscope.model import Liquidation, PositionSide, Venue
from perpscope.terminal.tape import Tape, format_liquidation, parse_tiers, tier_of
from perpscope.timeutil import NS_PER_MS, NS_PER_S


def _liq(
    ts_s: float, usd: float, *, side: PositionSide = PositionSide.LONG, venue: Venue = Venue.BINANCE
) -> Liquidation:
    price = 95_000.0
    return Liquidation(
        venue=venue,
        symbol="BTC",
        ts_event=int(ts_s * NS_PER_S),
        ts_recv=int(ts_s * NS_PER_S),
        side=side,
        price=price,
        quantity=usd / price,
        notional_usd=usd,
        sampled=venue in (Venue.BINANCE, Venue.OKX),
    )


def _console() -> Console:
    return Console(file=io.StringIO(), width=160, record=True, color_system=None)


def test_tiers() -> None:
    assert parse_tiers("50k, 100k,200k,1m") == (50_000, 100_000, 200_000, 1_000_000)
    assert tier_of(49_999, parse_tiers(None)) == 0
    assert tier_of(200_000, parse_tiers(None)) == 3
    assert tier_of(5e6, parse_tiers(None)) == 4


def test_line_marks_sampled_venues_as_lower_bounds() -> None:
    sampled = format_liquidation(_liq(1, 60_000)).plain
    full = format_liquidation(_liq(1, 60_000, venue=Venue.BYBIT, side=PositionSide.SHORT)).plain
    assert "≥$" in sampled and "binance" in sampled and "LONG" in sampled
    assert "≥" not in full and "SHORT" in full and "bybit" in full


def test_min_usd_filters_prints_but_cascades_count_everything() -> None:
    con = _console()
    tape = Tape(console=con, min_usd=500_000)
    events = [_liq(100 + i * 0.5, 300_000, venue=[Venue.BINANCE, Venue.BYBIT][i % 2]) for i in range(6)]
    tape.feed(events)
    tape.close()
    out = con.export_text()
    assert tape.counts["printed"] == 0 and tape.counts["liquidations"] == 6
    assert "CASCADE BTC LONG" in out and "x6" in out and "binance,bybit" in out
    assert "cascade end" in out


def test_quiet_flow_prints_no_cascade() -> None:
    con = _console()
    tape = Tape(console=con, min_usd=0)
    tape.feed([_liq(i * 60, 20_000) for i in range(20)])  # one print a minute
    tape.close()
    assert tape.counts["printed"] == 20
    assert "CASCADE" not in con.export_text()


def test_real_forceorder_flush_prints_cascades(shared) -> None:  # type: ignore[no-untyped-def]
    path = shared("binance-forceorder-btcusdt-2024-12-04_2024-12-06.csv")
    events = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            ts = int(row["event_time_ms"]) * NS_PER_MS
            side = PositionSide.LONG if row["order_side"] == "SELL" else PositionSide.SHORT
            price, qty = float(row["avg_price"]), float(row["filled_qty"])
            events.append(
                Liquidation(
                    venue=Venue.BINANCE,
                    symbol="BTC",
                    ts_event=ts,
                    ts_recv=ts,
                    side=side,
                    price=price,
                    quantity=qty,
                    notional_usd=price * qty,
                    sampled=True,
                )
            )
    con = _console()
    tape = Tape(console=con, min_usd=100_000)
    tape.feed(events)
    tape.close()
    assert tape.counts["liquidations"] == 1_844
    assert tape.counts["cascade_open"] == tape.counts["cascade_close"] > 0
    assert "CASCADE BTC LONG" in con.export_text()
