"""HFPolicy generation throughput on CPU with the tiny local model.

    python -m benchmarks.perf.policy_throughput [--tasks 16] [--n 4] [--batch-size 16] [--max-new 64]

Builds the tiny random-weight model (prover.policy.tiny) in a temporary directory, generates for
miniF2F prompts (non-CoT) and prints tokens/s, prompts/s, the batch size and the core count.
The tiny model measures the harness overhead (tokenization, padding, stop checks), not a real
prover's speed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.perf.policy_throughput")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--tasks", type=int, default=16)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from prover.policy.base import ProofTask, SamplingParams
    from prover.policy.hf import HFPolicy
    from prover.policy.tiny import build_tiny_model

    files = [args.data / "minif2f_valid_few_shot.jsonl", args.data / "minif2f.jsonl"]
    with (args.data / "minif2f.jsonl").open(encoding="utf-8") as f:
        recs = [json.loads(line) for line in f if line.strip()][: args.tasks]
    tasks = [
        ProofTask(
            formal_statement=r["formal_statement"],
            header=r.get("header", ""),
            informal_prefix=r.get("informal_prefix", ""),
            name=r["name"],
        )
        for r in recs
    ]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model_dir = build_tiny_model(Path(tmp) / "tiny", files, seed=args.seed)
        build_s = time.perf_counter() - t0
        policy = HFPolicy(str(model_dir), device=args.device, batch_size=args.batch_size)
        params = SamplingParams(n=args.n, max_new_tokens=args.max_new, seed=args.seed)
        policy.generate(tasks[:1], SamplingParams(max_new_tokens=4, seed=0))  # warm-up
        t0 = time.perf_counter()
        out = policy.generate(tasks, params)
        gen_s = time.perf_counter() - t0
        policy.close()

    comps = [c for rows in out for c in rows]
    new_tokens = sum(c.num_tokens for c in comps)
    prompt_tokens = sum(rows[0].meta["prompt_tokens"] for rows in out)
    stops = {k: sum(c.meta["stop"] == k for c in comps) for k in ("stop", "eos", "length")}
    print(
        f"device: {args.device}  cpu cores: {os.cpu_count()}  torch threads: {torch.get_num_threads()}"
    )
    print(f"tiny model build: {build_s:.2f} s")
    print(
        f"prompts: {len(tasks)} x n={args.n} = {len(comps)} samples, batch size {args.batch_size}, "
        f"max_new_tokens {args.max_new}, mean prompt tokens {prompt_tokens / max(len(tasks), 1):.0f}"
    )
    print(f"stop reasons: {stops}")
    print(f"generated tokens: {new_tokens} in {gen_s:.2f} s")
    print(
        f"throughput: {new_tokens / gen_s:.1f} tokens/s, {len(tasks) / gen_s:.2f} prompts/s, "
        f"{len(comps) / gen_s:.2f} samples/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
