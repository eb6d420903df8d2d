"""A tiny local causal LM for tests and benchmarks (no downloads; a few seconds on CPU).

`build_tiny_model(out_dir, data_files)` trains a byte-level BPE tokenizer on the Lean text of
the given jsonl files (formal statements, proofs, doc comments, headers, plus the prompt
instructions), wraps it as a `PreTrainedTokenizerFast` with `<s>`, `</s>` and `<pad>`, and saves it
next to a randomly initialised 2-layer Llama (hidden size 64).  The weights are random, except that
the closing code fence ```` ``` ```` gets a fixed logit boost (`fence_logit`) so that sampled
continuations end at a fence after ~20 tokens on average, which exercises the stop logic.

    python -m prover.policy.tiny OUT_DIR data/minif2f.jsonl data/minif2f_valid_few_shot.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from prover.errors import DataError

TEXT_FIELDS = ("header", "informal_prefix", "formal_statement", "formal_proof", "goal")
SPECIAL_TOKENS = ("<s>", "</s>", "<pad>")


def _texts(data_files: Sequence[str | Path]) -> Iterator[str]:
    from prover.policy.prompts import (
        COT_INSTRUCTION,
        FENCE,
        NON_COT_INSTRUCTION,
        V2_PLAN_INSTRUCTION,
    )

    for _ in range(20):
        yield f"{NON_COT_INSTRUCTION}\n\n{FENCE}lean4\n"
        yield f"{COT_INSTRUCTION}\n\n{FENCE}lean4\n"
        yield f"\n{FENCE}\n\n\n{V2_PLAN_INSTRUCTION}\n  /- tactic state:\n    ⊢ -/\n"
    for path in data_files:
        p = Path(path)
        if not p.is_file():
            raise DataError(f"{p}: data file for the tiny tokenizer not found")
        with p.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    for k in TEXT_FIELDS:
                        if isinstance(rec.get(k), str) and rec[k]:
                            yield rec[k]


def build_tiny_tokenizer(data_files: Sequence[str | Path], vocab_size: int = 1024):  # type: ignore[no-untyped-def]
    """A byte-level BPE PreTrainedTokenizerFast trained on the files' Lean text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_texts(data_files), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def build_tiny_model(
    out_dir: str | Path,
    data_files: Sequence[str | Path],
    seed: int = 0,
    *,
    vocab_size: int = 1024,
    hidden_size: int = 64,
    num_layers: int = 2,
    max_position_embeddings: int = 4096,
    fence_logit: float = 4.0,
) -> Path:
    """Build and save the tiny tokenizer + model into `out_dir`; returns it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(data_files, vocab_size=vocab_size)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    fence_ids = tokenizer.encode("```", add_special_tokens=False)
    with torch.no_grad():
        # Dimension 0 of every embedding is 1, so after the final RMSNorm it is a large, nearly
        # constant feature; lm_head reads it only for the fence token, boosting that logit.
        model.model.embed_tokens.weight[:, 0] = 1.0
        model.lm_head.weight[:, 0] = 0.0
        if len(fence_ids) == 1 and fence_logit:
            model.lm_head.weight[fence_ids[0], 0] = fence_logit / 7.5
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prover.policy.tiny", description=__doc__)
    ap.add_argument("out_dir")
    ap.add_argument("data_files", nargs="+")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print(build_tiny_model(args.out_dir, args.data_files, seed=args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
