"""Calibration research harness: every figure of docs/calibration.md, reproducible.

Three evaluation sets, all scored per side (Spearman, R² of log1p) for the model and the naive baseline:

- ``H1``: the first half of the 6-month hourly file, engine run on that half only, scored after a one-week
  warm-up. **Methods and defaults are chosen here** (the selection grid below).
- ``H2``: the second half of the hourly file (engine run over the whole file, only second-half bars
  scored): reported, never used to choose.
- ``W``: the 5-minute week with 30-minute realized liquidations, every bar scored (as the issue's first-cut
  figures were): an unseen check.

Usage: ``python bench/calibrate.py [--no-grid]``. Prints a readable table, then one JSON object as the last
line. Needs ../shared/data (or $PERPSCOPE_SHARED_DATA).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from perpscope.heatmap.calibrate import (
    CalibrationBars,
    RealizedLiquidations,
    load_bars,
    load_realized,
    score_series,
    spearman,
)
from perpscope.heatmap.calibrate_model import CalibrationModel, consumed_per_bar, default_engine_params
from perpscope.heatmap.params import EngineParams

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PERPSCOPE_SHARED_DATA", REPO.parent / "shared" / "data"))
WEEK_BARS = "btcusdt-binance-5m-oi-2026-05-25_2026-05-31.csv"
WEEK_REALIZED = "btc-liquidations-30m-2026-05-25_2026-05-31.csv"
HOURLY = "btc-hourly-oi-liquidations-2025-12-04_2026-05-25.csv"
WARMUP_ROWS_H1 = 168  # one week of hourly bars warms the book before H1 is scored


@dataclass(frozen=True)
class EvalSet:
    name: str
    bars: CalibrationBars
    realized: RealizedLiquidations
    from_ns: int | None


def eval_sets() -> list[EvalSet]:
    hourly_bars = load_bars(DATA / HOURLY)
    hourly_real = load_realized(DATA / HOURLY)
    half = hourly_bars.n // 2
    return [
        EvalSet(
            "H1",
            hourly_bars.rows(0, half),
            hourly_real.rows(0, half),
            int(hourly_bars.ts_ns[WARMUP_ROWS_H1]),
        ),
        EvalSet("H2", hourly_bars, hourly_real, int(hourly_bars.ts_ns[half])),
        EvalSet("W", load_bars(DATA / WEEK_BARS), load_realized(DATA / WEEK_REALIZED), None),
    ]


# ------------------------------------------------------------------------------------------ attribution skews
# Pre-processing experiments: the engine's "aggressor" attribution fed a synthetic taker-buy share.


def funding_share(bars: CalibrationBars, strength: float) -> np.ndarray:
    """Positive funding → longs crowd in: share ½ + ½·clip(strength · funding / 0.01 %, −1, 1)."""

    if bars.funding_rate is None:
        return np.full(bars.n, 0.5)
    return 0.5 + 0.5 * np.clip(strength * bars.funding_rate / 1e-4, -1.0, 1.0)


def taker_share(bars: CalibrationBars, strength: float, *, window: int = 288) -> np.ndarray:
    """From the cumulative taker delta (cvd, at bar close): the bar's net taker flow over the trailing mean
    absolute flow of ``window`` bars (no look-ahead)."""

    if bars.cvd_btc is None:
        return np.full(bars.n, 0.5)
    flow = np.diff(bars.cvd_btc, prepend=bars.cvd_btc[0])
    mag = np.abs(flow)
    csum = np.cumsum(mag)
    trailing = (csum - np.concatenate([np.zeros(window), csum[:-window]])[: bars.n]) / np.minimum(
        np.arange(1, bars.n + 1), window
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(trailing > 0, flow / trailing, 0.0)
    return 0.5 + 0.5 * np.clip(strength * x, -1.0, 1.0)


# ------------------------------------------------------------------------------------------------ evaluate


def evaluate(
    model: CalibrationModel,
    sets: list[EvalSet],
    *,
    skew: tuple[str, float] | None = None,
    oi_blind: bool = False,
    transform: Callable[[CalibrationBars], CalibrationBars] | None = None,
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for es in sets:
        bars = es.bars if transform is None else transform(es.bars)
        if oi_blind:  # ablation: OI never changes, so nothing but turnover opens positions
            bars = replace(bars, oi_open_usd=np.full(bars.n, bars.oi_open_usd[0]))
            bars = replace(bars, oi_close_usd=bars.oi_open_usd * bars.close / bars.open)
        share = None
        if skew is not None:
            kind, strength = skew
            share = funding_share(bars, strength) if kind == "funding" else taker_share(bars, strength)
        cl, cs = consumed_per_bar(bars, model, taker_buy_share=share)
        rep = score_series(
            bars=es.bars,
            realized=es.realized,
            consumed_long_usd=cl,
            consumed_short_usd=cs,
            from_ns=es.from_ns,
            background=model.background,
        )
        out[es.name] = {
            "bars": rep.bars,
            "long": round(rep.long.heatmap.spearman, 4),
            "short": round(rep.short.heatmap.spearman, 4),
            "long_r2": round(rep.long.heatmap.r2_log, 4),
            "short_r2": round(rep.short.heatmap.r2_log, 4),
            "base_long": round(rep.long.baseline.spearman, 4),
            "base_short": round(rep.short.baseline.spearman, 4),
            "base_long_r2": round(rep.long.baseline.r2_log, 4),
            "base_short_r2": round(rep.short.baseline.r2_log, 4),
            "long_scale": round(rep.long.heatmap.scale, 3),  # Σ model USD / Σ realized USD
            "short_scale": round(rep.short.heatmap.scale, 3),
        }
    return out


def bootstrap_gain(
    model: CalibrationModel, es: EvalSet, *, block: int, n_boot: int = 1000, seed: int = 0
) -> dict[str, list[float]]:
    """95 % moving-block bootstrap interval of Spearman(model) − Spearman(baseline) per side (blocks of
    ``block`` consecutive bars keep the series' autocorrelation; same resample for both, so it is paired)."""

    cl, cs = consumed_per_bar(es.bars, model)
    rep = score_series(
        bars=es.bars,
        realized=es.realized,
        consumed_long_usd=cl,
        consumed_short_usd=cs,
        from_ns=es.from_ns,
        background=model.background,
    )
    rng = np.random.default_rng(seed)
    n = rep.bars
    starts = rng.integers(0, n - block + 1, size=(n_boot, -(-n // block)))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(n_boot, -1)[:, :n]
    out: dict[str, list[float]] = {}
    for side, m, b, r in (
        ("long", rep.model_long_usd, rep.baseline_long_usd, rep.realized_long_usd),
        ("short", rep.model_short_usd, rep.baseline_short_usd, rep.realized_short_usd),
    ):
        gains = np.array([spearman(m[ix], r[ix]) - spearman(b[ix], r[ix]) for ix in idx])
        lo, hi = np.nanpercentile(gains, [2.5, 97.5])
        out[side] = [
            round(float(spearman(m, r) - spearman(b, r)), 4),
            round(float(lo), 4),
            round(float(hi), 4),
        ]
    return out


def monthly(model: CalibrationModel) -> list[dict[str, object]]:
    """Default vs baseline per calendar month of the hourly file (engine over the whole file; the first
    week only warms up): is the gain steady or one lucky stretch?"""

    bars = load_bars(DATA / HOURLY)
    realized = load_realized(DATA / HOURLY)
    cl, cs = consumed_per_bar(bars, model)
    rep = score_series(
        bars=bars,
        realized=realized,
        consumed_long_usd=cl,
        consumed_short_usd=cs,
        from_ns=int(bars.ts_ns[WARMUP_ROWS_H1]),
        background=model.background,
    )
    month = rep.ts_ns.astype("datetime64[ns]").astype("datetime64[M]")
    rows = []
    for m in np.unique(month):
        k = month == m
        rows.append(
            {
                "month": str(m),
                "bars": int(k.sum()),
                "long": round(spearman(rep.model_long_usd[k], rep.realized_long_usd[k]), 3),
                "short": round(spearman(rep.model_short_usd[k], rep.realized_short_usd[k]), 3),
                "base_long": round(spearman(rep.baseline_long_usd[k], rep.realized_long_usd[k]), 3),
                "base_short": round(spearman(rep.baseline_short_usd[k], rep.realized_short_usd[k]), 3),
            }
        )
    return rows


def plain(**engine_kw: object) -> CalibrationModel:
    """The engine alone on the raw bars (no calibration step), engine defaults unless overridden."""

    return CalibrationModel(
        engine=replace(EngineParams(max_columns=None), **engine_kw),  # type: ignore[arg-type]
        substeps=0,
        turnover_per_h=0.0,
        background=0.0,
    )


def lagged_oi(bars: CalibrationBars) -> CalibrationBars:
    """``oi_usd`` read as the OI at the bar's *close* (one slot late): a likely reading of the first cut."""

    return replace(
        bars,
        oi_close_usd=bars.oi_open_usd.copy(),
        oi_open_usd=np.r_[bars.oi_open_usd[:1], bars.oi_open_usd[:-1]],
    )


def ablations() -> list[tuple[str, CalibrationModel, dict[str, object]]]:
    d = CalibrationModel()
    eng = d.engine
    first_cut = plain(oi_unit="usd", mmr=0.004)
    old_mix = {"leverage": (10.0, 25.0, 50.0, 100.0), "weights": (0.35, 0.30, 0.20, 0.15)}
    aggressor = replace(d, engine=replace(eng, attribution="aggressor"))
    return [
        ("first cut: engine alone, OI in USD, mmr 0.4 %", first_cut, {}),
        ("first cut, OI read one slot late", first_cut, {"transform": lagged_oi}),
        ("engine alone (its defaults: OI in base coin, tier tables)", plain(), {}),
        ("engine + background 0.001 (OI x range as a floor)", replace(plain(), background=0.001), {}),
        ("engine + intrabar path", replace(plain(), substeps=d.substeps), {}),
        ("engine + turnover", replace(plain(), turnover_per_h=d.turnover_per_h), {}),
        (
            "engine + path + turnover",
            replace(plain(), substeps=d.substeps, turnover_per_h=d.turnover_per_h),
            {},
        ),
        (
            "engine + path + turnover + background 0.001",
            replace(plain(), substeps=d.substeps, turnover_per_h=d.turnover_per_h, background=0.001),
            {},
        ),
        ("engine + 125x tail", replace(plain(), engine=eng), {}),
        ("DEFAULT: engine + path + turnover + 125x tail", d, {}),
        ("default + background 0.001", replace(d, background=0.001), {}),
        ("default, OI-blind (OI held constant)", d, {"oi_blind": True}),
        ("default, turnover 0.1/h", replace(d, turnover_per_h=0.1), {}),
        ("default, substeps 4", replace(d, substeps=4), {}),
        ("default + entry=close", replace(d, engine=replace(eng, entry="close")), {}),
        ("default + consume_own_slot", replace(d, engine=replace(eng, consume_own_slot=True)), {}),
        ("default + OI in USD", replace(d, engine=replace(eng, oi_unit="usd")), {}),
        ("default + close_rule none", replace(d, engine=replace(eng, close_rule="none")), {}),
        ("default + half-life 24 h", replace(d, engine=replace(eng, half_life_h=24.0)), {}),
        ("default + mmr 0.5 % (Bybit-like)", replace(d, engine=replace(eng, mmr=0.005)), {}),
        (
            "default + leverage 10/25/50/100/125 @ .30/.25/.20/.15/.10",
            replace(
                d,
                engine=replace(
                    eng, leverage=(10.0, 25.0, 50.0, 100.0, 125.0), weights=(0.3, 0.25, 0.2, 0.15, 0.1)
                ),
            ),
            {},
        ),
        (
            "default + leverage 5/10/20/50/125 @ .35/.3/.2/.1/.05 (more low leverage)",
            replace(
                d,
                engine=replace(
                    eng, leverage=(5.0, 10.0, 20.0, 50.0, 125.0), weights=(0.35, 0.3, 0.2, 0.1, 0.05)
                ),
            ),
            {},
        ),
        ("default with the engine's mix (no 125x)", replace(d, engine=replace(eng, **old_mix)), {}),
        ("default + funding-skewed attribution (k=0.5)", aggressor, {"skew": ("funding", 0.5)}),
        ("default + funding-skewed attribution (k=1)", aggressor, {"skew": ("funding", 1.0)}),
        ("default + taker-flow attribution (k=0.5; W only)", aggressor, {"skew": ("taker", 0.5)}),
        ("default + taker-flow attribution (k=1; W only)", aggressor, {"skew": ("taker", 1.0)}),
    ]


GRID_LEVERAGE: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "engine default 10/25/50/100 @ .35/.30/.20/.15": ((10.0, 25.0, 50.0, 100.0), (0.35, 0.30, 0.20, 0.15)),
    "125x tail 10/25/50/100/125 @ .35/.30/.20/.10/.05": (
        (10.0, 25.0, 50.0, 100.0, 125.0),
        (0.35, 0.30, 0.20, 0.10, 0.05),
    ),
}
GRID_SUBSTEPS = (0, 2, 4, 8, 16)
GRID_TURNOVER = (0.0, 0.01, 0.03, 0.1, 0.3)
GRID_BACKGROUND = (0.0, 1e-6, 1e-4, 1e-3, 1e-2)


def selection_grid(sets: list[EvalSet]) -> list[dict[str, object]]:
    """Every (leverage mix, substeps, turnover, background) on H1 only; objective = mean of the two
    Spearmans."""

    h1 = [s for s in sets if s.name == "H1"]
    rows = []
    for (mix, (lev, w)), sub, tau, bg in itertools.product(
        GRID_LEVERAGE.items(), GRID_SUBSTEPS, GRID_TURNOVER, GRID_BACKGROUND
    ):
        engine = replace(default_engine_params(), leverage=lev, weights=w)
        m = CalibrationModel(engine=engine, substeps=sub, turnover_per_h=tau, background=bg)
        r = evaluate(m, h1)["H1"]
        rows.append(
            {
                "leverage": mix,
                "substeps": sub,
                "turnover_per_h": tau,
                "background": bg,
                "H1_long": r["long"],
                "H1_short": r["short"],
                "objective": round(0.5 * (r["long"] + r["short"]), 4),
            }
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-grid", action="store_true", help="skip the H1 selection grid")
    args = ap.parse_args()
    if not (DATA / HOURLY).exists():
        print(f"needs {DATA} (../shared/data)", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    sets = eval_sets()
    table = []
    print(f"{'model':70s} " + " ".join(f"{s.name + ' L/S (base L/S)':>32s}" for s in sets))
    for name, model, extra in ablations():
        res = evaluate(model, sets, **extra)  # type: ignore[arg-type]
        table.append({"model": name, **res})
        cells = [
            f"{r['long']:.3f}/{r['short']:.3f} ({r['base_long']:.3f}/{r['base_short']:.3f})"
            for r in res.values()
        ]
        print(f"{name:70s} " + " ".join(f"{c:>32s}" for c in cells), flush=True)
    out: dict[str, object] = {"sets": {s.name: {"from_ns": s.from_ns, "bars_rows": s.bars.n} for s in sets}}
    out["table"] = table
    gains = {
        es.name: bootstrap_gain(CalibrationModel(), es, block=24 if es.name != "W" else 12) for es in sets
    }
    for name, g in gains.items():
        print(f"default − baseline Spearman, 95 % block-bootstrap interval, {name}: {g}")
    out["default_gain_ci"] = gains
    months = monthly(CalibrationModel())
    for r in months:
        print(
            f"month {r['month']} ({r['bars']} h): {r['long']}/{r['short']} "
            f"vs baseline {r['base_long']}/{r['base_short']}"
        )
    out["monthly"] = months
    if not args.no_grid:
        grid = selection_grid(sets)
        top = max(float(r["objective"]) for r in grid)  # type: ignore[arg-type]
        # the rule that chose the defaults: the best H1 objective, ties within 0.002 going to fewer
        # sub-slots (cheaper), then to the better objective
        near = [r for r in grid if float(r["objective"]) >= top - 0.002]  # type: ignore[arg-type]
        chosen = min(near, key=lambda r: (int(r["substeps"]), -float(r["objective"])))  # type: ignore[arg-type]
        d = CalibrationModel()
        mix = next(
            k for k, (lev, w) in GRID_LEVERAGE.items() if lev == d.engine.leverage and w == d.engine.weights
        )
        default_key = (mix, d.substeps, d.turnover_per_h, d.background)
        keyof = lambda r: (r["leverage"], r["substeps"], r["turnover_per_h"], r["background"])  # noqa: E731
        print(f"H1 selection grid: {len(grid)} configs, best objective {top:.4f}")
        print(f"rule picks {chosen}")
        print("defaults == the rule's pick" if keyof(chosen) == default_key else "defaults are NOT the pick")
        out["grid"] = grid
        out["grid_chosen"] = chosen
        out["defaults_match_rule"] = keyof(chosen) == default_key
    out["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
