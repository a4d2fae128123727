"""``perpscope emulate`` as a subprocess: one JSON line of endpoints on stdout, servers answering, clean exit
on SIGTERM, faults as JSON lines on stderr."""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "perpscope", "emulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _first_line(proc: subprocess.Popen[str], timeout: float = 20.0) -> dict[str, dict[str, str]]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        pytest.fail(f"no endpoints line within {timeout} s")
    line = proc.stdout.readline()  # printed in one write as soon as the ports are bound
    assert line.endswith("\n"), f"stdout: {line!r}, stderr: {proc.stderr.read() if proc.stderr else ''}"
    return json.loads(line)


def _free_port_base() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base > 65000:
            continue
        socks = []
        try:
            for off in range(4):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", base + off))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    pytest.skip("no four consecutive free ports")


def test_emulate_prints_endpoints_and_serves(tmp_path: Path) -> None:
    log = tmp_path / "faults.jsonl"
    faults = ("--faults", "http429:okx@1", "--fault-log", str(log))
    proc = _start("--venues", "binance,okx", "--symbols", "BTC", *faults)
    try:
        endpoints = _first_line(proc)
        assert set(endpoints) == {"binance", "okx"}
        for ep in endpoints.values():
            assert ep["ws"].startswith("ws://127.0.0.1:") and ep["rest"].startswith("http://127.0.0.1:")
        with urllib.request.urlopen(endpoints["binance"]["rest"] + "/fapi/v1/time", timeout=5) as resp:
            assert "serverTime" in json.loads(resp.read())
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(endpoints["okx"]["rest"] + "/api/v5/public/time", timeout=5)
        assert info.value.code == 429
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert out == ""  # exactly one line was printed, and it was read above
    (rec,) = [json.loads(x) for x in log.read_text().splitlines()]
    assert rec["fault"] == "http429" and rec["venue"] == "okx"


def test_emulate_port_base_and_duration() -> None:
    base = _free_port_base()
    proc = _start("--port-base", str(base), "--duration", "2s", "--symbols", "ETH")
    endpoints = _first_line(proc)
    ports = [int(ep["rest"].rsplit(":", 1)[1]) for ep in endpoints.values()]
    assert ports == [base, base + 1, base + 2, base + 3]
    assert list(endpoints) == ["binance", "bybit", "okx", "hyperliquid"]
    proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_emulate_rejects_a_bad_fault_spec() -> None:
    proc = _start("--faults", "drop:binance")
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and out == ""
    assert "expected KIND:VENUE@WHEN" in err


def test_emulate_source_options() -> None:
    proc = _start(
        "--source", "seeded", "--source-option", "trades_per_s=30", "--duration", "1s", "--venues", "okx"
    )
    assert set(_first_line(proc)) == {"okx"}
    proc.communicate(timeout=20)
    assert proc.returncode == 0
    bad = _start("--source", "seeded", "--source-option", "nonsense=1")
    _, err = bad.communicate(timeout=20)
    assert bad.returncode == 2 and "bad source option" in err


def test_emulate_port_in_use_is_a_clean_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _start("--port-base", str(port), "--duration", "1s")
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == "" and "address already in use" in err
