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
    # one process (every test shares it; each start costs ~30 s of CPU and ~3 GB, and `make
    # test` runs two pytest workers, each with its own); the test that needs a warm spare
    # starts one
    checker = EmbeddedChecker(CheckerConfig(workers=1, spare_processes=0, timeout_s=120))
    yield checker
    checker.close()


class _Shared:
    """The session checker behind `make_checker` for in-process CLI runs: `close()` leaves it
    running, and the result cache is skipped so every call reaches Lean."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.lean_version = inner.lean_version
        self.calls: list[dict] = []

    def check(self, requests):
        return self.inner.check(requests)

    def identity(self) -> str:
        return self.inner.identity()

    def close(self) -> None:
        pass


@pytest.fixture
def shared_checker(monkeypatch, embedded_checker):
    """In-process CLI runs (`prover.cli.main`) use the session's running checker instead of
    starting their own Lean process (~30 s each): the commands' own code, real Lean.  The options
    a command passes to `make_checker` are recorded in `.calls` (a test can assert them); the
    limits of the session checker apply."""
    import prover.lean

    shared = _Shared(embedded_checker)

    def make_checker(backend: str = "auto", cache: bool = True, cache_path=None, **options):
        assert backend in {"auto", "embedded"}, backend
        shared.calls.append({"backend": backend, **options})
        return shared

    monkeypatch.setattr(prover.lean, "make_checker", make_checker)
    return shared
