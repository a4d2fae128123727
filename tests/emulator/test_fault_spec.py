"""The ``--faults`` grammar."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpscope.model import Venue
from perpscope.sim.emulator import FaultSpecError, parse_faults
from perpscope.sim.emulator.faults import parse_fault


def test_the_documented_example() -> None:
    specs = parse_faults(
        "drop:binance@30s,stall:bybit@10s/20s,malformed:okx@0.01,gap:binance@45s,http429:binance@0.1,burst:okx@60s/x20"
    )
    drop, stall, malformed, gap, http, burst = specs
    assert (drop.kind, drop.venue, drop.at_s, drop.every_s) == ("drop", Venue.BINANCE, 30.0, None)
    assert (stall.at_s, stall.duration_s) == (10.0, 20.0)
    assert (malformed.probability, malformed.at_s) == (0.01, None) and malformed.active(1e9)
    assert gap.at_s == 45.0
    assert (http.probability, http.retry_after_s) == (0.1, 1.0)
    assert (burst.at_s, burst.factor, burst.duration_s) == (60.0, 20.0, 5.0)


def test_options_and_defaults() -> None:
    drop = parse_fault("drop:*@1m/every90s")
    assert drop.venue is None and drop.at_s == 60.0 and drop.every_s == 90.0 and drop.applies_to(Venue.OKX)
    win = parse_fault("http418:binance@5s/2s/p0.5/retry2m")
    assert (win.at_s, win.duration_s, win.probability, win.retry_after_s) == (5.0, 2.0, 0.5, 120.0)
    assert not win.active(4.9) and win.active(5.0) and win.active(6.9) and not win.active(7.0)
    assert parse_fault("stall:okx@500ms").duration_s == 10.0
    assert parse_fault("http403:bybit@1").retry_after_s == 60.0
    assert parse_faults(None) == [] and parse_faults("") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("drop", "expected KIND:VENUE@WHEN"),
        ("explode:binance@1s", "unknown kind"),
        ("drop:kraken@1s", "unknown venue"),
        ("drop:binance@0.5", "needs a time"),
        ("malformed:okx@1.5", "within [0, 1]"),
        ("stall:okx@soon", "bad time"),
        ("burst:okx@1s/x0.5", "factor must be >= 1"),
        ("drop:okx@1s/every0s", "repeat period must be > 0"),
        ("stall:okx@1s/forever", "bad option"),
    ],
)
def test_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_fault(text)


@given(
    kind=st.sampled_from(["drop", "stall", "gap", "burst"]),
    venue=st.sampled_from([*[v.value for v in Venue], "*"]),
    at_ms=st.integers(0, 10**7),
    dur_ms=st.integers(1, 10**6),
)
def test_timed_faults_parse_exactly(kind: str, venue: str, at_ms: int, dur_ms: int) -> None:
    spec = parse_fault(f"{kind}:{venue}@{at_ms}ms/{dur_ms}ms")
    assert spec.kind == kind and spec.at_s == at_ms / 1000 and spec.duration_s == dur_ms / 1000
    assert spec.venue == (None if venue == "*" else Venue(venue))
