"""The replay policy (`--policy replay:FILE.jsonl`): answers from recorded completions.

FILE holds one JSON object per line, `{"name": THEOREM_NAME_OR_PROBLEM_ID, "completion": TEXT}`,
where TEXT is what follows the statement's `:= by`, as a model's completion would be.  For a
task with open answer slots (PutnamBench's plain variant) a line may add `"answers": {SLOT: TERM}`;
without it, answer definitions in TEXT (`abbrev SLOT : T := TERM` after the proof) are the
answers, as with a model's completion.  A task is
answered from the lines of its name (`ProofTask.name`; a benchmark id `minif2f/NAME` also matches
lines named `NAME`), served in file order, then cycling.  When a task resumes from a verified
prefix (RMaxTS) and the recorded text starts with that prefix, the rest of it is served.  A task
whose name has no line gets an empty completion (it fails, as a model's bad answer would).

Users re-verify published proof sets with it (a model's miniF2F solutions) and tests drive the
searches with exact text: a test of self-correction lists a failing first attempt and its fix in
that order.  Each completion carries the exact prompt a model policy with the same `PromptConfig`
would have been given (`Completion.prompt`), correction turns included, so recorded data look as
they would with a model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.errors import DataError
from prover.policy.base import Completion, ProofTask, SamplingParams
from prover.policy.prompts import (
    PromptBuilder,
    PromptConfig,
    answers_written,
    without_answer_definitions,
)


@dataclass(frozen=True)
class ReplayConfig:
    """The replay policy's config; the spec gives `path` (`replay:FILE.jsonl`)."""

    path: str = field(metadata={"cli": False, "help": "the JSONL file (from the policy spec)"})
    prompt: PromptConfig = field(
        default=PromptConfig(),
        metadata={"help": "the prompt recorded with each completion (as a model's would be)"},
    )

    def __post_init__(self) -> None:
        if not str(self.path).strip():
            raise ValueError("ReplayConfig.path: name a JSONL file, e.g. replay:proofs.jsonl")


Line = tuple[str, tuple[tuple[str, str], ...] | None]  # completion text, recorded answers


def load_replay(path: str | Path) -> dict[str, list[Line]]:
    """name -> (completion, answers or None) in file order; DataError naming the line for a
    bad one."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: replay file not found")
    out: dict[str, list[Line]] = {}
    with p.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec: Any = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{p}:{lineno}: invalid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise DataError(f"{p}:{lineno}: expected an object with name and completion")
            name, text = rec.get("name"), rec.get("completion")
            if not isinstance(name, str) or not name or not isinstance(text, str):
                raise DataError(f"{p}:{lineno}: needs a string `name` and a string `completion`")
            answers = rec.get("answers")
            if answers is not None and (
                not isinstance(answers, dict)
                or not all(isinstance(k, str) and isinstance(v, str) for k, v in answers.items())
            ):
                raise DataError(f"{p}:{lineno}: `answers` must map answer-slot names to Lean terms")
            out.setdefault(name, []).append(
                (text, tuple(answers.items()) if answers is not None else None)
            )
    return out


class ReplayPolicy:
    """Serves recorded completions by task name (see the module docstring)."""

    def __init__(self, path: str | Path, *, prompt: PromptConfig | Any = None) -> None:
        if prompt is None:
            prompt = PromptConfig()
        elif not isinstance(prompt, PromptConfig):
            prompt = PromptConfig(**dict(prompt))
        self.config = ReplayConfig(path=str(path), prompt=prompt)
        self.spec = f"replay:{self.config.path}"
        self.lines = load_replay(self.config.path)
        self.served: dict[str, int] = {}  # name -> completions served so far
        self.prompts = PromptBuilder(self.config.prompt)

    def _key(self, name: str) -> str | None:
        for key in (name, name.rsplit("/", 1)[-1]):
            if key in self.lines:
                return key
        return None

    def _next(self, name: str) -> Line:
        key = self._key(name)
        if key is None:
            return "", None
        k = self.served.get(key, 0)
        self.served[key] = k + 1
        texts = self.lines[key]
        return texts[k % len(texts)]

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        out = []
        for task in tasks:
            prompt = self.prompts.build(task, params.seed).text
            comps = []
            for _ in range(params.n):
                text, answers = self._next(task.name)
                if answers is None:
                    answers = answers_written(text, task)
                else:  # only for slots the task leaves open (not with-solutions, not fixed)
                    answers = tuple((n, t) for n, t in answers if n in task.open_slots)
                text = without_answer_definitions(text, task)
                if task.prefix.strip() and text.startswith(task.prefix):
                    text = text[len(task.prefix) :]
                comps.append(
                    Completion(text=text, prompt=prompt, meta={"replay": True}, answers=answers)
                )
            out.append(comps)
        return out

    def close(self) -> None:
        pass
