import Lake
open Lake DSL

/-! Native verification project: Mathlib pinned to the Lean release in `lean-toolchain`
(v4.28.0, the stable release nearest the embedded backend's 4.28.0-pre, so one checker source,
`ProverChecker.lean`, compiles on both).  The checker is run as
`lake env lean ProverChecker.lean` from this directory, so that `import Mathlib` in a header
resolves to the Mathlib built here. -/

package «prover_native» where
  leanOptions := #[⟨`autoImplicit, false⟩]

require mathlib from git
  "https://github.com/leanprover-community/mathlib4" @ "v4.28.0"

@[default_target]
lean_lib «ProverNative» where
  roots := #[`ProverNative]
