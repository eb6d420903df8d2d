"""Training sets from feedback records (`DIR/records.jsonl`, see prover.rl.records).

Only records of the selected kinds are used, by default `sample` (whole-proof samples: `collect`,
the sampling search, RMaxTS expansions, LeanReward); `tactic` (best-first-search steps) can be
added; `precheck` (statement + `sorry`) and `final` (a search's re-check) never make sense as
training rows.  Records are read with `load_records`: one per (statement, proof), a settled
verdict replacing an earlier `timeout` / `error`.

Formats and their columns (every row except verl's also has `problem_id`, `formal_statement`,
`header` (null: the checker's default header) and `prefix` (the verified proof prefix the
completion continues; "" for a whole proof): the columns `LeanReward` reads):

grpo      {prompt, completion, reward, refusal}: every selected record; reward is 1.0 only for
          verdict `proved` under the default axiom policy (no sorry, no native_decide), else
          0.0; `refusal` is the record's refusal category (set by Lean: `sorry`,
          `native_decide`, `code_evaluation`, ...; README "Refusal categories"), null when Lean
          refused nothing (proved, failed, unsolved goals).  For TRL's GRPOTrainer: `prompt` is
          the dataset prompt, the other columns reach the reward function as keyword lists.
sft       {prompt, completion}: verified (proved) samples only, one row per distinct proof.
dpo       {prompt, chosen, rejected}: for each prompt with both a proved and a failed sample,
          pairs (proved completion, failed completion); at most `max_pairs_per_prompt` pairs.
          `timeout` / `error` samples are never `rejected` (the proof may be right).
error-fix {prompt, failed_proof, error, corrected_proof}: a failed proof of a problem with its
          first Lean error (line:column: text; or the verdict reason) and a verified proof of the
          same problem, for self-correction training.  `prompt` is the failed sample's prompt.
          `timeout` / `error` samples are never the failed proof.
verl      {data_source, prompt, ability, reward_model, extra_info}: verl's RLHFDataset layout,
          one row per distinct (problem, prompt): `prompt` is a chat message list
          [{"role": "user", "content": <recorded prompt>}], `data_source` "lean4",
          `reward_model` {"style": "rule", "ground_truth": JSON {formal_statement, header,
          prefix, answer_slots (plain variant only)}} (what
          `prover.rl.verl_reward.compute_score` verifies against), `extra_info`
          {index, problem_id, refusals}: `refusals` lists the refusal categories of the
          recorded samples of that (problem, prompt), one per refused sample ([] when none).
multiturn {messages, reward}: one chat trajectory per self-correction record (kind
          `correction`, selected by default for this format): the first prompt as a user turn,
          each answer as an assistant turn, Lean's feedback on it as a user turn, ending with the
          correction's answer; `reward` is that answer's.  Policy turns are the `assistant` turns
          (trainable: TRL's SFTTrainer with `assistant_only_loss=True`); the prompt and the Lean
          feedback are `user` turns, masked.

`prompt` is the exact prompt recorded with the sample; records without one (e.g. from `verify`)
get the DeepSeek-Prover-V1.5 non-CoT prompt built from header + statement.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.datasets import answer_slots
from prover.errors import UsageError
from prover.lean.wrappers import KINDS
from prover.rl.records import FeedbackRecord, load_records, rows_to_parquet

FORMATS = ("grpo", "sft", "dpo", "error-fix", "verl", "multiturn")
DEFAULT_KINDS = ("sample",)
COLUMNS = {
    "grpo": ("prompt", "completion", "reward", "refusal"),
    "sft": ("prompt", "completion"),
    "dpo": ("prompt", "chosen", "rejected"),
    "error-fix": ("prompt", "failed_proof", "error", "corrected_proof"),
    "verl": ("data_source", "prompt", "ability", "reward_model", "extra_info"),
    "multiturn": ("messages", "reward"),
}
COMMON = ("problem_id", "formal_statement", "header", "prefix")
VERL_DATA_SOURCE = "lean4"


def _prompt(rec: FeedbackRecord) -> str:
    if rec.prompt:
        return rec.prompt
    from prover.policy.base import ProofTask
    from prover.policy.prompts import v1_prompt

    # a record checked under the backend's default header (None) gets a prompt without one:
    # which header that was depends on the backend
    task = ProofTask(formal_statement=rec.formal_statement, header=rec.header or "")
    return v1_prompt(task).text


def _completion(rec: FeedbackRecord) -> str:
    return rec.completion or rec.proof


def _common(rec: FeedbackRecord) -> dict[str, Any]:
    return {
        "problem_id": rec.problem_id,
        "formal_statement": rec.formal_statement,
        "header": rec.header,
        "prefix": rec.prefix,
    }


def ground_truth(rec: FeedbackRecord) -> str:
    """verl's `reward_model.ground_truth`: what a completion of this prompt is verified against."""
    truth: dict[str, Any] = {
        "formal_statement": rec.formal_statement,
        "header": rec.header,
        "prefix": rec.prefix,
    }
    # the plain variant: the header's open answers, which a completion writes too
    slots = [n for n, _ in answer_slots(rec.header or "")]
    if slots:
        truth["answer_slots"] = slots
    return json.dumps(truth, ensure_ascii=False)


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


def _failed(rec: FeedbackRecord) -> bool:
    """Not proved, and the check finished (a timeout / error may be a correct proof)."""
    return not rec.proved and rec.settled


def parse_kinds(text: str) -> tuple[str, ...]:
    """`sample,tactic` -> ("sample", "tactic"); UsageError naming the valid kinds."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise UsageError(
            f"--kinds {text!r}: give a comma-separated list of {', '.join(KINDS)} (default: sample)"
        )
    return kinds


def build_rows(
    records: Iterable[FeedbackRecord],
    fmt: str,
    max_pairs_per_prompt: int = 4,
    kinds: Sequence[str] = DEFAULT_KINDS,
) -> list[dict[str, Any]]:
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; choose {', '.join(FORMATS)}")
    if fmt == "multiturn" and tuple(kinds) == DEFAULT_KINDS:
        kinds = ("correction",)  # trajectories are correction chains
    recs = [r for r in records if r.kind in kinds]
    rows: list[dict[str, Any]] = []
    if fmt == "multiturn":
        for r in recs:
            if not r.turns:
                continue
            messages = [dict(t) for t in r.turns]
            messages.append({"role": "assistant", "content": _completion(r)})
            rows.append({"messages": messages, "reward": r.reward, **_common(r)})
        return rows
    if fmt == "grpo":
        for r in recs:
            rows.append(
                {
                    "prompt": _prompt(r),
                    "completion": _completion(r),
                    "reward": r.reward,
                    "refusal": r.refusal,
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
            bad = [r for r in rs if _failed(r)]
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
    elif fmt == "error-fix":
        for rs in _groups(recs).values():
            good = [r for r in rs if r.proved]
            if not good:
                continue
            bad = [r for r in rs if _failed(r) and r.proof.strip()]
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
    else:
        refused: dict[tuple[str, str], list[str]] = {}
        for r in recs:
            cats = refused.setdefault((r.problem_id, _prompt(r)), [])
            if r.refusal:
                cats.append(r.refusal)
        prompts: set[tuple[str, str]] = set()
        for r in recs:
            prompt = _prompt(r)
            if (r.problem_id, prompt) in prompts:
                continue
            prompts.add((r.problem_id, prompt))
            rows.append(
                {
                    "data_source": VERL_DATA_SOURCE,
                    "prompt": [{"role": "user", "content": prompt}],
                    "ability": "theorem_proving",
                    "reward_model": {"style": "rule", "ground_truth": ground_truth(r)},
                    "extra_info": {
                        "index": len(rows),
                        "problem_id": r.problem_id,
                        "refusals": refused[(r.problem_id, prompt)],
                    },
                }
            )
    return rows


def export(
    directory: str | Path,
    fmt: str,
    out: str | Path,
    max_pairs_per_prompt: int = 4,
    kinds: Sequence[str] = DEFAULT_KINDS,
) -> tuple[Path, int]:
    """Write the `fmt` rows of DIR's records to `out` (.jsonl or .parquet); (path, row count)."""
    src = Path(directory)
    if not (src / "records.jsonl").exists() and not src.is_file():
        raise UsageError(f"{src}: no records.jsonl (run `prover collect --out {src}` first)")
    target = Path(out)
    if target.suffix not in (".jsonl", ".parquet"):
        raise UsageError(f"--out {target}: use a .jsonl or .parquet file name")
    rows = build_rows(load_records(src), fmt, max_pairs_per_prompt, kinds)
    write_rows(rows, target, fmt)
    return target, len(rows)


def features(fmt: str) -> Any:
    """The `datasets.Features` of a format's rows (so empty files and all-null columns such as
    `header` keep their types)."""
    from datasets import Features, Value

    text = Value("string")
    if fmt == "verl":
        return Features(
            {
                "data_source": text,
                "prompt": [{"role": text, "content": text}],
                "ability": text,
                "reward_model": {"style": text, "ground_truth": text},
                "extra_info": {"index": Value("int64"), "problem_id": text, "refusals": [text]},
            }
        )
    if fmt == "multiturn":
        cols = {c: text for c in COMMON}
        return Features(
            {"messages": [{"role": text, "content": text}], "reward": Value("float64"), **cols}
        )
    return Features({c: Value("float64") if c == "reward" else text for c in COLUMNS[fmt] + COMMON})


def write_rows(rows: list[dict[str, Any]], target: Path, fmt: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".parquet":
        rows_to_parquet(rows, target, features(fmt))
        return
    tmp = target.with_suffix(target.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(target)
