"""Lean bridge: one checker (an in-Lean program, `lean_project/ProverChecker.lean`) run by the
embedded (WebAssembly) or the native (Lean + Mathlib) backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prover.lean.types import (
    Checker,
    CheckRequest,
    CheckResult,
    LeanInfraError,
    LeanMessage,
    TacticStep,
    Verdict,
)

__all__ = [
    "Checker",
    "CheckRequest",
    "CheckResult",
    "LeanInfraError",
    "LeanMessage",
    "TacticStep",
    "Verdict",
    "make_checker",
    "resolve_backend",
]


def resolve_backend(backend: str = "auto") -> str:
    """`auto` prefers native when `lean_project` is built, else embedded."""
    from prover.errors import UsageError
    from prover.lean.toolchain import embedded_toolchain, native_toolchain

    if backend not in {"auto", "embedded", "native"}:
        raise UsageError(f"--backend {backend!r}: choose auto, embedded or native")
    if backend != "auto":
        return backend
    if native_toolchain().is_built():
        return "native"
    if embedded_toolchain().is_installed():
        return "embedded"
    raise UsageError("no Lean backend is installed; run `prover lean doctor` for the fix")


def make_checker(
    backend: str = "auto", cache: bool = True, cache_path: Path | None = None, **options: Any
) -> Checker:
    """Build a checker: persistent in-Lean checker processes (`prover.lean.checker`) on the
    chosen backend, optionally behind the on-disk result cache.  `options` are
    `CheckerConfig` fields (`workers`, `timeout_s`, `heartbeats`, `memory_mb`, ...)."""
    from prover.lean.checker import CheckerConfig

    name = resolve_backend(backend)
    inner: Checker
    if name == "embedded":
        from prover.lean.embedded import EmbeddedChecker

        inner = EmbeddedChecker(CheckerConfig(**options))
    else:
        from prover.lean.native import NativeChecker

        inner = NativeChecker(CheckerConfig(**{"memory_mb": 32768, "timeout_s": 120.0, **options}))
    if not cache:
        return inner
    from prover.lean.wrappers import CachedChecker

    return CachedChecker(inner, path=cache_path)
