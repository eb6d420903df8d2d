import Lake
open Lake DSL

/-! Native verification project: Mathlib + the leanprover-community REPL, all pinned to the Lean
release in `lean-toolchain` (v4.15.0).  The REPL executable is built from the dependency
(`lake build REPL/repl`) and run as `lake env .lake/packages/REPL/.lake/build/bin/repl` from this
directory, so that `import Mathlib` resolves to the Mathlib built here. -/

package «prover_native» where
  leanOptions := #[⟨`autoImplicit, false⟩]

require mathlib from git
  "https://github.com/leanprover-community/mathlib4" @ "v4.15.0"

require REPL from git
  "https://github.com/leanprover-community/repl" @ "v4.15.0"

@[default_target]
lean_lib «ProverNative» where
  roots := #[`ProverNative]
