"""Shared fixtures.  `lean`-marked tests use the real embedded Lean (installed by `make setup`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "native: needs a built native lean_project (PROVER_NATIVE=1)"
    )


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = Path(os.environ.get("PROVER_DATA_DIR", REPO.parent / "shared" / "data"))
    if not (d / "minif2f.jsonl").exists():
        pytest.fail(f"benchmark data not found in {d}; set PROVER_DATA_DIR")
    return d


@pytest.fixture(scope="session")
def embedded_checker() -> Iterator[object]:
    """One real embedded checker for the session (no result cache, so every call hits Lean)."""
    from prover.lean.checker import CheckerConfig
    from prover.lean.embedded import EmbeddedChecker
    from prover.lean.toolchain import embedded_toolchain

    if not embedded_toolchain().is_installed():
        pytest.fail("embedded Lean is not installed: run `make setup` (prover lean install)")
    checker = EmbeddedChecker(CheckerConfig(workers=2, timeout_s=120))
    yield checker
    checker.close()
