"""TRL's own `GRPOTrainer`, two steps on CPU, with `reward_funcs=[LeanReward(checker)]` on the real
embedded Lean (the session's checker), over miniF2F-core prompts that `prover collect` +
`prover export --format grpo` wrote, built by `prover.rl.grpo.build_trainer` (what
`python -m prover.rl.grpo` runs).  The policy is the tiny random-weight model built here (no
download).  What TRL logged (each completion with its reward, and each step's mean) must equal
Lean's verdicts on the same completions, checked again here.

A random model proves nothing on its own, so the dataset gives one problem the verified proof
the automation found as its `prefix` column (the verified prefix a completion continues, as in
RMaxTS records) and another none; the tiny model is built with a strong boost on the closing
code fence, so most completions stop at once (the proof is then the prefix) and some write a few
tokens first (the proof is the prefix plus those).  Both rewards occur, decided by Lean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.lean.types import CheckRequest, Verdict

pytestmark = pytest.mark.lean


# two miniF2F-core valid problems: the automation's one shot proves the first (`omega`), not the
# second (cheap to check: its goal is left open)
PROBLEMS = ("mathd_numbertheory_132", "mathd_numbertheory_780")


def _grpo_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str], data_dir: Path) -> list[dict]:
    """One automation sample per problem (`prover collect`), exported as GRPO rows."""
    from benchmarks.datasets import load_benchmark
    from prover.cli import main

    core = {p.name: p for p in load_benchmark("minif2f-core", "valid", data_dir)}
    data = tmp_path / "minif2f_core_two.jsonl"
    fields = ("name", "split", "formal_statement", "header", "informal_prefix")
    data.write_text(
        "".join(json.dumps({f: getattr(core[n], f) for f in fields}) + "\n" for n in PROBLEMS),
        encoding="utf-8",
    )
    rec = tmp_path / "rec"
    argv = ["collect", "--benchmark", str(data), "--split", "valid"]
    argv += ["-k", "1", "--policy", "automation", "--out", str(rec), "--backend", "embedded"]
    assert main([*argv, "--no-steps"]) == 0, capsys.readouterr().err
    out = tmp_path / "grpo.jsonl"
    assert main(["export", str(rec), "--format", "grpo", "--out", str(out)]) == 0
    return [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]


def test_trl_grpo_trainer_logs_lean_verdicts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    data_dir: Path,
    shared_checker,
    embedded_checker,
) -> None:
    from transformers import TrainerCallback
    from trl import GRPOConfig

    from prover.policy.tiny import build_tiny_model
    from prover.rl.grpo import GrpoArgs, build_trainer
    from prover.rl.reward import proof_of

    rows = _grpo_rows(tmp_path, capsys, data_dir)
    proved = next(r for r in rows if r["reward"] == 1.0)
    open_ = next(r for r in rows if r["reward"] == 0.0)
    assert [proved["problem_id"], open_["problem_id"]] == [
        f"minif2f_core_two/{n}" for n in PROBLEMS
    ]
    assert proved["prompt"] and proved["header"]  # the miniF2F-core header
    data = [
        {
            **proved,
            "prompt": proved["prompt"] + proved["completion"],
            "prefix": proved["completion"],
        },
        {**open_, "prefix": ""},
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    by_prompt = {r["prompt"]: r for r in data}

    files = [data_dir / "minif2f_valid_few_shot.jsonl", data_dir / "minif2f.jsonl"]
    model = build_tiny_model(tmp_path / "tiny", files, seed=0, fence_logit=10.0)
    config = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        per_device_train_batch_size=4,  # both prompts, two completions each, per step
        num_generations=2,
        max_completion_length=8,
        max_steps=2,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,  # TRL's default is bf16
        seed=0,
        dataloader_num_workers=0,
    )
    logged: list[tuple[str, str, float]] = []  # (prompt, completion, reward) as TRL kept them

    class Capture(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            logs = trainer._logs  # TRL's per-step record of prompts, completions and rewards
            got = zip(logs["prompt"], logs["completion"], logs["rewards"][name], strict=True)
            logged.extend(got)

    args = GrpoArgs(model=str(model), data=str(path))
    trainer = build_trainer(args, config, embedded_checker)
    (reward,) = trainer.reward_funcs
    name = reward.__name__
    assert reward.checker is embedded_checker
    trainer.add_callback(Capture())
    trainer.train()

    assert trainer.state.global_step == 2
    assert len(logged) == 2 * 4
    # Lean's verdicts on exactly those completions, checked again
    reqs = []
    for prompt, completion, _ in logged:
        row = by_prompt[prompt]
        proof = proof_of(completion, row["formal_statement"], row["prefix"])
        reqs.append(
            CheckRequest(row["formal_statement"], proof, row["header"], header_trusted=True)
        )
    verdicts = embedded_checker.check(reqs)
    want = [1.0 if v.verdict is Verdict.PROVED else 0.0 for v in verdicts]
    assert [r for _, _, r in logged] == want, list(zip(logged, verdicts, strict=True))
    assert set(want) == {0.0, 1.0}
    # each step's logged mean is the mean of its completions' verdicts
    means = [h[f"rewards/{name}/mean"] for h in trainer.state.log_history if "loss" in h]
    assert means == pytest.approx([sum(want[:4]) / 4, sum(want[4:]) / 4])
    # the refusal hooks reached TRL: a rate per category every step
    assert all("lean_refusal/sorry" in h for h in trainer.state.log_history if "loss" in h)
