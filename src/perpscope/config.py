"""Where perpscope keeps its data. One place for the data-directory rule."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "PERPSCOPE_DATA_DIR"


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """``--data-dir`` if given, else ``$PERPSCOPE_DATA_DIR``, else the XDG data dir
    (``~/.local/share/perpscope``)."""

    if override:
        return Path(override).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("perpscope", appauthor=False))
