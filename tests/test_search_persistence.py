"""RMaxTS search loop, checkpoint/resume, export and drawing, plus the two baselines, driven by a
scripted policy and a *fake* checker over a toy tactic language (no Lean runs here).

Toy language: under HEADER, `reach t` says 0 reaches t in steps `add k` (k in 1..3); the fake's
state is an integer s (goal string "⊢ s = <s>"), each proof line `add k` moves s to s + k;
`sorry` stops with an incomplete verdict; any other line is an error.  When s reaches the target
the fake says `proved` only for a request listed in LEAN_PROVES (real Lean proves each:
tests/test_fakes_lean.py), and `failed` otherwise.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from toy_lean import LeanProves

from prover.cli import main as cli_main
from prover.lean.types import CheckRequest, CheckResult, LeanMessage, TacticStep, Verdict
from prover.policy.base import Completion, ProofTask, SamplingParams, task_seeds
from prover.policy.prompts import check_token_budgets, v1_prompt
from search import get_search
from search.base import Budget
from search.draw import draw_tree
from search.rmaxts import RMaxTS
from search.tree import SearchTree, load_tree, read_json

STATEMENT = "theorem toy_{target} : reach {target} := by"
# real Lean for the toy: `add k` applies `Reach.step` (goal `Reach t s` becomes `Reach t (s + k)`)
# and closes the goal when s + k is t
HEADER = """inductive Reach : Nat → Nat → Prop
  | done (t : Nat) : Reach t t
  | step (t s k : Nat) : Reach t (s + k) → Reach t s
abbrev reach (t : Nat) : Prop := Reach t 0
macro "add " k:num : tactic => `(tactic| (apply Reach.step _ _ $k; try exact Reach.done _))
"""


def _proves(target: int, *steps: str) -> list[CheckRequest]:
    """The requests of the proofs `add a`, `add b`, ... of `reach target` (one string of the
    numbers a, b, ... per proof), one tactic per line, as the searches send them."""
    statement = STATEMENT.format(target=target)
    return [
        CheckRequest(
            statement, "".join(f"\n  add {k}" for k in ks.split()), HEADER, header_trusted=True
        )
        for ks in steps
    ]


# the proofs the searches below find (their seeds fix them), as they reach the checker
LEAN_PROVES = LeanProves(
    *_proves(3, "1 2", "2 1", "3"),
    *_proves(4, "1 3", "2 1 1", "2 2", "3 1"),
    *_proves(5, "1 3 1", "2 3", "3 2"),
    *_proves(
        7,
        "1 2 1 3",
        "1 3 1 1 1",
        "1 3 3",
        "2 1 1 2 1",
        "2 1 2 2",
        "2 2 1 1 1",
        "2 2 3",
        "2 3 1 1",
        "2 3 2",
        "3 1 1 2",
        "3 1 3",
        "3 2 2",
    ),
    *_proves(9, "1 2 2 1 3", "1 2 2 3 1", "2 3 1 3", "2 3 2 2", "3 3 1 2", "3 3 3"),
)


def goal(s: int) -> str:
    return f"⊢ s = {s}"


class FakeChecker:
    """Simulates a checker for the toy language (backend "fake")."""

    name = "fake"
    # a round goes to Lean in chunks of this many items (and stops after a chunk with a proof):
    # large here, so a round is one call, as the batching assertions below expect
    parallelism = 64

    def __init__(self) -> None:
        self.calls: list[list[CheckRequest]] = []

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        self.calls.append(list(requests))
        return [self._one(r) for r in requests]

    def _one(self, req: CheckRequest) -> CheckResult:
        m = re.search(r"toy_(\w+)", req.formal_statement)
        if not m or m.group(1) == "bad":
            msg = LeanMessage("error", 0, 8, 0, 12, "unknown identifier 'reach'")
            return CheckResult(Verdict.FAILED, messages=[msg], first_error=msg, backend="fake")
        target = int(m.group(1)) if m.group(1).isdigit() else None
        s, offset, steps = 0, 0, []
        messages: list[LeanMessage] = []
        verdict = Verdict.INCOMPLETE
        for i, line in enumerate(req.proof.split("\n")):
            start, offset = offset, offset + len(line) + 1
            text = line.strip()
            if not text:
                continue
            if text == "sorry":
                break
            mm = re.fullmatch(r"add ([123])", text)
            if mm is None:
                col = len(line) - len(line.lstrip())
                messages.append(
                    LeanMessage("error", i + 1, col, i + 1, len(line), "unknown tactic")
                )
                verdict = Verdict.FAILED
                break
            before, s = goal(s), s + int(mm.group(1))
            after = "no goals" if s == target else goal(s)
            steps.append(TacticStep(line, start, start + len(line), before, after))
            if s == target:
                if req.proof[start + len(line) :].strip():  # tactics after no goals
                    verdict = Verdict.FAILED
                    messages.append(LeanMessage("error", i + 2, 2, i + 2, 3, "no goals to prove"))
                elif req in LEAN_PROVES:
                    verdict = Verdict.PROVED
                else:  # a proof this module does not list: not claimed proved
                    verdict = Verdict.FAILED
                    messages.append(LeanMessage("error", i + 1, 0, i + 1, 1, "not in LEAN_PROVES"))
                break
        if verdict is Verdict.INCOMPLETE and "sorry" not in req.proof:
            messages.append(
                LeanMessage("error", 1, -2, 1, 0, "unsolved goals\n" + goal(s), unsolved_goals=True)
            )
        errors = [x for x in messages if x.severity == "error"]
        return CheckResult(
            verdict,
            messages=messages,
            first_error=errors[0] if errors else None,
            steps=steps if req.want_steps else None,
            initial_goals=goal(0) if req.want_steps else "",
            backend="fake",
        )

    def close(self) -> None:
        pass


class ScriptedPolicy:
    """Deterministic in (task seed, sample index, prefix): 1-3 lines of `add k`, with an
    occasional bad tactic or `sorry`.  Records every task it is asked to continue."""

    spec = "scripted"

    def __init__(self, interrupt_at_call: int | None = None, on_call=None) -> None:
        self.calls: list[int] = []
        self.tasks: list[list[ProofTask]] = []
        self.interrupt_at_call = interrupt_at_call
        self.on_call = on_call

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        self.calls.append(len(tasks))
        self.tasks.append(list(tasks))
        if self.on_call is not None:
            self.on_call(len(self.calls))
        if self.interrupt_at_call is not None and len(self.calls) == self.interrupt_at_call:
            raise KeyboardInterrupt
        out = []
        for t, seed in zip(tasks, task_seeds(tasks, params), strict=True):
            comps = []
            for j in range(params.n):
                rng = random.Random(f"{seed}:{j}:{t.prefix}")
                lines = []
                for _ in range(rng.randint(1, 3)):
                    r = rng.random()
                    lines.append(
                        "oops" if r < 0.15 else "sorry" if r < 0.2 else f"add {rng.randint(1, 3)}"
                    )
                lead = "" if t.prefix else "\n"
                comps.append(Completion(text=lead + "\n".join("  " + x for x in lines)))
            out.append(comps)
        return out

    def close(self) -> None:
        pass


def _task(target: str | int = "never", name: str = "toy") -> ProofTask:
    return ProofTask(formal_statement=STATEMENT.format(target=target), header=HEADER, name=name)


def _ckpt(d: Path, run: int = 0) -> dict:
    (f,) = sorted(d.glob(f"rmaxts-*.run{run}.json"))
    return read_json(f)


STABLE = ("run_index", "samples", "samples_before", "generated", "rng_state", "tree", "finished")


def _stable(ck: dict) -> dict:
    return {k: ck[k] for k in STABLE}


CFG: dict[str, Any] = dict(concurrency=4, checkpoint_every=8)


def test_tree_grows_with_rmax_rewards(tmp_path):
    checker = FakeChecker()
    res = RMaxTS(**CFG).run(
        _task(), ScriptedPolicy(), checker, Budget(1, 40), checkpoint_dir=tmp_path
    )
    assert not res.solved and res.samples_used == 40 and res.found_at is None
    assert res.stats["nodes"] > 5 and res.stats["max_depth"] >= 3
    assert res.stats["samples_in_run"] == 40 and 0 < res.stats["verifier_share"] <= 1
    # one generate and one check per round of k = 4 (plus the initial `sorry` probe)
    assert len(checker.calls) == 1 + 10 and all(len(c) == 4 for c in checker.calls[1:])
    assert all(c.want_steps for batch in checker.calls for c in batch)
    tree = SearchTree.from_json(_ckpt(tmp_path)["tree"])
    assert tree.root.visits == 40 and tree.root.goal == goal(0)
    for nd in tree.nodes[1:]:  # every node's prefixes reach exactly its goal, no `sorry`
        for prefix, comment in nd.codes:
            assert "sorry" not in prefix and "oops" not in prefix
            assert sum(int(k) for k in re.findall(r"add (\d)", prefix)) == int(nd.goal.split()[-1])
            assert comment.startswith("  /- tactic state:") and nd.goal in comment


def test_interrupt_then_resume_is_identical(tmp_path):
    ref_dir, int_dir = tmp_path / "ref", tmp_path / "int"
    ref = RMaxTS(**CFG).run(
        _task(), ScriptedPolicy(), FakeChecker(), Budget(1, 40), checkpoint_dir=ref_dir
    )
    with pytest.raises(KeyboardInterrupt):
        RMaxTS(**CFG).run(
            _task(),
            ScriptedPolicy(interrupt_at_call=6),
            FakeChecker(),
            Budget(1, 40),
            checkpoint_dir=int_dir,
        )
    mid = _ckpt(int_dir)
    assert mid["samples"] == 20 and not mid["finished"]  # 5 complete rounds of 4, nothing lost
    checker = FakeChecker()
    res = RMaxTS(**CFG).run(
        _task(), ScriptedPolicy(), checker, Budget(1, 40), checkpoint_dir=int_dir
    )
    assert len(checker.calls) == 5  # no new `sorry` probe, 5 remaining rounds
    assert _stable(_ckpt(int_dir)) == _stable(_ckpt(ref_dir))
    assert (res.samples_used, res.stats["nodes"]) == (ref.samples_used, ref.stats["nodes"])


def test_crash_after_periodic_checkpoint_resumes_identically(tmp_path):
    ref_dir, crash_dir, saved = tmp_path / "ref", tmp_path / "crash", tmp_path / "saved.json"

    def snapshot(call: int) -> None:  # "kill -9" right after the checkpoint at sample 24
        if call == 7:
            shutil.copy(next(crash_dir.glob("*.run0.json")), saved)

    RMaxTS(**CFG).run(
        _task(), ScriptedPolicy(), FakeChecker(), Budget(1, 40), checkpoint_dir=ref_dir
    )
    RMaxTS(**CFG).run(
        _task(),
        ScriptedPolicy(on_call=snapshot),
        FakeChecker(),
        Budget(1, 40),
        checkpoint_dir=crash_dir,
    )
    assert read_json(saved)["samples"] == 24
    shutil.copy(saved, next(crash_dir.glob("*.run0.json")))
    RMaxTS(**CFG).run(
        _task(), ScriptedPolicy(), FakeChecker(), Budget(1, 40), checkpoint_dir=crash_dir
    )
    assert _stable(_ckpt(crash_dir)) == _stable(_ckpt(ref_dir))


def test_runs_and_resume_after_completion(tmp_path):
    res = RMaxTS(**CFG).run(
        _task(), ScriptedPolicy(), FakeChecker(), Budget(2, 12), checkpoint_dir=tmp_path
    )
    assert not res.solved and res.samples_used == 24 and res.stats["run_index"] == 1
    assert _ckpt(tmp_path, 0)["finished"] and _ckpt(tmp_path, 1)["finished"]
    assert _ckpt(tmp_path, 0)["tree"] != _ckpt(tmp_path, 1)["tree"]  # fresh tree and seed
    policy = ScriptedPolicy()
    again = RMaxTS(**CFG).run(
        _task(), policy, FakeChecker(), Budget(2, 12), checkpoint_dir=tmp_path
    )
    assert policy.calls == [] and again.samples_used == 24 and not again.solved


def test_finds_and_reverifies_proof(tmp_path):
    checker = FakeChecker()
    res = RMaxTS(**CFG).run(
        _task(7), ScriptedPolicy(), checker, Budget(2, 64), seed=3, checkpoint_dir=tmp_path
    )
    assert res.solved and res.found_at is not None and res.samples_used == res.found_at
    assert sum(int(k) for k in re.findall(r"add (\d)", res.proof)) == 7
    # the round's complete proofs are re-verified fresh (no steps) in one batch; the first wins
    (final,) = [batch for batch in checker.calls if not batch[0].want_steps]
    assert not any(r.want_steps for r in final) and final[0].proof == res.proof
    ck = _ckpt(tmp_path, res.run_index or 0)
    assert ck["solved"] and ck["found_at"] == res.found_at
    tree = SearchTree.from_json(ck["tree"])
    assert tree.proof == res.proof and tree.nodes[tree.proof_path[-1]].goal == "no goals"
    policy = ScriptedPolicy()  # resuming a solved problem returns the stored proof
    again = RMaxTS(**CFG).run(
        _task(7), policy, FakeChecker(), Budget(2, 64), seed=3, checkpoint_dir=tmp_path
    )
    assert policy.calls == [] and again.proof == res.proof and again.found_at == res.found_at


def test_several_trees_share_batches():
    policy, checker = ScriptedPolicy(), FakeChecker()
    results = RMaxTS(**CFG).run_many(
        [_task("never", "a"), _task("nothing", "b")], policy, checker, Budget(1, 16)
    )
    assert [r.samples_used for r in results] == [16, 16]
    assert policy.calls == [8, 8, 8, 8] and len(checker.calls) == 1 + 4


def _run_tree(tmp_path: Path, policy: Any = None, budget: int = 12, **cfg: Any) -> SearchTree:
    RMaxTS(**{**CFG, **cfg}).run(
        _task(),
        policy or ScriptedPolicy(),
        FakeChecker(),
        Budget(1, budget),
        checkpoint_dir=tmp_path,
    )
    return SearchTree.from_json(_ckpt(tmp_path)["tree"])


def test_ablation_switches(tmp_path):
    res = RMaxTS(**{**CFG, "concurrency": 1}).run(
        _task(), ScriptedPolicy(), FakeChecker(), Budget(1, 12)
    )
    assert res.samples_used == 12 and res.stats["nodes"] >= 2
    # without the intrinsic reward (and no proof) every reward is 0: all W stay 0
    tree = _run_tree(tmp_path / "sparse", budget=24, intrinsic_reward=False)
    assert len(tree) >= 3 and tree.root.visits == 24
    assert all(nd.w == 0.0 and nd.w_sub == 0.0 for nd in tree.nodes)
    # with it, some expansion was rewarded
    assert _run_tree(tmp_path / "rmax", budget=24).root.w_sub > 0
    # plain UCB1 statistics: gamma = 1, so N counts expansions exactly (no discount)
    tree = _run_tree(tmp_path / "ucb1", budget=24, discounted_ucb=False)
    assert tree.gamma == 1.0 and tree.root.n_sub == 24.0
    assert all(nd.n == nd.expansions and nd.n_sub == nd.visits for nd in tree.nodes)
    assert _run_tree(tmp_path / "disc", budget=24).root.n_sub < 24.0  # discounted: 0.99 < 1
    # without the comment, nodes store none and prompts get none
    policy = ScriptedPolicy()
    tree = _run_tree(tmp_path / "plain", policy, budget=24, state_comment=False)
    assert len(tree) >= 3 and all(c == "" for nd in tree.nodes for _, c in nd.codes)
    resumed = [t for call in policy.tasks for t in call if t.prefix]
    assert resumed and all(t.comment == "" and t.goals == "" for t in resumed)
    assert all("tactic state" not in v1_prompt(t).text for t in resumed)


def test_prompt_gets_the_stored_comment_at_the_base_indent(tmp_path):
    policy = ScriptedPolicy()
    tree = _run_tree(tmp_path, policy, budget=24)
    codes = {c for nd in tree.nodes for c in nd.codes}
    resumed = [t for call in policy.tasks for t in call if t.prefix]
    assert resumed
    for t in resumed:
        assert (t.prefix, t.comment) in codes  # the picked (prefix, comment) pair, as stored
        assert t.comment.startswith("  /- tactic state:\n") and t.goals in t.comment
        assert v1_prompt(t).text.endswith(t.prefix + t.comment)


def test_each_job_samples_with_its_own_seed():
    def first_round_seeds(seed: int) -> list[int | None]:
        policy = ScriptedPolicy()
        RMaxTS(**CFG).run(_task(), policy, FakeChecker(), Budget(1, 8), seed=seed)
        assert all(t.prefix == "" for t in policy.tasks[0])  # k identical root prompts ...
        return [t.seed for t in policy.tasks[0]]

    seeds = first_round_seeds(0)
    assert len(set(seeds)) == 4 and None not in seeds  # ... each with its own seed
    assert first_round_seeds(0) == seeds  # reproducible
    assert set(first_round_seeds(1)).isdisjoint(seeds)


def test_reward_is_one_only_for_the_first_job_reaching_a_new_node(tmp_path):
    class Same:  # both jobs of the round expand the root and reach the same new node
        spec = "same"

        def generate(self, tasks, params):
            return [[Completion(text="\n  add 1")] for _ in tasks]

        def close(self) -> None:
            pass

    tree = _run_tree(tmp_path, Same(), budget=2, concurrency=2)
    assert len(tree) == 2 and tree.root.expansions == 2
    # rewards 1 then 0 (Eq. 5 per job, in order), Eq. 7-8: W = 0.99 * 1 + 0, N = 0.99 * 1 + 1
    assert (tree.root.w, tree.root.n) == pytest.approx((0.99, 1.99))


class TooLongPolicy(ScriptedPolicy):
    """A ScriptedPolicy with a tokenizer whose context holds prompts of at most `limit`
    characters, failing like the model backends (one error naming every such task)."""

    def __init__(self, limit: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.limit = limit

    def count_tokens(self, text: str) -> int:
        return len(text)

    def generate(self, tasks, params):
        texts = [(v1_prompt(t).text, t.name) for t in tasks]
        check_token_budgets(texts, self.count_tokens, self.limit + 1, 1)
        return super().generate(tasks, params)


def test_too_long_prompt_is_a_reward_zero_expansion_not_a_crash():
    root_prompt = len(v1_prompt(_task("never", "a")).text)
    # "a": only its root prompt fits; "b": even the root prompt is too long (longer name)
    policy = TooLongPolicy(limit=root_prompt + 2)
    tasks = [_task("never", "a"), _task("nothing", "b")]
    res_a, res_b = RMaxTS(**CFG, max_prefix_tokens=10**6).run_many(
        tasks, policy, FakeChecker(), Budget(1, 16)
    )
    assert res_a.samples_used == res_b.samples_used == 16  # both budgets spent, no exception
    assert res_b.stats["prompt_too_long"] == 16 and res_b.stats["samples_generated"] == 0
    assert res_b.stats["nodes"] == 1
    assert 0 < res_a.stats["prompt_too_long"] < 16 and res_a.stats["nodes"] >= 2
    assert res_a.stats["samples_generated"] == 16 - res_a.stats["prompt_too_long"]


def test_prefix_limit_uses_the_policy_tokenizer():
    class Heavy(ScriptedPolicy):  # a tokenizer that counts 100 tokens per character
        def count_tokens(self, text: str) -> int:
            return 100 * len(text)

    res = RMaxTS(**CFG, max_prefix_tokens=1000).run(_task(), Heavy(), FakeChecker(), Budget(1, 12))
    assert res.stats["nodes"] == 1  # no prefix + comment is under 10 characters
    res = RMaxTS(**CFG, max_prefix_tokens=1000).run(
        _task(), ScriptedPolicy(), FakeChecker(), Budget(1, 12)
    )
    assert res.stats["nodes"] >= 2  # the chars/3.5 estimate lets them in


def test_statement_that_does_not_elaborate():
    with pytest.raises(ValueError, match="does not elaborate.*unknown identifier"):
        RMaxTS(**CFG).run(_task("bad", "bad"), ScriptedPolicy(), FakeChecker(), Budget(1, 4))


def test_json_networkx_export_and_drawing(tmp_path):
    import networkx as nx

    RMaxTS(**CFG).run(
        _task(9), ScriptedPolicy(), FakeChecker(), Budget(1, 64), checkpoint_dir=tmp_path
    )
    ck_path = next(tmp_path.glob("*.run0.json"))
    tree = load_tree(ck_path)
    data = tree.to_json()
    assert SearchTree.from_json(json.loads(json.dumps(data))).to_json() == data
    g = tree.to_networkx()
    assert g.number_of_nodes() == len(tree) and nx.is_arborescence(g)
    assert g.nodes[0]["visits"] == tree.root.visits
    tree_json = tmp_path / "tree.json"
    tree_json.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    png = draw_tree(tree, tmp_path / "direct.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = tmp_path / "cli.png"
    assert cli_main(["tree", "show", str(tree_json), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert cli_main(["tree", "show", str(ck_path)]) == 0
    assert cli_main(["tree", "show", str(tmp_path / "missing.json")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert cli_main(["tree", "show", str(bad)]) == 2


def test_sampling_baseline_budget_accounting():
    checker = FakeChecker()
    res = get_search("sample", batch_size=8).run(_task(4), ScriptedPolicy(), checker, Budget(3, 20))
    assert res.solved and res.samples_used == res.found_at
    assert sum(int(k) for k in re.findall(r"add (\d)", res.proof)) == 4
    assert all(len(b) <= 8 for b in checker.calls)
    res = get_search("sample", batch_size=8).run(
        _task(), ScriptedPolicy(), FakeChecker(), Budget(2, 20)
    )
    assert not res.solved and res.samples_used == 40


class StepPolicy:
    """Tactic-level: proposes single `add k` steps (k = 1..n) with log-probs."""

    spec = "steps"

    def generate(self, tasks, params):
        return [
            [
                Completion(text=f"add {1 + j % 3}", meta={"logprob": -0.1 * (j + 1)})
                for j in range(params.n)
            ]
            for _ in tasks
        ]

    def close(self) -> None:
        pass


def test_bfs_baseline():
    res = get_search("bfs", candidates=3).run(_task(5), StepPolicy(), FakeChecker(), Budget(1, 60))
    assert res.solved and res.found_at == res.samples_used
    assert sum(int(k) for k in re.findall(r"add (\d)", res.proof)) == 5
    with pytest.raises(ValueError, match="unknown search"):
        get_search("dfs")


class OneAtATime(FakeChecker):
    parallelism = 1  # one Lean process: a round goes one item at a time


class ProofFirst(ScriptedPolicy):
    """The first job of the first round proves `reach 3`; the rest would not."""

    def generate(self, tasks, params):
        out = super().generate(tasks, params)
        if len(self.calls) == 1:
            out[0] = [Completion(text="\n  add 3")]
        return out


def test_a_round_stops_paying_once_a_job_is_proved():
    """Early exit: with the checker's parallelism 1, a round whose first job is a proof sends
    that job alone to Lean (the other jobs were generated but never checked), then the proof's
    fresh re-check; the result says which sample proved it."""
    checker = OneAtATime()
    policy = ProofFirst()
    res = RMaxTS(concurrency=8).run(_task(3), policy, checker, Budget(1, 32))
    assert res.solved and res.found_at == 1
    assert policy.calls == [8]  # the whole round was generated
    sent = [len(c) for c in checker.calls]
    assert sent == [1, 1, 1], sent  # the sorry probe, the proof, its re-verification
