"""Tier tables: packaged snapshots (dated, sourced), lookup, file round trip, refresh through the venue
modules' request builders and parsers (constructed responses, no network)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from perpscope.heatmap.margin import liquidation_price
from perpscope.heatmap.tiers import (
    TierError,
    TierTable,
    cumulative_amounts,
    load_tier_file,
    load_tiers,
    refresh_tiers,
    tiers_from_binance_brackets,
    write_tier_file,
)
from perpscope.model import Venue
from perpscope.venues.rest import RestRequest

SYMBOLS = ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE")


@pytest.mark.parametrize("venue", [v.value for v in Venue])
def test_packaged_tables_are_dated_sourced_and_sane(venue: str) -> None:
    tables = load_tier_file(venue)
    assert set(SYMBOLS) <= set(tables)
    for sym, t in tables.items():
        assert t.symbol == sym and t.venue is Venue(venue)
        assert t.as_of[:4].isdigit() and t.source
        assert not t.verified or "ASSUMPTION" not in t.source
        assert np.all(np.diff(t.mmr) >= 0)  # larger positions never need less maintenance
        assert np.all(np.nan_to_num(np.diff(t.max_leverage), nan=0.0) <= 0)


def test_binance_snapshot_matches_venues_md() -> None:
    t = load_tiers("binance", "SOL")
    assert t.as_of == "2024-10" and t.verified
    np.testing.assert_allclose(t.notional_cap, [20e3, 100e3, 800e3])
    np.testing.assert_allclose(t.mmr, [0.005, 0.0065, 0.01])
    np.testing.assert_allclose(t.cum, [0, 30, 380])
    assert t.max_leverage[0] == 100.0


def test_unverified_tables_are_labelled() -> None:
    t = load_tiers("bybit", "SOL")
    assert not t.verified and "ASSUMPTION" in t.source


def test_errors() -> None:
    with pytest.raises(TierError):
        load_tiers("binance", "NOPE")
    with pytest.raises(TierError):
        TierTable.from_rows(
            [
                {"notional_floor": 0, "notional_cap": 10, "mmr": 0.01},
                {"notional_floor": 20, "notional_cap": 30, "mmr": 0.02},
            ],
            venue="binance",
            symbol="X",
            as_of="2025",
            source="test",
            verified=False,
        )  # gap between tiers
    with pytest.raises(TierError):
        TierTable.from_rows(
            [{"notional_floor": 0, "notional_cap": 10, "mmr": 1.5}],
            venue="binance",
            symbol="X",
            as_of="2025",
            source="test",
            verified=False,
        )


def test_missing_cum_is_derived_and_file_round_trip(tmp_path: Path) -> None:
    rows = [
        {"notional_floor": 0.0, "notional_cap": 1000.0, "mmr": 0.01, "max_leverage": 50.0},
        {"notional_floor": 1000.0, "notional_cap": None, "mmr": 0.02, "max_leverage": 25.0},
    ]
    t = TierTable.from_rows(
        rows, venue="okx", symbol="abc", as_of="2026-01-02", source="test", verified=False
    )
    np.testing.assert_allclose(t.cum, [0.0, 10.0])
    assert np.isinf(t.notional_cap[-1])
    np.testing.assert_allclose(cumulative_amounts(t.notional_floor, t.mmr), t.cum)
    path = write_tier_file("okx", {"ABC": t}, path=tmp_path / "okx.json")
    write_tier_file("okx", {"DEF": t}, path=path)  # merges
    again = load_tier_file("okx", path=path)
    assert set(again) == {"ABC", "DEF"}
    back = again["ABC"]
    np.testing.assert_array_equal(back.mmr, t.mmr)
    np.testing.assert_array_equal(back.cum, t.cum)
    assert back.as_of == "2026-01-02" and back.boundary == "cap_inclusive"
    assert json.loads(path.read_text())["format"] == 1
    assert load_tiers("okx", "ABC", path=path).n_tiers == 2


class FakeVenue:
    """Answers requests by path with canned bodies and records them."""

    def __init__(self, bodies: dict[str, str]) -> None:
        self.bodies = bodies
        self.seen: list[RestRequest] = []

    def __call__(self, req: RestRequest) -> str:
        self.seen.append(req)
        return self.bodies[req.path]


def test_refresh_bybit() -> None:
    body = json.dumps(
        {
            "retCode": 0,
            "retMsg": "OK",
            "time": 1767225600000,
            "result": {
                "category": "linear",
                "list": [
                    {
                        "id": 2,
                        "symbol": "ETHUSDT",
                        "riskLimitValue": "1600000",
                        "maintenanceMargin": "0.0056",
                        "initialMargin": "0.0111",
                        "isLowestRisk": 0,
                        "maxLeverage": "90.00",
                        "mmDeduction": "600",
                    },
                    {
                        "id": 1,
                        "symbol": "ETHUSDT",
                        "riskLimitValue": "1000000",
                        "maintenanceMargin": "0.005",
                        "initialMargin": "0.01",
                        "isLowestRisk": 1,
                        "maxLeverage": "100.00",
                        "mmDeduction": "",
                    },
                ],
            },
        }
    )
    fake = FakeVenue({"/v5/market/risk-limit": body})
    out = refresh_tiers("bybit", ["eth"], fetch=fake, as_of="2026-01-01")
    t = out["ETH"]
    assert fake.seen[0].params["symbol"] == "ETHUSDT"
    np.testing.assert_allclose(t.notional_cap, [1e6, 1.6e6])
    np.testing.assert_allclose(t.cum, [0.0, 600.0])
    np.testing.assert_allclose(t.cum_consistency(), 0.0, atol=1e-9)
    assert t.verified and t.as_of == "2026-01-01" and "risk-limit" in t.source
    # the refreshed table drives the margin model
    lp = liquidation_price("bybit", "long", 2000.0, 50.0, tiers=t, position_usd=1_200_000.0)
    assert float(lp) == pytest.approx(2000.0 * (1 - 0.02 + 0.0056) - 600.0 / (1_200_000.0 / 2000.0))


def test_refresh_okx_converts_contracts_to_usd() -> None:
    instruments = {
        "code": "0",
        "msg": "",
        "data": [
            {
                "instType": "SWAP",
                "instId": "BTC-USDT-SWAP",
                "ctVal": "0.01",
                "ctMult": "1",
                "ctValCcy": "BTC",
                "ctType": "linear",
                "settleCcy": "USDT",
                "tickSz": "0.1",
                "lotSz": "0.01",
                "lever": "100",
                "state": "live",
            }
        ],
    }
    tiers = {
        "code": "0",
        "msg": "",
        "data": [
            {
                "instFamily": "BTC-USDT",
                "tier": "1",
                "minSz": "0",
                "maxSz": "2000",
                "mmr": "0.004",
                "imr": "0.01",
                "maxLever": "100",
            },
            {
                "instFamily": "BTC-USDT",
                "tier": "2",
                "minSz": "2001",
                "maxSz": "4000",
                "mmr": "0.005",
                "imr": "0.0133",
                "maxLever": "75",
            },
        ],
    }
    fake = FakeVenue(
        {
            "/api/v5/public/instruments": json.dumps(instruments),
            "/api/v5/public/position-tiers": json.dumps(tiers),
        }
    )
    t = refresh_tiers("okx", ["BTC"], fetch=fake, as_of="2026-01-01", prices={"BTC": 50_000.0})["BTC"]
    np.testing.assert_allclose(t.notional_cap, [2000 * 0.01 * 50_000, 4000 * 0.01 * 50_000])
    np.testing.assert_allclose(t.cum, [0.0, 1_000_000 * 0.001])
    assert "50000" in t.note
    assert fake.seen[-1].params["instFamily"] == "BTC-USDT"


def test_refresh_hyperliquid_meta() -> None:
    meta = {
        "universe": [
            {"name": "BTC", "szDecimals": 5, "maxLeverage": 40, "marginTableId": 56},
            {"name": "DOGE", "szDecimals": 0, "maxLeverage": 10, "marginTableId": 10},
        ],
        "marginTables": [
            [
                56,
                {
                    "description": "tiered 40x",
                    "marginTiers": [
                        {"lowerBound": "0.0", "maxLeverage": 40},
                        {"lowerBound": "150000000.0", "maxLeverage": 20},
                    ],
                },
            ],
        ],
    }
    fake = FakeVenue({"/info": json.dumps(meta)})
    out = refresh_tiers("hyperliquid", ["BTC", "DOGE"], fetch=fake, as_of="2026-01-01")
    assert fake.seen[0].json_body == {"type": "meta"}
    btc, doge = out["BTC"], out["DOGE"]
    np.testing.assert_allclose(btc.mmr, [0.0125, 0.025])
    np.testing.assert_allclose(btc.cum, [0.0, 150e6 * 0.0125])
    assert btc.boundary == "floor_inclusive"
    np.testing.assert_allclose(doge.mmr, [0.05])
    # same numbers as the packaged snapshot of the docs' table
    np.testing.assert_allclose(btc.cum, load_tiers("hyperliquid", "BTC").cum)


def test_binance_is_not_refreshable_but_a_saved_response_loads() -> None:
    with pytest.raises(TierError, match="SIGNED"):
        refresh_tiers("binance", ["BTC"], fetch=FakeVenue({}), as_of="2026-01-01")
    saved = json.dumps(
        [
            {
                "symbol": "BTCUSDT",
                "brackets": [
                    {
                        "bracket": 1,
                        "initialLeverage": 125,
                        "notionalCap": 50000,
                        "notionalFloor": 0,
                        "maintMarginRatio": 0.004,
                        "cum": 0.0,
                    },
                    {
                        "bracket": 2,
                        "initialLeverage": 100,
                        "notionalCap": 600000,
                        "notionalFloor": 50000,
                        "maintMarginRatio": 0.005,
                        "cum": 50.0,
                    },
                ],
            }
        ]
    )
    t = tiers_from_binance_brackets(saved, as_of="2026-01-01")["BTC"]
    np.testing.assert_allclose(t.max_leverage, [125.0, 100.0])
    np.testing.assert_allclose(t.cum_consistency(), 0.0)
