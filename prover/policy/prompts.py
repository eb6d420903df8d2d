"""Prompt formats of DeepSeek-Prover-V1.5 (non-CoT, CoT, few-shot, tactic-state comments) and
DeepSeek-Prover-V2 (proof plan, then Lean 4 code), plus token budgeting.

V1.5 layout (one prompt; few-shot examples, if any, come first)::

    Complete the following Lean 4 code:            <- or the CoT instruction

    ```lean4
    {header}{informal_prefix}{formal_statement}{prefix}{state comment}

The model continues the code block; its output is cut at the first ```` ``` ````.  A few-shot
example is the same with the example's `formal_proof` appended, then ``\\n```\\n\\n\\n``.

The tactic-state comment (resumption from a verified prefix) follows the prefix on its own lines,
indented like the proof's top-level tactics (DeepSeek-Prover-V1.5's truncate-and-resume indents it
like the first tactic of the resumed segment), so after a multi-line `have ... := by` block the
model continues at the top level, not inside the closed block::

      have h : x = x := by
        rfl
      /- tactic state:
        x : ℕ
        h : x = x
        ⊢ x = x
      -/

A search passes the comment it stored with the prefix (`ProofTask.comment`); otherwise it is built
from `ProofTask.goals`.

V2 asks for a proof plan, then the complete Lean 4 code; the answer is the last ```lean4 block.

`mixture` is DeepSeek-Prover-V1.5's mixture strategy (arXiv 2408.08152, Sec. 4.2 and Table 3,
"non-CoT & CoT"): the paper "allocates half of sample budget to the CoT mode and the remains to the
non-CoT mode" and reports it per run, as `(16 + 16) x 6400` (16 runs of 6400 samples in each mode;
63.5% on miniF2F-test with RMaxTS).  The released code (deepseek-ai/DeepSeek-Prover-V1.5) has no
mixture switch: each run is launched in one `mode`.  Here a `mixture` prompt picks the mode of
each task from its run (`ProofTask.run`, set by every search to its run index and by `collect` to
the sample index): even runs non-CoT, odd runs CoT, so a budget with an even number of runs is
split exactly in half, deterministically (the same run always gets the same mode, whatever the
seed).  A task without a run falls back to its seed's parity (then the call's seed; else
non-CoT).  Each completion's `meta["prompt_mode"]` says which mode produced it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from prover.errors import DataError
from prover.lean.syntax import answer_definitions, base_indent, without_spans
from prover.policy.base import ProofTask

__all__ = [
    "COT_INSTRUCTION",
    "FENCE",
    "LEAN4_DEFAULT_HEADER",
    "NON_COT_INSTRUCTION",
    "V2_PLAN_INSTRUCTION",
    "BuiltPrompt",
    "FewShotExample",
    "PromptBuilder",
    "PromptConfig",
    "PromptMode",
    "PromptTooLongError",
    "check_token_budget",
    "check_token_budgets",
    "cut_at_fence",
    "extract_last_lean4_block",
    "few_shot_block",
    "load_few_shot",
    "select_few_shot",
    "state_comment",
    "v1_prompt",
    "v2_extract_proof",
    "v2_user_message",
]

PromptMode = Literal["non-cot", "cot", "v2", "mixture"]
MODES: tuple[str, ...] = ("non-cot", "cot", "v2", "mixture")
MIXTURE_MODES: tuple[str, str] = ("non-cot", "cot")  # modes of even and odd runs

FENCE = "```"
LEAN4_DEFAULT_HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)
NON_COT_INSTRUCTION = "Complete the following Lean 4 code:"
COT_INSTRUCTION = (
    "Complete the following Lean 4 code with explanatory comments preceding each line of code:"
)
V2_PLAN_INSTRUCTION = (
    "Before producing the Lean 4 code to formally prove the given theorem, provide a detailed "
    "proof plan outlining the main proof steps and strategies.\n"
    "The plan should highlight key ideas, intermediate lemmas, and proof structures that will "
    "guide the construction of the final formal proof."
)


class PromptTooLongError(ValueError):
    """The prompt plus the requested new tokens do not fit in the model's context.  `indices`:
    the positions, in the `generate` call's task list, of every prompt that does not fit (a
    search drops those tasks and generates for the rest)."""

    def __init__(self, message: str, indices: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.indices = tuple(indices)


@dataclass(frozen=True)
class FewShotExample:
    name: str
    formal_statement: str
    formal_proof: str
    informal_prefix: str = ""
    header: str = LEAN4_DEFAULT_HEADER


@dataclass(frozen=True)
class PromptConfig:
    """How a policy turns a ProofTask into a prompt.  Each field's metadata `help` is its
    command-line help and `flag` its option (`prover.commands.options`)."""

    mode: PromptMode = field(
        default="non-cot",
        metadata={
            "flag": "--prompt-mode",
            "help": "non-cot or cot (DeepSeek-Prover-V1.5), v2 (DeepSeek-Prover-V2: proof plan, "
            "then code), or mixture (V1.5's mixture strategy: even runs non-CoT, odd runs CoT)",
        },
    )
    few_shot: int = field(
        default=0,
        metadata={
            "flag": "--few-shot",
            "help": "worked examples from --few-shot-path placed before the problem (V1.5 "
            "formats; the paper prompts its base model with 3)",
        },
    )
    few_shot_path: str | Path | None = field(
        default=None,
        metadata={
            "flag": "--few-shot-path",
            "help": "JSONL of few-shot examples (name, formal_statement, formal_proof), e.g. "
            "DeepSeek-Prover-V1.5's minif2f_valid_few_shot.jsonl",
        },
    )
    with_state_comment: bool = field(
        default=True,
        metadata={
            "flag": "--prompt-state-comment",
            "help": "write the `/- tactic state: ... -/` comment after a non-empty proof prefix",
        },
    )
    default_header: str = field(
        default=LEAN4_DEFAULT_HEADER,
        metadata={
            "flag": "--prompt-default-header",
            "help": "Lean header written in the prompt when a task has none (as the reference "
            "code: Mathlib and Aesop imports)",
        },
    )

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(
                f"PromptConfig.mode must be one of {', '.join(MODES)}; got {self.mode!r}"
            )
        if self.few_shot < 0:
            raise ValueError(f"PromptConfig.few_shot must be >= 0, got {self.few_shot}")
        if self.few_shot > 0 and self.few_shot_path is None:
            raise ValueError(
                f"PromptConfig.few_shot={self.few_shot} needs few_shot_path (e.g. "
                "data/minif2f_valid_few_shot.jsonl), or set few_shot=0"
            )
        if self.few_shot > 0 and self.mode == "v2":
            raise ValueError(
                "few-shot prompts are a DeepSeek-Prover-V1.5 format; use mode='non-cot' or "
                "'cot', or set few_shot=0 for mode='v2'"
            )

    @property
    def stop(self) -> list[str]:
        """Stop strings for the backend: V1.5 stops at the closing fence, V2 must not."""
        return [] if self.mode == "v2" else [FENCE]

    def mode_of(self, task: ProofTask, seed: int | None = None) -> str:
        """The mode `task` is prompted in: `mode`, or for `mixture` the mode of the task's run
        (even: non-CoT, odd: CoT; see the module docstring)."""
        if self.mode != "mixture":
            return self.mode
        run = next((r for r in (task.run, task.seed, seed) if r is not None), 0)
        return MIXTURE_MODES[run % 2]


@dataclass(frozen=True)
class BuiltPrompt:
    """`text` is the exact prompt.  `proof_lead` is text the prompt adds after `task.prefix` that
    belongs to the proof (a newline when the prefix did not end with one), so a completion is
    `proof_lead + generated text`."""

    text: str
    proof_lead: str = ""
    few_shot_names: tuple[str, ...] = ()
    mode: str = ""  # the prompt mode that built it (a `mixture` resolves per task)
    # a V2 correction round: the whole conversation (user, assistant, user feedback, ...) for a
    # chat API that applies the template itself; `text` is then that conversation rendered
    messages: tuple[dict[str, str], ...] = ()


# --------------------------------------------------------------------------------------------
# Formats


def _instruction(mode: str) -> str:
    return COT_INSTRUCTION if mode == "cot" else NON_COT_INSTRUCTION


def state_comment(goals: str, indent: int) -> str:
    """The tactic-state comment: each goal line indented by `indent + 2`, ending with a newline."""
    pad = " " * indent
    body = goals.strip("\n").replace("\n", "\n" + pad + "  ")
    return f"{pad}/- tactic state:\n{pad}  {body}\n{pad}-/\n"


def _prefix_and_comment(task: ProofTask, with_state_comment: bool) -> tuple[str, str]:
    """(text after the statement, proof_lead).  The comment is added only when resuming: the
    prefix holds a tactic and the comment (or the goals) is known.  A built comment is indented
    like the prefix's first tactic line (the proof's base indentation)."""
    prefix = task.prefix
    if not (with_state_comment and prefix.strip() and (task.comment or task.goals.strip())):
        return prefix, ""
    lead = "" if prefix.endswith("\n") else "\n"
    comment = task.comment or state_comment(task.goals, len(base_indent(prefix)))
    return prefix + lead + comment, lead


def v1_prompt(
    task: ProofTask,
    mode: str = "non-cot",
    *,
    with_state_comment: bool = True,
    default_header: str = LEAN4_DEFAULT_HEADER,
) -> BuiltPrompt:
    """The DeepSeek-Prover-V1.5 prompt for one task (without few-shot examples)."""
    header = shown_header(task, default_header)
    rest, lead = _prefix_and_comment(task, with_state_comment)
    text = (
        f"{_instruction(mode)}\n\n{FENCE}lean4\n"
        f"{header}{task.informal_prefix}{task.formal_statement}{rest}"
    )
    return BuiltPrompt(text=text, proof_lead=lead)


def few_shot_block(example: FewShotExample, mode: str = "non-cot") -> str:
    """One worked example, closed by the fence and two blank lines."""
    return (
        f"{_instruction(mode)}\n\n{FENCE}lean4\n{example.header}{example.informal_prefix}"
        f"{example.formal_statement}{example.formal_proof}\n{FENCE}\n\n\n"
    )


def shown_header(task: ProofTask, default_header: str = LEAN4_DEFAULT_HEADER) -> str:
    """The header a prompt shows: the task's (or the default), with the task's fixed answers in
    place of their slots' `sorry` (display only: Lean gets them as `CheckRequest.answers`)."""
    header = default_header if task.header is None else task.header
    if not task.answers:
        return header
    given = dict(task.answers)
    for d in reversed(answer_definitions(header, given)):
        if d.term == "sorry":
            header = header[: d.term_start] + given[d.name] + header[d.term_start + len(d.term) :]
    return header


def answer_request(task: ProofTask) -> str:
    """The sentence asking for the answers a task leaves open (`ProofTask.answer_slots`)."""
    if not task.open_slots:
        return ""
    names = ", ".join(f"`{n}`" for n in task.open_slots)
    return (
        f"The answer definition(s) {names} are `sorry`: write your answer (a Lean term) in place "
        "of each `sorry` and keep the definitions in the complete code."
    )


def answers_written(code: str, task: ProofTask) -> tuple[tuple[str, str], ...]:
    """The answers `code` (a model's Lean code) writes for the task's open answer slots: the last
    top-level `abbrev/def NAME ... := TERM` of each (`answer_definitions`), `sorry` not counted."""
    open_ = task.open_slots
    found = {d.name: d.term for d in answer_definitions(code, open_) if d.term != "sorry"}
    return tuple((n, found[n]) for n in open_ if n in found)


def answers_match(given: Mapping[str, str], reference: Mapping[str, str]) -> bool | None:
    """Whether `given` answers are the `reference` ones word for word (whitespace collapsed);
    None when there is nothing to compare.  A different answer may still be right, or may
    restate the question: a reviewer decides."""
    if not given or not reference:
        return None

    def norm(t: str) -> str:
        return " ".join(t.split())

    return all(norm(given.get(n, "")) == norm(ref) for n, ref in reference.items())


def without_answer_definitions(proof: str, task: ProofTask) -> str:
    """`proof` without top-level definitions of the task's answer slots (a completion-style
    model writes its answer after the proof; the answer goes to Lean as `answers`)."""
    if not task.answer_slots:
        return proof
    defs = answer_definitions(proof, task.answer_slots)
    return without_spans(proof, [(d.start, d.end) for d in defs]) if defs else proof


def v2_user_message(task: ProofTask, *, default_header: str = LEAN4_DEFAULT_HEADER) -> str:
    """DeepSeek-Prover-V2's user message: the statement with `sorry`, then the plan request (and
    the request for answers the task leaves open)."""
    header = shown_header(task, default_header)
    code = f"{header}{task.informal_prefix}{task.formal_statement}"
    if task.prefix.strip():
        code += task.prefix if task.prefix.endswith("\n") else task.prefix + "\n"
    else:
        code = code if code.endswith("\n") else code + "\n"
        code += "  sorry"
    ask = answer_request(task)
    return (
        f"{NON_COT_INSTRUCTION}\n\n{FENCE}lean4\n{code.strip()}\n{FENCE}\n\n{V2_PLAN_INSTRUCTION}"
        + (f"\n{ask}" if ask else "")
    )


def cut_at_fence(text: str) -> str:
    """Everything before the first ```` ``` ```` (the whole text if there is none)."""
    i = text.find(FENCE)
    return text if i < 0 else text[:i]


def extract_last_lean4_block(text: str) -> str | None:
    """Contents of the last ```` ```lean4 ```` block (unterminated blocks run to the end)."""
    opener = FENCE + "lean4"
    i = text.rfind(opener)
    if i < 0:
        return None
    body = text[i + len(opener) :]
    if body.startswith("\n"):
        body = body[1:]
    j = body.find(FENCE)
    return body if j < 0 else body[:j]


def v2_extract_proof(output: str, formal_statement: str) -> str | None:
    """The proof (text after the statement) from a V2 answer's last ```lean4 block, or None if
    there is no block.  If the statement is not found verbatim, the text after the first `:= by`
    is returned; failing that, the whole block."""
    code = extract_last_lean4_block(output)
    if code is None:
        return None
    stmt = formal_statement.rstrip()
    i = code.find(stmt) if stmt else -1
    if i >= 0:
        return code[i + len(stmt) :]
    j = code.find(":= by")
    return code[j + len(":= by") :] if j >= 0 else code


# --------------------------------------------------------------------------------------------
# Few-shot data


def load_few_shot(path: str | Path) -> list[FewShotExample]:
    """Read `minif2f_valid_few_shot.jsonl`-style records (name, formal_statement, formal_proof,
    optional informal_prefix and header)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: few-shot file not found")
    out: list[FewShotExample] = []
    with p.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{p}:{lineno}: invalid JSON ({e.msg})") from None
            missing = [k for k in ("name", "formal_statement", "formal_proof") if k not in rec]
            if missing:
                raise DataError(f"{p}:{lineno}: missing field(s) {', '.join(missing)}")
            out.append(
                FewShotExample(
                    name=rec["name"],
                    formal_statement=rec["formal_statement"],
                    formal_proof=rec["formal_proof"],
                    informal_prefix=rec.get("informal_prefix", ""),
                    header=rec.get("header", LEAN4_DEFAULT_HEADER),
                )
            )
    return out


def select_few_shot(
    examples: Sequence[FewShotExample], k: int, exclude_name: str, rng: random.Random
) -> list[FewShotExample]:
    """k distinct examples chosen with `rng`, never the problem itself: matched by name, where
    `exclude_name` may be a benchmark problem id such as `minif2f/<name>` (tasks are named by id)."""
    own = {exclude_name, exclude_name.rsplit("/", 1)[-1]} if exclude_name else set()
    pool = [e for e in examples if e.name not in own]
    if k > len(pool):
        raise ValueError(
            f"asked for {k} few-shot examples but only {len(pool)} are available "
            f"(excluding {exclude_name!r}); lower few_shot"
        )
    return rng.sample(pool, k)


# --------------------------------------------------------------------------------------------
# Builder and budget


@dataclass
class PromptBuilder:
    """Builds prompts for a PromptConfig.  `chat_template` wraps a V2 user message into the
    model's chat format (e.g. tokenizer.apply_chat_template); without one the message is used
    as is, followed by a newline."""

    config: PromptConfig
    chat_template: Callable[[str], str] | None = None
    examples: list[FewShotExample] = field(default_factory=list)
    # a multi-turn chat template (messages -> text) for correction rounds of V2 prompts; without
    # one the turns are joined as plain text
    chat_messages: Callable[[list[dict[str, str]]], str] | None = None

    def __post_init__(self) -> None:
        if self.config.few_shot > 0 and not self.examples:
            assert self.config.few_shot_path is not None
            self.examples = load_few_shot(self.config.few_shot_path)

    def build_checked(
        self,
        tasks: Sequence[ProofTask],
        params: Any,
        count_tokens: Callable[[str], int],
        max_context_tokens: int,
    ) -> tuple[list[BuiltPrompt], list[int]]:
        """The prompts of one generate call (`params`: its SamplingParams) and their token
        counts; PromptTooLongError (see `check_token_budgets`) if any does not fit."""
        built = [self.build(t, params.seed) for t in tasks]
        counts = check_token_budgets(
            [(b.text, t.name) for t, b in zip(tasks, built, strict=True)],
            count_tokens,
            max_context_tokens,
            params.max_new_tokens,
        )
        return built, counts

    def build(self, task: ProofTask, seed: int | None = None) -> BuiltPrompt:
        if task.corrections:
            return self._build_correction(task, seed)
        cfg = self.config
        mode = cfg.mode_of(task, seed)
        if mode == "v2":
            msg = v2_user_message(task, default_header=cfg.default_header)
            text = self.chat_template(msg) if self.chat_template else msg + "\n"
            return BuiltPrompt(text=text, mode=mode)
        main = v1_prompt(
            task,
            mode,
            with_state_comment=cfg.with_state_comment,
            default_header=cfg.default_header,
        )
        main = replace(main, mode=mode)
        if cfg.few_shot == 0:
            return main
        if task.seed is not None:  # a task's own seed picks its examples (see ProofTask)
            seed = task.seed
        rng = random.Random(f"{seed}:{task.name}:{task.formal_statement}")
        shots = select_few_shot(self.examples, cfg.few_shot, task.name, rng)
        text = "".join(few_shot_block(e, mode) for e in shots) + main.text
        return BuiltPrompt(
            text=text,
            proof_lead=main.proof_lead,
            few_shot_names=tuple(e.name for e in shots),
            mode=mode,
        )

    def _build_correction(self, task: ProofTask, seed: int | None) -> BuiltPrompt:
        """A correction round's prompt (Goedel-Prover-V2's formats, `prover.policy.correction`):
        V2 (chat) keeps the history, the failed answers as assistant turns and Lean's feedback as
        user turns; V1.5 (completion) prompts get the last round's errors as comments first."""
        from prover.policy.correction import chat_feedback, completion_feedback

        first = self.build(replace(task, corrections=()), seed)
        rnd = len(task.corrections)
        if first.mode == "v2":
            cfg = self.config
            msgs = [
                {
                    "role": "user",
                    "content": v2_user_message(task, default_header=cfg.default_header),
                }
            ]
            for r, (answer, errors, fmt) in enumerate(task.corrections, 1):
                msgs.append({"role": "assistant", "content": answer})
                msgs.append({"role": "user", "content": chat_feedback(fmt, r, errors)})
            if self.chat_messages is not None:
                text = self.chat_messages(msgs)
            else:
                text = "\n\n".join(m["content"] for m in msgs) + "\n"
            return replace(first, text=text, messages=tuple(msgs))
        _, errors, fmt = task.corrections[-1]
        return replace(first, text=completion_feedback(fmt, rnd, errors) + "\n\n" + first.text)

    def postprocess(self, generated: str, task: ProofTask, prompt: BuiltPrompt) -> str:
        """The completion text (what follows `task.prefix`) from raw generated text (answer
        definitions taken out: see `answers`)."""
        if self.config.mode == "v2":
            proof = v2_extract_proof(generated, task.formal_statement)
            if proof is None:
                return ""
            proof = without_answer_definitions(proof, task)
            if task.prefix.strip() and proof.startswith(task.prefix):
                return proof[len(task.prefix) :]
            return proof
        return without_answer_definitions(prompt.proof_lead + cut_at_fence(generated), task)

    def answers(self, generated: str, task: ProofTask) -> tuple[tuple[str, str], ...]:
        """The answers raw generated text writes for the task's open answer slots: in V2 mode
        from its last ```` ```lean4 ```` block (the complete code), else from the text itself (a
        completion writes `abbrev NAME : T := TERM` after its proof).  See `answers_written`."""
        if not task.answer_slots:
            return ()
        code = extract_last_lean4_block(generated) if self.config.mode == "v2" else generated
        return answers_written(cut_at_fence(code or ""), task)


def check_token_budget(
    prompt: str,
    count_tokens: Callable[[str], int],
    max_context_tokens: int,
    max_new_tokens: int,
    *,
    name: str = "",
) -> int:
    """Number of prompt tokens; raises PromptTooLongError if prompt + max_new_tokens does not fit
    in max_context_tokens.  Never truncates."""
    n = count_tokens(prompt)
    if n + max_new_tokens > max_context_tokens:
        what = f"problem {name!r}" if name else "the problem"
        raise PromptTooLongError(
            f"prompt for {what} is too long: {n} prompt tokens + max_new_tokens="
            f"{max_new_tokens} > context limit {max_context_tokens}; lower max_new_tokens, "
            "use fewer few-shot examples, or shorten the proof prefix"
        )
    return n


def check_token_budgets(
    prompts: Sequence[tuple[str, str]],
    count_tokens: Callable[[str], int],
    max_context_tokens: int,
    max_new_tokens: int,
) -> list[int]:
    """`check_token_budget` for each `(prompt, name)` of one call: the prompt token counts, or
    one PromptTooLongError naming the first prompt that does not fit, with `indices` listing all
    of them."""
    counts: list[int] = []
    failures: list[tuple[int, PromptTooLongError]] = []
    for i, (text, name) in enumerate(prompts):
        try:
            counts.append(
                check_token_budget(
                    text, count_tokens, max_context_tokens, max_new_tokens, name=name
                )
            )
        except PromptTooLongError as e:
            failures.append((i, e))
    if failures:
        more = f" (and {len(failures) - 1} more prompt(s))" if len(failures) > 1 else ""
        raise PromptTooLongError(f"{failures[0][1]}{more}", [i for i, _ in failures])
    return counts


def tokenizer_prompt_builder(config: PromptConfig, tokenizer: Any) -> PromptBuilder:
    """The PromptBuilder of a local model (hf, vLLM): V2 prompts go through the tokenizer's chat
    template when it has one, a correction round with the whole conversation (Goedel-Prover-V2);
    other modes are plain text.  `builder.chat_template is not None` tells whether the template
    (which already holds the BOS token) is used."""
    if config.mode != "v2" or not getattr(tokenizer, "chat_template", None):
        return PromptBuilder(config)

    def turns(messages: list[dict[str, str]]) -> str:
        out = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return str(out)

    return PromptBuilder(
        config,
        chat_template=lambda message: turns([{"role": "user", "content": message}]),
        chat_messages=turns,
    )
