"""The files of an eval run directory (`prover eval --out OUT`): `config.json` (the run's
`EvalConfig`) and `results.jsonl` (one `ProblemResult` line per attempt of a problem, appended
through `prover.jsonl.JsonlStore`, so a killed run resumes; a later line of a problem wins).
Written by `benchmarks.harness`, read by `benchmarks.report`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prover.errors import UsageError
from prover.jsonl import JsonlStore
from search.base import Budget

RESULTS = "results.jsonl"
CONFIG = "config.json"
# config.json fields a resumed run must agree on (`workers` and `backend` may change)
RESUME_KEYS = ("benchmark", "split", "variant", "policy", "search", "budget", "seed", "extra")
# ProblemResult.outcome: what Lean said of the problem in the end
OUTCOMES = ("proved", "proved_modulo", "not_proved", "statement_error", "error")


@dataclass(frozen=True)
class ProblemResult:
    """One line of `results.jsonl`."""

    id: str
    name: str
    split: str
    solved: bool
    proof: str = ""  # full proof text after the statement (re-verified), or best partial
    polished: str = ""  # the readable version of a solved proof (verified), "" if unsolved
    samples: int = 0  # policy samples spent (the cost)
    wall_s: float = 0.0
    verifier_s: float = 0.0
    found_at: int | None = None  # 1-based global sample index of the proof
    failure: str = ""
    error: str = ""  # the search raised this: not finished, retried on resume
    # budget (benchmarks.budget): Lean verifications (cache hits apart), Lean CPU and wall
    # seconds of them, policy tokens in/out (None: the policy has no tokenizer)
    verifications: int = 0
    cache_hits: int = 0
    lean_cpu_s: float = 0.0
    lean_wall_s: float = 0.0
    tokens_in: int | None = None
    tokens_out: int | None = None
    # "" means: derived from solved/error (lines written before outcomes existed)
    outcome: str = ""
    statement_error: str = ""  # the statement does not elaborate: Lean's message
    # plain variant (open answer slots): the answers the proof is proved with, and whether they
    # are the benchmark's own answers word for word (None: no reference, or not proved).  An
    # answer that differs may still be right, or may restate the question: review it.
    answers: dict[str, str] = field(default_factory=dict)
    answers_match_reference: bool | None = None
    # Lean's limits that stopped verifications of this problem (CheckResult.limit -> count:
    # heartbeats, rec_depth, wall_clock, memory)
    limits: dict[str, int] = field(default_factory=dict)
    # refusal category (CheckResult.refusal, set by Lean: README "Refusal categories") ->
    # checked requests of this problem refused with it (cache hits included)
    refusal: dict[str, int] = field(default_factory=dict)
    # polishing the solved proof (search.polish), metered apart from the search's budget above
    polish_verifications: int = 0
    polish_lean_cpu_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.outcome:
            derived = "proved" if self.solved else "error" if self.error else "not_proved"
            if self.statement_error:
                derived = "statement_error"
            object.__setattr__(self, "outcome", derived)
        if self.outcome not in OUTCOMES:
            raise ValueError(
                f"ProblemResult.outcome must be one of {OUTCOMES}, got {self.outcome!r}"
            )
        if (self.outcome == "proved") != self.solved:
            raise ValueError(f"ProblemResult: outcome {self.outcome!r} but solved={self.solved}")
        if self.samples < 0:
            raise ValueError(f"ProblemResult.samples must be >= 0, got {self.samples}")
        if self.solved and self.found_at is not None and self.found_at < 1:
            raise ValueError(f"ProblemResult.found_at must be >= 1, got {self.found_at}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["wall_s"] = round(self.wall_s, 3)
        d["verifier_s"] = round(self.verifier_s, 3)
        d["lean_cpu_s"] = round(self.lean_cpu_s, 3)
        d["lean_wall_s"] = round(self.lean_wall_s, 3)
        d["polish_lean_cpu_s"] = round(self.polish_lean_cpu_s, 3)
        return d


@dataclass(frozen=True)
class EvalConfig:
    """The settings of one eval run: what `config.json` records (`to_json`), and what a resumed
    run in the same directory must agree on (`RESUME_KEYS`).  `policy` is a policy spec, `search`
    a search name with `search_options` its config fields that differ from the defaults, and
    `policy_options` the policy's (`load_policy` keyword arguments; `prompt` a dict of the prompt
    config's); `backend` is the Lean backend (a given checker's name when the caller brings one)."""

    policy: str
    search: str
    budget: Budget
    seed: int = 0
    workers: int = 1
    benchmark: str = ""
    split: str = ""
    variant: str = ""  # the benchmark's variant (e.g. with-solutions); "" for a file
    backend: str = "auto"
    search_options: Mapping[str, Any] = field(default_factory=dict)
    policy_options: Mapping[str, Any] = field(default_factory=dict)
    answers_sha256: str = ""  # the --answers file's sha256 ("" without one)
    # `CheckerConfig` fields given for the run's own Lean processes (`--timeout`, `--heartbeats`,
    # `--spare-processes`); the per-item limits are part of the configuration (they decide
    # verdicts), the spare processes are not
    checker_options: Mapping[str, Any] = field(default_factory=dict)
    polish: bool = True  # readable versions of solved proofs (metered apart; --no-polish)

    def __post_init__(self) -> None:
        if not self.policy or not self.search:
            raise ValueError("EvalConfig.policy and EvalConfig.search must be non-empty")
        if not isinstance(self.budget, Budget):
            raise TypeError(
                f"EvalConfig.budget must be a Budget (Budget.parse('1x32')), got {self.budget!r}"
            )
        if self.workers < 1:
            raise ValueError(f"EvalConfig.workers must be >= 1, got {self.workers}")
        object.__setattr__(self, "search_options", dict(self.search_options))
        object.__setattr__(self, "policy_options", dict(self.policy_options))
        object.__setattr__(self, "checker_options", dict(self.checker_options))

    def to_json(self) -> dict[str, Any]:
        """config.json: the fields, with the budget as RUNSxSAMPLES and the search and policy
        options under `extra` (the layout of earlier runs, so they still resume)."""
        extra: dict[str, Any] = {
            k: dict(v)
            for k, v in (
                ("search_options", self.search_options),
                ("policy_options", self.policy_options),
            )
            if v
        }
        if self.answers_sha256:
            extra["answers_sha256"] = self.answers_sha256
        limits = {k: v for k, v in self.checker_options.items() if k != "spare_processes"}
        if limits:
            extra["checker_limits"] = limits
        return {
            "policy": self.policy,
            "search": self.search,
            "budget": str(self.budget),
            "seed": self.seed,
            "workers": self.workers,
            "benchmark": self.benchmark,
            "split": self.split,
            **({"variant": self.variant} if self.variant else {}),
            "backend": self.backend,
            **({} if self.polish else {"polish": False}),
            "extra": extra,
        }


def write_config(out_dir: Path, config: EvalConfig) -> None:
    """Record `config` in `out_dir/config.json`; UsageError if the directory holds a run whose
    configuration differs in a RESUME_KEYS field (its results would be mixed with these)."""
    path = out_dir / CONFIG
    new = config.to_json()
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            old = {}
        diff = [
            k
            for k in RESUME_KEYS
            if (k in old or k == "variant") and old.get(k, "") != new.get(k, "")
        ]
        if diff:
            what = ", ".join(f"{k} {old[k]!r} -> {new[k]!r}" for k in diff)
            raise UsageError(
                f"{out_dir} holds results of a different configuration ({what}); "
                "use another --out directory"
            )
    path.write_text(json.dumps(new, indent=1) + "\n", encoding="utf-8")


def results_store(out_dir: Path | str) -> JsonlStore:
    return JsonlStore(Path(out_dir) / RESULTS)


def read_results(out_dir: Path | str) -> dict[str, dict[str, Any]]:
    """id -> result line of `out_dir/results.jsonl` (later lines win; broken lines ignored)."""
    return results_store(out_dir).load_by("id")
