"""Lean bridge: one checker interface over the embedded (WebAssembly) and native (REPL) backends."""

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
    """Build a checker.  `options` go to the backend's config dataclass (`EmbeddedConfig`, or
    `NativeConfig.from_toolchain` for native); the backend-neutral `timeout_s` (per proof) and
    `workers` (parallel Lean processes) are understood by both."""
    name = resolve_backend(backend)
    inner: Checker
    if name == "embedded":
        from prover.lean.embedded import EmbeddedChecker, EmbeddedConfig

        inner = EmbeddedChecker(EmbeddedConfig(**options))
    else:
        from prover.lean.native import NativeChecker, NativeConfig

        neutral = {"timeout_s": "command_timeout_s", "workers": "pool_size"}
        native = {neutral.get(k, k): v for k, v in options.items()}
        inner = NativeChecker(NativeConfig.from_toolchain(**native))
    if not cache:
        return inner
    from prover.lean.cache import CachedChecker

    return CachedChecker(inner, path=cache_path)
