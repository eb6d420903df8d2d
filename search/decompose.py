"""Subgoal decomposition (`--search decompose`), after DeepSeek-Prover-V2 (arXiv 2504.21801,
Sec. 2.1, "recursive proof search via subgoal decomposition"): a sketch, subgoals proved as
lemmas, the proof put back together.  Top to bottom:

1. Sketch.  The sketch policy (`--sketch-policy SPEC`, any policy spec, `replay:FILE.jsonl`
   included) writes a proof of the theorem whose gaps are tactic `sorry`s, as in V2's sketches:

       theorem t (b : ℕ) (h₀ : 0 < b) (h₁ : 3 * b ^ 2 + 2 * b + 1 = 57) : b = 4 := by
         have hb : b ≤ 4 := by
           sorry
         have h4 : b = 1 ∨ b = 2 ∨ b = 3 ∨ b = 4 := by sorry
         rcases h4 with rfl | rfl | rfl | rfl <;> simp_all

   Lean elaborates it with its tactic steps (one verification, recorded as kind `sketch`); it
   must leave no error, only `sorry`s, else the sketch is reported as "sketch does not
   elaborate" with Lean's error and the next of `--sketches N` is tried.  An empty sketch (a
   replay file without the theorem) is `sorry`: the whole goal is one gap.
2. Lemmas.  Each gap is one tactic step `sorry`; the goal state Lean reports before it (its
   first goal) becomes a standalone lemma whose hypotheses are the local context at that point,
   earlier `have`s included, as V2 turns each `have` into a lemma with the context as premises:

       theorem gap_1 (b : ℕ) (h₀ : 0 < b) (h₁ : 3 * b ^ 2 + 2 * b + 1 = 57) : b ≤ 4 := by

   Inaccessible names (`x✝`) become `x_hidden`; a `let` value (`x : T := v`) is dropped.
3. Subgoal search.  Each lemma is searched with the run's policy (`--policy`), the subgoal search
   (`--subgoal-search rmaxts|sample|bfs`) and the run's `--budget` per lemma.  A lemma that
   does not elaborate (its goal as Lean printed it does not read back: a `⋯` Lean put for a
   proof it omitted) is Lean's answer about that lemma, not about the problem: the gap stays
   open with that reason, the sketch's other gaps are not searched, and the next sketch is
   tried.  A subgoal cache on disk, only when asked for (`--subgoal-cache DIR`: it is part of the
   run's configuration, since a run that reuses earlier runs' lemmas depends on them), maps (the
   lemma's type as Lean printed it, the header, the toolchain identity) to a proof; it is shared
   across problems and runs, and a proof taken from it is re-verified (from scratch) before it is
   used.
4. Recomposition.  Each proved lemma's tactic proof replaces its gap's `sorry`, re-indented at
   the `sorry`'s column, so the result is one declaration.  The recomposed proof is verified
   from scratch (`search.base.reverify`).  If it fails, each gap is checked alone (the others
   left `sorry`); a lemma proof that does not transplant (a name Lean hid, a context that differs)
   is searched again in place: at a top-level `have NAME : T := by sorry` the proof before it,
   `suffices NAME : T by <the rest>`, and `exact by` are fixed and the search proves `T` there.
   That needs every other gap proved: with two or more gaps whose lemma proofs do not
   transplant, each in-place statement would still hold another gap's `sorry`, which Lean never
   proves, so none is searched (no budget spent) and the gaps stay open, saying so.  A proof
   counts only after the final `reverify`.

Budget: every verification counts (sketch checks, lemma samples, cache re-checks, transplant
checks, the final check); `samples_used` is their sum.  The gaps that stayed open are in
`SearchResult.failure` and `stats["gaps"]`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from prover.lean.syntax import LexError, first_sorry, tokenize
from prover.lean.types import (
    Checker,
    CheckResult,
    TacticStep,
    Verdict,
    sorry_probe,
)
from prover.lean.wrappers import RequestContext, bare, check_with_context, toolchain_version
from prover.policy.base import Policy, ProofTask, Sampling, derive_seed
from prover.policy.correction import Correction
from search.base import Budget, Search, SearchResult, StatementError, reverify
from search.tree import atomic_write_json, read_json

logger = logging.getLogger(__name__)

SUBGOAL_SEARCHES = ("rmaxts", "sample", "bfs")


def subgoal_classes(name: str) -> tuple[type, type]:
    """(config class, search class) of a subgoal search (imported here, not through `search`,
    whose `get_search` imports this module)."""
    if name == "sample":
        from search.sampling import SamplingConfig, SamplingSearch

        return SamplingConfig, SamplingSearch
    if name == "bfs":
        from search.bfs import BestFirstSearch, BFSConfig

        return BFSConfig, BestFirstSearch
    from search.rmaxts import RMaxTS, RMaxTSConfig

    return RMaxTSConfig, RMaxTS


@dataclass(frozen=True)
class DecomposeConfig:
    """Decomposition's knobs; each field's metadata `help` is its command-line help
    (`prover.commands.options`: `--sketch-policy`, `--sketches`, `--subgoal-search`, ...)."""

    sketch_policy: str | None = field(
        default=None,
        metadata={
            "help": "policy spec that writes the sketches (a proof with `sorry` gaps), e.g. "
            "replay:sketches.jsonl or vllm:MODEL; required with --search decompose"
        },
    )
    sketches: int = field(default=1, metadata={"help": "sketches tried per problem"})
    subgoal_search: Literal["rmaxts", "sample", "bfs"] = field(
        default="rmaxts",
        metadata={"help": "the search that proves each gap's lemma (with --policy and --budget)"},
    )
    subgoal_cache: str | None = field(
        default=None,
        metadata={
            "help": "folder of a subgoal cache shared across problems and runs (proved lemmas, "
            "re-verified on reuse); default: no cache, so a run's results do not depend on "
            "earlier runs; a run with a cache records its folder in its configuration"
        },
    )
    sampling: Sampling = field(default=Sampling(), metadata={"help": "sampling knobs"})
    correction: Correction = field(
        default=Correction(),
        metadata={"help": "self-correction of the lemma attempts (--subgoal-search sample)"},
    )
    subgoal_config: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "cli": False,
            "help": "fields of the subgoal search's config: its own options (--concurrency ...)",
        },
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "sampling", Sampling.coerce(self.sampling, Sampling()))
        object.__setattr__(self, "correction", Correction.coerce(self.correction))
        if self.subgoal_cache in ("", "off"):  # spelled-out "no cache": the default
            object.__setattr__(self, "subgoal_cache", None)
        if self.sketches < 1:
            raise ValueError(f"sketches must be >= 1, got {self.sketches}")
        if self.subgoal_search not in SUBGOAL_SEARCHES:
            raise ValueError(
                f"subgoal_search must be one of {', '.join(SUBGOAL_SEARCHES)}, "
                f"got {self.subgoal_search!r}"
            )
        if self.sketch_policy:
            from prover.errors import UsageError
            from prover.policy import parse_spec

            try:
                parse_spec(self.sketch_policy)
            except UsageError as exc:
                raise ValueError(f"sketch_policy: {exc}") from None
        subgoal_classes(self.subgoal_search)[0](**self.subgoal_config)  # ValueError if bad
        if self.correction.fix_rounds and self.subgoal_search != "sample":
            raise ValueError(
                "self-correction of lemma attempts needs subgoal_search 'sample' "
                f"(got {self.subgoal_search!r})"
            )

    def cache_dir(self) -> Path | None:
        """The subgoal cache's folder; None: no cache (the default)."""
        return Path(self.subgoal_cache) if self.subgoal_cache else None


# ------------------------------------------------------------------------------------------------
# Gaps and lemmas


@dataclass(frozen=True)
class Hyp:
    names: tuple[str, ...]
    type: str


@dataclass
class Gap:
    """One `sorry` of a sketch: its span in the sketch, the goal Lean reported there, and what
    became of it."""

    index: int  # 1-based
    start: int
    end: int
    line: int  # 1-based line in the sketch
    column: int  # code-point column of the `sorry`
    goal: str  # the first goal before the `sorry`, as Lean printed it
    lemma: str = ""  # the lemma statement, ending with `:= by`
    proof: str = ""  # the lemma's tactic proof (what follows `:= by`)
    source: str = ""  # "search" | "cache" | "in-place" once proved
    samples: int = 0
    open_reason: str = ""

    def report(self) -> dict[str, Any]:
        out = asdict(self)
        out["proved"] = bool(self.proof)
        return out


_HIDDEN = re.compile(r"([^\s()\[\]{}:,]+)✝([⁰¹²³⁴⁵⁶⁷⁸⁹]*)")
_SUPER = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")


def _unhide(text: str) -> str:
    """`x✝` -> `x_hidden`, `x✝¹` -> `x_hidden1`: inaccessible names made nameable."""
    return _HIDDEN.sub(lambda m: f"{m.group(1)}_hidden{m.group(2).translate(_SUPER)}", text)


def first_goal(goals: str) -> tuple[list[Hyp], str]:
    """(hypotheses, target) of the first goal of a pretty-printed goal list (`case` lines
    skipped; a continuation line, indented, belongs to the entry above it)."""
    entries: list[str] = []
    target: str | None = None
    for line in goals.split("\n"):
        if target is not None:
            if line.startswith((" ", "\t")):
                target += "\n" + line
                continue
            break  # the next goal
        if not line.strip() or (line.startswith("case ") and not entries):
            continue
        if line.startswith("⊢"):
            target = line[1:].strip()
        elif line.startswith((" ", "\t")) and entries:
            entries[-1] += "\n" + line
        else:
            entries.append(line)
    if target is None:
        raise ValueError(f"no goal in {goals!r}")
    hyps = []
    for e in entries:
        names, sep, typ = e.partition(" : ")
        if not sep:
            raise ValueError(f"cannot read hypothesis {e!r}")
        let = _top_level_assign(typ)
        hyps.append(Hyp(tuple(names.split()), typ[:let].rstrip() if let is not None else typ))
    return hyps, target


def _top_level_assign(typ: str) -> int | None:
    """Offset of a `let` value's ` := ` outside brackets, else None."""
    depth = 0
    for i, ch in enumerate(typ):
        if ch in "([{⟨":
            depth += 1
        elif ch in ")]}⟩":
            depth -= 1
        elif depth == 0 and typ.startswith(" := ", i):
            return i
    return None


def lemma_statement(name: str, hyps: list[Hyp], target: str) -> str:
    """`theorem NAME (h : T) ... : TARGET := by`, inaccessible names renamed."""
    binders = " ".join(f"({' '.join(h.names)} : {h.type})" for h in hyps)
    text = f"theorem {name} {binders} : {target} := by".replace("  ", " ")
    return _unhide(text).replace("\n", "\n    ")


def lemma_type(statement: str) -> str:
    """The lemma's statement without `theorem NAME` and `:= by`: its cache key's type."""
    return statement.split(" ", 2)[2].removesuffix(":= by").strip()


def reindent(proof: str, column: int) -> str:
    """A tactic proof (what follows `:= by`) written at `column`: its first tactic goes where
    the `sorry` was, the other lines keep their indentation relative to the first."""
    lines = proof.strip("\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return "sorry"
    base = len(lines[0]) - len(lines[0].lstrip(" "))
    out = [lines[0][base:]]
    for line in lines[1:]:
        cut = min(base, len(line) - len(line.lstrip(" ")))
        out.append(" " * column + line[cut:] if line.strip() else "")
    return "\n".join(out)


def find_gaps(sketch: str, steps: list[TacticStep]) -> list[Gap]:
    """The gaps of an elaborated sketch: each `sorry` token with the tactic step Lean ran there.
    ValueError naming the problem for a `sorry` that is not one tactic on one goal."""
    try:
        sorries = [t for t in tokenize(sketch) if t.kind == "ident" and t.name == "sorry"]
    except LexError as exc:
        raise ValueError(f"sketch does not lex: {exc}") from None
    by_span: dict[tuple[int, int], list[TacticStep]] = {}
    for s in steps:
        if s.text.strip() == "sorry":
            by_span.setdefault((s.start, s.end), []).append(s)
    gaps = []
    for k, tok in enumerate(sorries, 1):
        line = sketch.count("\n", 0, tok.offset) + 1
        column = tok.offset - (sketch.rfind("\n", 0, tok.offset) + 1)
        found = by_span.get((tok.offset, tok.end), [])
        if not found:
            raise ValueError(f"gap {k} (line {line}) is not a tactic `sorry`; write `by sorry`")
        if len(found) > 1:
            raise ValueError(f"gap {k} (line {line}) runs on {len(found)} goals; give each one")
        gaps.append(Gap(k, tok.offset, tok.end, line, column, found[0].goals_before))
    return gaps


def fill(text: str, gaps: list[Gap], fills: dict[int, str], offset: int = 0) -> str:
    """`text` (the sketch from `offset` on) with the gaps in `fills` replaced by their proofs,
    re-indented at the gap's column."""
    out, pos = [], 0
    for g in gaps:
        a, b = g.start - offset, g.end - offset
        if a < 0 or b > len(text) or g.index not in fills:
            continue
        out += [text[pos:a], reindent(fills[g.index], g.column)]
        pos = b
    return "".join(out) + text[pos:]


_HAVE = re.compile(r"^have\s+(?:([^\s:]+)\s*)?:\s*(.*?)\s*:=\s*by\s+sorry$", re.DOTALL)


def in_place_statement(
    statement: str, sketch: str, gaps: list[Gap], gap: Gap, steps: list[TacticStep], fills: dict
) -> str | None:
    """The theorem with the sketch fixed around `gap` so that the gap's goal is the last one
    (`... suffices h : T by <rest>` then `exact by`), every other gap filled from `fills`; None
    unless the gap is a top-level `have NAME : T := by sorry` or a top-level `sorry`, and None
    when another gap has no fill (its `sorry` would stay in the statement: Lean never proves
    it)."""
    if any(g.index != gap.index and g.index not in fills for g in gaps):
        return None
    outer = [s for s in steps if s.depth == 1 and s.start <= gap.start and gap.end <= s.end]
    if not outer:
        return None
    step = min(outer, key=lambda s: s.end - s.start)
    pre = fill(sketch[: step.start], gaps, fills)
    rest = fill(sketch[step.end :], gaps, fills, offset=step.end)
    lines = pre.split("\n")
    indent = min((len(x) - len(x.lstrip(" ")) for x in lines[1:] if x.strip()), default=2)
    # the fixed part one column left of the searched proof's column (2), so `exact by` takes it
    shift = max(indent - 1, 0)
    pre = "\n".join([lines[0]] + [x[min(shift, len(x) - len(x.lstrip(" "))) :] for x in lines[1:]])
    if step.text.strip() == "sorry":
        if rest.strip():
            return None
        return f"{statement.rstrip()}{pre.rstrip(' ')}{' ' * (indent - shift)}exact by"
    m = _HAVE.match(step.text.strip())
    if m is None:
        return None
    name, typ = m.group(1) or "this", m.group(2)
    head = f"{' ' * (indent - shift)}suffices {name} : {typ} by"
    body = rest.rstrip()
    if not body.strip():
        body = "\n" + " " * (indent + 1) + "exact " + name
    return f"{statement.rstrip()}{pre.rstrip(' ')}{head}{body}\n{' ' * (indent - shift)}exact by"


# ------------------------------------------------------------------------------------------------
# The subgoal cache


class SubgoalCache:
    """Proved lemmas on disk, one JSON file per key: sha256 of (the lemma's type as Lean printed
    it, the header, the toolchain identity).  Safe across processes (atomic writes)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def key(type_: str, header: str | None, toolchain: str) -> str:
        payload = json.dumps([type_, header or "", toolchain], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        path = self._path(key)
        try:
            entry = read_json(path)
        except (OSError, ValueError):
            return None
        proof = entry.get("proof") if isinstance(entry, dict) else None
        return proof if isinstance(proof, str) else None

    def put(self, key: str, type_: str, proof: str, problem: str) -> None:
        atomic_write_json(self._path(key), {"type": type_, "proof": proof, "problem": problem})

    def drop(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------
# The search


class DecomposeSearch:
    name = "decompose"

    def __init__(self, config: DecomposeConfig | None = None, **overrides: object) -> None:
        if config is not None and overrides:
            raise ValueError("pass either a DecomposeConfig or keyword overrides, not both")
        self.config = config or DecomposeConfig(**overrides)  # type: ignore[arg-type]
        self._sketcher: Policy | None = None
        # workers solving problems in parallel share the search: one loads the sketch policy
        self._sketcher_lock = threading.Lock()

    def subgoal_search(self) -> Search:
        cfg = self.config
        extra: dict[str, Any] = {**cfg.subgoal_config, "sampling": cfg.sampling}
        if cfg.subgoal_search == "sample":
            extra["correction"] = cfg.correction
        config_cls, search_cls = subgoal_classes(cfg.subgoal_search)
        search: Search = search_cls(config_cls(**extra))
        return search

    def sketcher(self, lean_backend: str) -> Policy:
        """The sketch policy, loaded by the first caller (the others wait for it)."""
        with self._sketcher_lock:
            if self._sketcher is None:
                from prover.errors import UsageError
                from prover.policy import load_policy

                if not self.config.sketch_policy:
                    raise UsageError("--search decompose needs --sketch-policy SPEC")
                self._sketcher = load_policy(self.config.sketch_policy, lean_backend=lean_backend)
            return self._sketcher

    def close(self) -> None:
        with self._sketcher_lock:
            if self._sketcher is not None:
                self._sketcher.close()
                self._sketcher = None

    def run(
        self,
        task: ProofTask,
        policy: Policy,
        checker: Checker,
        budget: Budget,
        seed: int = 0,
        checkpoint_dir: Path | None = None,  # the lemma searches keep no checkpoints
    ) -> SearchResult:
        cfg = self.config
        t0 = time.perf_counter()
        state = _Run(self, task, policy, checker, budget, seed)
        sketcher = self.sketcher(bare(checker).name)
        failures: list[str] = []
        for i in range(cfg.sketches):
            params = cfg.sampling.params(n=1, seed=derive_seed("sketch", seed, i))
            ((comp, *_),) = sketcher.generate([replace(task, run=i)], params)
            # no sketch (e.g. a replay file without the theorem): the whole goal is one gap
            sketch = comp.text.rstrip(" \n") or sorry_probe(task.formal_statement)
            proof, why = state.attempt(i, sketch, comp.prompt, comp.text)
            if proof is not None:
                wall = time.perf_counter() - t0
                return SearchResult(
                    solved=True,
                    proof=proof,
                    samples_used=state.used,
                    found_at=state.used,
                    run_index=i,
                    wall_s=wall,
                    verifier_s=state.ver_s,
                    stats=state.stats(wall),
                )
            failures.append(f"sketch {i + 1}: {why}")
        wall = time.perf_counter() - t0
        return SearchResult(
            solved=False,
            samples_used=state.used,
            wall_s=wall,
            verifier_s=state.ver_s,
            best_partial=state.best_partial,
            failure="; ".join(failures),
            stats=state.stats(wall),
        )


class _Run:
    """One problem's decomposition: the counters and the steps of the module docstring."""

    def __init__(
        self,
        owner: DecomposeSearch,
        task: ProofTask,
        policy: Policy,
        checker: Checker,
        budget: Budget,
        seed: int,
    ) -> None:
        self.cfg = owner.config
        self.search = owner.subgoal_search()
        self.task, self.policy, self.checker = task, policy, checker
        self.budget, self.seed = budget, seed
        root = self.cfg.cache_dir()
        self.cache = SubgoalCache(root) if root is not None else None
        self.toolchain = toolchain_version(bare(checker))
        self.used = 0
        self.ver_s = 0.0
        self.best_partial = ""
        self.cache_hits = 0
        self.cache_reverified = 0
        self.sketches: list[dict[str, Any]] = []

    def check(self, statement: str, proof: str, ctx: RequestContext, steps: bool) -> CheckResult:
        req = self.task.request(
            proof, f"{ctx.problem_id}:{ctx.kind}:{self.used}", statement=statement, want_steps=steps
        )
        v0 = time.perf_counter()
        (res,) = check_with_context(self.checker, [req], [ctx])
        self.ver_s += time.perf_counter() - v0
        self.used += 1
        return res

    def attempt(self, i: int, sketch: str, prompt: str, text: str) -> tuple[str | None, str]:
        """(a re-verified proof, "") or (None, why) for one sketch."""
        task = self.task
        info: dict[str, Any] = {"sketch": sketch, "gaps": []}
        self.sketches.append(info)
        ctx = RequestContext(task.name, prompt, text, sample_index=self.used, kind="sketch")
        res = self.check(task.formal_statement, sketch, ctx, steps=True)
        errors = [m for m in res.messages if m.severity == "error"]
        if res.verdict is Verdict.PROVED and first_sorry(sketch) is None:  # no gap at all
            return self.final(sketch, info)
        if res.verdict is not Verdict.INCOMPLETE or errors or res.steps is None:
            err = errors[0].text if errors else (res.reason or res.verdict.value)
            info["error"] = why = f"sketch does not elaborate: {err}"
            return None, why
        try:
            gaps = find_gaps(sketch, res.steps)
            for g in gaps:
                hyps, target = first_goal(g.goal)
                g.lemma = lemma_statement(f"gap_{g.index}", hyps, target)
        except ValueError as exc:
            info["error"] = why = f"sketch not decomposable: {exc}"
            return None, why
        if not gaps:
            info["error"] = why = "sketch has no gap and is not a proof"
            return None, why
        for k, g in enumerate(gaps):
            if not self.prove_gap(i, g):  # its lemma does not elaborate: the sketch is lost
                for later in gaps[k + 1 :]:
                    later.open_reason = f"not searched: gap {g.index}'s lemma does not elaborate"
                break
        info["gaps"] = [g.report() for g in gaps]
        open_ = [g for g in gaps if not g.proof]
        self.best_partial = self.best_partial or fill(
            sketch, gaps, {g.index: g.proof for g in gaps if g.proof}
        )
        if open_:
            info["error"] = why = "gaps stayed open: " + "; ".join(
                f"gap {g.index} (line {g.line}, ⊢ {g.goal.split('⊢')[-1].strip()}): {g.open_reason}"
                for g in open_
            )
            return None, why
        return self.recompose(sketch, gaps, res.steps, info)

    def prove_gap(self, i: int, g: Gap) -> bool:
        """Prove `g`'s lemma (cache, else search); False iff the lemma does not elaborate."""
        task = self.task
        lemma = ProofTask(
            formal_statement=g.lemma,
            header=task.header,
            name=f"{task.name}/gap{g.index}",
            answers=task.answers,
        )
        type_ = lemma_type(g.lemma)
        key = SubgoalCache.key(type_, task.header, self.toolchain)
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            v0 = time.perf_counter()
            (again,) = reverify(self.checker, [(lemma, cached, self.used)])
            self.ver_s += time.perf_counter() - v0
            self.used += 1
            if again.verdict is Verdict.PROVED and first_sorry(cached) is None:
                g.proof, g.source = cached, "cache"
                self.cache_hits += 1
                self.cache_reverified += 1
                return True
            assert self.cache is not None
            self.cache.drop(key)  # stale (another Lean would have a new key): search again
        try:
            res = self.search.run(
                lemma,
                self.policy,
                self.checker,
                self.budget,
                seed=derive_seed("gap", self.seed, i, g.index),
            )
        except StatementError as exc:  # Lean's answer about the lemma, not about the problem
            self.used += exc.verifications
            g.samples += exc.verifications
            g.open_reason = f"its lemma does not elaborate: {exc}"
            return False
        self.used += res.samples_used
        self.ver_s += res.verifier_s
        g.samples = res.samples_used
        if res.solved:  # the subgoal search re-verified it
            g.proof, g.source = res.proof, "search"
            if self.cache is not None:
                self.cache.put(key, type_, res.proof, task.name)
        else:
            g.open_reason = res.failure or "budget exhausted"
        return True

    def recompose(
        self, sketch: str, gaps: list[Gap], steps: list[TacticStep], info: dict[str, Any]
    ) -> tuple[str | None, str]:
        fills = {g.index: g.proof for g in gaps}
        proof, why = self.final(fill(sketch, gaps, fills), info)
        if proof is not None:
            return proof, ""
        # which lemma proofs do not transplant: each gap filled alone, the others `sorry`
        task = self.task
        bad = []
        for g in gaps:
            alone = fill(sketch, gaps, {g.index: g.proof})
            ctx = RequestContext(task.name, completion=alone, sample_index=self.used, kind="sketch")
            res = self.check(task.formal_statement, alone, ctx, steps=False)
            if res.verdict is not Verdict.INCOMPLETE or any(
                m.severity == "error" for m in res.messages
            ):
                bad.append(g)
        for g in bad:
            fills.pop(g.index)
        if len(bad) > 1:  # each in-place statement would hold another gap's `sorry`
            names = ", ".join(str(g.index) for g in bad)
            for g in bad:
                g.open_reason = (
                    f"its lemma proof does not transplant, and an in-place search needs every "
                    f"other gap proved (gaps {names} do not transplant: each in-place statement "
                    "would hold another's `sorry`)"
                )
            bad = []
        for g in bad:  # searched again in place
            statement = in_place_statement(task.formal_statement, sketch, gaps, g, steps, fills)
            if statement is None:
                g.open_reason = "its lemma proof does not transplant and it is not a top-level have"
                continue
            here = ProofTask(
                formal_statement=statement,
                header=task.header,
                name=f"{task.name}/gap{g.index}",
                answers=task.answers,
            )
            try:
                found = self.search.run(
                    here,
                    self.policy,
                    self.checker,
                    self.budget,
                    seed=derive_seed("in-place", self.seed, g.index),
                )
            except StatementError as exc:
                self.used += exc.verifications
                g.samples += exc.verifications
                g.open_reason = f"does not transplant; in place: {exc}"
                continue
            self.used += found.samples_used
            self.ver_s += found.verifier_s
            g.samples += found.samples_used
            if found.solved:
                g.proof, g.source = found.proof, "in-place"
                fills[g.index] = found.proof
            else:
                g.open_reason = f"does not transplant; in place: {found.failure}"
        info["gaps"] = [x.report() for x in gaps]
        if len(fills) < len(gaps):
            open_ = [g for g in gaps if g.index not in fills]
            info["error"] = why = "gaps stayed open: " + "; ".join(
                f"gap {g.index} (line {g.line}): {g.open_reason}" for g in open_
            )
            return None, why
        return self.final(fill(sketch, gaps, fills), info)

    def final(self, proof: str, info: dict[str, Any]) -> tuple[str | None, str]:
        """The whole proof verified again from scratch (`reverify`, kind `final`)."""
        if first_sorry(proof) is not None:
            return None, "the recomposed proof still holds a sorry"
        v0 = time.perf_counter()
        (again,) = reverify(self.checker, [(self.task, proof, self.used)])
        self.ver_s += time.perf_counter() - v0
        self.used += 1
        info["recomposed"] = proof
        if again.verdict is Verdict.PROVED:
            info["proved"] = True
            return proof, ""
        err = again.first_error.text if again.first_error else (again.reason or "")
        info["error"] = why = f"recomposed proof is {again.verdict.value}: {err}"
        return None, why

    def stats(self, wall: float) -> dict[str, Any]:
        return {
            "samples": self.used,
            "verifier_s": round(self.ver_s, 4),
            "samples_per_s": self.used / wall if wall > 0 else 0.0,
            "subgoal_cache_hits": self.cache_hits,
            "subgoal_cache_reverified": self.cache_reverified,
            "sketches": self.sketches,
            "gaps": self.sketches[-1]["gaps"] if self.sketches else [],
            "config": {**asdict(self.cfg)},
        }
