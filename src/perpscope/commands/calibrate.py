"""``perpscope calibrate``: score the heatmap's consumed liquidity against realized liquidations, next to the
naive baseline (OI × adverse range), per side."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import Any

from rich.console import Console
from rich.table import Table

from ..heatmap.calibrate import CalibrationReport, calibrate, load_bars, load_realized
from ..heatmap.calibrate_model import (
    DEFAULT_BACKGROUND,
    DEFAULT_SUBSTEPS,
    DEFAULT_TURNOVER_PER_H,
    CalibrationModel,
    default_engine_params,
)
from ..heatmap.params import DEFAULT_LEVERAGE, DEFAULT_WEIGHTS, EngineParams, parse_leverage_mix
from ..model import Venue
from ..timeutil import NS_PER_MS, format_ns, parse_duration_ns, parse_time_ns

EPILOG = """examples:
  perpscope calibrate --bars btcusdt-binance-5m-oi-2026-05-25_2026-05-31.csv \\
      --realized btc-liquidations-30m-2026-05-25_2026-05-31.csv --bar 30m
  perpscope calibrate --bars btc-hourly-oi-liquidations-2025-12-04_2026-05-25.csv \\
      --realized btc-hourly-oi-liquidations-2025-12-04_2026-05-25.csv --from 2026-02-28T00:00 --json
  perpscope calibrate --bars B.csv --realized R.csv --plain      # the engine alone, no calibration steps

BARS.csv: timestamp,open,high,low,close,oi_usd[,funding_rate][,cvd_btc] (ms bar open; oi_usd at the bar
open), or the hourly spot+OI+liquidations file (detected from its header). REALIZED.csv:
timestamp,long_usd,short_usd (ms bar open). Realized bars may be coarser than the bars (--bar 30m over
5-minute bars); only bars fully covered by the bars file are scored.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "calibrate",
        help="score the estimated heatmap's consumed liquidity against realized liquidations and a baseline",
        description="Score the estimated heatmap's consumed liquidity against realized liquidations, next to "
        "the naive baseline (OI × adverse range), per side: Spearman and R² of log1p values.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--bars", required=True, metavar="BARS.csv", help="bars with open interest (see below)")
    p.add_argument("--realized", required=True, metavar="REALIZED.csv", help="realized liquidations per bar")
    p.add_argument("--bar", default=None, help="realized bar duration, e.g. 30m (default: the realized step)")
    p.add_argument(
        "--from",
        dest="from_",
        default=None,
        metavar="TS",
        help="score bars opening at/after TS (ISO or ms); earlier bars only warm the book up",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    default_mix = ",".join(f"{lv:g}:{w:g}" for lv, w in zip(DEFAULT_LEVERAGE, DEFAULT_WEIGHTS, strict=True))
    g = p.add_argument_group("engine assumptions (EngineParams)")
    g.add_argument("--leverage", default=None, help=f"leverage mix LEV:WEIGHT,... (default {default_mix})")
    g.add_argument(
        "--attribution",
        choices=("both", "aggressor"),
        default=None,
        help="long/short split of new OI (aggressor needs taker volume; without it, equals both)",
    )
    g.add_argument(
        "--entry", choices=("typical", "vwap", "close"), default=None, help="entry price of new OI"
    )
    g.add_argument(
        "--close-rule", choices=("proportional", "none"), default=None, help="what an OI decrease closes"
    )
    g.add_argument("--half-life", type=float, default=None, metavar="HOURS", help="extra decay half-life")
    g.add_argument(
        "--oi-unit", choices=("base", "usd"), default=None, help="measure OI changes in base or USD"
    )
    g.add_argument("--mmr", type=float, default=None, help="one maintenance rate instead of tier tables")
    g.add_argument(
        "--position-usd", type=float, default=None, help="one position's notional (picks the tier)"
    )
    g.add_argument("--bin-width", type=float, default=None, help="log price-bin width (default 0.001)")
    g.add_argument(
        "--consume-own-slot", action="store_true", help="let a slot's range consume the cohort it opened"
    )
    g.add_argument(
        "--venue", default="binance", choices=[v.value for v in Venue], help="margin formula venue"
    )
    g.add_argument("--symbol", default="BTC", help="symbol whose tier table applies (default BTC)")
    c = p.add_argument_group("calibration steps (docs/calibration.md)")
    c.add_argument(
        "--substeps",
        type=int,
        default=DEFAULT_SUBSTEPS,
        help=f"intrabar path: sub-slots per O→L→H→C segment, 0 = off (default {DEFAULT_SUBSTEPS})",
    )
    c.add_argument(
        "--turnover",
        type=float,
        default=DEFAULT_TURNOVER_PER_H,
        help=f"fraction of OI closed and reopened per hour, 0 = off (default {DEFAULT_TURNOVER_PER_H:g})",
    )
    c.add_argument(
        "--background",
        type=float,
        default=DEFAULT_BACKGROUND,
        help=f"uniform background density × OI per relative price, 0 = off (default {DEFAULT_BACKGROUND:g})",
    )
    c.add_argument(
        "--plain", action="store_true", help="the engine alone: --substeps 0 --turnover 0 --background 0"
    )
    p.set_defaults(func=run)


def engine_params_from_args(args: argparse.Namespace) -> EngineParams:
    """Map the assumption flags onto EngineParams (unset flags keep the engine's defaults)."""

    kw: dict[str, Any] = {}
    if args.leverage:
        kw["leverage"], kw["weights"] = parse_leverage_mix(args.leverage)
    for flag, name in (
        ("attribution", "attribution"),
        ("entry", "entry"),
        ("close_rule", "close_rule"),
        ("half_life", "half_life_h"),
        ("oi_unit", "oi_unit"),
        ("mmr", "mmr"),
        ("position_usd", "position_usd"),
        ("bin_width", "bin_width"),
    ):
        value = getattr(args, flag)
        if value is not None:
            kw[name] = value
    if args.consume_own_slot:
        kw["consume_own_slot"] = True
    return replace(default_engine_params(), **kw)


def model_from_args(args: argparse.Namespace) -> CalibrationModel:
    plain = bool(args.plain)
    return CalibrationModel(
        engine=engine_params_from_args(args),
        venue=Venue(args.venue),
        symbol=args.symbol.upper(),
        substeps=0 if plain else args.substeps,
        turnover_per_h=0.0 if plain else args.turnover,
        background=0.0 if plain else args.background,
    )


def run(args: argparse.Namespace) -> int:
    bars = load_bars(args.bars)
    realized = load_realized(args.realized)
    bar_ns = parse_duration_ns(args.bar) if args.bar else None
    from_ns = parse_time_ns(args.from_) if args.from_ else None
    report = calibrate(bars, realized, model=model_from_args(args), bar_ns=bar_ns, from_ns=from_ns)
    if report.bars == 0:
        raise ValueError(
            "no realized bar is covered by the bars file (check --bar, --from and the time ranges)"
        )
    if args.json:
        print(json.dumps(report.to_json_dict()))
        return 0
    print_report(report, bars_path=args.bars, realized_path=args.realized)
    return 0


def _fmt(x: float) -> str:
    return "—" if x != x else f"{x:.3f}"


def _ratio(x: float) -> str:
    return "—" if x != x else f"{x:.3g}×"


def print_report(report: CalibrationReport, *, bars_path: str, realized_path: str) -> None:
    console = Console()
    first, last = int(report.ts_ns[0]), int(report.ts_ns[-1])
    console.print(
        f"[bold]calibration[/]: {report.bars} bars of {report.bar_ns // NS_PER_MS // 60_000} min, "
        f"{format_ns(first)} → {format_ns(last)} UTC"
    )
    table = Table()
    for col in ("side", "model", "Spearman", "R² log1p", "$ ratio", "beats baseline"):
        table.add_column(col, justify="left" if col in ("side", "model") else "right")
    for name, side in (("long", report.long), ("short", report.short)):
        hs, bs = side.heatmap.spearman, side.baseline.spearman
        beats = "[green]yes[/]" if hs > bs else "[red]no[/]" if hs == hs and bs == bs else "—"
        h, b = side.heatmap, side.baseline
        table.add_row(name, "heatmap (estimated)", _fmt(hs), _fmt(h.r2_log), _ratio(h.scale), beats)
        table.add_row("", "baseline OI×range", _fmt(bs), _fmt(b.r2_log), _ratio(b.scale), "")
    console.print(table)
    p = report.params
    eng = p.get("engine", {})
    assert isinstance(eng, dict)
    mix = ", ".join(f"{lv:g}×:{w:.2f}" for lv, w in zip(eng["leverage"], eng["weights"], strict=True))
    console.print(
        f"bars {bars_path} · realized {realized_path}\n"
        f"engine: leverage {mix}; attribution {eng['attribution']}; entry {eng['entry']}; "
        f"close {eng['close_rule']}; OI in {eng['oi_unit']}; margin {p['venue']} {p['symbol']}"
        + (f" (mmr {eng['mmr']})" if eng.get("mmr") is not None else "")
        + f"\ncalibration steps: substeps {p['substeps']}, turnover {p['turnover_per_h']}/h, "
        f"background {p['background']}"
        + (
            f"; {report.skipped_uncovered} bars skipped (not fully covered)"
            if report.skipped_uncovered
            else ""
        )
        + "".join(f"\nnote: {n}" for n in report.notes)
        + "\nSpearman = rank correlation per bar; R² = squared Pearson of log1p(model) vs log1p(realized); "
        "$ ratio = Σ model USD / Σ realized USD, the dollar level (the scores ignore it; realized files "
        "may cover other venues than the OI, and sampled feeds undercount)."
    )
