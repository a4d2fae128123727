"""Per venue and stream health: connection state, message rate, last message age, gaps, reconnects and
parse errors. The collector writes a snapshot to ``<data dir>/status.json`` (atomically, every few seconds)
and appends every gap to ``gaps.jsonl``; ``perpscope status`` reads them from another process."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..timeutil import NS_PER_S, now_ns

STATUS_FILE = "status.json"
GAPS_FILE = "gaps.jsonl"


@dataclass(frozen=True, kw_only=True)
class Gap:
    """A span with no data we could keep on one stream: from the last good message to recovery."""

    venue: str
    stream: str
    from_ns: int
    to_ns: int
    reason: str  # "disconnect: …", "stale", "sequence gap", "rotation", "http 429" …


@dataclass(kw_only=True)
class StreamStats:
    venue: str
    stream: str
    connected: bool = False
    messages: int = 0
    events: int = 0
    last_message_ns: int | None = None
    connects: int = 0
    reconnects: int = 0
    parse_errors: int = 0
    error_reasons: Counter[str] = field(default_factory=Counter)
    gaps: list[Gap] = field(default_factory=list)
    _rate_window: list[tuple[int, int]] = field(default_factory=list)  # (ts_ns, messages) samples

    def rate(self, now: int) -> float:
        """Messages per second over the last ~10 s of samples."""

        window = [s for s in self._rate_window if now - s[0] <= 10 * NS_PER_S]
        self._rate_window = window
        if len(window) < 2:
            return 0.0
        (t0, m0), (t1, m1) = window[0], window[-1]
        return (m1 - m0) * NS_PER_S / max(1, t1 - t0)


class Health:
    """Registry of StreamStats; optional persistence under a data directory."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self.streams: dict[tuple[str, str], StreamStats] = {}

    def stream(self, venue: str, stream: str) -> StreamStats:
        key = (venue, stream)
        if key not in self.streams:
            self.streams[key] = StreamStats(venue=venue, stream=stream)
        return self.streams[key]

    def message(self, venue: str, stream: str, *, n_events: int, ts: int | None = None) -> None:
        s = self.stream(venue, stream)
        s.messages += 1
        s.events += n_events
        s.last_message_ns = ts or now_ns()

    def parse_error(self, venue: str, stream: str, reason: str) -> None:
        s = self.stream(venue, stream)
        s.parse_errors += 1
        s.error_reasons[reason[:120]] += 1

    def connected(self, venue: str, stream: str) -> None:
        s = self.stream(venue, stream)
        if s.connects:
            s.reconnects += 1
        s.connects += 1
        s.connected = True

    def disconnected(self, venue: str, stream: str) -> None:
        self.stream(venue, stream).connected = False

    def gap(self, gap: Gap) -> None:
        self.stream(gap.venue, gap.stream).gaps.append(gap)
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.root / GAPS_FILE, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(gap)) + "\n")

    def snapshot(self) -> dict[str, object]:
        now = now_ns()
        rows = []
        for s in self.streams.values():
            s._rate_window.append((now, s.messages))
            rows.append(
                {
                    "venue": s.venue,
                    "stream": s.stream,
                    "connected": s.connected,
                    "messages": s.messages,
                    "events": s.events,
                    "msgs_per_s": round(s.rate(now), 3),
                    "last_message_age_s": None
                    if s.last_message_ns is None
                    else round((now - s.last_message_ns) / NS_PER_S, 3),
                    "reconnects": s.reconnects,
                    "parse_errors": s.parse_errors,
                    "error_reasons": dict(s.error_reasons.most_common(5)),
                    "gaps": len(s.gaps),
                }
            )
        return {"ts_ns": now, "pid": os.getpid(), "streams": rows}

    def persist(self) -> None:
        if self.root is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{STATUS_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(self.snapshot()), encoding="utf-8")
        os.replace(tmp, self.root / STATUS_FILE)


def read_status(root: Path) -> tuple[dict[str, object] | None, list[Gap]]:
    """What a running (or finished) collector last wrote under ``root``."""

    status = None
    path = root / STATUS_FILE
    if path.exists():
        status = json.loads(path.read_text(encoding="utf-8"))
    gaps: list[Gap] = []
    gpath = root / GAPS_FILE
    if gpath.exists():
        for line in gpath.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    gaps.append(Gap(**json.loads(line)))
                except (ValueError, TypeError):
                    continue  # a torn last line from a killed writer
    return status, gaps
