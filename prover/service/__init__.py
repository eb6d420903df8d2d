"""Verification as a service: `prover serve` (FastAPI + uvicorn; our `/v1/verify` and the Kimina
Lean Server API) and `HTTPChecker`, the `Checker` that uses a running server
(`--checker http://HOST:PORT`).

This layer sits right above `prover.lean` and imports only it and the base layer.  FastAPI,
uvicorn and pydantic (the `serve` extra) are imported inside the functions that need them, so
importing this package is cheap and the client side needs only httpx."""

from __future__ import annotations

from typing import Any

from prover.lean.types import Checker

__all__ = ["is_url", "open_checker"]


def is_url(spec: str | None) -> bool:
    return bool(spec) and str(spec).startswith(("http://", "https://"))


def open_checker(
    checker: str | None, backend: str = "auto", *, api_key: str | None = None, **options: Any
) -> Checker:
    """The checker a command uses: a running `prover serve` when `checker` is its URL (behind an
    in-memory result cache, which `uncached()` strips for re-verification), else local Lean
    processes (`prover.lean.make_checker(backend, **options)`)."""
    if not checker:
        import prover.lean

        return prover.lean.make_checker(backend, **options)
    if not is_url(checker):
        from prover.errors import UsageError

        raise UsageError(
            f"--checker {checker!r}: give the URL of a `prover serve`, http://HOST:PORT"
        )
    from prover.lean.wrappers import CachedChecker
    from prover.service.client import HTTPChecker

    timeout_s = options.get("timeout_s")
    return CachedChecker(HTTPChecker(checker, api_key=api_key, item_timeout_s=timeout_s))
