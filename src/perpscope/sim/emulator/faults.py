"""Fault injection: the ``--faults`` grammar, per-venue fault state, and the structured JSON fault log.

Grammar (comma-separated faults; times are relative to the emulator start)::

    SPEC   := FAULT ("," FAULT)*
    FAULT  := KIND ":" TARGET "@" WHEN ("/" OPTION)*
    TARGET := binance | bybit | okx | hyperliquid | "*"
    WHEN   := TIME (e.g. 30s, 1.5m, 500ms) | PROBABILITY (a bare number in [0, 1])
    OPTION := TIME (a duration) | "x" N (burst factor) | "every" TIME (repeat) | "p" P (probability)
            | "retry" TIME (Retry-After of HTTP faults)

Kinds:

- ``drop:V@T[/everyP]``: abort every WebSocket connection of V at T (TCP reset, no close frame).
- ``stall:V@T[/D]``: connections stay open but go silent for D (default 10 s): no data, no pings, no pongs.
- ``gap:V@T[/everyP]``: the next order-book delta of every book stream of V is not sent (its sequence
  number is consumed), so clients see a sequence gap.
- ``burst:V@T[/D][/xN]``: for D (default 5 s) V sends N times (default 10) its normal message rate of
  extra trades and book updates.
- ``malformed:V@P`` or ``malformed:V@T/D[/pP]``: each data frame is corrupted with probability P (always, or
  within the window).
- ``http429:V@P``, ``http418:V@P``, ``http403:V@P`` (or ``@T/D[/pP]``): REST requests fail with that status
  and a ``Retry-After`` header (``/retry2s``; default 1 s for 429, 60 s for 418/403).

Example: ``drop:binance@30s,stall:bybit@10s/20s,malformed:okx@0.01,gap:binance@45s,http429:binance@0.1,
burst:okx@60s/x20``.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Literal

from ...model import Venue
from ...timeutil import NS_PER_S, now_ns, parse_duration_ns

FaultKind = Literal["drop", "stall", "gap", "burst", "malformed", "http429", "http418", "http403"]
FAULT_KINDS: tuple[str, ...] = ("drop", "stall", "gap", "burst", "malformed", "http429", "http418", "http403")
TIMED_KINDS = frozenset({"drop", "stall", "gap", "burst"})
PROBABILISTIC_KINDS = frozenset({"malformed", "http429", "http418", "http403"})
HTTP_STATUS = {"http429": 429, "http418": 418, "http403": 403}
DEFAULT_RETRY_AFTER_S = {"http429": 1.0, "http418": 60.0, "http403": 60.0}
DEFAULT_STALL_S = 10.0
DEFAULT_BURST_S = 5.0
DEFAULT_BURST_FACTOR = 10.0

_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


class FaultSpecError(ValueError):
    """A ``--faults`` spec that does not parse; the message names the bad part and the grammar."""


@dataclass(frozen=True, kw_only=True)
class FaultSpec:
    """One parsed fault. Times in seconds from the emulator start."""

    kind: FaultKind
    venue: Venue | None  # None: every venue
    at_s: float | None = None  # start time (timed faults, windowed probabilistic faults)
    duration_s: float | None = None  # stall / burst / probabilistic window
    every_s: float | None = None  # repeat period (drop, gap)
    probability: float = 1.0  # malformed / http faults
    factor: float = DEFAULT_BURST_FACTOR  # burst
    retry_after_s: float | None = None  # http faults
    text: str = ""  # the spec it came from

    def applies_to(self, venue: Venue) -> bool:
        return self.venue is None or self.venue is venue

    def active(self, t_s: float) -> bool:
        """Probabilistic faults: is the window open at ``t_s`` seconds after start?"""

        if self.at_s is None:
            return True
        end = self.at_s + (self.duration_s if self.duration_s is not None else float("inf"))
        return self.at_s <= t_s < end


def _seconds(text: str, what: str, spec: str) -> float:
    try:
        return parse_duration_ns(text) / NS_PER_S
    except ValueError:
        raise FaultSpecError(f"fault {spec!r}: bad {what} {text!r} (use e.g. 30s, 500ms, 2m)") from None


def parse_fault(text: str) -> FaultSpec:
    """One ``KIND:TARGET@WHEN[/OPTION...]`` item."""

    spec = text.strip()
    m = re.fullmatch(r"([a-z0-9]+):([a-z*]+)@([^/]+)((?:/[^/]+)*)", spec, flags=re.IGNORECASE)
    if not m:
        raise FaultSpecError(
            f"fault {spec!r}: expected KIND:VENUE@WHEN[/OPTION...], e.g. drop:binance@30s or "
            f"malformed:okx@0.01 (kinds: {', '.join(FAULT_KINDS)})"
        )
    kind, target, when, rest = m.group(1).lower(), m.group(2).lower(), m.group(3), m.group(4)
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"fault {spec!r}: unknown kind {kind!r}; choose from {', '.join(FAULT_KINDS)}")
    venue: Venue | None = None
    if target not in ("*", "all"):
        try:
            venue = Venue(target)
        except ValueError:
            names = ", ".join(v.value for v in Venue)
            msg = f"fault {spec!r}: unknown venue {target!r}; choose from {names} or *"
            raise FaultSpecError(msg) from None
    at_s: float | None = None
    probability = 1.0
    if _NUMBER.match(when):
        if kind in TIMED_KINDS:
            raise FaultSpecError(f"fault {spec!r}: {kind} needs a time (e.g. @30s), not a bare number")
        probability = float(when)
        if not 0.0 <= probability <= 1.0:
            raise FaultSpecError(f"fault {spec!r}: probability must be within [0, 1]")
    else:
        at_s = _seconds(when, "time", spec)
    duration_s = every_s = retry_s = None
    factor = DEFAULT_BURST_FACTOR
    for opt in filter(None, rest.split("/")):
        low = opt.lower()
        if low.startswith("every"):
            every_s = _seconds(opt[5:].lstrip("="), "repeat period", spec)
            if every_s <= 0:
                raise FaultSpecError(f"fault {spec!r}: repeat period must be > 0")
        elif low.startswith("retry"):
            retry_s = _seconds(opt[5:].lstrip("="), "Retry-After", spec)
        elif low.startswith("x") and _NUMBER.match(low[1:]):
            factor = float(low[1:])
            if factor < 1:
                raise FaultSpecError(f"fault {spec!r}: burst factor must be >= 1")
        elif low.startswith("p") and _NUMBER.match(low[1:]):
            probability = float(low[1:])
            if not 0.0 <= probability <= 1.0:
                raise FaultSpecError(f"fault {spec!r}: probability must be within [0, 1]")
        else:
            duration_s = _seconds(opt, "option", spec)
    if kind == "stall" and duration_s is None:
        duration_s = DEFAULT_STALL_S
    if kind == "burst" and duration_s is None:
        duration_s = DEFAULT_BURST_S
    if kind in HTTP_STATUS and retry_s is None:
        retry_s = DEFAULT_RETRY_AFTER_S[kind]
    return FaultSpec(
        kind=kind,  # type: ignore[arg-type]
        venue=venue,
        at_s=at_s,
        duration_s=duration_s,
        every_s=every_s,
        probability=probability,
        factor=factor,
        retry_after_s=retry_s,
        text=spec,
    )


def parse_faults(text: str | Iterable[str] | None) -> list[FaultSpec]:
    """The whole ``--faults`` value (comma-separated), or an iterable of items."""

    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    return [parse_fault(item) for item in items if item.strip()]


@dataclass(kw_only=True)
class FaultLog:
    """Every injected fault as one JSON object: kept in memory (``records``) and optionally written as JSON
    lines to a file or stream, so a test can compare what a client recorded with what was injected."""

    path: str | Path | None = None  # "-" → stderr
    records: list[dict[str, object]] = field(default_factory=list)
    max_records: int = 100_000  # kept in memory (the file keeps everything): days of malformed frames add up
    dropped_records: int = 0
    start_ns: int = 0
    _fh: IO[str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, start_ns: int) -> None:
        self.start_ns = start_ns
        if self.path is None or self._fh is not None:
            return
        if str(self.path) == "-":
            self._fh = sys.stderr
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def log(self, fault: str, venue: Venue | str | None, **details: object) -> dict[str, object]:
        ts = now_ns()
        rec: dict[str, object] = {
            "ts_ns": ts,
            "t_s": round((ts - self.start_ns) / NS_PER_S, 3) if self.start_ns else None,
            "fault": fault,
            "venue": None if venue is None else Venue(venue).value,
        }
        rec.update(details)
        with self._lock:
            self.records.append(rec)
            if len(self.records) > 2 * self.max_records:
                cut = len(self.records) - self.max_records
                del self.records[:cut]
                self.dropped_records += cut
            if self._fh is not None:
                self._fh.write(json.dumps(rec, default=str) + "\n")
                self._fh.flush()
        return rec

    def of(self, fault: str, venue: Venue | str | None = None) -> list[dict[str, object]]:
        """The records of one fault kind (and venue)."""

        v = None if venue is None else Venue(venue).value
        return [r for r in self.records if r["fault"] == fault and (v is None or r["venue"] == v)]

    def close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None and fh is not sys.stderr:
            fh.close()


def specs_as_dicts(specs: Sequence[FaultSpec]) -> list[dict[str, object]]:
    out = []
    for s in specs:
        d = asdict(s)
        d["venue"] = None if s.venue is None else s.venue.value
        out.append(d)
    return out
