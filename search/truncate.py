"""Truncate-and-resume (DeepSeek-Prover-V1.5, Sec. 3.1): turn one verified whole-proof sample into
the chain of tactic states it reached.

Pure functions from `(proof, CheckResult)` to a list of `Segment`s, each a proof prefix that ends at
a line boundary after a verified top-level tactic, with Lean's goal state after it.

Rules (mirroring `Proof.segmentation` + `RMaxTS._tree_update` of the reference implementation):

1. Cut the proof at the earliest *error* (severity "error", inside the proof) or the earliest
   `sorry`/`admit` token.  "unsolved goals" errors mean the proof is incomplete, not wrong: they
   never cut.  A heartbeat timeout (Lean answered: `timeout` with the steps it elaborated) is
   cut at the step it ran out in, the last one started (`timeout_cut`: Lean reports the limit
   at the tactic block's `by`), so the steps elaborated before it still become nodes, as in the
   reference; a wall-clock kill (no steps), a refusal or a checker error inserts nothing.
2. Keep the steps (`CheckResult.steps`, nested ones included) that end at or before the cut and
   have a known after-state.  Steps that share a line are merged (the prefix always ends at a line end), unless
   the rest of the line is not verified, then the prefix ends right after the step.
3. Walk the kept steps from the root; a step whose goal equals the previous goal is skipped (its
   text carries into the next segment's prefix); a step whose prompt (prefix + state comment)
   exceeds the token limit, or whose whole prompt the policy could never take (`fits`), is
   skipped the same way.
4. A proved proof whose last segment is not "no goals" gets a final "no goals" segment.

Nested tactics: the checker reports every tactic, nested ones included (`have … := by` blocks,
bullets, `case` arms, `<;>` parts), from the info trees of the verdict's own elaboration, so a
segment can end inside a `have` block, as in the reference; its state comment is that block's
goal and sits at the indentation of the segment's first tactic.  A nested tactic that closes its
own block ("no goals" locally, `depth > 1`) ends no segment: the proof is not done there.  Steps
are taken in source order; a step that contains the next one (a `have … := by` block around its
tactics) is not a cut point before the tactics inside it, and a tactic inside another that ends
on the same line (an alternative of `first | … | …`, a half of `t1 <;> t2`) is never one.

All offsets are code points (Python `str` indices), as in `prover.lean.types`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass

from prover.lean.syntax import first_sorry, mask_comments
from prover.lean.types import CheckResult, LeanMessage, TacticStep, Verdict, position_to_offset
from prover.policy.prompts import state_comment

NO_GOALS = "no goals"


@dataclass(frozen=True)
class Segment:
    prefix: str  # proof text from its start through this step (ends with "\n")
    goals: str  # Lean's goal state after the prefix ("no goals" when closed)
    comment: str  # the `/- tactic state: ... -/` comment the reference appends to prompts
    indent: int  # indentation (spaces) of the step's first line


def approx_tokens(text: str, chars_per_token: float = 3.5) -> int:
    """Cheap token estimate for the prefix-length limit when the policy has no tokenizer."""
    return math.ceil(len(text) / chars_per_token)


def _line_starts(text: str) -> list[int]:
    return [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]


def is_unsolved_goals(msg: LeanMessage) -> bool:
    """Lean's "unsolved goals" error (by Lean's tag on it, not its text)."""
    return msg.unsolved_goals


def cut_position(proof: str, result: CheckResult, *, after_start: bool = False) -> int:
    """Earliest offset of an error (not "unsolved goals") or a `sorry` inside the proof.  An
    error on the proof's first line before its start (the statement's `by`) cuts at 0, unless
    `after_start`: then only errors from the proof's first character on count."""
    cut = len(proof)
    for msg in result.messages:
        if msg.severity != "error" or msg.line < 1 or is_unsolved_goals(msg):
            continue
        if after_start and msg.line == 1 and msg.column < 0:
            continue
        cut = min(cut, position_to_offset(proof, msg.line, msg.column))
    s = first_sorry(proof)
    if s is not None:
        cut = min(cut, s)
    return cut


def timeout_cut(steps: list[TacticStep]) -> int:
    """Where a heartbeat timeout stopped the proof: the start of the step elaborated last (the
    one that started last; a block around it started earlier and is cut with it).  Lean aborts
    the whole tactic block and reports the limit at its `by`, not at the step that ran out, and
    that step's recorded after-state is not a result."""
    return max(s.start for s in steps)


def _line_indent(proof: str, offset: int) -> int:
    """Indentation for a state comment placed before the tactic at `offset`: its column when
    only spaces and bullets precede it on its line (`· constructor` inside a bullet: the
    column of `constructor`), else the line's indentation."""
    start = proof.rfind("\n", 0, offset) + 1
    while offset < len(proof) and proof[offset] == " ":
        offset += 1  # a step given with its indentation
    if proof[start:offset].strip(" ·.") == "":
        return offset - start
    k = start
    while k < len(proof) and proof[k] == " ":
        k += 1
    return k - start


def _boundaries(proof: str, steps: list[TacticStep]) -> list[tuple[int, TacticStep, TacticStep]]:
    """(prefix end, first step of the group, last step of the group) for each line-ended group."""
    out: list[tuple[int, TacticStep, TacticStep]] = []
    group_first: TacticStep | None = None
    masked = mask_comments(proof)
    for i, step in enumerate(steps):
        group_first = group_first or step
        nl = proof.find("\n", step.end)
        line_end = len(proof) if nl < 0 else nl
        nxt = steps[i + 1] if i + 1 < len(steps) else None
        if masked[step.end : line_end].strip() == "":
            end = line_end  # only whitespace / comments follow on this line
        elif nxt is not None and step.end <= nxt.start < line_end:
            continue  # the next verified step starts later on this line: merge
        else:
            end = step.end  # unverified code follows on this line: cut right after the step
        out.append((end, group_first, step))
        group_first = None
    return out


def _cut_candidates(proof: str, steps: list[TacticStep]) -> list[TacticStep]:
    """Steps that may end a segment: not a part of a tactic that ends on the same line (the
    alternatives of `first | omega | simp`, the halves of `t1 <;> t2`), whose own states are
    not states of the proof."""

    def inside_same_line(s: TacticStep, t: TacticStep) -> bool:
        return (
            t is not s
            and t.start <= s.start
            and s.end <= t.end
            and (t.end - t.start) > (s.end - s.start)
            and "\n" not in proof[s.end : t.end]
        )

    return [s for s in steps if not any(inside_same_line(s, t) for t in steps)]


def truncate_and_resume(
    proof: str,
    result: CheckResult,
    root_goal: str,
    *,
    with_state_comment: bool = True,
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] = approx_tokens,
    fits: Callable[[str, str, str], bool] | None = None,
) -> list[Segment]:
    """The segments one verified sample contributes to the search tree, root to leaf.
    `fits(prefix, goals, comment)`: whether a prompt resuming there can fit the model's context
    (the comment is "" without state comments); None: not checked."""

    def usable(prefix: str, goals: str, comment: str) -> bool:
        shown = comment if with_state_comment else ""
        if max_tokens is not None and count_tokens(prefix + shown) > max_tokens:
            return False
        return fits is None or fits(prefix, goals, shown)

    if result.verdict is Verdict.TIMEOUT and result.steps:
        cut = min(cut_position(proof, result, after_start=True), timeout_cut(result.steps))
    elif result.verdict in (Verdict.PROVED, Verdict.FAILED, Verdict.INCOMPLETE):
        cut = cut_position(proof, result)
    else:
        return []  # a kill, a refusal, a checker error: nothing trustworthy to insert
    # source order by where each step ends; a block (e.g. `have … := by tac`) ends where its
    # last inner tactic ends, and the outer step then wins (its goals are the outer proof's)
    steps = sorted(
        _cut_candidates(proof, result.steps or []), key=lambda s: (s.end, -(s.end - s.start))
    )
    kept: list[TacticStep] = []
    for step in steps:
        if step.end > cut or not step.goals_after:
            break
        if kept and kept[-1].end == step.end:
            continue  # an inner tactic ending where its enclosing block ends
        if step.depth > 1 and step.goals_after == NO_GOALS:
            continue  # closes only its own block: not a state of the whole proof
        kept.append(step)

    segments: list[Segment] = []
    prev_goal = root_goal
    for end, first, last in _boundaries(proof, kept):
        if end > cut:
            end = last.end
        prefix = proof[:end].rstrip(" ") + "\n"
        if not proof[:end].strip():
            continue
        goal = last.goals_after
        if goal == prev_goal:
            continue  # Eq.-free rule of `_tree_update`: no new state, text carries forward
        indent = _line_indent(proof, first.start)
        comment = state_comment(goal, indent)
        if not usable(prefix, goal, comment):
            continue  # too long to be a prompt; its text carries forward
        segments.append(Segment(prefix, goal, comment, indent))
        prev_goal = goal

    if result.verdict is Verdict.PROVED and (not segments or segments[-1].goals != NO_GOALS):
        indent = segments[0].indent if segments else 2
        prefix = proof.rstrip(" \n") + "\n"
        comment = state_comment(NO_GOALS, indent)
        if prev_goal != NO_GOALS and usable(prefix, NO_GOALS, comment):
            segments.append(Segment(prefix, NO_GOALS, comment, indent))
    return segments


def line_of(proof: str, offset: int) -> int:
    """1-based line of a code-point offset (handy for tests and logs)."""
    return bisect.bisect_right(_line_starts(proof), offset)
