"""`automation`: a model-free tactic policy built from core-Lean automation and goal structure.

Given a goal state it proposes tactic steps: closers (`omega`, `decide`, `simp`, `simp_all`,
`grind`, `rfl`, `exact?`, ...), structural moves read off the goal (`intro` for `∀`/`→`,
`constructor` for `∧`/`↔`, `left`/`right` for `∨`, `rcases`/`cases` on hypotheses it sees,
`induction` on natural-number variables, `subst`, `simp at h`), and short combinations.  Every
candidate has a prior weight.  For each task (statement + prefix + goal state) the policy fixes
one ranking: the highest-weight candidate first, then the rest in Gumbel-top-k order over
`log(weight) / rank_temperature` (plain weight order when the request's temperature is 0), seeded by
`AutomationConfig.seed` and the task.  Successive requests for the same task walk down that
ranking without replacement, so a tree search that expands a node again gets a new tactic
instead of the same one, and `n` samples in one request are the next `n` of the ranking; once
the ranking is used up, samples repeat by weight.  Without a goal state (whole-proof sampling)
it proposes complete proofs.  In both modes the top candidate is `ONE_SHOT`: the combined shot
`first | omega | decide | grind | simp_all | rfl` extended with structural follow-ups
(`intros; omega`, `simp at *; omega`, ...), so a search never does worse than that one shot.

On native Lean with Mathlib (`mathlib=True`) it adds `linarith`, `nlinarith`, `positivity`,
`norm_num`, `ring_nf`, `field_simp`, `interval_cases` and `nlinarith [sq_nonneg ...]`.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from prover.lean.syntax import base_indent
from prover.policy.base import Completion, ProofTask, SamplingParams

COMBINED = "first | omega | decide | grind | simp_all | rfl"
# the one-shot proof: the combined shot plus structural follow-ups it cannot do alone
ONE_SHOT = (
    "first | omega | decide | grind | simp_all | rfl | (intros; omega) | (simp at *; omega)"
    " | (constructor <;> omega) | (intros; simp_all; omega) | (intros; grind)"
)

_CLOSERS: tuple[tuple[str, float], ...] = (
    (COMBINED, 8.0),
    ("omega", 6.0),
    ("simp_all", 5.0),
    ("grind", 5.0),
    ("decide", 4.0),
    ("simp", 4.0),
    ("rfl", 3.0),
    ("trivial", 2.0),
    ("assumption", 2.0),
    ("simp +arith", 2.0),
    ("contradiction", 1.5),
    ("exact?", 1.0),
    ("simp at * <;> omega", 2.0),
    ("constructor <;> omega", 1.0),
    ("norm_cast", 1.0),
    ("(try simp at *) <;> grind", 1.5),
)

_MATHLIB: tuple[tuple[str, float], ...] = (
    ("linarith", 5.0),
    ("nlinarith", 4.0),
    ("norm_num", 5.0),
    ("positivity", 3.0),
    ("ring_nf", 2.0),
    ("field_simp", 2.0),
    ("norm_num at *", 2.0),
    ("nlinarith [sq_nonneg (a - b), sq_nonneg (a + b)]", 1.0),
)

_HYP = re.compile(r"^([^\s:][^:]*?) : (.*)$")


@dataclass(frozen=True)
class AutomationConfig:
    """The automation policy's knobs.  Each field's metadata `help` is its command-line help
    (`prover.commands.options`: `--automation-mathlib`, `--automation-seed`, ...)."""

    # None: `load_policy` decides by the Lean backend (a policy built without one: off)
    mathlib: bool | None = field(
        default=None,
        metadata={
            "help": "add Mathlib tactics (linarith, nlinarith, ...); default: on with the native "
            "backend, off with the embedded one (which has no Mathlib)"
        },
    )
    seed: int = field(
        default=0,
        metadata={"help": "fixes each task's ranking of candidates (the search's seed does not)"},
    )
    # a model's sampling temperature of 1 would drown this hand-written prior in noise
    rank_temperature: float = field(
        default=0.5,
        metadata={
            "help": "Gumbel temperature of the ranking when the search samples (temperature "
            "> 0); 0 ranks purely by weight"
        },
    )
    memory: int = field(
        default=100_000,
        metadata={"help": "tasks whose position in their ranking is remembered (LRU)"},
    )

    def __post_init__(self) -> None:
        if self.rank_temperature < 0:
            raise ValueError(
                f"AutomationConfig.rank_temperature must be >= 0 (got {self.rank_temperature}); "
                "0 ranks purely by weight"
            )
        if self.memory < 1:
            raise ValueError(
                f"AutomationConfig.memory must be >= 1 (got {self.memory}); it bounds how many "
                "tasks remember which candidates they were already given"
            )


@dataclass(frozen=True)
class Goal:
    hyps: tuple[tuple[str, str], ...]  # (name, type); grouped names are split
    target: str

    @staticmethod
    def parse(goals: str) -> Goal | None:
        """The first goal of Lean's pretty-printed state (`name : type` lines, then `⊢ t`)."""
        if not goals.strip() or goals.strip() == "no goals":
            return None
        block = goals.strip().split("\n\n")[0]
        hyps: list[tuple[str, str]] = []
        target_lines: list[str] = []
        in_target = False
        for line in block.splitlines():
            if line.startswith("case "):
                continue
            if line.startswith("⊢"):
                in_target = True
                target_lines.append(line[1:].strip())
                continue
            if in_target:
                target_lines.append(line.strip())
                continue
            m = _HYP.match(line)
            if m:
                for name in m.group(1).split():
                    hyps.append((name, m.group(2)))
            elif hyps:  # continuation of a long hypothesis
                name, typ = hyps[-1]
                hyps[-1] = (name, typ + " " + line.strip())
        if not target_lines:
            return None
        return Goal(tuple(hyps), " ".join(target_lines))


def _clean(name: str) -> str:
    return name if re.match(r"^[A-Za-z_][A-Za-z0-9_'₀-₉]*$", name) else ""


def step_candidates(goal: Goal | None, mathlib: bool = False) -> list[tuple[str, float]]:
    """Ranked next-step candidates for a goal (weights are unnormalised priors)."""
    cands: dict[str, float] = {ONE_SHOT: 10.0, **dict(_CLOSERS)}
    if mathlib:
        cands.update(_MATHLIB)
    if goal is None:
        return list(cands.items())
    t = goal.target
    binder = t.startswith("∀") or "→" in t or t.startswith("¬")
    if binder:
        names = _binder_names(t)
        if names:  # named: later steps (residue splits, induction) can refer to them
            cands[f"intro {' '.join(names)}"] = 6.0
        cands["intro"] = 1.0 if names else 3.0
        cands["intros"] = 1.0 if names else 1.5
    if not binder and ("∧" in t or "↔" in t):
        cands["constructor"] = 5.0
        cands["refine ⟨?_, ?_⟩"] = 2.0
        cands["exact ⟨by omega, by omega⟩"] = 1.0
    if not binder and "∨" in t:
        cands["left"] = 2.0
        cands["right"] = 2.0
    if t.startswith("∃"):
        cands["exists 0"] = 1.0
        cands["refine ⟨_, ?_⟩"] = 1.0
        cands["exact ⟨_, by simp⟩"] = 1.0
    if t == "False":
        cands["contradiction"] = 3.0
        cands["omega"] = 6.0
    moduli = _moduli(goal)
    if moduli:  # modular arithmetic: normalise with the `%` lemmas, then linear arithmetic
        cands[f"simp [{_NAT_MOD}, *] at * <;> omega"] = 3.0
        cands[f"simp [{_INT_MOD}, *] at * <;> omega"] = 2.0
    split = 0
    for name, typ in goal.hyps:
        n = _clean(name)
        if not n:
            continue
        if typ in {"ℕ", "Nat", "ℤ", "Int"} and split < 4:
            # case analysis on the residue: one goal per value of `n % k`, each closed by
            # normalising with the `%` lemmas
            lemmas = _NAT_MOD if typ in {"ℕ", "Nat"} else _INT_MOD
            for k in moduli[:2]:
                cases = " ∨ ".join(f"{n} % {k} = {r}" for r in range(k))
                pats = " | ".join(["hmod"] * k)
                cands[
                    f"rcases (by omega : {cases}) with {pats} <;> simp [{lemmas}, hmod] <;> omega"
                ] = 5.0
                split += 1
        if typ in {"ℕ", "Nat"}:
            cands[
                f"induction {n} with\n  | zero => simp_all\n  | succ k ih => simp_all <;> omega"
            ] = 1.0
            cands[
                f"induction {n} with\n  | zero => simp_all\n"
                f"  | succ k ih => simp_all [Nat.pow_succ, Nat.mul_add, Nat.add_mul] <;> omega"
            ] = 2.5
            cands[f"cases {n} <;> simp_all"] = 1.0
            cands[f"cases {n} <;> simp_all [Nat.pow_succ] <;> omega"] = 2.0
        if "∧" in typ and not typ.startswith("∀"):
            cands[f"obtain ⟨{n}_1, {n}_2⟩ := {n}"] = 3.0
        if typ.startswith("∃"):
            cands[f"obtain ⟨w, h{n}⟩ := {n}"] = 3.5
        if "∨" in typ and not typ.startswith("∀"):
            cands[f"rcases {n} with {n} | {n} <;> simp_all <;> omega"] = 3.0
            cands[f"cases {n}"] = 1.5
        if typ.startswith("∀") or "→" in typ:
            cands[f"simp_all [{n}]"] = 1.0
        if re.match(r"^\S+ = \S+$", typ) and len(typ) < 40:
            cands[f"subst {n}"] = 1.0
            cands[f"simp [{n}] at *"] = 1.5
            cands[f"rw [{n}] at *"] = 1.0
        if any(op in typ for op in ("=", "≤", "<", "≠")) and not typ.startswith("∀"):
            cands[f"simp at {n}"] = 1.0
    return list(cands.items())


_NAT_MOD = "Nat.pow_mod, Nat.mul_mod, Nat.add_mod, Nat.dvd_iff_mod_eq_zero"
_INT_MOD = (
    "Int.pow_succ, Int.mul_emod, Int.add_emod, Int.emod_emod_of_dvd, Int.dvd_iff_emod_eq_zero"
)
_MODULUS = re.compile(r"%\s*(\d+)|(\d+)\s*∣")


def _moduli(goal: Goal) -> list[int]:
    """Small literal moduli of the goal (`% k`, `k ∣`), target first."""
    out: list[int] = []
    for text in (goal.target, *(t for _, t in goal.hyps)):
        for a, b in _MODULUS.findall(text):
            k = int(a or b)
            if 2 <= k <= 12 and k not in out:
                out.append(k)
    return out


def _binder_names(target: str) -> list[str]:
    m = re.match(r"^∀\s*\(?([^:,()]+?)\s*:", target) or re.match(r"^∀\s*([^:,]+?),", target)
    if not m:
        return []
    return [x for x in m.group(1).split() if _clean(x)][:4]


def whole_proof_candidates(mathlib: bool = False) -> list[tuple[str, float]]:
    """Complete proofs for whole-proof sampling (one tactic per line)."""
    singles = [(ONE_SHOT, 10.0), *_CLOSERS]
    combos = [
        ("intro h\nomega", 1.5),
        ("intros\nsimp_all\nomega", 1.0),
        ("constructor\nall_goals omega", 1.5),
        ("simp at *\nomega", 1.5),
        ("norm_num at *\nomega" if mathlib else "simp +arith at *\nomega", 1.0),
        ("intro n\ninduction n <;> simp_all", 1.0),
        ("constructor <;> intro h <;> omega", 1.0),
        ("decide", 1.0),
    ]
    out = singles + combos
    if mathlib:
        out += list(_MATHLIB)
    return out


def rank(items: list[tuple[str, float]], temperature: float, rng: random.Random) -> list[str]:
    """The best-weighted candidate, then the rest in Gumbel-top-k order (weight order at T=0)."""
    ordered = sorted(items, key=lambda x: -x[1])
    if temperature <= 0 or len(ordered) < 2:
        return [c for c, _ in ordered]
    keyed = []
    for text, w in ordered[1:]:
        u = min(max(rng.random(), 1e-12), 1 - 1e-12)
        keyed.append((math.log(w) / temperature - math.log(-math.log(u)), text))
    keyed.sort(key=lambda x: -x[0])
    return [ordered[0][0]] + [t for _, t in keyed]


class AutomationPolicy:
    """Model-free policy; same interface as the model backends."""

    def __init__(self, config: AutomationConfig | None = None, **overrides: object) -> None:
        base = config or AutomationConfig()
        if overrides:
            fields = {**base.__dict__, **overrides}
            base = AutomationConfig(**fields)  # type: ignore[arg-type]
        self.config = base
        self.spec = "automation"
        self._served: OrderedDict[str, int] = OrderedDict()  # task key -> candidates given

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        out = []
        for task in tasks:
            key = _task_key(task, self.config.seed, params.temperature)
            rng = random.Random(key)
            # continue at the proof's top level (after a `have ... := by` block, not inside it)
            indent = base_indent(task.prefix) or "  "
            # the statement ends with `by`: a proof starts on a new line, as does a continuation
            lead = "" if task.prefix.endswith("\n") else "\n"
            if task.prefix or task.goals:
                goal = Goal.parse(task.goals) if task.goals else None
                cands = step_candidates(goal, bool(self.config.mathlib))
            else:
                cands = whole_proof_candidates(bool(self.config.mathlib))
            temperature = self.config.rank_temperature if params.temperature > 0 else 0.0
            ranking = rank(cands, temperature, rng)
            start = self._served.pop(key, 0)
            self._served[key] = start + params.n
            while len(self._served) > self.config.memory:
                self._served.popitem(last=False)
            picks = ranking[start : start + params.n]
            extra = random.Random(f"{key}:{start}")
            while len(picks) < params.n:  # ranking used up: repeat by weight
                picks.append(extra.choices([c for c, _ in cands], [w for _, w in cands])[0])
            comps = []
            for tac in picks:
                body = "".join(f"{indent}{line}\n" for line in tac.split("\n"))
                comps.append(Completion(text=lead + body, prompt="", num_tokens=len(tac.split())))
            out.append(comps)
        return out

    def close(self) -> None:
        return None


def _task_key(task: ProofTask, seed: int, temperature: float) -> str:
    return hashlib.sha256(
        f"{seed}|{temperature}|{task.header}|{task.formal_statement}|{task.prefix}|{task.goals}".encode()
    ).hexdigest()
