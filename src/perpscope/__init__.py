"""perpscope: perpetual-futures market structure — estimated liquidation heatmap, cross-venue liquidation
tape, funding, open interest, order flow and depth for Binance USD-M, Bybit, OKX and Hyperliquid."""

__version__ = "0.1.0"
