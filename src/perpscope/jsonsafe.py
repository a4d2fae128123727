"""JSON-safe values: numpy scalars to Python, non-finite floats to ``None`` (JSON has no NaN/Infinity)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars unwrapped and NaN/±inf replaced by ``None``, recursively through dicts,
    lists and tuples (tuples become lists)."""

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
