"""The confluence report over a store: the shipped heatmap's top clusters checked against the stored books,
funding, CVD and liquidations (``perpscope levels`` and the dashboard's levels panel)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..analytics.bands import BandParams, find_bands, top_bands
from ..analytics.confluence import ConfluenceParams, ConfluenceRow, FundingContext, confluence_rows
from ..analytics.funding import DAY_NS, funding_scoreboard
from ..analytics.orderflow import cvd
from ..heatmap.bars_table import series_from_bars
from ..heatmap.calibrate_model import default_engine_params
from ..heatmap.engine import compute_heatmap
from ..heatmap.result import Heatmap
from ..model import Kind
from ..store import Store
from ..timeutil import parse_duration_ns
from ._market import books_at

MAX_COLUMNS = 2000


@dataclass(frozen=True, kw_only=True)
class LevelsReport:
    heatmap: Heatmap
    rows: list[ConfluenceRow]
    missing: list[str]  # inputs not stored (books, funding, trades): their columns are "unknown"


def stored_levels(
    store: Store,
    symbol: str,
    *,
    end_ns: int,
    window: str,
    per_side: int = 3,
    lookback: int = 12,
    params: ConfluenceParams | None = None,
) -> LevelsReport | None:
    """The report as of ``end_ns`` over the heatmap of ``window`` (the shipped engine defaults, turnover on;
    bars from two days before the window build the book); None when no bars are stored before it."""

    params = params or ConfluenceParams()
    warmup = parse_duration_ns(window) + 2 * DAY_NS
    bars = store.read(Kind.BAR, symbol=symbol, start_ns=end_ns - warmup, end_ns=end_ns)
    if bars.num_rows == 0:
        return None
    engine = replace(default_engine_params(), max_columns=MAX_COLUMNS)
    hm = compute_heatmap(series_from_bars(bars, symbol), engine, window=window, end_ns=end_ns)
    bands = top_bands(find_bands(hm, params=BandParams(lookback=lookback)), per_side=per_side)
    books = books_at(store, symbol, end_ns)
    board = funding_scoreboard(
        store.read(Kind.FUNDING, symbol=symbol, start_ns=end_ns - 91 * DAY_NS, end_ns=end_ns),
        store.read(Kind.OPEN_INTEREST, symbol=symbol, start_ns=end_ns - DAY_NS, end_ns=end_ns),
        now_ns=end_ns - 1,
    )
    trades = store.read(
        Kind.TRADE,
        symbol=symbol,
        start_ns=end_ns - 2 * params.cvd_window_ns,
        end_ns=end_ns,
        columns=["ts_event", "side", "quantity", "price"],
    )
    flow = None
    if trades.num_rows:
        c = {n: trades.column(n).to_numpy(zero_copy_only=False) for n in trades.column_names}
        flow = cvd(c["ts_event"], c["side"], c["quantity"], c["price"])
    liqs = store.read(Kind.LIQUIDATION, symbol=symbol, start_ns=end_ns - params.tape_window_ns, end_ns=end_ns)
    rows = confluence_rows(
        bands,
        books=books or None,
        now_ns=end_ns,
        funding=FundingContext.from_scoreboard(board, symbol),
        cvd=flow,
        liquidations=liqs,
        params=params,
    )
    missing = [n for n, ok in (("books", books), ("funding", board), ("trades", flow is not None)) if not ok]
    return LevelsReport(heatmap=hm, rows=rows, missing=missing)
