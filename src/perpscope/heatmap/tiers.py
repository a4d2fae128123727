"""Maintenance-margin tier tables: versioned data files with date and source, vectorized lookup, refresh.

A table is per venue and symbol. Each tier covers a band of *position* notional (USD) and carries the
maintenance margin rate ``mmr``, the maintenance amount ``cum`` (Binance ``cum``, Bybit ``mmDeduction``,
Hyperliquid maintenance deduction) so that ``MM = notional · mmr − cum``, and the tier's maximum leverage.
Tiers apply per position, never to a cohort's total (see :mod:`perpscope.heatmap.margin`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..model import Venue

if TYPE_CHECKING:
    from ..venues.rest import RestRequest

Boundary = Literal["cap_inclusive", "floor_inclusive"]

# Where each venue puts a notional that equals a tier boundary. Binance (bracket "0–50,000": a 50,000 USD
# position is allowed at tier 1's 125×), Bybit (riskLimitValue is the tier's maximum position value) and
# OKX (maxSz is the tier's largest size) include the cap; Hyperliquid's ``lowerBound`` starts its tier.
VENUE_BOUNDARY: dict[Venue, Boundary] = {
    Venue.BINANCE: "cap_inclusive",
    Venue.BYBIT: "cap_inclusive",
    Venue.OKX: "cap_inclusive",
    Venue.HYPERLIQUID: "floor_inclusive",
}

TIER_KEYS = ("notional_floor", "notional_cap", "mmr", "cum", "max_leverage")


class TierError(ValueError):
    """A tier table is malformed (unsorted, gaps, inconsistent maintenance amounts) or missing."""


@dataclass(frozen=True, kw_only=True, eq=False)
class TierTable:
    """One venue+symbol tier table. Arrays are float64, one entry per tier, ascending notional."""

    venue: Venue
    symbol: str  # canonical, e.g. "BTC"
    notional_floor: np.ndarray  # USD
    notional_cap: np.ndarray  # USD (inf for an open last tier)
    mmr: np.ndarray  # maintenance margin rate, fraction
    cum: np.ndarray  # maintenance amount USD: MM = notional·mmr − cum
    max_leverage: np.ndarray  # NaN where unknown (an unstated tier inherits the smaller tier's maximum)
    boundary: Boundary
    as_of: str  # date of the snapshot, ISO (YYYY-MM or YYYY-MM-DD)
    source: str  # URL or document the numbers come from
    verified: bool  # False: a labelled assumption, not confirmed from a primary source
    note: str = ""

    def __post_init__(self) -> None:
        n = self.mmr.shape[0]
        if n == 0:
            raise TierError(f"{self.venue}/{self.symbol}: empty tier table")
        for name in TIER_KEYS:
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise TierError(f"{self.venue}/{self.symbol}: {name} has shape {arr.shape}, expected ({n},)")
        if self.notional_floor[0] != 0.0:
            raise TierError(f"{self.venue}/{self.symbol}: first tier must start at notional 0")
        if np.any(self.notional_cap <= self.notional_floor):
            raise TierError(f"{self.venue}/{self.symbol}: a tier's cap is not above its floor")
        if np.any(self.notional_floor[1:] != self.notional_cap[:-1]):
            raise TierError(f"{self.venue}/{self.symbol}: tiers must be contiguous (floor_k == cap_(k-1))")
        if np.any((self.mmr <= 0.0) | (self.mmr >= 1.0)):
            raise TierError(f"{self.venue}/{self.symbol}: mmr must be in (0, 1)")

    @property
    def n_tiers(self) -> int:
        return int(self.mmr.shape[0])

    @classmethod
    def from_rows(
        cls,
        rows: Sequence[Mapping[str, float | None]],
        *,
        venue: Venue | str,
        symbol: str,
        as_of: str,
        source: str,
        verified: bool,
        boundary: Boundary | None = None,
        note: str = "",
    ) -> TierTable:
        """Build from ``{"notional_floor","notional_cap","mmr","cum","max_leverage"}`` rows (the shape the
        venue parsers return). A missing/None ``cum`` is derived with :func:`cumulative_amounts`; a missing
        ``max_leverage`` is NaN (unknown); a missing last cap is +inf."""

        venue = Venue(venue)
        rows = sorted(rows, key=lambda r: float(r["notional_floor"] or 0.0))
        floor = np.array([float(r["notional_floor"] or 0.0) for r in rows])
        cap = np.array([np.inf if r.get("notional_cap") is None else float(r["notional_cap"]) for r in rows])
        mmr = np.array([float(r["mmr"]) for r in rows])  # type: ignore[arg-type]
        if any(r.get("cum") is None for r in rows):
            cum = cumulative_amounts(floor, mmr)
        else:
            cum = np.array([float(r["cum"]) for r in rows])  # type: ignore[arg-type]
        lev = np.array([np.nan if r.get("max_leverage") is None else float(r["max_leverage"]) for r in rows])
        # An unstated max leverage is at most the smaller tier's (venues only lower it as size grows):
        # carry it forward so leverage clipping still applies.
        for k in range(1, lev.shape[0]):
            if np.isnan(lev[k]):
                lev[k] = lev[k - 1]
        return cls(
            venue=venue,
            symbol=symbol.upper(),
            notional_floor=floor,
            notional_cap=cap,
            mmr=mmr,
            cum=cum,
            max_leverage=lev,
            boundary=boundary or VENUE_BOUNDARY[venue],
            as_of=as_of,
            source=source,
            verified=verified,
            note=note,
        )

    def to_rows(self) -> list[dict[str, float | None]]:
        out: list[dict[str, float | None]] = []
        for k in range(self.n_tiers):
            cap = float(self.notional_cap[k])
            lev = float(self.max_leverage[k])
            out.append(
                {
                    "notional_floor": float(self.notional_floor[k]),
                    "notional_cap": None if np.isinf(cap) else cap,
                    "mmr": float(self.mmr[k]),
                    "cum": float(self.cum[k]),
                    "max_leverage": None if np.isnan(lev) else lev,
                }
            )
        return out

    def to_json_dict(self) -> dict[str, object]:
        return {
            "as_of": self.as_of,
            "source": self.source,
            "verified": self.verified,
            "boundary": self.boundary,
            "note": self.note,
            "tiers": self.to_rows(),
        }

    def tier_index(self, notional_usd: float | np.ndarray) -> np.ndarray:
        """Index of the tier holding each position notional (USD). Notionals above the last cap use the
        last tier (the venue would refuse them; the model extrapolates)."""

        n = np.abs(np.asarray(notional_usd, dtype=np.float64))
        if self.boundary == "cap_inclusive":
            # floor_k < n <= cap_k; n == 0 belongs to tier 0
            idx = np.searchsorted(self.notional_floor, n, side="left") - 1
        else:
            # floor_k <= n < cap_k
            idx = np.searchsorted(self.notional_floor, n, side="right") - 1
        return np.clip(idx, 0, self.n_tiers - 1)

    def lookup(self, notional_usd: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mmr, cum, max_leverage)`` for each position notional (USD), broadcast to its shape."""

        idx = self.tier_index(notional_usd)
        return self.mmr[idx], self.cum[idx], self.max_leverage[idx]

    def cum_consistency(self) -> np.ndarray:
        """``cum_k − (cum_(k−1) + floor_k·(mmr_k − mmr_(k−1)))`` per tier (0 for tier 0 means cum_0 == 0):
        zero everywhere when the table is continuous in maintenance margin."""

        return self.cum - cumulative_amounts(self.notional_floor, self.mmr)


def cumulative_amounts(notional_floor: np.ndarray, mmr: np.ndarray) -> np.ndarray:
    """Maintenance amounts that keep ``MM = notional·mmr − cum`` continuous across tier boundaries:
    ``cum_0 = 0``, ``cum_k = cum_(k−1) + floor_k·(mmr_k − mmr_(k−1))`` (Binance's rule; Hyperliquid's
    maintenance deduction follows the same recursion)."""

    floor = np.asarray(notional_floor, dtype=np.float64)
    rate = np.asarray(mmr, dtype=np.float64)
    steps = np.zeros_like(rate)
    steps[1:] = floor[1:] * np.diff(rate)
    return np.cumsum(steps)


def hyperliquid_rows(margin_tiers: Iterable[tuple[float, float]]) -> list[dict[str, float | None]]:
    """Hyperliquid margin tiers ``(lowerBound USD, maxLeverage)`` → tier rows. Maintenance margin is half
    the initial margin at the tier's max leverage: ``mmr = 1/(2·maxLeverage)``; the deduction follows the
    continuity recursion."""

    pairs = sorted((float(lb), float(lev)) for lb, lev in margin_tiers)
    floors = np.array([p[0] for p in pairs])
    mmr = np.array([1.0 / (2.0 * p[1]) for p in pairs])
    cum = cumulative_amounts(floors, mmr)
    rows: list[dict[str, float | None]] = []
    for k, (lb, lev) in enumerate(pairs):
        cap = pairs[k + 1][0] if k + 1 < len(pairs) else None
        rows.append(
            {
                "notional_floor": lb,
                "notional_cap": cap,
                "mmr": float(mmr[k]),
                "cum": float(cum[k]),
                "max_leverage": lev,
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------------
# Data files: src/perpscope/data/tiers/<venue>.json
#   {"venue": "binance", "format": 1, "symbols": {"BTC": {"as_of", "source", "verified", "boundary",
#    "note", "tiers": [{"notional_floor", "notional_cap", "mmr", "cum", "max_leverage"}, ...]}}}
# ---------------------------------------------------------------------------------------------------

TIERS_FORMAT = 1


def _package_file(venue: Venue) -> Path:
    return Path(str(resources.files("perpscope") / "data" / "tiers" / f"{venue.value}.json"))


def load_tier_file(venue: Venue | str, *, path: str | Path | None = None) -> dict[str, TierTable]:
    """All tables of one venue's data file (the packaged snapshot unless ``path`` is given)."""

    venue = Venue(venue)
    file = Path(path) if path is not None else _package_file(venue)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TierError(f"no tier file for {venue} at {file}") from None
    if doc.get("venue") != venue.value:
        raise TierError(f"{file}: venue is {doc.get('venue')!r}, expected {venue.value!r}")
    out: dict[str, TierTable] = {}
    for symbol, entry in doc["symbols"].items():
        out[symbol.upper()] = TierTable.from_rows(
            entry["tiers"],
            venue=venue,
            symbol=symbol,
            as_of=str(entry["as_of"]),
            source=str(entry["source"]),
            verified=bool(entry["verified"]),
            boundary=entry.get("boundary"),
            note=str(entry.get("note", "")),
        )
    return out


_CACHE: dict[Venue, dict[str, TierTable]] = {}


def load_tiers(venue: Venue | str, symbol: str, *, path: str | Path | None = None) -> TierTable:
    """The tier table of ``venue``/``symbol`` (canonical, e.g. ``"BTC"``) from the packaged snapshot or
    ``path``. Raises :class:`TierError` when the symbol has no table."""

    venue = Venue(venue)
    if path is not None:
        tables = load_tier_file(venue, path=path)
    else:
        if venue not in _CACHE:
            _CACHE[venue] = load_tier_file(venue)
        tables = _CACHE[venue]
    try:
        return tables[symbol.upper()]
    except KeyError:
        have = ", ".join(sorted(tables))
        raise TierError(f"no {venue} tier table for {symbol!r} (have: {have})") from None


def write_tier_file(
    venue: Venue | str, tables: Mapping[str, TierTable], *, path: str | Path, merge: bool = True
) -> Path:
    """Write tables to a venue data file (merging into an existing file's other symbols by default)."""

    venue = Venue(venue)
    file = Path(path)
    symbols: dict[str, object] = {}
    if merge and file.exists():
        symbols.update(json.loads(file.read_text(encoding="utf-8")).get("symbols", {}))
    for sym, table in tables.items():
        if table.venue is not venue:
            raise TierError(f"table {table.venue}/{sym} written to the {venue} file")
        symbols[sym.upper()] = table.to_json_dict()
    doc = {"venue": venue.value, "format": TIERS_FORMAT, "symbols": dict(sorted(symbols.items()))}
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return file


# ---------------------------------------------------------------------------------------------------
# Refresh from the venues' public endpoints. The caller executes requests (``fetch``), so this module
# stays free of network I/O; the venue modules build the requests and parse the responses.
# ---------------------------------------------------------------------------------------------------

Fetch = Callable[["RestRequest"], bytes | str]

REFRESH_SOURCES: dict[Venue, str] = {
    Venue.BYBIT: "GET https://api.bybit.com/v5/market/risk-limit?category=linear&symbol=<SYMBOL>USDT",
    Venue.OKX: "GET https://www.okx.com/api/v5/public/position-tiers?instType=SWAP&tdMode=isolated"
    "&instFamily=<SYMBOL>-USDT (contracts × ctVal × last price → USD)",
    Venue.HYPERLIQUID: "POST https://api.hyperliquid.xyz/info {type: meta} marginTables",
}

BINANCE_NOT_REFRESHABLE = (
    "Binance's tier endpoint GET /fapi/v1/leverageBracket is SIGNED (needs an API key): perpscope never "
    "calls it. Save a response yourself and load it with tiers_from_binance_brackets(body, as_of=...)."
)


def _rows_in_usd(rows: Sequence[Mapping[str, object]], what: str) -> list[dict[str, float | None]]:
    out: list[dict[str, float | None]] = []
    for r in rows:
        unit = r.get("unit", "usd")
        if unit != "usd":
            raise TierError(f"{what}: tier bounds are in {unit!r}, not USD")
        out.append({k: (None if r.get(k) is None else float(r[k])) for k in TIER_KEYS})  # type: ignore[arg-type]
    return out


def refresh_tiers(
    venue: Venue | str,
    symbols: Iterable[str],
    *,
    fetch: Fetch,
    as_of: str,
    prices: Mapping[str, float] | None = None,
) -> dict[str, TierTable]:
    """Fetch current tier tables (``as_of``: today's date, ISO) for canonical ``symbols`` through
    ``fetch(request) -> body``. Bybit: ``/v5/market/risk-limit``; OKX: ``/public/position-tiers`` with
    contract sizes from ``/public/instruments`` and USD bounds at ``prices[symbol]`` (default: the last
    1-minute close); Hyperliquid: ``meta`` margin tables. Binance raises :class:`TierError` (signed)."""

    venue = Venue(venue)
    wanted = [s.upper() for s in symbols]
    out: dict[str, TierTable] = {}
    source = REFRESH_SOURCES.get(venue, "")
    if venue is Venue.BINANCE:
        raise TierError(BINANCE_NOT_REFRESHABLE)
    if venue is Venue.BYBIT:
        from ..venues import bybit

        for sym in wanted:
            rows = bybit.parse_risk_limit(fetch(bybit.risk_limit_request(symbol=sym)), symbol=sym)
            out[sym] = TierTable.from_rows(
                _rows_in_usd(rows, f"bybit {sym}"),
                venue=venue,
                symbol=sym,
                as_of=as_of,
                source=source,
                verified=True,
                note="refreshed from the venue API",
            )
    elif venue is Venue.OKX:
        from ..venues import okx

        specs = {s.symbol: s for s in okx.parse_instruments(fetch(okx.instruments_request()))}
        for sym in wanted:
            if sym not in specs:
                raise TierError(f"okx: no live USDT swap for {sym}")
            price = None if prices is None else prices.get(sym)
            if price is None:
                candles = okx.parse_candles(
                    fetch(okx.candles_request(sym, bar="1m", limit=1)), symbol=sym, bar="1m"
                )
                if not candles:
                    raise TierError(f"okx: no recent candle for {sym} to convert contracts to USD")
                price = candles[-1].close
            rows = okx.parse_position_tiers(
                fetch(okx.position_tiers_request(sym)), contract_size=specs[sym].contract_size, price=price
            )
            out[sym] = TierTable.from_rows(
                _rows_in_usd(rows, f"okx {sym}"),
                venue=venue,
                symbol=sym,
                as_of=as_of,
                source=source,
                verified=True,
                note=f"contract bounds converted to USD at {price:g}",
            )
    else:
        from ..venues import hyperliquid

        tables = hyperliquid.parse_margin_tiers(fetch(hyperliquid.meta_request()))
        for sym in wanted:
            if sym not in tables:
                raise TierError(f"hyperliquid: no margin table for {sym}")
            out[sym] = TierTable.from_rows(
                _rows_in_usd(tables[sym], f"hyperliquid {sym}"),
                venue=venue,
                symbol=sym,
                as_of=as_of,
                source=source,
                verified=True,
                note="refreshed from the venue API",
            )
    return out


def tiers_from_binance_brackets(body: bytes | str, *, as_of: str, source: str = "") -> dict[str, TierTable]:
    """Tables from a saved (signed) Binance ``GET /fapi/v1/leverageBracket`` response."""

    from ..venues import binance

    out: dict[str, TierTable] = {}
    for sym, rows in binance.parse_leverage_brackets(body).items():
        out[sym] = TierTable.from_rows(
            _rows_in_usd(rows, f"binance {sym}"),
            venue=Venue.BINANCE,
            symbol=sym,
            as_of=as_of,
            source=source or "saved GET /fapi/v1/leverageBracket response",
            verified=True,
        )
    return out
