"""Shared test fixtures. Data in ../shared/data is used when present and skipped cleanly when absent."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = Path(os.environ.get("PERPSCOPE_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(name: str) -> Path:
    """Path of a file in ../shared/data, or skip the test with the reason."""

    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"needs {path} (../shared/data is absent on this machine)")
    return path


@pytest.fixture
def shared() -> Callable[[str], Path]:
    """``shared("file.csv")`` → path in ../shared/data, or the test is skipped with the reason."""
    return shared_file


@pytest.fixture
def fixtures_dir() -> Path:
    """tests/fixtures: small payload files written for the tests."""
    return FIXTURES
