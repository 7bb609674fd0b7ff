"""Shared test fixtures; keep this file small."""

from __future__ import annotations

from pathlib import Path

import pytest

# --- shared data (../shared/data beside the repository) -------------------------------------------
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def rlpp_dir() -> Path:
    """Return the folder of the paper's recordings, ``../shared/data/rlpp``; skip when it is absent."""
    folder = (SHARED_DATA / "rlpp").resolve()
    if not folder.is_dir():
        pytest.skip(
            f"shared data folder {folder} is absent (it sits beside the repository as shared/data/rlpp)"
        )
    return folder
