"""REST request descriptions. Venue modules *build* requests and *parse* responses; the feed layer (or a
one-off fetch) executes them, so adapters stay free of I/O and testable on recorded payloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode


@dataclass(frozen=True, kw_only=True)
class RestRequest:
    method: Literal["GET", "POST"]
    base_url: str  # e.g. "https://fapi.binance.com" (overridable: the emulator's URL)
    path: str  # e.g. "/fapi/v1/openInterest"
    params: dict[str, str | int] = field(default_factory=dict)  # query string (GET)
    json_body: dict[str, object] | None = None  # POST body (Hyperliquid /info)
    weight: int = 1  # the venue's rate-limit cost of this request

    @property
    def url(self) -> str:
        query = urlencode(self.params)
        return f"{self.base_url.rstrip('/')}{self.path}" + (f"?{query}" if query else "")
