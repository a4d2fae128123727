"""Decode throughput of the production path (capture reader + Binance decoder + normalized events) on the
recorded Binance USD-M capture, against the standard library's ``json.loads`` of the same lines.

Both sides start from the decompressed capture in memory; the baseline gets its lines with the receive-time
prefix already split off (not timed), while the production path does its own line splitting and prefix
parsing inside the timed region. ``seconds_from_gzip`` is the production path reading the .gz file itself.
Runs are interleaved and each figure is the best of ``--repeat``. Prints one JSON object as its last line.

    python bench/decode.py [CAPTURE] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import io
import json
import time
from pathlib import Path

from perpscope.venues.binance import Decoder
from perpscope.venues.lines import CaptureReader

DEFAULT = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "binance-usdm-ws-btcusdt-2024-08-08.txt.gz"
)


def production(source: object) -> tuple[int, int]:
    """Messages and events through the production path."""

    decode = Decoder().decode
    messages = events = 0
    for ts_recv, payload in CaptureReader(source):  # type: ignore[arg-type]
        events += len(decode(payload, 0 if ts_recv is None else ts_recv))
        messages += 1
    return messages, events


def timed(fn: object) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", nargs="?", default=str(DEFAULT))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    path = Path(args.capture)
    raw = gzip.decompress(path.read_bytes())
    payloads = [line.split(b" ", 1)[1] if line[:1].isdigit() else line for line in raw.splitlines() if line]

    def baseline() -> None:
        loads = json.loads
        for p in payloads:
            loads(p)

    messages, events = production(io.BytesIO(raw))
    # Interleaved runs, best of each: a busy machine slows both sides alike.
    json_s = prod_s = gz_s = float("inf")
    for _ in range(args.repeat):
        json_s = min(json_s, timed(baseline))
        prod_s = min(prod_s, timed(lambda: production(io.BytesIO(raw))))
        gz_s = min(gz_s, timed(lambda: production(path)))
    print(
        json.dumps(
            {
                "messages": messages,
                "events": events,
                "seconds": round(prod_s, 4),
                "msgs_per_s": round(messages / prod_s),
                "json_baseline_seconds": round(json_s, 4),
                "ratio_to_json": round(prod_s / json_s, 3),
                "seconds_from_gzip": round(gz_s, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
