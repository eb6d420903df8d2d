"""The native backend: the same in-Lean checker run by a real Lean with Mathlib.

`lake env lean ProverChecker.lean`, started in the pinned Lake project `lean_project/` (see its
README), so that `import Mathlib` in a header resolves to the Mathlib built there.  Every line of
checking logic is shared with the embedded backend (`lean_project/ProverChecker.lean`); only the
command line differs.  With full `.olean`s the axiom audit is the standard rule: only `propext`,
`Classical.choice` and `Quot.sound` (plus the native-decide axioms with
`allow_native_decide`).

Not run in this repository's CI (no Lean + Mathlib here); the launch path is unit-tested.
"""

from __future__ import annotations

import os
from pathlib import Path

from prover.lean.checker import CHECKER_SOURCE, CheckerConfig, LeanChecker
from prover.lean.toolchain import (
    NativeToolchain,
    ToolchainError,
    native_identity,
    native_toolchain,
)

NATIVE_DEFAULT_HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)


class NativeLauncher:
    """Starts `lake env lean <project>/ProverChecker.lean` in the Lake project."""

    name = "native"
    strict_axioms = True
    # native Lean has no lockdown device: see README "What a compromised process costs"
    lockdown = False
    rec_depth_cap = 0  # native Lean's stack: Lean's own maxRecDepth errors
    default_header = NATIVE_DEFAULT_HEADER

    def __init__(self, toolchain: NativeToolchain | None = None) -> None:
        tc = toolchain if toolchain is not None else native_toolchain()
        if not tc.is_built() or tc.lake is None:
            raise ToolchainError(
                f"the native Lean project at {tc.project} is not built (no lake, or no Mathlib "
                "build under .lake/packages); run `bash lean_project/setup_native.sh` (or "
                "`make lean-native`) on a machine with internet access"
            )
        self.toolchain = tc
        self.lean_version = tc.lean_version()

    def identity(self) -> str:
        return native_identity(self.toolchain.project)

    def launch(self, scratch: Path) -> tuple[list[str], dict[str, str], Path]:
        env = dict(os.environ)
        env["HOME"] = env.get("HOME", str(scratch))
        source = self.toolchain.project / CHECKER_SOURCE.name
        if not source.is_file():  # a project copy elsewhere ($PROVER_LEAN_PROJECT)
            source = CHECKER_SOURCE
        argv = [str(self.toolchain.lake), "env", "lean", str(source)]
        return argv, env, self.toolchain.project


def NativeChecker(  # noqa: N802 - reads as the backend's checker class
    config: CheckerConfig | None = None, toolchain: NativeToolchain | None = None
) -> LeanChecker:
    """A `LeanChecker` on the native Lean + Mathlib project."""
    cfg = config or CheckerConfig(memory_mb=32768, timeout_s=120.0)
    return LeanChecker(NativeLauncher(toolchain), cfg)
