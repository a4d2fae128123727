"""Window selection (``--window 24h --end TS``) and display columns (``Heatmap.downsample`` grouping)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..timeutil import parse_duration_ns


@dataclass(frozen=True, kw_only=True)
class WindowSlots:
    """Slots ``[start, stop)`` of the computed grid that the display covers (earlier slots warm the book
    up), grouped into display columns of ``group`` slots (the last may be shorter)."""

    start: int
    stop: int
    group: int

    @property
    def n_slots(self) -> int:
        return self.stop - self.start

    @property
    def n_columns(self) -> int:
        return -(-self.n_slots // self.group)

    def column_of(self, slot: np.ndarray) -> np.ndarray:
        return (slot - self.start) // self.group

    def column_starts(self) -> np.ndarray:
        """First slot (absolute index) of each column."""

        return self.start + np.arange(0, self.n_slots, self.group)

    def column_sizes(self) -> np.ndarray:
        starts = self.column_starts()
        return np.minimum(starts + self.group, self.stop) - starts


def window_ns(window: str | int | None) -> int | None:
    """A preset or duration (``"24h"``, ``"1y"``) or ns → ns; None → the whole input."""

    if window is None:
        return None
    if isinstance(window, int):
        if window <= 0:
            raise ValueError("window must be positive")
        return window
    return parse_duration_ns(window)


def cut_grid(grid_ns: np.ndarray, *, end_ns: int | None) -> int:
    """Number of leading grid slots whose bar opens before ``end_ns`` (all when None)."""

    if end_ns is None:
        return int(grid_ns.shape[0])
    n = int(np.searchsorted(grid_ns, end_ns, side="left"))
    if n == 0:
        raise ValueError("end is before the first bar")
    return n


def select_window(
    grid_ns: np.ndarray, interval_ns: int, *, window: str | int | None, max_columns: int | None
) -> WindowSlots:
    """The display window over an already-cut grid: slots opening at or after ``end − window`` where end
    is the close of the last slot; columns follow ``Heatmap.downsample(max_columns)``."""

    n = int(grid_ns.shape[0])
    w = window_ns(window)
    if w is None:
        start = 0
    else:
        end = int(grid_ns[-1]) + interval_ns
        start = int(np.searchsorted(grid_ns, end - w, side="left"))
        start = min(start, n - 1)
    n_slots = n - start
    group = 1 if max_columns is None or n_slots <= max_columns else -(-n_slots // max_columns)
    return WindowSlots(start=start, stop=n, group=group)
