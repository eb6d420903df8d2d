"""Expert iteration on the tiny random-weight model, with real Lean verdicts.

    python -m prover.rl.expert_iteration --rounds 2 --samples 4

Each round: sample `--samples` whole proofs per problem (miniF2F-core valid by default) with
HFPolicy, verify them with the embedded Lean checker in one batch (recorded to
WORK/round-R/records.jsonl), keep the verified proofs, and fine-tune the model on them with a
plain torch training loop on CPU.  Because a random tiny model proves nothing, the training set
also holds the formal proofs of the few-shot file (minif2f_valid_few_shot.jsonl), labelled
"few-shot (reference proofs, not self-generated)", so that gradient steps happen every round;
their prompts use the header of the evaluated problems, like every other training row.
With `--expert automation` (the default) each round also runs the model-free `automation` policy
as the expert (`--samples` whole proofs per problem, continuing down its ranking from round to
round) and keeps its verified proofs, labelled "expert (automation policy)", as training rows in
the model's own prompt format: expert iteration as distillation of verified search results into
the model.  `--expert none` keeps only the model's own verified proofs.
After the last round the model is sampled once more.  Printed per round: pass rate, number of
verified proofs, training rows by source, loss before/after.  The numbers are what they are: a
random 2-layer model with hidden size 64 is expected to prove nothing, so any `proved` sample
deserves a look in WORK/round-R/records.jsonl (it may reveal a checker soundness hole).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 30
    batch_size: int = 4
    lr: float = 1e-3
    max_len: int = 768
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0 or self.max_len < 8:
            raise ValueError(f"bad TrainConfig {self}")


def _encode(tokenizer: Any, prompt: str, completion: str, max_len: int) -> tuple[list[int], int]:
    p = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = (p + c)[-max_len:]
    n_prompt = max(0, len(ids) - len(c))
    return ids, n_prompt


def _batch_loss(model: Any, tokenizer: Any, rows: Sequence[tuple[list[int], int]]) -> Any:
    import torch

    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(rows):
        t = torch.tensor(ids, dtype=torch.long)
        input_ids[i, : len(ids)] = t
        mask[i, : len(ids)] = 1
        labels[i, n_prompt : len(ids)] = t[n_prompt:]  # loss on the completion only
    return model(input_ids=input_ids, attention_mask=mask, labels=labels).loss


def mean_loss(model: Any, tokenizer: Any, data: Sequence[tuple[list[int], int]]) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        losses = [
            float(_batch_loss(model, tokenizer, data[i : i + 8])) for i in range(0, len(data), 8)
        ]
    return sum(losses) / max(1, len(losses))


def finetune(
    model_dir: Path, out_dir: Path, examples: Sequence[tuple[str, str]], cfg: TrainConfig
) -> tuple[float, float]:
    """SFT on (prompt, completion) pairs; saves to out_dir; (loss before, loss after)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    data = [_encode(tokenizer, p, c, cfg.max_len) for p, c in examples]
    before = mean_loss(model, tokenizer, data)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    rng = random.Random(cfg.seed)
    model.train()
    for _ in range(cfg.steps):
        batch = rng.sample(data, min(cfg.batch_size, len(data)))
        loss = _batch_loss(model, tokenizer, batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    after = mean_loss(model, tokenizer, data)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return before, after


def sample_round(
    model_dir: Path, problems: Sequence[Any], checker: Any, out_dir: Path, args: argparse.Namespace
) -> tuple[float, list[Any]]:
    from prover.policy.base import Sampling
    from prover.policy.hf import HFPolicy
    from prover.rl.collect import CollectConfig, collect
    from prover.rl.records import FeedbackWriter, load_records

    policy = HFPolicy(str(model_dir), device="cpu", batch_size=16)
    cfg = CollectConfig(
        samples_per_problem=args.samples,
        sampling=Sampling(temperature=args.temperature, max_new_tokens=args.max_new_tokens),
        seed=args.seed,
        problems_per_batch=len(problems),
        timeout_s=args.timeout,
        want_steps=False,
    )
    try:
        with FeedbackWriter(out_dir) as writer:
            collect(problems, policy, checker, writer, cfg)
    finally:
        policy.close()
    recs = load_records(out_dir)
    solved = {r.problem_id for r in recs if r.proved}
    return len(solved) / len(problems), recs


def expert_round(
    policy: Any, problems: Sequence[Any], checker: Any, out_dir: Path, args: argparse.Namespace
) -> list[Any]:
    """Whole proofs from the expert policy, verified and recorded like the model's."""
    from prover.rl.collect import CollectConfig, collect
    from prover.rl.records import FeedbackWriter, load_records

    cfg = CollectConfig(
        samples_per_problem=args.samples,  # collect's default sampling: temperature 1
        seed=args.seed,
        problems_per_batch=len(problems),
        timeout_s=args.timeout,
        want_steps=False,
    )
    with FeedbackWriter(out_dir) as writer:
        collect(problems, policy, checker, writer, cfg)
    return load_records(out_dir)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prover.rl.expert_iteration", description=__doc__)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--samples", type=int, default=8, help="samples per problem per round")
    ap.add_argument("--limit", type=int, default=60, help="number of problems (60: all valid)")
    ap.add_argument("--benchmark", default="minif2f-core")
    ap.add_argument("--split", default="valid")
    ap.add_argument(
        "--data-dir",
        type=Path,
        help="folder with minif2f.jsonl and minif2f_valid_few_shot.jsonl (default: "
        "$PROVER_DATA_DIR, else the pinned files, downloaded once into the user cache)",
    )
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--train-steps", type=int, default=150)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, help="work directory (default: a temporary one)")
    ap.add_argument(
        "--expert",
        default="automation",
        choices=["automation", "none"],
        help="also distil the verified proofs of this expert policy (default: automation)",
    )
    ap.add_argument("--backend", default="embedded", choices=["auto", "embedded", "native"])
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.samples < 1 or args.limit < 1:
        ap.error("--rounds, --samples and --limit must be >= 1")

    from benchmarks.datasets import resolve_data_file
    from prover.lean import make_checker
    from prover.policy.base import ProofTask
    from prover.policy.prompts import FENCE, PromptBuilder, PromptConfig, load_few_shot
    from prover.policy.tiny import build_tiny_model
    from prover.rl.collect import load_problems

    work = args.work or Path(tempfile.mkdtemp(prefix="expert_iteration_"))
    problems = load_problems(args.benchmark, args.split, args.limit, args.data_dir)
    few_shot_file = resolve_data_file("minif2f_valid_few_shot.jsonl", args.data_dir)
    few_shot = load_few_shot(few_shot_file)
    names = {p.name for p in problems}
    builder = PromptBuilder(PromptConfig())

    def prompt_of(task: ProofTask) -> str:
        return builder.build(task).text

    # the few-shot rows are prompted under the evaluated problems' header (for minif2f-core the
    # core-Lean header), so every training row shows the model one prompt format
    header = problems[0].header
    fs_rows = [
        (
            prompt_of(
                ProofTask(e.formal_statement, header=header, informal_prefix=e.informal_prefix)
            ),
            e.formal_proof + "\n" + FENCE,
        )
        for e in few_shot
        if e.name not in names  # never train on reference proofs of the evaluated problems
    ]
    t0 = time.monotonic()
    model_dir = build_tiny_model(
        work / "model-0",
        [resolve_data_file("minif2f.jsonl", args.data_dir), few_shot_file],
        seed=args.seed,
    )
    print(
        f"tiny model: {model_dir}  problems: {len(problems)} ({args.benchmark} {args.split})  "
        f"headers: {sorted({p.header or '<core>' for p in problems})[:2]}"
    )
    checker = make_checker(args.backend, timeout_s=args.timeout)
    report: list[dict[str, Any]] = []
    kept: dict[tuple[str, str], tuple[str, str]] = {}  # (statement, proof) -> (prompt, completion)
    expert_kept: dict[tuple[str, str], tuple[str, str]] = {}
    by_statement = {p.formal_statement: p for p in problems}
    expert = None
    if args.expert == "automation":
        from prover.policy.automation import AutomationPolicy

        expert = AutomationPolicy(seed=args.seed)
    try:
        for r in range(args.rounds + 1):
            ts = time.monotonic()
            rate, recs = sample_round(model_dir, problems, checker, work / f"round-{r}", args)
            verdicts: dict[str, int] = {}
            for rec in recs:
                verdicts[rec.verdict] = verdicts.get(rec.verdict, 0) + 1
                if rec.proved:
                    kept[(rec.formal_statement, rec.proof)] = (rec.prompt, rec.completion + FENCE)
            row: dict[str, Any] = {
                "round": r,
                "model": str(model_dir),
                "samples": len(recs),
                "pass_rate": rate,
                "verified_proofs_total": len(kept),
                "verdicts": verdicts,
                "sample_verify_s": round(time.monotonic() - ts, 1),
            }
            print(
                f"round {r}: pass rate {rate:.3f} ({round(rate * len(problems))}/{len(problems)}"
                f" problems), {len(recs)} samples, verdicts {verdicts}, "
                f"{row['sample_verify_s']}s"
            )
            if r < args.rounds and expert is not None:
                te = time.monotonic()
                erecs = expert_round(expert, problems, checker, work / f"expert-{r}", args)
                for rec in erecs:
                    prob = by_statement.get(rec.formal_statement)
                    if rec.proved and prob is not None:
                        expert_kept[(rec.formal_statement, rec.proof)] = (
                            prompt_of(prob.task()),
                            rec.completion.rstrip("\n") + "\n" + FENCE,
                        )
                expert_solved = len({rec.formal_statement for rec in erecs if rec.proved})
                row.update(expert_solved=expert_solved, expert_proofs_total=len(expert_kept))
                print(
                    f"  expert (automation policy): {expert_solved}/{len(problems)} problems, "
                    f"{len(expert_kept)} distinct verified proofs so far "
                    f"({time.monotonic() - te:.1f}s)"
                )
            if r < args.rounds:
                examples = list(kept.values()) + list(expert_kept.values()) + fs_rows
                tcfg = TrainConfig(steps=args.train_steps, lr=args.lr, seed=args.seed + r)
                tt = time.monotonic()
                before, after = finetune(model_dir, work / f"model-{r + 1}", examples, tcfg)
                model_dir = work / f"model-{r + 1}"
                row.update(
                    train_rows_verified=len(kept),
                    train_rows_expert=len(expert_kept),
                    train_rows_few_shot=len(fs_rows),
                    train_steps=tcfg.steps,
                    loss_before=round(before, 4),
                    loss_after=round(after, 4),
                    train_s=round(time.monotonic() - tt, 1),
                )
                print(
                    f"  fine-tune: {len(kept)} self-generated verified proofs + "
                    f"{len(expert_kept)} expert proofs + {len(fs_rows)} "
                    f"few-shot (reference proofs, not self-generated); {tcfg.steps} steps; "
                    f"loss {before:.4f} -> {after:.4f} ({row['train_s']}s)"
                )
            report.append(row)
    finally:
        checker.close()
    print(f"total {time.monotonic() - t0:.1f}s; work dir {work}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
