"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import data_dir


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=None,
        help="store location (default: $PERPSCOPE_DATA_DIR or the XDG data dir, ~/.local/share/perpscope)",
    )


def resolve_data_dir(args: argparse.Namespace) -> Path:
    return data_dir(getattr(args, "data_dir", None))
