"""``perpscope instruments``: the instrument specs in use (contract size, tick, lot, leverage, funding
interval), and ``--refresh`` to fetch them from the venues' public endpoints into the data directory."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp
import msgspec
from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import DecodeError, PerpscopeError
from ..feed.http import RestClient, RestError
from ..model import Venue
from ..symbols import parse_symbols, parse_venues
from ..venues.instruments import (
    Instruments,
    InstrumentSpec,
    next_page_request,
    packaged_path,
    parse_venue,
    refresh,
    refresh_requests,
)
from ..venues.rest import RestRequest
from ._common import add_data_dir

EPILOG = """\
The specs come from a dated snapshot shipped with perpscope; `--refresh` writes a newer one to
<data dir>/instruments.json, which is then used everywhere (decoders read OKX ctVal from it).

examples:
  perpscope instruments                          # the six default coins on all venues
  perpscope instruments --venue okx --symbols all
  perpscope instruments --json --symbols BTC,ETH
  perpscope instruments --refresh                # fetch from Binance, Bybit, OKX, Hyperliquid
"""

MAX_PAGES = 20  # Bybit pages 1,000 instruments at a time


class RefreshError(PerpscopeError):
    """No venue could be refreshed; nothing was written."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "instruments",
        help="show instrument specs (OKX ctVal, tick/lot size, max leverage, funding interval); --refresh",
        description="Show the instrument specifications perpscope uses: contract size (OKX ctVal, base coin "
        "per contract), tick and lot size, max leverage and funding interval per venue and symbol, with "
        "the snapshot date. --refresh fetches them from the venues' public endpoints.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--venue", default=None, help="comma-separated venues (default: all four)")
    p.add_argument(
        "--symbols",
        default=None,
        help="comma-separated canonical symbols, or 'all' (default: BTC,ETH,SOL,BNB,XRP,DOGE)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="fetch every USDT perpetual's spec from the venues (of --venue) and write "
        "<data dir>/instruments.json atomically",
    )
    p.add_argument("--timeout", type=float, default=15.0, help="seconds per HTTP request (default 15)")
    p.add_argument(
        "--rest-url",
        action="append",
        default=[],
        metavar="VENUE=URL",
        help="base REST URL of a venue for --refresh (the emulator, a proxy); repeatable",
    )
    p.add_argument("--snapshot", default=None, help="read this snapshot file instead of the one in use")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    venues = parse_venues(args.venue)
    symbols = None if (args.symbols or "").strip().lower() == "all" else parse_symbols(args.symbols)
    status = 0
    if args.refresh:
        snap, failures = refresh_from_network(
            venues=venues, data_dir=args.data_dir, timeout_s=args.timeout, rest_urls=_rest_urls(args.rest_url)
        )
        for venue, reason in failures.items():
            print(f"perpscope instruments: {venue}: not refreshed: {reason}", file=sys.stderr)
        done = [v.value for v in venues if v not in failures]
        print(f"perpscope instruments: refreshed {', '.join(done)} → {snap.path}", file=sys.stderr)
        status = 1 if failures else 0
    else:
        snap = Instruments.load(args.snapshot, data_dir=args.data_dir)
    specs = snap.specs(venues=venues, symbols=symbols)
    if args.json:
        print(json.dumps(snapshot_record(snap, specs), indent=1))
    else:
        print_table(snap, specs)
    return status


def _rest_urls(items: Sequence[str]) -> dict[Venue, str]:
    out: dict[Venue, str] = {}
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or not url:
            raise ValueError(f"--rest-url wants VENUE=URL, got {item!r}")
        out[parse_venues(name)[0]] = url
    return out


def snapshot_record(snap: Instruments, specs: Sequence[InstrumentSpec]) -> dict[str, object]:
    return {
        "as_of": snap.as_of,
        "path": str(snap.path) if snap.path else None,
        "packaged": _is_packaged(snap),
        "sources": {v.value: msgspec.to_builtins(s) for v, s in snap.sources.items()},
        "instruments": [msgspec.to_builtins(s) for s in specs],
    }


def _is_packaged(snap: Instruments) -> bool:
    return snap.path is not None and Path(snap.path).resolve() == packaged_path().resolve()


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.12f}".rstrip("0").rstrip(".")


def print_table(snap: Instruments, specs: Sequence[InstrumentSpec]) -> None:
    origin = "packaged snapshot" if _is_packaged(snap) else f"snapshot {snap.path}"
    dates = ", ".join(f"{v.value} {snap.sources[v].as_of}" for v in Venue if v in snap.sources)
    table = Table(
        title=f"instrument specs — {origin} of {snap.as_of}",
        caption=f"values as of: {dates}\ncontract = base coin per contract (OKX ctVal); lot in contracts on "
        "OKX, in coin elsewhere; lev = max leverage; fund h = funding interval, hours",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    right = ("contract", "tick", "lot", "lev", "fund h")
    for col in ("venue", "sym", "instrument", *right):
        table.add_column(col, justify="right" if col in right else "left", no_wrap=True)
    for s in specs:
        table.add_row(
            s.venue.value,
            s.symbol,
            s.instrument,
            _num(s.contract_size),
            _num(s.tick_size),
            _num(s.lot_size),
            _num(s.max_leverage),
            _num(s.funding_interval_hours),
        )
    console = Console()
    console.print(table)
    if not specs:
        console.print("no instrument matches (try --symbols all)")


async def fetch_bodies(
    requests: Mapping[Venue, Sequence[RestRequest]], *, timeout_s: float = 15.0, max_attempts: int = 2
) -> tuple[dict[Venue, list[bytes]], dict[Venue, str]]:
    """Execute the refresh requests of every venue concurrently (following Bybit's pages): the bodies per
    venue, and the reason per venue that failed."""

    async with aiohttp.ClientSession() as session:
        client = RestClient(session=session, max_attempts=max_attempts, timeout_s=timeout_s)

        async def one(venue: Venue, reqs: Sequence[RestRequest]) -> list[bytes]:
            bodies: list[bytes] = []
            for req in reqs:
                page: RestRequest | None = req
                for _ in range(MAX_PAGES):
                    if page is None:
                        break
                    body = await client.fetch(venue, page)
                    bodies.append(body)
                    page = next_page_request(venue, page, body)
            return bodies

        venues = list(requests)
        results = await asyncio.gather(*(one(v, requests[v]) for v in venues), return_exceptions=True)
    ok: dict[Venue, list[bytes]] = {}
    failed: dict[Venue, str] = {}
    for venue, result in zip(venues, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, RestError | DecodeError | aiohttp.ClientError | TimeoutError | OSError):
                raise result
            failed[venue] = str(result) or type(result).__name__
        else:
            ok[venue] = result
    return ok, failed


def refresh_from_network(
    *,
    venues: Sequence[Venue] | None = None,
    data_dir: str | None = None,
    timeout_s: float = 15.0,
    rest_urls: Mapping[Venue, str] | None = None,
) -> tuple[Instruments, dict[Venue, str]]:
    """Fetch, parse and write a refreshed snapshot to ``<data dir>/instruments.json``. Venues that fail keep
    their previous entries (the failures are returned); if every venue fails, :class:`RefreshError` and
    nothing is written."""

    requests = refresh_requests(venues=venues, rest_urls=rest_urls)
    bodies, failures = asyncio.run(fetch_bodies(requests, timeout_s=timeout_s))
    for venue in list(bodies):
        try:
            parse_venue(venue, bodies[venue])
        except DecodeError as exc:
            failures[venue] = f"unexpected response: {exc}"
            del bodies[venue]
    if not bodies:
        reasons = "; ".join(f"{v.value}: {r}" for v, r in failures.items())
        raise RefreshError(f"could not refresh any venue ({reasons}); nothing written")
    urls = {v: [r.url for r in requests[v]] for v in bodies}
    snap = refresh(bodies, data_dir=data_dir, urls=urls)
    return snap, failures
