-- Core-Lean theorems for `make demo`: each `:= by` is proved by search with the automation policy.
theorem demo_and (p q : Prop) (hp : p) (hq : q) : p ∧ q ∧ p := by

theorem demo_add_comm (a b : Nat) : a + b = b + a := by

theorem demo_mod (n : Nat) (h₀ : n % 4 = 3) : (2 * n) % 4 = 2 := by

theorem demo_imp (p q r : Prop) (hpq : p → q) (hqr : q → r) : p → r := by

theorem demo_exists (x : Nat) (h : ∃ k, x = 2 * k) : x % 2 = 0 := by

-- no single tactic closes this one: the search first introduces `a`, then splits on `a % 4`
theorem demo_sq_mod_four : ∀ a : Int, a ^ 2 % 4 = 0 ∨ a ^ 2 % 4 = 1 := by

-- decomposed (`make demo`): the replayed sketch in examples/demo_sketches.jsonl leaves two
-- `have … := by sorry` gaps; each becomes a lemma proved by RMaxTS, then inlined at its gap
theorem demo_decompose (a b : Nat) (h₀ : 0 < a) (h : a * b + a = 10 * a) : b = 9 := by
