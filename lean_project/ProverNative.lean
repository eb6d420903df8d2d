/-
Smoke-test module of the native project: `lake build` checks that Mathlib, Aesop and the miniF2F
header options work with the pinned toolchain.
-/
import Mathlib
import Aesop

set_option maxHeartbeats 400000

open BigOperators Real Nat Topology Rat

theorem prover_native_smoke (x : ℝ) (h₀ : x = 2) : x + 1 = 3 := by
  subst h₀
  norm_num
