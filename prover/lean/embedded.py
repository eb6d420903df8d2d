"""The embedded backend: the in-Lean checker run by Lean 4 compiled to WebAssembly (Node).

Core Lean only (Init/Std/Lean).  The library's `.olean`s are exported-level: imported theorems
carry no proofs and look like axioms to `collectAxioms`, so the checker's axiom audit here is
"the item and its header add no axiom, and nothing reached is `sorryAx` or a compiler-trusting
axiom" rather than "only the three standard axioms" (the native rule).

The WebAssembly Lean sees exactly two host directories: the read-only library and a
per-process scratch directory (see `prover.lean.patch_leanjs`), into which the checker's source
is copied at start.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from prover.lean.checker import CHECKER_SOURCE, CheckerConfig, LeanChecker
from prover.lean.toolchain import EMBEDDED_LEAN_VERSION, EmbeddedToolchain, require_embedded

EMBEDDED_DEFAULT_HEADER = ""


class EmbeddedLauncher:
    """Starts `lean ProverChecker.lean` inside the WebAssembly Lean."""

    name = "embedded"
    lean_version = EMBEDDED_LEAN_VERSION
    strict_axioms = False
    default_header = EMBEDDED_DEFAULT_HEADER
    # deeper recursion overflows the JavaScript stack (measured: `iterate 3000 trace_state`
    # crashes the process under maxRecDepth 1024, fails the item under 512)
    rec_depth_cap = 512

    def __init__(
        self,
        toolchain: EmbeddedToolchain | None = None,
        source: Path = CHECKER_SOURCE,
        lockdown: bool = True,
    ) -> None:
        """`source` and `lockdown=False` exist for tests that show an attack is live against a
        test-only build with a defence switched off; the checker users run is the shipped one."""
        self.toolchain = toolchain or require_embedded()
        self.source = source
        self.lockdown = lockdown

    def identity(self) -> str:
        return self.toolchain.identity()

    def launch(self, scratch: Path) -> tuple[list[str], dict[str, str], Path]:
        shutil.copy2(self.source, scratch / CHECKER_SOURCE.name)
        argv = self.toolchain.command(f"/scratch/{CHECKER_SOURCE.name}")
        return argv, self.toolchain.env(scratch), scratch


def EmbeddedChecker(  # noqa: N802 - reads as the backend's checker class
    config: CheckerConfig | None = None, toolchain: EmbeddedToolchain | None = None
) -> LeanChecker:
    """A `LeanChecker` on the embedded Lean."""
    return LeanChecker(EmbeddedLauncher(toolchain), config)
