"""Exchange emulator: loopback WebSocket + REST servers that speak Binance USD-M, Bybit v5, OKX v5 and
Hyperliquid public market-data protocols, fed by a market source, with fault injection.

    async with Emulator(EmulatorConfig(venues=["binance"], symbols=["BTC"])) as emu:
        emu.endpoints  # {"binance": {"ws": "ws://127.0.0.1:…", "rest": "http://127.0.0.1:…"}}

See docs/emulator.md.
"""

from .emulator import Emulator, EmulatorConfig
from .faults import FaultLog, FaultSpec, FaultSpecError, parse_faults
from .source import CaptureSource, MarketSource, ScriptedSource, SeededSource, SimulatorSource

__all__ = [
    "CaptureSource",
    "Emulator",
    "EmulatorConfig",
    "FaultLog",
    "FaultSpec",
    "FaultSpecError",
    "MarketSource",
    "ScriptedSource",
    "SeededSource",
    "SimulatorSource",
    "parse_faults",
]
