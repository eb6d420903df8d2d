"""Training sets from feedback records (`DIR/records.jsonl`, see prover.rl.records).

Formats and their columns (every row also has `problem_id`, `formal_statement` and `header`):

grpo      {prompt, completion, reward}: every recorded sample; reward is 1.0 only for verdict
          `proved` under the default axiom policy (no sorry, no native_decide), else 0.0.  Ready
          for TRL's GRPOTrainer / verl (use `prompt` as the dataset prompt; `formal_statement` and
          `header` are the columns `LeanReward` reads).
sft       {prompt, completion}: verified (proved) samples only, one row per distinct proof.
dpo       {prompt, chosen, rejected}: for each prompt with both a proved and a not-proved sample,
          pairs (proved completion, failed completion); at most `max_pairs_per_prompt` pairs.
error-fix {prompt, failed_proof, error, corrected_proof}: a failed proof of a problem with its
          first Lean error (line:column: text; or the verdict reason) and a verified proof of the
          same problem, for self-correction training.  `prompt` is the original problem prompt.

`prompt` is the exact prompt recorded with the sample; records without one (e.g. from `verify`)
get the DeepSeek-Prover-V1.5 non-CoT prompt built from header + statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prover.errors import UsageError
from prover.rl.records import FeedbackRecord, read_records, rows_to_parquet

FORMATS = ("grpo", "sft", "dpo", "error-fix")
COLUMNS = {
    "grpo": ("prompt", "completion", "reward"),
    "sft": ("prompt", "completion"),
    "dpo": ("prompt", "chosen", "rejected"),
    "error-fix": ("prompt", "failed_proof", "error", "corrected_proof"),
}
COMMON = ("problem_id", "formal_statement", "header")


def _prompt(rec: FeedbackRecord) -> str:
    if rec.prompt:
        return rec.prompt
    from prover.policy.base import ProofTask
    from prover.policy.prompts import v1_prompt

    task = ProofTask(formal_statement=rec.formal_statement, header=rec.header or "")
    return v1_prompt(task, default_header=rec.header or "").text


def _completion(rec: FeedbackRecord) -> str:
    return rec.completion or rec.proof


def _common(rec: FeedbackRecord) -> dict[str, Any]:
    return {
        "problem_id": rec.problem_id,
        "formal_statement": rec.formal_statement,
        "header": rec.header if rec.header is not None else "",
    }


def error_text(rec: FeedbackRecord) -> str:
    e = rec.first_error
    if e:
        return f"line {e['line']}, column {e['column']}: {e['text']}"
    if rec.reason:
        return f"{rec.verdict}: {rec.reason}"
    return rec.verdict


def _groups(records: Iterable[FeedbackRecord]) -> dict[tuple[str, str], list[FeedbackRecord]]:
    out: dict[tuple[str, str], list[FeedbackRecord]] = {}
    for r in records:
        out.setdefault((r.problem_id, r.formal_statement), []).append(r)
    return out


def build_rows(
    records: Iterable[FeedbackRecord], fmt: str, max_pairs_per_prompt: int = 4
) -> list[dict[str, Any]]:
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; choose {', '.join(FORMATS)}")
    recs = list(records)
    rows: list[dict[str, Any]] = []
    if fmt == "grpo":
        for r in recs:
            rows.append(
                {
                    "prompt": _prompt(r),
                    "completion": _completion(r),
                    "reward": r.reward,
                    **_common(r),
                }
            )
    elif fmt == "sft":
        seen: set[tuple[str, str]] = set()
        for r in recs:
            if r.proved and (r.formal_statement, r.proof) not in seen:
                seen.add((r.formal_statement, r.proof))
                rows.append({"prompt": _prompt(r), "completion": _completion(r), **_common(r)})
    elif fmt == "dpo":
        by_prompt: dict[str, list[FeedbackRecord]] = {}
        for r in recs:
            by_prompt.setdefault(_prompt(r), []).append(r)
        for prompt, rs in by_prompt.items():
            good = [r for r in rs if r.proved]
            bad = [r for r in rs if not r.proved]
            pairs = [(g, b) for g in good for b in bad][:max_pairs_per_prompt]
            for g, b in pairs:
                rows.append(
                    {
                        "prompt": prompt,
                        "chosen": _completion(g),
                        "rejected": _completion(b),
                        **_common(g),
                    }
                )
    else:
        for rs in _groups(recs).values():
            good = [r for r in rs if r.proved]
            if not good:
                continue
            bad = [r for r in rs if not r.proved and r.proof.strip()]
            for k, b in enumerate(bad[:max_pairs_per_prompt]):
                g = good[k % len(good)]
                rows.append(
                    {
                        "prompt": _prompt(b),
                        "failed_proof": b.proof,
                        "error": error_text(b),
                        "corrected_proof": g.proof,
                        **_common(b),
                    }
                )
    return rows


def export(
    directory: str | Path, fmt: str, out: str | Path, max_pairs_per_prompt: int = 4
) -> tuple[Path, int]:
    """Write the `fmt` rows of DIR's records to `out` (.jsonl or .parquet); (path, row count)."""
    src = Path(directory)
    if not (src / "records.jsonl").exists() and not src.is_file():
        raise UsageError(f"{src}: no records.jsonl (run `prover collect --out {src}` first)")
    target = Path(out)
    if target.suffix not in (".jsonl", ".parquet"):
        raise UsageError(f"--out {target}: use a .jsonl or .parquet file name")
    rows = build_rows(read_records(src), fmt, max_pairs_per_prompt)
    write_rows(rows, target, fmt)
    return target, len(rows)


def write_rows(rows: list[dict[str, Any]], target: Path, fmt: str) -> None:
    import json

    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".parquet":
        if not rows:
            from datasets import Dataset, Features, Value

            cols = COLUMNS[fmt] + COMMON
            feats = Features(
                {c: Value("float64") if c == "reward" else Value("string") for c in cols}
            )
            Dataset.from_dict({c: [] for c in cols}, features=feats).to_parquet(str(target))
            return
        rows_to_parquet(rows, target)
        return
    tmp = target.with_suffix(target.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(target)
