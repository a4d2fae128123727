"""Instrument specifications per venue and canonical symbol: contract size, tick and lot sizes, max leverage,
funding interval. Decoders need them offline (OKX sizes are contracts: base coin = ``sz × ctVal``), so a
dated snapshot ships with the package (``perpscope/data/instruments.json``) and ``perpscope instruments
--refresh`` writes a newer one under the data directory, which then takes precedence.

``contract_size`` is base coin per contract: OKX ``ctVal × ctMult``, 1 for Binance, Bybit and Hyperliquid
(their sizes are already base coin). ``lot_size`` is in the venue's order unit (contracts on OKX).

Refreshing is split so this module stays free of I/O: :func:`refresh_requests` builds the REST requests,
the caller executes them (``perpscope instruments --refresh`` does), and :func:`refresh` parses the bodies
with each venue module's parser and writes the new snapshot atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

from ..config import data_dir as config_data_dir
from ..errors import DecodeError, PerpscopeError
from ..model import Venue
from ..symbols import DEFAULT_SYMBOLS
from ._checks import MAX_PRICE, MAX_QUANTITY
from .rest import RestRequest

SNAPSHOT_FORMAT = 1
SNAPSHOT_NAME = "instruments.json"


class UnknownInstrument(DecodeError):
    """The snapshot in use has no specification for this venue instrument (refresh it, or it is not a
    USDT perpetual). A :class:`~perpscope.errors.DecodeError`, so decoders count it like any bad message."""


class SnapshotError(PerpscopeError):
    """An instrument snapshot file is missing or malformed."""


Positive = Annotated[float, Meta(gt=0.0, le=MAX_QUANTITY)]
Tick = Annotated[float, Meta(gt=0.0, le=MAX_PRICE)]
Leverage = Annotated[float, Meta(ge=1.0, le=1000.0)]
Hours = Annotated[float, Meta(gt=0.0, le=24.0 * 7)]


class InstrumentSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What perpscope needs to know about one venue instrument."""

    venue: Venue
    symbol: str  # canonical, "BTC"
    instrument: str  # the venue's id: "BTCUSDT", "BTC-USDT-SWAP", "BTC"
    contract_size: Positive = 1.0  # base coin per contract (OKX ctVal × ctMult)
    tick_size: Tick | None = None  # price increment (None: Hyperliquid has no fixed tick)
    lot_size: Positive | None = None  # order size increment, venue unit (contracts on OKX)
    max_leverage: Leverage | None = None  # at the smallest tier, where known
    funding_interval_hours: Hours | None = None  # where known

    @property
    def lot_size_base(self) -> float | None:
        """The lot size in base coin."""
        return None if self.lot_size is None else self.lot_size * self.contract_size

    def to_base(self, contracts: float) -> float:
        """Venue size (contracts on OKX) → base coin."""
        return contracts * self.contract_size


class VenueSource(msgspec.Struct, frozen=True, kw_only=True):
    """Where and when one venue's part of the snapshot came from."""

    as_of: str  # ISO date (or year-month) of the values
    urls: tuple[str, ...] = ()
    note: str = ""


class _Entry(msgspec.Struct, frozen=True, kw_only=True):
    instrument: str
    contract_size: Positive = 1.0
    tick_size: Tick | None = None
    lot_size: Positive | None = None
    max_leverage: Leverage | None = None
    funding_interval_hours: Hours | None = None


class _File(msgspec.Struct, frozen=True, kw_only=True):
    format: int
    as_of: str
    instruments: dict[str, dict[str, _Entry]]
    venues: dict[str, VenueSource] = {}
    note: str = ""


def packaged_path() -> Path:
    """The snapshot shipped inside the package."""
    return Path(str(resources.files("perpscope") / "data" / SNAPSHOT_NAME))


def snapshot_path(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where ``--refresh`` writes, and where :meth:`Instruments.load` looks first."""
    return config_data_dir(data_dir) / SNAPSHOT_NAME


_CACHE: dict[tuple[str, int, int], Instruments] = {}


class Instruments:
    """A snapshot of instrument specs: lookups by canonical symbol or by the venue's instrument id."""

    def __init__(
        self,
        specs: Iterable[InstrumentSpec],
        *,
        as_of: str,
        sources: Mapping[Venue, VenueSource] | None = None,
        path: Path | None = None,
        note: str = "",
    ) -> None:
        self.as_of = as_of
        self.sources: dict[Venue, VenueSource] = dict(sources or {})
        self.path = path
        self.note = note
        self._by_symbol: dict[tuple[Venue, str], InstrumentSpec] = {}
        self._by_instrument: dict[tuple[Venue, str], InstrumentSpec] = {}
        for spec in specs:
            self._by_symbol[(spec.venue, spec.symbol)] = spec
            self._by_instrument[(spec.venue, spec.instrument)] = spec

    # -- loading -------------------------------------------------------------------------------------

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, *, data_dir: str | os.PathLike[str] | None = None
    ) -> Instruments:
        """``path`` if given; else the refreshed copy ``<data dir>/instruments.json`` when present; else the
        snapshot shipped with the package. Loaded files are cached by path and modification time."""

        if path is not None:
            file = Path(path)
        else:
            refreshed = snapshot_path(data_dir)
            file = refreshed if refreshed.is_file() else packaged_path()
        try:
            st = file.stat()
        except FileNotFoundError:
            raise SnapshotError(f"instrument snapshot not found: {file}") from None
        key = (str(file.resolve()), st.st_mtime_ns, st.st_size)
        cached = _CACHE.get(key)
        if cached is None:
            cached = cls.from_json(file.read_bytes(), path=file)
            _CACHE[key] = cached
        return cached

    @classmethod
    def packaged(cls) -> Instruments:
        """The snapshot shipped with the package, ignoring any refreshed copy."""
        return cls.load(packaged_path())

    @classmethod
    def from_json(cls, data: bytes | str, *, path: Path | None = None) -> Instruments:
        where = str(path) if path else "instrument snapshot"
        try:
            doc = msgspec.json.decode(data, type=_File)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise SnapshotError(f"{where}: {exc}") from None
        if doc.format != SNAPSHOT_FORMAT:
            raise SnapshotError(f"{where}: format {doc.format}, this perpscope reads {SNAPSHOT_FORMAT}")
        specs = []
        sources: dict[Venue, VenueSource] = {}
        try:
            for venue_name, rows in doc.instruments.items():
                venue = Venue(venue_name)
                for symbol, e in rows.items():
                    specs.append(
                        InstrumentSpec(
                            venue=venue,
                            symbol=symbol,
                            instrument=e.instrument,
                            contract_size=e.contract_size,
                            tick_size=e.tick_size,
                            lot_size=e.lot_size,
                            max_leverage=e.max_leverage,
                            funding_interval_hours=e.funding_interval_hours,
                        )
                    )
            for venue_name, src in doc.venues.items():
                sources[Venue(venue_name)] = src
        except ValueError as exc:
            raise SnapshotError(f"{where}: {exc}") from None
        return cls(specs, as_of=doc.as_of, sources=sources, path=path, note=doc.note)

    # -- lookups -------------------------------------------------------------------------------------

    def find(self, venue: Venue | str, symbol: str) -> InstrumentSpec | None:
        venue = Venue(venue)
        # canonical symbols are upper case except Hyperliquid's kPEPE-style names: try as given first
        return self._by_symbol.get((venue, symbol)) or self._by_symbol.get((venue, symbol.upper()))

    def get(self, venue: Venue | str, symbol: str) -> InstrumentSpec:
        """The spec of canonical ``symbol`` on ``venue``; :class:`UnknownInstrument` when absent."""

        spec = self.find(venue, symbol)
        if spec is None:
            raise UnknownInstrument(
                f"{Venue(venue)}: no instrument spec for {symbol!r} in the snapshot of {self.as_of}"
                " (run `perpscope instruments --refresh`)"
            )
        return spec

    def by_instrument(self, venue: Venue | str, instrument: str) -> InstrumentSpec:
        """The spec of a venue instrument id (``BTC-USDT-SWAP``); :class:`UnknownInstrument` when absent."""

        spec = self._by_instrument.get((Venue(venue), instrument))
        if spec is None:
            raise UnknownInstrument(
                f"{Venue(venue)}: no contract spec for {instrument!r} in the instrument snapshot of "
                f"{self.as_of} (run `perpscope instruments --refresh`)"
            )
        return spec

    def contract_size(self, venue: Venue | str, symbol: str) -> float:
        """Base coin per contract (OKX ``ctVal``; 1 on the other venues)."""
        return self.get(venue, symbol).contract_size

    def specs(
        self, *, venues: Iterable[Venue | str] | None = None, symbols: Iterable[str] | None = None
    ) -> list[InstrumentSpec]:
        """Specs filtered by venue and canonical symbol, ordered by venue, then the default six coins, then
        the other symbols alphabetically."""

        vs = None if venues is None else {Venue(v) for v in venues}
        ss = None if symbols is None else {s.upper() for s in symbols}
        order = {v: i for i, v in enumerate(Venue)}
        rank = {s: i for i, s in enumerate(DEFAULT_SYMBOLS)}
        out = [
            s
            for s in self._by_symbol.values()
            if (vs is None or s.venue in vs) and (ss is None or s.symbol.upper() in ss)
        ]
        return sorted(out, key=lambda s: (order[s.venue], rank.get(s.symbol, len(rank)), s.symbol))

    def venues(self) -> list[Venue]:
        return [v for v in Venue if any(k[0] is v for k in self._by_symbol)]

    def __len__(self) -> int:
        return len(self._by_symbol)

    def __iter__(self) -> Iterator[InstrumentSpec]:
        return iter(self.specs())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and self.find(*key) is not None

    def __repr__(self) -> str:
        return f"Instruments({len(self)} specs, as_of={self.as_of!r}, path={str(self.path)!r})"

    # -- writing -------------------------------------------------------------------------------------

    def to_json_dict(self) -> dict[str, object]:
        instruments: dict[str, dict[str, object]] = {}
        for spec in self.specs():
            row = msgspec.to_builtins(spec)
            del row["venue"], row["symbol"]
            instruments.setdefault(spec.venue.value, {})[spec.symbol] = row
        return {
            "format": SNAPSHOT_FORMAT,
            "as_of": self.as_of,
            "note": self.note,
            "venues": {v.value: msgspec.to_builtins(s) for v, s in self.sources.items()},
            "instruments": instruments,
        }


def write_snapshot(instruments: Instruments, path: str | os.PathLike[str]) -> Path:
    """Write atomically: a temporary file in the same directory, fsync, then rename over ``path``. A reader
    sees the old snapshot or the new one, never half of one."""

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(instruments.to_json_dict(), indent=1, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".instruments-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable (best effort: not every platform opens directories)
        dfd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return target
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
    return target


# ---------------------------------------------------------------------------------------------------------
# Refresh from the venues' public endpoints (requests built here, executed by the caller)


def refresh_requests(
    *, venues: Iterable[Venue | str] | None = None, rest_urls: Mapping[Venue, str] | None = None
) -> dict[Venue, list[RestRequest]]:
    """The public REST requests that describe every venue's USDT perpetuals: Binance ``exchangeInfo`` +
    ``fundingInfo``, Bybit ``instruments-info`` (first page), OKX ``public/instruments?instType=SWAP``,
    Hyperliquid info ``meta``. ``rest_urls`` overrides base URLs (tests, the emulator)."""

    from . import binance, bybit, hyperliquid, okx

    urls = dict(rest_urls or {})
    out: dict[Venue, list[RestRequest]] = {}
    for venue in [Venue(v) for v in venues] if venues is not None else list(Venue):
        if venue is Venue.BINANCE:
            ep = binance.Endpoints(rest=urls.get(venue, binance.REST_URL))
            out[venue] = [
                binance.exchange_info_request(endpoints=ep),
                binance.funding_info_request(endpoints=ep),
            ]
        elif venue is Venue.BYBIT:
            ep_by = bybit.Endpoints(rest=urls.get(venue, bybit.REST_URL))
            out[venue] = [bybit.instruments_info_request(endpoints=ep_by)]
        elif venue is Venue.OKX:
            out[venue] = [
                okx.instruments_request(endpoints=okx.Endpoints(rest=urls.get(venue, okx.REST_URL)))
            ]
        else:
            ep_hl = hyperliquid.Endpoints(rest=urls.get(venue, hyperliquid.REST_URL))
            out[venue] = [hyperliquid.meta_request(endpoints=ep_hl)]
    return out


def next_page_request(venue: Venue | str, request: RestRequest, body: bytes | str) -> RestRequest | None:
    """The follow-up request when a refresh response is paged (Bybit ``nextPageCursor``), else None."""

    from . import bybit

    if Venue(venue) is not Venue.BYBIT:
        return None
    _, cursor = bybit.parse_instruments_info(body)
    if not cursor:
        return None
    return bybit.instruments_info_request(cursor=cursor, endpoints=bybit.Endpoints(rest=request.base_url))


def parse_venue(venue: Venue | str, bodies: Sequence[bytes | str]) -> list[InstrumentSpec]:
    """Response bodies of :func:`refresh_requests` for one venue (in request order, plus any Bybit pages)
    → specs of its USDT perpetuals, parsed by the venue module's own parser."""

    from . import binance, bybit, hyperliquid, okx

    venue = Venue(venue)
    if not bodies:
        raise DecodeError(f"{venue}: no response to parse")
    if venue is Venue.BINANCE:
        # exchangeInfo carries no funding interval or leverage: fundingInfo lists only the symbols that
        # differ from the default 8 h; leverage brackets need a signed request (kept from the old snapshot).
        intervals = (
            binance.funding_intervals(binance.parse_funding_info(bodies[1])) if len(bodies) > 1 else {}
        )
        return [
            InstrumentSpec(
                venue=venue,
                symbol=info.symbol,
                instrument=info.venue_symbol,
                tick_size=info.tick_size,
                lot_size=info.step_size,
                funding_interval_hours=intervals.get(info.symbol, binance.DEFAULT_FUNDING_INTERVAL_HOURS),
            )
            for info in binance.parse_exchange_info(bodies[0])
            if info.status == "TRADING"
        ]
    if venue is Venue.BYBIT:
        return [
            InstrumentSpec(
                venue=venue,
                symbol=i.symbol,
                instrument=i.venue_symbol,
                tick_size=i.tick_size,
                lot_size=i.qty_step,
                max_leverage=i.max_leverage,
                funding_interval_hours=i.funding_interval_hours,
            )
            for body in bodies
            for i in bybit.parse_instruments_info(body)[0]
            if i.status == "Trading"
        ]
    if venue is Venue.OKX:
        return okx.parse_instruments(bodies[0])
    return hyperliquid.parse_instruments(bodies[0])


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def build_snapshot(
    bodies: Mapping[Venue, Sequence[bytes | str]],
    *,
    previous: Instruments | None = None,
    urls: Mapping[Venue, Sequence[str]] | None = None,
    as_of: str | None = None,
) -> Instruments:
    """A new snapshot from refreshed venues' bodies. Venues not in ``bodies`` keep ``previous``'s entries and
    dates; a refreshed venue is replaced (delisted symbols drop out), but a field its endpoint does not
    publish (Binance max leverage, OKX funding interval) keeps the previous value."""

    date = as_of or today()
    old = previous.specs() if previous is not None else []
    sources = dict(previous.sources) if previous is not None else {}
    fresh: dict[Venue, list[InstrumentSpec]] = {Venue(v): parse_venue(v, b) for v, b in bodies.items()}
    specs = [s for s in old if s.venue not in fresh]
    for venue, new_specs in fresh.items():
        prev = {s.symbol: s for s in old if s.venue is venue}
        for spec in new_specs:
            before = prev.get(spec.symbol)
            if before is not None:
                spec = msgspec.structs.replace(
                    spec,
                    max_leverage=spec.max_leverage if spec.max_leverage is not None else before.max_leverage,
                    funding_interval_hours=spec.funding_interval_hours
                    if spec.funding_interval_hours is not None
                    else before.funding_interval_hours,
                )
            specs.append(spec)
        sources[venue] = VenueSource(
            as_of=date,
            urls=tuple((urls or {}).get(venue, ())),
            note=f"refreshed from the venue's public endpoint: {len(new_specs)} USDT perpetuals",
        )
    note = "Refreshed by `perpscope instruments --refresh`. " + (
        previous.note if previous is not None else ""
    )
    return Instruments(specs, as_of=date, sources=sources, note=note.strip())


def refresh(
    bodies: Mapping[Venue, Sequence[bytes | str]],
    *,
    path: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    previous: Instruments | None = None,
    urls: Mapping[Venue, Sequence[str]] | None = None,
    as_of: str | None = None,
) -> Instruments:
    """Parse refreshed bodies, merge them into ``previous`` (default: the snapshot currently in use) and
    write the result atomically to ``path`` (default ``<data dir>/instruments.json``). Returns the new
    snapshot. Nothing is written if any body fails to parse."""

    target = Path(path) if path is not None else snapshot_path(data_dir)
    if previous is None:
        previous = Instruments.load(data_dir=data_dir)
    snap = build_snapshot(bodies, previous=previous, urls=urls, as_of=as_of)
    write_snapshot(snap, target)
    snap.path = target
    return snap
