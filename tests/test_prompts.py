"""Golden tests pinning the DeepSeek-Prover prompt formats exactly."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from prover.errors import DataError
from prover.policy.base import ProofTask
from prover.policy.prompts import (
    LEAN4_DEFAULT_HEADER,
    BuiltPrompt,
    FewShotExample,
    PromptBuilder,
    PromptConfig,
    PromptTooLongError,
    check_token_budget,
    check_token_budgets,
    cut_at_fence,
    extract_last_lean4_block,
    few_shot_block,
    load_few_shot,
    select_few_shot,
    state_comment,
    v1_prompt,
    v2_extract_proof,
    v2_user_message,
)

TASK = ProofTask(
    formal_statement="theorem t (x : ℕ) (h : x = 1) : x + 1 = 2 := by\n",
    header="import Mathlib\n\n",
    informal_prefix="/-- Show x+1=2.-/\n",
    name="t",
)
RESUME = ProofTask(
    formal_statement=TASK.formal_statement,
    header="import Mathlib\n\n",
    prefix="  subst h\n  have : 1 + 1 = 2 := by\n    norm_num",
    goals="this : 1 + 1 = 2\n⊢ 1 + 1 = 2",
    name="t",
)
EXAMPLES = [
    FewShotExample(
        name=f"e{i}",
        formal_statement=f"theorem e{i} : {i} = {i} := by\n",
        formal_proof="  rfl",
        informal_prefix=f"/-- {i} -/\n",
        header="import Mathlib\n",
    )
    for i in range(3)
]


def test_non_cot_golden() -> None:
    assert v1_prompt(TASK).text == (
        "Complete the following Lean 4 code:\n\n```lean4\nimport Mathlib\n\n"
        "/-- Show x+1=2.-/\ntheorem t (x : ℕ) (h : x = 1) : x + 1 = 2 := by\n"
    )


def test_cot_golden() -> None:
    assert v1_prompt(TASK, "cot").text == (
        "Complete the following Lean 4 code with explanatory comments preceding each line of "
        "code:\n\n```lean4\nimport Mathlib\n\n"
        "/-- Show x+1=2.-/\ntheorem t (x : ℕ) (h : x = 1) : x + 1 = 2 := by\n"
    )


def test_default_header_when_task_has_none() -> None:
    text = v1_prompt(ProofTask(formal_statement="theorem a : True := by\n")).text
    assert text == (
        "Complete the following Lean 4 code:\n\n```lean4\nimport Mathlib\nimport Aesop\n\n"
        "set_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n"
        "theorem a : True := by\n"
    )
    assert LEAN4_DEFAULT_HEADER.endswith("Rat\n\n")


def test_resume_with_state_comment_golden() -> None:
    # the prefix ends inside a closed multi-line `have` block: the comment goes at the proof's
    # base indentation (DeepSeek-Prover-V1.5's layout), so the model continues at the top level
    built = v1_prompt(RESUME, "cot")
    assert built.text == (
        "Complete the following Lean 4 code with explanatory comments preceding each line of "
        "code:\n\n```lean4\nimport Mathlib\n\n"
        "theorem t (x : ℕ) (h : x = 1) : x + 1 = 2 := by\n"
        "  subst h\n"
        "  have : 1 + 1 = 2 := by\n"
        "    norm_num\n"
        "  /- tactic state:\n"
        "    this : 1 + 1 = 2\n"
        "    ⊢ 1 + 1 = 2\n"
        "  -/\n"
    )
    assert built.proof_lead == "\n"  # the prefix had no trailing newline


def test_resume_uses_the_stored_comment_verbatim() -> None:
    stored = "  /- tactic state:\n    stored\n  -/\n"
    task = replace(RESUME, prefix=RESUME.prefix + "\n", comment=stored)
    built = v1_prompt(task)
    assert built.text.endswith("  have : 1 + 1 = 2 := by\n    norm_num\n" + stored)
    assert built.proof_lead == ""
    assert "tactic state" not in v1_prompt(task, with_state_comment=False).text


def test_resume_without_comment_and_prefix_with_newline() -> None:
    task = ProofTask(
        formal_statement="theorem a : True := by\n", header="H\n", prefix="  skip\n", goals="⊢ True"
    )
    assert v1_prompt(task, with_state_comment=False).text == (
        "Complete the following Lean 4 code:\n\n```lean4\nH\ntheorem a : True := by\n  skip\n"
    )
    built = v1_prompt(task)
    assert built.text.endswith("  skip\n  /- tactic state:\n    ⊢ True\n  -/\n")
    assert built.proof_lead == ""
    # no comment at the root (empty prefix), as in the reference code
    root = ProofTask(formal_statement="theorem a : True := by\n", header="H\n", goals="⊢ True")
    assert "tactic state" not in v1_prompt(root).text


def test_state_comment() -> None:
    assert state_comment("a : ℕ\n⊢ a = a\n", 0) == "/- tactic state:\n  a : ℕ\n  ⊢ a = a\n-/\n"


def test_few_shot_block_golden() -> None:
    assert few_shot_block(EXAMPLES[1]) == (
        "Complete the following Lean 4 code:\n\n```lean4\nimport Mathlib\n/-- 1 -/\n"
        "theorem e1 : 1 = 1 := by\n  rfl\n```\n\n\n"
    )
    assert few_shot_block(EXAMPLES[1], "cot").startswith(
        "Complete the following Lean 4 code with explanatory comments preceding each line of "
        "code:\n\n```lean4\n"
    )


def test_few_shot_prompt_golden_and_excludes_self() -> None:
    builder = PromptBuilder(PromptConfig(few_shot=2, few_shot_path="unused"), examples=EXAMPLES)
    task = ProofTask(formal_statement="theorem e0 : 0 = 0 := by\n", header="H\n", name="e0")
    for seed in range(20):
        built = builder.build(task, seed)
        assert "e0" not in built.few_shot_names
        assert len(set(built.few_shot_names)) == 2
    built = builder.build(task, 0)
    assert builder.build(task, 0) == built  # deterministic per seed
    first, second = (next(e for e in EXAMPLES if e.name == n) for n in built.few_shot_names)
    assert built.text == (
        few_shot_block(first)
        + few_shot_block(second)
        + "Complete the following Lean 4 code:\n\n```lean4\nH\ntheorem e0 : 0 = 0 := by\n"
    )
    assert built.text.count("```\n\n\n") == 2


def test_select_few_shot_too_many() -> None:
    with pytest.raises(ValueError, match="only 2 are available"):
        select_few_shot(EXAMPLES, 3, "e0", random.Random(0))
    with pytest.raises(ValueError, match="only 2 are available"):  # a problem id: minif2f/<name>
        select_few_shot(EXAMPLES, 3, "minif2f/e0", random.Random(0))


def test_few_shot_file_excludes_problem(data_dir: Path) -> None:
    # data_dir (conftest): $PROVER_DATA_DIR, else ../shared/data; missing data fails the test
    path = data_dir / "minif2f_valid_few_shot.jsonl"
    if not path.is_file():
        pytest.fail(f"{path} not present; set PROVER_DATA_DIR")
    examples = load_few_shot(path)
    name = examples[0].name
    builder = PromptBuilder(PromptConfig(mode="cot", few_shot=3, few_shot_path=path))
    rec = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    task = ProofTask(formal_statement=rec["formal_statement"], name=name)
    for seed in range(30):
        built = builder.build(task, seed)
        assert name not in built.few_shot_names
        assert built.text.count("```\n\n\n") == 3


def test_load_few_shot_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_few_shot(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:1: missing field\(s\) formal_statement"):
        load_few_shot(bad)


def test_cut_at_fence() -> None:
    assert cut_at_fence("  simp\n  ring\n```\nmore") == "  simp\n  ring\n"
    assert cut_at_fence("  simp") == "  simp"
    assert cut_at_fence("```") == ""


def test_v2_golden() -> None:
    assert v2_user_message(TASK) == (
        "Complete the following Lean 4 code:\n\n```lean4\nimport Mathlib\n\n"
        "/-- Show x+1=2.-/\ntheorem t (x : ℕ) (h : x = 1) : x + 1 = 2 := by\n  sorry\n```\n\n"
        "Before producing the Lean 4 code to formally prove the given theorem, provide a detailed "
        "proof plan outlining the main proof steps and strategies.\n"
        "The plan should highlight key ideas, intermediate lemmas, and proof structures that will "
        "guide the construction of the final formal proof."
    )


def test_v2_extract() -> None:
    answer = (
        "Plan: substitute.\n```lean4\ntheorem draft : False := by\n  sorry\n```\n"
        "Final:\n```lean4\nimport Mathlib\n\ntheorem t (x : ℕ) (h : x = 1) : x + 1 = 2 := by\n"
        "  subst h\n  rfl\n```\nDone."
    )
    assert extract_last_lean4_block(answer) == (
        "import Mathlib\n\ntheorem t (x : ℕ) (h : x = 1) : x + 1 = 2 := by\n  subst h\n  rfl\n"
    )
    assert v2_extract_proof(answer, TASK.formal_statement) == "\n  subst h\n  rfl\n"
    assert v2_extract_proof("no code here", TASK.formal_statement) is None
    builder = PromptBuilder(PromptConfig(mode="v2"))
    built = builder.build(TASK)
    assert built.text == v2_user_message(TASK) + "\n"
    assert builder.postprocess(answer, TASK, built) == "\n  subst h\n  rfl\n"
    assert PromptConfig(mode="v2").stop == [] and PromptConfig().stop == ["```"]


def test_postprocess_v1() -> None:
    builder = PromptBuilder(PromptConfig())
    built = builder.build(RESUME)
    assert builder.postprocess("    rfl\n```\n", RESUME, built) == "\n    rfl\n"
    assert builder.postprocess("x", RESUME, BuiltPrompt(text="p")) == "x"


def test_token_budget() -> None:
    count = len  # one token per character
    assert check_token_budget("abcd", count, 10, 6) == 4
    with pytest.raises(PromptTooLongError) as err:
        check_token_budget("abcde", count, 10, 6, name="mathd_algebra_10")
    msg = str(err.value)
    assert "mathd_algebra_10" in msg and "5 prompt tokens" in msg and "10" in msg
    assert isinstance(err.value, ValueError)


def test_token_budgets_name_every_prompt_that_does_not_fit() -> None:
    assert check_token_budgets([("ab", "a"), ("abc", "b")], len, 10, 6) == [2, 3]
    with pytest.raises(PromptTooLongError, match=r"problem 'b'.*and 1 more") as err:
        check_token_budgets([("ab", "a"), ("abcde", "b"), ("abcdef", "c")], len, 10, 6)
    assert err.value.indices == (1, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "cot-v9"}, "mode must be one of"),
        ({"few_shot": -1}, "few_shot must be >= 0"),
        ({"few_shot": 3}, "needs few_shot_path"),
        ({"mode": "v2", "few_shot": 1, "few_shot_path": "x"}, "few-shot prompts"),
    ],
)
def test_prompt_config_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PromptConfig(**kwargs)


def test_tokenizer_prompt_builder_renders_the_whole_conversation() -> None:
    """hf and vLLM: a V2 correction round goes through the tokenizer's chat template with the
    whole conversation (user, the failed answer, Lean's feedback)."""
    import dataclasses

    from prover.policy.base import ProofTask
    from prover.policy.prompts import PromptConfig, tokenizer_prompt_builder

    class Tok:
        chat_template = "{{ messages }}"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):  # type: ignore[no-untyped-def]
            assert not tokenize and add_generation_prompt
            return "|".join(f"{m['role']}:{m['content'][:12]}" for m in messages)

    builder = tokenizer_prompt_builder(PromptConfig(mode="v2"), Tok())
    task = ProofTask("theorem t : True := by\n", name="t")
    assert builder.build(task).text.startswith("user:")
    again = dataclasses.replace(task, corrections=(("  rfla\n", "unknown tactic", "goedel"),))
    roles = [part.split(":")[0] for part in builder.build(again).text.split("|")]
    assert roles == ["user", "assistant", "user"]
    assert tokenizer_prompt_builder(PromptConfig(mode="non-cot"), Tok()).chat_template is None


ANSWER_TASK = ProofTask(
    formal_statement="theorem p : double 3 = p_solution := by",
    header="import Mathlib\n\nabbrev p_solution : ℕ := sorry\n",
    name="p",
    answer_slots=("p_solution",),
)


def test_answers_written_by_a_chat_model_and_a_completion_model() -> None:
    """A V2 answer restates the file with its answer in the slot; a completion writes the answer
    definition after the proof.  Either way the answer leaves the proof text for `answers`."""
    chat = (
        "Plan.\n```lean4\nimport Mathlib\n\nabbrev p_solution : ℕ := 5\n```\nFinal:\n```lean4\n"
        "import Mathlib\n\nabbrev p_solution : ℕ :=\n  2 * 3 -- six\n\n"
        "theorem p : double 3 = p_solution := by\n  rfl\n```"
    )
    v2 = PromptBuilder(PromptConfig(mode="v2"))
    built = v2.build(ANSWER_TASK)
    assert "`p_solution` are `sorry`: write your answer" in built.text
    assert v2.answers(chat, ANSWER_TASK) == (("p_solution", "2 * 3 -- six"),)
    assert v2.postprocess(chat, ANSWER_TASK, built) == "\n  rfl\n"
    v1 = PromptBuilder(PromptConfig())
    done = "\n  rfl\n\nnoncomputable abbrev p_solution : ℕ := 6\n```"
    assert v1.answers(done, ANSWER_TASK) == (("p_solution", "6"),)
    assert v1.postprocess(done, ANSWER_TASK, v1.build(ANSWER_TASK)).rstrip() == "\n  rfl"
    # `sorry` is no answer; a task without slots gets none; fixed answers are not asked again
    assert v1.answers("\nabbrev p_solution : ℕ := sorry\n", ANSWER_TASK) == ()
    assert v1.answers(done, replace(ANSWER_TASK, answer_slots=())) == ()
    fixed = replace(ANSWER_TASK, answers=(("p_solution", "6"),))
    assert v1.answers(done, fixed) == ()
    text = v2.build(fixed).text
    assert "abbrev p_solution : ℕ := 6\n" in text and "write your answer" not in text
