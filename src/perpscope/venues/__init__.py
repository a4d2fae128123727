"""Venue adapters, one module per venue: raw wire schemas (msgspec Structs mirroring the venue's field
names), parsers raw → normalized events, endpoint URLs and subscription messages, REST request builders
and response parsers.

Every venue module exposes:

- ``VENUE``: its :class:`perpscope.model.Venue`
- ``Decoder``: a class; ``Decoder(instruments=None)`` builds a (possibly stateful, per connection) decoder
  whose ``decode(raw: bytes | str, ts_recv: int) -> list[AnyEvent]`` returns normalized events or raises
  :class:`perpscope.errors.DecodeError` (:class:`~perpscope.errors.UnknownChannel` for channels it does not
  handle). Control messages (subscribe acks, pongs) decode to ``[]``.
- ``Endpoints``: frozen config with ``ws``/``rest`` URLs (overridable, e.g. to point at the emulator).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Protocol

from ..model import AnyEvent, Venue


class VenueDecoder(Protocol):
    def decode(self, raw: bytes | str, ts_recv: int) -> list[AnyEvent]: ...


def venue_module(venue: Venue | str) -> ModuleType:
    """The adapter module of a venue (imported on first use)."""

    return importlib.import_module(f"{__name__}.{Venue(venue).value}")


def make_decoder(venue: Venue | str, **options: object) -> VenueDecoder:
    return venue_module(venue).Decoder(**options)
