"""Self-correction: a failed attempt goes back to the policy with Lean's feedback.

Two feedback formats (`Correction.fix_format`):

goedel      Goedel-Prover-V2's (github.com/Goedel-LM/Goedel-Prover-V2, commit 2e9036e1,
            `src/utils.py`): `get_error_str` annotates each error in the failed code with
            `<error>`/`</error>` at its span, four lines of context before it and one after, a
            long span cut after six lines with `... --[Truncated]-- ...`, at most 8 errors
            (`error_thres`), then `... [Omitted N more errors] ...`.  For chat prompts
            (`DeepSeekCoTHandler.generate_correction_prompt`, used with the V2 format) the history
            is kept: the previous user turn(s), the failed answer as an assistant turn, then the
            user turn `The proof (Round {r-1}) is not correct. Following is the compilation error
            message, where we use <error></error> to signal the position of the error.\\n\\n
            {errors}\\n\\nBefore producing the Lean 4 code to formally prove the given theorem,
            provide a detailed analysis of the error message.`  For completion prompts
            (`DeepSeekNonCoTHandler`) the feedback is the error text as `-- ` comment lines between
            `-- The previous proof attempt (Round {r-1}) resulted in compilation errors:` and
            `-- Please provide a corrected version. Wrap the proof in ```lean4 and ```.`;
            Goedel's handler sends those lines alone (no statement), which a completion model
            cannot continue, so here they come before the V1.5 prompt of the statement.
goal-state  Kimina-style: the failed proof, Lean's first errors with their line numbers, and the
            goal state at the first error (the tactic state before the failing step, from the
            checker's steps), with the same turn structure.

Error positions from the checker are relative to the proof text; the annotated code is the full
Lean code as Lean checked it (header, then the statement and the proof exactly as given, so a proof
that continues the statement's last line stays on it), as Goedel's compiler reports positions in
it.  The assistant turns of the history are the model's raw outputs (`Completion.raw`: the
reasoning and the code block, before the proof is extracted), as Goedel keeps
`prev_round_llm_raw_output`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from prover.lean.types import CheckResult, LeanMessage

FixFormat = Literal["goedel", "goal-state"]
FIX_FORMATS = ("goedel", "goal-state")
GOEDEL_MAX_ERRORS = 8  # error_thres=True in Goedel-Prover-V2's get_error_str
_SHOW_LINES = 6  # Goedel's `show_line`: lines of a multi-line error span shown before the cut

GOEDEL_CHAT_FEEDBACK = (
    "The proof (Round {round}) is not correct. Following is the compilation error message, "
    "where we use <error></error> to signal the position of the error.\n\n{errors}"
    "\n\nBefore producing the Lean 4 code to formally prove the given theorem, provide a "
    "detailed analysis of the error message."
)
GOEDEL_COMPLETION_HEAD = (
    "-- The previous proof attempt (Round {round}) resulted in compilation errors:\n"
)
GOEDEL_COMPLETION_TAIL = (
    "-- Please provide a corrected version. Wrap the proof in ```lean4 and ```."
)


@dataclass(frozen=True)
class Correction:
    """Self-correction knobs, shared by whole-proof sampling and decomposition's subgoal
    attempts.  Each field's metadata `help` is its command-line help."""

    fix_rounds: int = field(
        default=0,
        metadata={
            "flag": "--fix-rounds",
            "help": "after a failed whole-proof attempt, give the policy Lean's feedback and ask "
            "for a corrected proof up to this many times (each correction is one verification "
            "of the budget; Goedel-Prover-V2 uses 2)",
        },
    )
    fix_format: FixFormat = field(
        default="goedel",
        metadata={
            "flag": "--fix-format",
            "help": "feedback format: goedel (Goedel-Prover-V2: errors annotated with "
            "<error></error> at their lines, at most --fix-max-errors) or goal-state "
            "(Kimina-style: the errors and the goal state at the first one)",
        },
    )
    fix_max_errors: int = field(
        default=GOEDEL_MAX_ERRORS,
        metadata={"flag": "--fix-max-errors", "help": "most errors shown in the feedback"},
    )

    def __post_init__(self) -> None:
        if self.fix_rounds < 0:
            raise ValueError(f"fix_rounds must be >= 0, got {self.fix_rounds}")
        if self.fix_format not in FIX_FORMATS:
            raise ValueError(
                f"fix_format must be one of {', '.join(FIX_FORMATS)}, got {self.fix_format!r}"
            )
        if self.fix_max_errors < 1:
            raise ValueError(f"fix_max_errors must be >= 1, got {self.fix_max_errors}")

    @staticmethod
    def coerce(value: object) -> Correction:
        if value is None:
            return Correction()
        if isinstance(value, Correction):
            return value
        if isinstance(value, dict):
            return Correction(**value)
        raise TypeError(f"correction must be a Correction or a mapping, got {type(value)}")


def goedel_error_str(code: str, errors: Sequence[LeanMessage], max_errors: int | None) -> str:
    """Goedel-Prover-V2's `get_error_str` (src/utils.py), line for line.  `code` is the Lean
    code the positions refer to (1-based lines, 0-based columns); `max_errors=None` shows every
    error untruncated (Goedel's `error_thres=False`).  A message whose end is its start is one
    without an end position (the checker reports Lean's missing `endPos` so), which Goedel marks
    to the end of its line."""
    thres = max_errors is not None
    err_str = ""
    code_lines = code.split("\n")
    limit = max_errors if max_errors is not None else len(errors)
    for i, error in enumerate(errors[:limit]):
        start_line = error.line - 1
        start_col = error.column
        end_line = error.end_line - 1
        end_col = error.end_column
        if end_line < start_line or (end_line == start_line and end_col <= start_col):
            end_line, end_col = start_line, len(code_lines[start_line])  # no end position
        err_str += f"\nError {i + 1}:\n"
        err_str += "\nCorresponding Code:\n```lean4\n"
        error_code = ""
        for ii in range(-4, 0):
            if start_line + ii >= 0:
                error_code += f"{code_lines[start_line + ii]}\n"
        if start_line != end_line:
            error_code += (
                code_lines[start_line][:start_col]
                + "<error>"
                + code_lines[start_line][start_col:]
                + "\n"
            )
            if not thres:
                for j in range(start_line + 1, end_line):
                    error_code += f"{code_lines[j]}\n"
            else:
                j = start_line
                for j in range(start_line + 1, min(end_line, start_line + _SHOW_LINES)):
                    error_code += f"{code_lines[j]}\n"
                if end_line > start_line + _SHOW_LINES:
                    leading_spaces = len(code_lines[j]) - len(code_lines[j].lstrip(" "))
                    error_code += "\n" + " " * leading_spaces + "... --[Truncated]-- ...\n"
            error_code += (
                code_lines[end_line][:end_col] + "</error>" + code_lines[end_line][end_col:] + "\n"
            )
        else:
            line = code_lines[start_line]
            error_code += (
                line[:start_col]
                + "<error>"
                + line[start_col:end_col]
                + "</error>"
                + line[end_col:]
                + "\n"
            )
        if end_line + 1 < len(code_lines):
            error_code += f"{code_lines[end_line + 1]}\n"
        err_str += error_code
        err_str += "\n```\n"
        err_str += f"\nError Message: {error.text}\n"
    if len(errors) > limit:
        err_str += f"\n... [Omitted {len(errors) - limit} more errors] ...\n"
    return err_str


def _shift(m: LeanMessage, lines: int, column: int) -> LeanMessage:
    """A proof-relative message moved to its position in the full code: `lines` lines come
    before the proof's first line, whose first `column` code points are the statement's (Lean
    counts columns on the proof's first line from the proof's start, elsewhere from the line's
    start)."""
    col = m.column + (column if m.line == 1 else 0)
    end_col = m.end_column + (column if m.end_line == 1 else 0)
    return LeanMessage(m.severity, m.line + lines, col, m.end_line + lines, end_col, m.text)


def full_code(header: str, statement: str, proof: str) -> tuple[str, int, int]:
    """(the Lean code Goedel annotates, lines before the proof's first line, code points of the
    statement on that line).  The statement and the proof are kept exactly as Lean checked them
    (`statement + proof`: a statement's trailing newline stays, and a proof that does not start
    with one continues the statement's last line); the header, a separate input to the checker,
    ends with a newline."""
    if header and not header.endswith("\n"):
        header += "\n"
    head = header + statement
    return head + proof, head.count("\n"), len(head) - (head.rfind("\n") + 1)


def errors_of(result: CheckResult) -> list[LeanMessage]:
    errs = [m for m in result.messages if m.severity == "error"]
    if not errs and result.first_error is not None:
        errs = [result.first_error]
    return errs


def feedback_text(
    fmt: str,
    header: str,
    statement: str,
    proof: str,
    result: CheckResult,
    max_errors: int = GOEDEL_MAX_ERRORS,
) -> str:
    """The error report of one failed attempt in `fmt` (goedel / goal-state)."""
    code, before, column = full_code(header, statement, proof)
    errors = [_shift(m, before, column) for m in errors_of(result)]
    if not errors:  # no message to place: the reason, at the proof's first non-blank line
        reason = result.reason or f"the proof is {result.verdict.value}"
        rows = proof.split("\n")
        k = next((i for i, x in enumerate(rows) if x.strip()), 0)
        at = len(rows[k]) - len(rows[k].lstrip()) + (column if k == 0 else 0)
        errors = [LeanMessage("error", before + k + 1, at, before + k + 1, at, reason)]
    if fmt == "goedel":
        return goedel_error_str(code, errors, max_errors)
    lines = [f"```lean4\n{code}\n```", ""]
    for m in errors[:max_errors]:
        lines.append(f"Line {m.line}, column {m.column}: {m.text}")
    if len(errors) > max_errors:
        lines.append(f"... [Omitted {len(errors) - max_errors} more errors] ...")
    goals = goals_at_first_error(proof, result)
    if goals:
        lines += ["", "Goal state at the first error:", goals]
    return "\n".join(lines)


def goals_at_first_error(proof: str, result: CheckResult) -> str:
    """The goal state before the step holding the first error (the last verified state before
    it when no step holds it); "" if unknown."""
    err = result.first_error
    if err is None:
        return ""
    if err.line < 1:
        return result.initial_goals
    from prover.lean.types import position_to_offset

    at = position_to_offset(proof, err.line, err.column)
    before = ""  # the state after the last step that ends before the error
    for s in result.steps or []:
        if s.start <= at < max(s.end, s.start + 1):
            return s.goals_before
        if s.end <= at and s.goals_after:
            before = s.goals_after
    return before or result.initial_goals


def chat_feedback(fmt: str, round_: int, errors: str) -> str:
    """The user turn of correction round `round_` (1-based) for chat prompts."""
    if fmt == "goedel":
        return GOEDEL_CHAT_FEEDBACK.format(round=round_ - 1, errors=errors)
    return (
        f"The proof (Round {round_ - 1}) is not correct. Lean reports:\n\n{errors}\n\n"
        "Write a corrected complete Lean 4 proof."
    )


def completion_feedback(fmt: str, round_: int, errors: str) -> str:
    """The comment block of correction round `round_` before a completion (V1.5) prompt."""
    commented = "\n".join(f"-- {line}" for line in errors.splitlines() if line.strip())
    head = GOEDEL_COMPLETION_HEAD.format(round=round_ - 1)
    return f"{head}{commented}\n{GOEDEL_COMPLETION_TAIL}"
