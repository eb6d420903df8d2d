"""RMaxTS: the Monte-Carlo tree search of DeepSeek-Prover-V1.5 (arXiv:2408.08152, Sec. 3), after
the reference implementation `prover/algorithms/rmax_tree_search.py`, made resumable, batched
across problems, and observable.

One iteration ("expansion") of the search, top to bottom:

1. Selection (Sec. 3.2, Eq. 6).  From the root, at each node compare the "expand here" action
   (the node's own W, N) with one "descend" action per child (the child's W_sub, N_sub):

       score(a) = W_a / max(N_a, 0.01) + sqrt(2 ln(max(T, 2)) / max(N_a, 0.01))       (Eq. 6)
       T        = N_node + sum_children N_sub,child

   Ties favour "expand here", then children in insertion order.  Stop at the first node where
   "expand here" wins.
2. Virtual loss (reference `_update_value`).  With j jobs pending on an action,
       W' = W gamma^j,   N' = N gamma^j + (1 - gamma^j) / (1 - gamma)      (N + j when gamma = 1)
   so k concurrent selections spread over the tree.
3. Expansion by truncate-and-resume (Sec. 3.1).  The prompt is one of the node's verified
   (prefix, tactic-state comment) pairs, uniformly chosen; the comment (when enabled) is the one
   stored with that prefix, indented like the line of the step the prefix ends with (the
   reference's rule, `search.truncate`: after a top-level step or a whole `have … := by` block,
   the proof's top-level indentation; after a step inside a block, the block's).  One sample is
   drawn
   with the job's own seed (derived from the search seed, the run and the sample index, so the
   k jobs that all expand the root in the first round do not sample identical completions, and
   a resumed run draws the same seeds); prefix + completion is verified as a whole proof;
   `search.truncate` cuts it at the first error / `sorry` and inserts the chain of new tactic
   states under the root.  Prefixes (with their comment) are measured with the policy's
   tokenizer (`count_tokens`) when it has one, else estimated at `chars_per_token`, and longer
   than `max_prefix_tokens` never become nodes (the reference's rule).  When the policy has a
   context limit (its PromptBuilder `prompts`, `count_tokens` and `max_context_tokens`, as the
   model backends have), a segment whose whole prompt (instruction, header, statement, prefix,
   comment) plus `max_new_tokens` cannot fit never becomes a node either, and a problem whose
   root prompt cannot fit draws no sample (its failure says so).  A job whose prompt still does
   not fit (few-shot examples, chosen per sample, are not in that check; a policy that cannot
   tell beforehand) is not generated (the backend names it in PromptTooLongError.indices); it
   is a reward-0 expansion, logged and counted in the stats as `prompt_too_long`.
4. Reward (Sec. 3.3, Eq. 5, "RMax"): R_intrinsic = 1 if the expansion added at least one node,
   else 0.  With `intrinsic_reward=False` (the paper's "w/o intrinsic reward" ablation, plain UCT
   with the sparse extrinsic reward) the reward is 1 iff the sample is a complete verified proof,
   else 0 -- which, since a run stops at its first proof, means every reward before it is 0:
   the proof's own 1 is recorded last, with no selection after it to guide.  (With the intrinsic
   reward a proof that survives re-verification also gets 1, whether or not it added a node.)
5. Backup (Sec. 3.3, Eq. 7-8, discounted UCB):  W <- gamma W + r,  N <- gamma N + 1, applied to the
   expanded node's own action and to the subtree action of it and every ancestor.  gamma = 0.99;
   `discounted_ucb=False` uses gamma = 1 (plain UCB1 statistics).

Budget: `runs x samples`; each sample is one policy completion and one verification.  A run stops
at its first complete proof, which counts only after a fresh `want_steps=False` re-verification
that bypasses the result cache (`prover.lean.wrappers.uncached`); a proof that fails it adds nothing to
the tree (a reward-0 expansion) and the run goes on.  `found_at` is the 1-based global sample
index (earlier runs count their full budget).

Beyond the reference: k expansions per tree (and several trees) share one `policy.generate` call
and one `checker.check` call per round; the tree, the per-run sample counter, the RNG state and
the timing counters are checkpointed atomically every `checkpoint_every` samples, at the end of a
run, and on Ctrl-C, and `run` resumes from them.  In a one-problem run whose checker carries a
budget meter (`benchmarks.budget.MeteredChecker.meter`) the meter's counts are checkpointed too,
and restored with the tree: a resumed problem's budget goes on from the checkpoint.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from prover.lean.syntax import first_sorry
from prover.lean.types import Checker, CheckRequest, CheckResult, Verdict, sorry_probe
from prover.lean.wrappers import RequestContext, check_with_context, parallelism
from prover.policy.base import (
    Completion,
    Policy,
    ProofTask,
    Sampling,
    SamplingParams,
    derive_seed,
)
from prover.policy.prompts import PromptBuilder, PromptTooLongError
from search.base import Budget, SearchResult, StatementError, reverify
from search.tree import (
    Node,
    SearchTree,
    atomic_write_json,
    read_json,
    rng_from_json,
    rng_state_to_json,
)
from search.truncate import approx_tokens, truncate_and_resume

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "rmaxts-checkpoint/1"


@dataclass(frozen=True)
class RMaxTSConfig:
    """RMaxTS's knobs; each field's metadata `help` is its command-line help
    (`prover.commands.options`: `--concurrency`, `--no-state-comment`, `--ucb1`, ...)."""

    concurrency: int = field(
        default=32,
        metadata={"help": "expansions in flight per tree (virtual loss spreads them; Sec. 3.4)"},
    )
    gamma: float = field(
        default=0.99, metadata={"help": "discount of the discounted UCB (Eq. 7-8), in (0, 1]"}
    )
    discounted_ucb: bool = field(
        default=True,
        metadata={
            "help": "discounted UCB statistics; --ucb1 (ablation): plain UCB1 (gamma = 1)",
            "off_flag": "--ucb1",
        },
    )
    intrinsic_reward: bool = field(
        default=True,
        metadata={
            "help": "the R-max novelty reward; --no-intrinsic-reward (ablation): plain UCT with "
            "the sparse proof reward"
        },
    )
    state_comment: bool = field(
        default=True,
        metadata={
            "help": "resume from a prefix with its tactic-state comment; --no-state-comment "
            "(ablation): from the bare prefix"
        },
    )
    max_prefix_tokens: int = field(
        default=2048,
        metadata={"help": "prefixes (with their comment) longer than this never become nodes"},
    )
    chars_per_token: float = field(
        default=3.5,
        metadata={"help": "token estimate for policies that cannot count tokens (automation)"},
    )
    checkpoint_every: int = field(
        default=128, metadata={"help": "samples between tree checkpoints (with --tree-dir)"}
    )
    log_every: int = field(default=256, metadata={"help": "samples between progress log lines"})
    sampling: Sampling = field(default=Sampling(), metadata={"help": "sampling knobs"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "sampling", Sampling.coerce(self.sampling, Sampling()))
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.max_prefix_tokens < 1:
            raise ValueError(f"max_prefix_tokens must be >= 1, got {self.max_prefix_tokens}")
        if self.chars_per_token <= 0:
            raise ValueError(f"chars_per_token must be > 0, got {self.chars_per_token}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if self.log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {self.log_every}")

    @property
    def effective_gamma(self) -> float:
        return self.gamma if self.discounted_ucb else 1.0


def task_slug(task: ProofTask) -> str:
    digest = hashlib.sha1(
        ((task.header or "") + task.formal_statement).encode("utf-8")
    ).hexdigest()[:10]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", task.name)[:60] if task.name else "task"
    return f"{name}-{digest}"


def root_goal_of(task: ProofTask, checker: Checker) -> str:
    """Check `statement + sorry` elaborates; return its goal.  StatementError (a ValueError) if
    it does not."""
    req = task.request(sorry_probe(task.formal_statement), f"{task.name}:sorry", want_steps=True)
    (res,) = checker.check([req])
    return _root_goal_from(task, res)


def _complete(j: _Job) -> bool:
    return (
        j.result is not None and j.result.verdict is Verdict.PROVED and first_sorry(j.proof) is None
    )


def _root_goal_from(task: ProofTask, res: CheckResult) -> str:
    if res.verdict is not Verdict.INCOMPLETE:
        why = res.first_error.text if res.first_error else (res.reason or "no message")
        raise StatementError(
            f"statement {task.name or task.formal_statement[:80]!r} does not elaborate with "
            f"`sorry` (verdict {res.verdict}): {why}",
            verifications=1,
        )
    if res.initial_goals:
        return res.initial_goals
    if res.steps:
        return res.steps[0].goals_before
    return ""


@dataclass
class _Job:
    problem: _Problem
    node: Node
    prefix: str
    task: ProofTask
    index: int = 0  # 0-based global sample index of this expansion
    completion: Completion | None = None
    proof: str = ""
    result: CheckResult | None = None
    # not sent to Lean: an earlier job of the same problem in this round was proved (the round
    # stops paying for work once the answer is known)
    skipped: bool = False


@dataclass
class _Problem:
    """The state of one problem: its current run's tree and counters (all checkpointed)."""

    task: ProofTask
    seed: int
    runs: int
    samples: int
    path: Path | None
    run_index: int = 0
    count: int = 0  # samples used in the current run
    samples_before: int = 0  # samples used by earlier runs
    tree: SearchTree | None = None
    rng: random.Random = field(default_factory=random.Random)
    root_goal: str = ""
    done: bool = False
    solved: bool = False
    proof: str = ""
    found_at: int | None = None
    last_error: str = ""
    best_partial: str = ""
    generated: int = 0  # completions drawn, including those discarded after a proof
    prompt_too_long: int = 0  # expansions whose prompt did not fit in the model's context
    gen_s: float = 0.0
    verifier_s: float = 0.0
    wall_base: float = 0.0  # wall time of earlier sessions (restored from a checkpoint)
    t_start: float = field(default_factory=time.perf_counter)
    t_end: float | None = None
    last_ckpt: int = 0
    # the budget meter of a one-problem run (`benchmarks.budget.Meter`, reached as the
    # checker's `meter`): its counts are stored with each checkpoint and restored with it
    ledger: Any = None
    # whether an expansion's whole prompt can fit the model's context (`RMaxTS._prompt_fits`)
    fits: Callable[[ProofTask], bool] | None = None

    @property
    def wall_s(self) -> float:
        end = self.t_end if self.t_end is not None else time.perf_counter()
        return self.wall_base + end - self.t_start

    def finish(self) -> None:
        self.done = True
        self.t_end = time.perf_counter()

    def new_run(self, gamma: float) -> None:
        self.tree = SearchTree(self.root_goal, gamma=gamma)
        self.rng = random.Random(f"rmaxts:{self.seed}:{self.run_index}")
        self.count = 0
        self.last_ckpt = 0

    @property
    def global_count(self) -> int:
        return self.samples_before + self.count

    def ckpt_file(self, run_index: int) -> Path | None:
        return (
            None
            if self.path is None
            else self.path.with_name(f"{self.path.name}.run{run_index}.json")
        )


class RMaxTS:
    """`Search` implementation.  `run` searches one problem; `run_many` several problems whose
    expansions share policy and checker batches."""

    name = "rmaxts"

    def __init__(self, config: RMaxTSConfig | None = None, **overrides: Any) -> None:
        self.config = config or RMaxTSConfig(**overrides)
        if config is not None and overrides:
            raise ValueError("pass either an RMaxTSConfig or keyword overrides, not both")

    def _approx_tokens(self, text: str) -> int:
        return approx_tokens(text, self.config.chars_per_token)

    def _root_fits(self, p: _Problem) -> bool:
        """Whether a prompt from the root of `p`'s tree can fit the model's context."""
        if p.fits is None or p.tree is None:
            return True
        return p.fits(self._job_task(p, "", p.tree.root.goal, ""))

    # ---- public API ----

    def close(self) -> None:
        """Nothing to release: the policy and the checker belong to the caller."""

    def run(
        self,
        task: ProofTask,
        policy: Policy,
        checker: Checker,
        budget: Budget,
        seed: int = 0,
        checkpoint_dir: Path | None = None,
    ) -> SearchResult:
        return self.run_many([task], policy, checker, budget, seed, checkpoint_dir)[0]

    def run_many(
        self,
        tasks: Sequence[ProofTask],
        policy: Policy,
        checker: Checker,
        budget: Budget,
        seed: int = 0,
        checkpoint_dir: Path | None = None,
    ) -> list[SearchResult]:
        cfg = self.config
        problems = [
            _Problem(
                task=t,
                seed=seed,
                runs=budget.runs,
                samples=budget.samples,
                path=None
                if checkpoint_dir is None
                else Path(checkpoint_dir) / f"rmaxts-{task_slug(t)}",
            )
            for t in tasks
        ]
        meter = getattr(checker, "meter", None)
        if len(problems) == 1 and callable(getattr(meter, "restore", None)):
            problems[0].ledger = meter  # the checker's meter counts this problem alone
        fresh = [p for p in problems if not self._restore(p)]
        if fresh:  # one batched `sorry` probe for every problem not restored from a checkpoint
            reqs = [
                p.task.request(
                    sorry_probe(p.task.formal_statement), f"{p.task.name}:sorry", want_steps=True
                )
                for p in fresh
            ]
            ctxs = [RequestContext(p.task.name, kind="precheck") for p in fresh]
            v0 = time.perf_counter()
            results = check_with_context(checker, reqs, ctxs)
            dv = time.perf_counter() - v0
            for p, res in zip(fresh, results, strict=True):
                p.root_goal = _root_goal_from(p.task, res)
                p.verifier_s += dv / len(fresh)
                p.new_run(cfg.effective_gamma)

        count_tokens = getattr(policy, "count_tokens", None) or self._approx_tokens
        fits = self._prompt_fits(policy)
        for p in problems:
            p.fits = fits
            if not p.done and not self._root_fits(p):
                p.last_error = (
                    f"the prompt does not fit in the model's context (with max_new_tokens="
                    f"{cfg.sampling.max_new_tokens}) even with no proof prefix: no sample drawn"
                )
                p.finish()
        while True:
            active = [p for p in problems if not p.done]
            if not active:
                break
            self._round(active, policy, checker, count_tokens)
            for p in active:
                self._after_round(p)
        return [self._result(p) for p in problems]

    # ---- one round: select, generate (one call), verify (one call), absorb ----

    def _round(
        self,
        problems: list[_Problem],
        policy: Policy,
        checker: Checker,
        count_tokens: Callable[[str], int],
    ) -> None:
        cfg = self.config
        jobs: list[_Job] = []
        snapshots = {id(p): p.rng.getstate() for p in problems}
        for p in problems:
            assert p.tree is not None
            for k in range(min(cfg.concurrency, p.samples - p.count)):
                node = p.tree.select()
                prefix, comment = p.tree.pick_code(node, p.rng)
                seed = derive_seed("rmaxts", p.seed, p.run_index, p.count + k)
                task = self._job_task(p, prefix, node.goal, comment, seed)
                jobs.append(_Job(p, node, prefix, task, p.global_count + k))
        params = cfg.sampling.params(n=1)
        try:
            g0 = time.perf_counter()
            generated = self._generate(jobs, policy, params)
            dg = time.perf_counter() - g0
            requests = []
            ctxs: list[RequestContext] = []
            for j in generated:
                assert j.completion is not None
                j.proof = (j.prefix + j.completion.text).rstrip(" \n")
                requests.append(
                    j.task.request(j.proof, f"{j.task.name}:{j.index}", want_steps=True)
                )
                # an expansion is a whole-proof sample continuing a verified prefix (Sec. 3.1)
                ctxs.append(
                    RequestContext(
                        j.task.name,
                        j.completion.prompt,
                        j.completion.text,
                        j.prefix,
                        sampling=replace(params, seed=j.task.seed),  # the job's own seed
                        sample_index=j.index,
                    )
                )
            v0 = time.perf_counter()
            results = self._verify_until_proved(checker, generated, requests, ctxs)
            dv = time.perf_counter() - v0
            for j, res in zip(generated, results, strict=True):
                j.result = res
                j.skipped = res is None
            survivors = self._reverify([j for j in generated if _complete(j)], checker)
        except BaseException:
            # Nothing of this round counts: undo the virtual losses and rewind the RNG so a
            # checkpoint written now (Ctrl-C) resumes exactly where the last round ended.
            for j in jobs:
                assert j.problem.tree is not None
                j.problem.tree.complete_job(j.node)
            for p in problems:
                p.rng.setstate(snapshots[id(p)])
                self._save(p)
            raise
        for j in jobs:
            j.problem.gen_s += dg / len(jobs)
            j.problem.verifier_s += dv / len(jobs)
        for j in generated:
            j.problem.generated += 1
        absorbed = 0
        try:
            for p in problems:
                self._absorb(p, [j for j in jobs if j.problem is p], survivors, count_tokens)
                absorbed += 1
        finally:
            # `_absorb` undoes its own problem's virtual losses even when it raises; the jobs of
            # the problems after it were never absorbed: undo theirs too
            for p in problems[absorbed + 1 :]:
                for j in jobs:
                    if j.problem is p:
                        assert p.tree is not None
                        p.tree.complete_job(j.node)

    def _job_task(
        self, p: _Problem, prefix: str, goal: str, comment: str, seed: int | None = None
    ) -> ProofTask:
        """The task of an expansion resuming from `prefix` (at a node whose goal is `goal`,
        with its stored `comment`)."""
        on = self.config.state_comment
        return ProofTask(
            formal_statement=p.task.formal_statement,
            header=p.task.header,
            informal_prefix=p.task.informal_prefix,
            prefix=prefix,
            goals=goal if on else "",
            name=p.task.name,
            comment=comment if on else "",
            seed=seed,
            run=p.run_index,
            answers=p.task.answers,
        )

    def _prompt_fits(self, policy: Policy) -> Callable[[ProofTask], bool] | None:
        """Whether an expansion's whole prompt, plus the tokens it may generate, can fit in the
        model's context, as the policy judges it (`check_token_budget` with its PromptBuilder
        `prompts`, its `count_tokens` and its `max_context_tokens`); None when the policy has
        no such limit.  Few-shot examples, chosen per sample, are left out: a prompt that does
        not fit without them never fits."""
        builder = getattr(policy, "prompts", None)
        count = getattr(policy, "count_tokens", None)
        limit = getattr(policy, "max_context_tokens", None) or getattr(
            getattr(policy, "config", None), "max_context_tokens", None
        )
        if not isinstance(builder, PromptBuilder) or not callable(count):
            return None
        if not isinstance(limit, int) or isinstance(limit, bool):
            return None
        if builder.config.few_shot:
            builder = replace(builder, config=replace(builder.config, few_shot=0), examples=[])
        new_tokens = self.config.sampling.max_new_tokens

        def fits(task: ProofTask) -> bool:
            return int(count(builder.build(task).text)) + new_tokens <= limit

        return fits

    @staticmethod
    def _verify_until_proved(
        checker: Checker,
        jobs: list[_Job],
        requests: list[CheckRequest],
        ctxs: list[RequestContext],
    ) -> list[CheckResult | None]:
        """Lean's results for the round's jobs, in order, in chunks of the checker's parallelism;
        once a job of a problem is proved, that problem's later jobs are not sent (None): the run
        stops at its first proof, so they could only be discarded (`_absorb`)."""
        results: list[CheckResult | None] = [None] * len(jobs)
        chunk = parallelism(checker)
        proved: set[int] = set()
        todo = list(range(len(jobs)))
        while todo:
            todo = [k for k in todo if id(jobs[k].problem) not in proved]
            batch, todo = todo[:chunk], todo[chunk:]
            if not batch:
                break
            got = check_with_context(
                checker, [requests[k] for k in batch], [ctxs[k] for k in batch]
            )
            for k, res in zip(batch, got, strict=True):
                results[k] = jobs[k].result = res
                if _complete(jobs[k]):
                    proved.add(id(jobs[k].problem))
        return results

    def _generate(self, jobs: list[_Job], policy: Policy, params: SamplingParams) -> list[_Job]:
        """One completion per job (one `policy.generate` call); the jobs that got one.  Jobs
        whose prompt does not fit in the model's context are left out and the call is repeated
        for the rest, so one long prefix cannot stop the other jobs and trees of the batch."""
        live = list(jobs)
        while live:
            try:
                outs = policy.generate([j.task for j in live], params)
            except PromptTooLongError as e:
                if not e.indices:
                    raise
                logger.warning(
                    "rmaxts: %d prompt(s) too long, expanded with reward 0: %s", len(e.indices), e
                )
                too_long = set(e.indices)
                live = [j for i, j in enumerate(live) if i not in too_long]
                continue
            if len(outs) != len(live):
                raise RuntimeError(f"policy returned {len(outs)} results for {len(live)} tasks")
            for j, out in zip(live, outs, strict=True):
                j.completion = out[0] if out else Completion(text="")
            break
        return live

    def _absorb(
        self,
        p: _Problem,
        jobs: list[_Job],
        survivors: set[int],
        count_tokens: Callable[[str], int],
    ) -> None:
        """Grow the tree with one round's jobs of `p`, in order, and back their rewards up; stop
        at the first proof that survived re-verification.  Every job's virtual loss is undone
        whatever happens: after its own update, for the jobs discarded after a proof, and for
        the rest when an exception escapes (so a checkpoint written then has nothing pending)."""
        tree = p.tree
        assert tree is not None
        started = 0  # jobs[:started] undo their own virtual loss (the inner `finally`)
        try:
            for j in jobs:
                started += 1
                try:
                    if self._absorb_one(p, tree, j, survivors, count_tokens):
                        return  # a proof: the run stops, the later jobs are discarded
                finally:
                    tree.complete_job(j.node)
        finally:
            for rest in jobs[started:]:
                tree.complete_job(rest.node)

    def _absorb_one(
        self,
        p: _Problem,
        tree: SearchTree,
        j: _Job,
        survivors: set[int],
        count_tokens: Callable[[str], int],
    ) -> bool:
        """One job's expansion and reward (Eq. 5, 7-8), without its virtual loss; True iff it is
        the proof that ends the run."""
        cfg = self.config
        p.count += 1
        if j.skipped:  # generated, not verified (an earlier job's proof did not survive)
            tree.update_reward(j.node, 0.0)
            return False
        if j.result is None:  # the prompt did not fit in the context: nothing was sampled
            p.prompt_too_long += 1
            tree.update_reward(j.node, 0.0)  # Eq. 7-8 with r = 0
            return False
        res = j.result
        if _complete(j) and id(j) not in survivors:
            # the first check said "proved" but the fresh re-check did not: that verdict is
            # contradicted, so nothing of it enters the tree (in particular no "no goals" node
            # that later rounds could select); a reward-0 expansion, and the search goes on
            p.last_error = "a proof failed its fresh re-verification"
            tree.update_reward(j.node, 0.0)
            return False
        size_before = len(tree)
        fits = p.fits
        segments = truncate_and_resume(
            j.proof,
            res,
            p.root_goal,
            with_state_comment=cfg.state_comment,
            max_tokens=cfg.max_prefix_tokens,
            count_tokens=count_tokens,
            fits=None
            if fits is None
            else lambda prefix, goal, comment: fits(self._job_task(p, prefix, goal, comment)),
        )
        path = tree.insert(segments, with_state_comment=cfg.state_comment)
        if path and len(path[-1].codes[0][0]) > len(p.best_partial):
            p.best_partial = path[-1].codes[0][0]
        if res.first_error is not None:
            p.last_error = res.first_error.text
        if id(j) in survivors:
            tree.update_reward(j.node, 1.0)  # a proof is new (R-max) or extrinsic reward
            tree.proof = j.proof
            tree.proof_path = [0] + [n.id for n in path]
            p.solved, p.proof, p.found_at = True, j.proof, p.global_count
            p.finish()
            logger.info(
                "rmaxts %s: proof found at sample %d (run %d), tree %d nodes",
                p.task.name,
                p.found_at,
                p.run_index,
                len(tree),
            )
            return True
        # Eq. 5 (R-max): 1 iff the expansion added a node; without the intrinsic reward the
        # sparse extrinsic reward is 0 here (this sample is not a proof).
        added = len(tree) > size_before
        reward = 1.0 if (cfg.intrinsic_reward and added) else 0.0
        tree.update_reward(j.node, reward)  # Eq. 7-8
        if p.count % cfg.log_every == 0:
            self._log_progress(p)
        return False

    def _reverify(self, jobs: list[_Job], checker: Checker) -> set[int]:
        """Re-check complete proofs from scratch (no tactic-state instrumentation, one batch);
        the ids of the jobs whose proof survives."""
        if not jobs:
            return set()
        v0 = time.perf_counter()
        results = reverify(checker, [(j.task, j.proof, j.index) for j in jobs])
        dv = time.perf_counter() - v0
        ok = set()
        for j, res in zip(jobs, results, strict=True):
            j.problem.verifier_s += dv / len(jobs)
            if res.verdict is Verdict.PROVED:
                ok.add(id(j))
            else:
                logger.warning(
                    "rmaxts %s: proof did not survive fresh re-verification (%s)",
                    j.task.name,
                    res.verdict,
                )
        return ok

    def _after_round(self, p: _Problem) -> None:
        if p.done:
            self._save(p)
            return
        if p.count >= p.samples:
            self._save(p, finished=True)
            logger.info(
                "rmaxts %s: run %d exhausted %d samples, tree %d nodes",
                p.task.name,
                p.run_index,
                p.samples,
                len(p.tree or ()),
            )
            self._next_run(p)
            return
        if p.count - p.last_ckpt >= self.config.checkpoint_every:
            self._save(p)

    def _next_run(self, p: _Problem) -> None:
        if p.run_index + 1 >= p.runs:
            p.finish()  # keep the last tree, run_index and count for the stats
            return
        p.samples_before += p.count
        p.run_index += 1
        p.new_run(self.config.effective_gamma)

    # ---- observability ----

    def _stats(self, p: _Problem) -> dict[str, Any]:
        tree = p.tree
        total = p.gen_s + p.verifier_s
        out: dict[str, Any] = {
            "run_index": p.run_index,
            "samples_in_run": p.count,
            "samples_generated": p.generated,
            "prompt_too_long": p.prompt_too_long,
            "expansions_per_s": p.global_count / p.wall_s if p.wall_s > 0 else 0.0,
            "generator_s": round(p.gen_s, 4),
            "verifier_s": round(p.verifier_s, 4),
            "verifier_share": p.verifier_s / total if total > 0 else 0.0,
            "config": asdict(self.config),
        }
        if tree is not None:
            out.update(tree.summary())
        return out

    def _log_progress(self, p: _Problem) -> None:
        s = self._stats(p)
        logger.info(
            "rmaxts %s: run %d sample %d/%d, %d nodes, depth %d, verifier share %.0f%%",
            p.task.name,
            p.run_index,
            p.count,
            p.samples,
            s.get("nodes", 0),
            s.get("max_depth", 0),
            100 * s["verifier_share"],
        )

    def _result(self, p: _Problem) -> SearchResult:
        return SearchResult(
            solved=p.solved,
            proof=p.proof,
            samples_used=p.found_at if p.solved and p.found_at else p.global_count,
            found_at=p.found_at,
            run_index=p.run_index if p.solved else None,
            best_partial=p.best_partial,
            failure="" if p.solved else (p.last_error or "budget exhausted without a proof"),
            wall_s=p.wall_s,
            verifier_s=p.verifier_s,
            stats=self._stats(p),
        )

    # ---- checkpoints ----

    def _save(self, p: _Problem, finished: bool = False) -> None:
        path = p.ckpt_file(p.run_index)
        if path is None or p.tree is None:
            return
        p.last_ckpt = p.count
        atomic_write_json(
            path,
            {
                "format": CHECKPOINT_FORMAT,
                "name": p.task.name,
                "formal_statement": p.task.formal_statement,
                "header": p.task.header,
                "config": asdict(self.config),
                "seed": p.seed,
                "run_index": p.run_index,
                "samples": p.count,
                "samples_before": p.samples_before,
                "generated": p.generated,
                "prompt_too_long": p.prompt_too_long,
                "root_goal": p.root_goal,
                "rng_state": rng_state_to_json(p.rng),
                "finished": finished or p.done,
                "solved": p.solved,
                "proof": p.proof,
                "found_at": p.found_at,
                "best_partial": p.best_partial,
                "last_error": p.last_error,
                "gen_s": p.gen_s,
                "verifier_s": p.verifier_s,
                "wall_s": p.wall_s,
                "meter": p.ledger.fields() if p.ledger is not None else None,
                "tree": p.tree.to_json(),
            },
        )

    def _restore(self, p: _Problem) -> bool:
        """Load the latest checkpoint of `p` (if any).  True if the problem state was restored."""
        if p.path is None:
            return False
        last: dict[str, Any] | None = None
        for r in range(p.runs):
            f = p.ckpt_file(r)
            if f is None or not f.exists():
                break
            data = read_json(f)
            if data.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"{f}: not an RMaxTS checkpoint")
            if data["formal_statement"] != p.task.formal_statement or data["seed"] != p.seed:
                raise ValueError(f"{f}: checkpoint is for another statement or seed")
            last = data
            if not data["finished"] or data["solved"]:
                break
        if last is None:
            return False
        if last["config"] != asdict(self.config):
            logger.warning("rmaxts %s: resuming with a different config", p.task.name)
        p.run_index = int(last["run_index"])
        p.count = p.last_ckpt = int(last["samples"])
        p.samples_before = int(last["samples_before"])
        p.generated = int(last.get("generated", 0))
        p.prompt_too_long = int(last.get("prompt_too_long", 0))
        p.root_goal = last["root_goal"]
        p.tree = SearchTree.from_json(last["tree"])
        p.rng = rng_from_json(last["rng_state"])
        p.solved, p.proof, p.found_at = bool(last["solved"]), last["proof"], last["found_at"]
        p.best_partial, p.last_error = last.get("best_partial", ""), last.get("last_error", "")
        p.gen_s, p.verifier_s, p.wall_base = last["gen_s"], last["verifier_s"], last["wall_s"]
        if p.ledger is not None and last.get("meter"):  # what the earlier sessions spent
            p.ledger.restore(last["meter"])
        if p.solved:
            p.finish()
        elif last["finished"]:  # the last stored run was exhausted: start the next one
            self._next_run(p)
        logger.info(
            "rmaxts %s: resumed run %d at sample %d (%d nodes)",
            p.task.name,
            p.run_index,
            p.count,
            len(p.tree or ()),
        )
        return True
