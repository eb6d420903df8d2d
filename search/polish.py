"""Readable proofs, and an honest partial proof when a search fails.

`polish(checker, task, proof)`: after a proof is found, from **one** elaboration of it with
tactic states (the info trees Lean kept while it proved it):
1. each single-line `first | a | b | …` is replaced by the alternative that did its work: `first`
   tries its alternatives in order and stops at the first that succeeds, so it is the last one
   the info trees hold a step for (never re-running the failed or heavy ones);
2. each tactic that changes no goal (its goal state before and after are the same text, it stands
   alone on its lines, outside any `first` chain) is removed;
3. the result is verified again from scratch (past every cache; a recorder or meter in the
   chain sees both verifications, so their cost is counted where the caller counts it).
At most two Lean verifications per proof; if the second does not say `proved` the original proof
is returned: polishing never loses a proof.

`verified_partial(checker, task, partial)`: what `prove` reports on failure.  The partial proof a
search kept is checked again; if Lean reports an error in it, it is cut to Lean's verified prefix
(and checked again), so the text shown is one Lean accepts up to unsolved goals; its `first | …`
chains are collapsed to the alternative that made the progress (same unsolved goals).  The reason is
the real one: the budget ran out with these goals open, not the error of whatever tactic was tried
last (a failed `first | … | rfl` reports only its last alternative's error).
"""

from __future__ import annotations

from dataclasses import dataclass

from prover.lean.syntax import LexError, tokenize
from prover.lean.types import Checker, CheckResult, Verdict
from prover.lean.wrappers import uncached
from prover.policy.base import ProofTask


def _check(
    checker: Checker, task: ProofTask, proofs: list[str], steps: bool = False
) -> list[CheckResult]:
    return uncached(checker).check(
        [task.request(p, f"{task.name}:polish", want_steps=steps) for p in proofs]
    )


@dataclass(frozen=True)
class FirstChain:
    start: int  # offset of `first`
    end: int  # end of the line
    alternatives: tuple[str, ...]


def first_chains(proof: str) -> list[FirstChain]:
    """Every `first | a | b …` that ends on its own line (alternatives split at top-level `|`)."""
    try:
        toks = tokenize(proof)
    except LexError:
        return []
    out = []
    for k, t in enumerate(toks):
        if t.kind != "ident" or t.name != "first" or k + 1 >= len(toks):
            continue
        if toks[k + 1].text != "|":
            continue
        line_end = proof.find("\n", t.offset)
        line_end = len(proof) if line_end < 0 else line_end
        alts: list[str] = []
        depth, cur = 0, -1
        for u in toks[k + 1 :]:
            if u.offset >= line_end:
                break
            if u.text in ("(", "[", "{", "⟨"):
                depth += 1
            elif u.text in (")", "]", "}", "⟩"):
                depth -= 1
            if u.text == "|" and depth == 0:
                if cur >= 0:
                    alts.append(proof[cur : u.offset].strip())
                cur = u.end
        if cur >= 0:
            alts.append(proof[cur:line_end].strip())
        if alts and all(alts):
            out.append(FirstChain(t.offset, line_end, tuple(_unparen(a) for a in alts)))
    return out


def _unparen(alt: str) -> str:
    """`(intros; omega)` -> `intros; omega` when the parentheses enclose the whole text."""
    if not (alt.startswith("(") and alt.endswith(")")):
        return alt
    depth = 0
    for i, ch in enumerate(alt):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(alt) - 1:
            return alt
    return alt[1:-1].strip()


def _outcome(res: CheckResult) -> tuple[str, list[str]]:
    return res.verdict.value, [m.text for m in res.messages if m.severity == "error"]


def _collapse_first(checker: Checker, task: ProofTask, proof: str) -> str:
    """Replace each `first | …` chain by the alternative that did its work (the first one with
    which Lean's verdict and errors are unchanged: `proved` for a proof, the same unsolved goals
    for a partial proof), last chain first."""
    chains = first_chains(proof)
    if not chains:
        return proof
    (orig,) = _check(checker, task, [proof])
    want = _outcome(orig)
    for chain in reversed(chains):
        candidates = [proof[: chain.start] + a + proof[chain.end :] for a in chain.alternatives]
        results = _check(checker, task, candidates)
        for cand, res in zip(candidates, results, strict=True):
            if _outcome(res) == want:
                proof = cand
                break
    return proof


def _line_span(proof: str, start: int, end: int) -> tuple[int, int] | None:
    """The span of the whole lines holding proof[start:end] when nothing else is on them."""
    a = proof.rfind("\n", 0, start) + 1
    b = proof.find("\n", end)
    b = len(proof) if b < 0 else b
    if proof[a:start].strip() or proof[end:b].strip():
        return None
    return (a - 1 if a > 0 else a, b)  # the newline before the line goes with it


def _edits_from_steps(proof: str, res: CheckResult) -> list[tuple[int, int, str]]:
    """(start, end, replacement) edits of `proof`, from the steps of its proved elaboration:
    `first` chains collapsed to their winning alternative, no-op steps removed."""
    steps = res.steps or []
    edits: list[tuple[int, int, str]] = []
    chains = first_chains(proof)
    for chain in chains:
        inside = [s for s in steps if chain.start < s.start and s.end <= chain.end]
        winner = None
        for alt in chain.alternatives:
            key = _unparen(alt).strip()
            if any(_unparen(s.text).strip() == key for s in inside):
                winner = alt  # the last alternative tried is the one that succeeded
        if winner is not None:
            edits.append((chain.start, chain.end, winner))
    for s in steps:
        if any(c.start <= s.start < c.end for c in chains):
            continue  # inside a chain: an alternative's own state, not a step of the proof
        if s.goals_after and s.goals_after == s.goals_before and s.goals_after != "no goals":
            span = _line_span(proof, s.start, s.end)
            if span is not None:
                edits.append((span[0], span[1], ""))
    # apply from the end; an edit overlapping one already kept is dropped
    out: list[tuple[int, int, str]] = []
    for a, b, text in sorted(set(edits), key=lambda e: (e[0], e[1]), reverse=True):
        if all(b <= a2 or a >= b2 for a2, b2, _ in out):
            out.append((a, b, text))
    return out


def polish(checker: Checker, task: ProofTask, proof: str) -> str:
    """The readable version of a proof (see the module docstring); `proof` if anything fails."""
    try:
        (res,) = _check(checker, task, [proof], steps=True)
        if res.verdict is not Verdict.PROVED or res.steps is None:
            return proof
        out = proof
        for a, b, text in _edits_from_steps(proof, res):  # from the end
            out = out[:a] + text + out[b:]
    except Exception:  # noqa: BLE001 - polishing is cosmetic; the original proof stands
        return proof
    if out == proof or not out.strip():
        return proof
    (final,) = _check(checker, task, [out])
    return out if final.verdict is Verdict.PROVED else proof


def _open_goals(res: CheckResult) -> str:
    top = [s for s in res.steps or [] if s.depth == 1 and s.goals_after]
    if top:
        return top[-1].goals_after
    return res.initial_goals


def verified_partial(
    checker: Checker, task: ProofTask, partial: str, samples: int
) -> tuple[str, str]:
    """(a partial proof Lean accepts up to unsolved goals, the reason the search failed)."""
    text = partial
    for _ in range(3):
        (res,) = _check(checker, task, [text], steps=True)
        hard = [m for m in res.messages if m.severity == "error" and not m.unsolved_goals]
        if res.verdict is Verdict.INCOMPLETE and not hard:
            try:  # a `first | …` chain that made progress: the alternative that made it
                text = _collapse_first(checker, task, text)
            except Exception:  # noqa: BLE001 - cosmetic; the checked text stands
                pass
            goals = _open_goals(res).strip() or "(unknown)"
            return text, (
                f"no proof within the budget ({samples} samples); open goal(s) after the best "
                f"verified partial proof:\n{goals}"
            )
        if res.verdict is Verdict.PROVED:  # cannot happen for a failed search; say so plainly
            return text, "the partial proof is complete but the search did not confirm it"
        cut = res.verified_prefix if len(res.verified_prefix) < len(text) else ""
        if text == cut:
            break
        text = cut
    (res,) = _check(checker, task, [""], steps=True)
    goals = res.initial_goals.strip() or "(unknown)"
    return (
        "",
        f"no proof within the budget ({samples} samples); no tactic made progress on:\n{goals}",
    )
