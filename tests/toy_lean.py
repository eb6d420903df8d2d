"""A scripted stand-in for Lean's answer in pure-logic search tests, and the rule every fake
checker of the suite follows: a fake says `proved` only for a request listed in a `LeanProves`
table (its module's `LEAN_PROVES`), and `tests/test_fakes_lean.py` runs every listed request
through the real embedded Lean, in one batch, and fails unless Lean proves each.

The toy's vocabulary is real Lean.  A proof is lines of `skip`, then at most one more line:
- each `skip` moves the toy goal `⊢ gK` to `⊢ gK+1` (a scripted tactic state for the search's
  tree; in real Lean `skip` changes nothing), and a proof of only `skip`s leaves goals open;
- `sorry` is incomplete;
- any other line (`trivial`, ...) is proved when the whole request (header, statement, answers,
  proof) is in the toy's `LEAN_PROVES`, and otherwise fails with an error at that line, as
  Lean's does for a tactic that does not close the goal (or is no tactic at all)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prover.lean.types import CheckRequest, CheckResult, LeanMessage, TacticStep, Verdict

Key = tuple[object, ...]


def lean_key(req: CheckRequest) -> Key:
    """What decides Lean's verdict on a request (its id, steps and timeout do not)."""
    return (
        req.header,
        req.header_trusted,
        req.formal_statement,
        req.proof,
        req.answers,
        req.allow_native_decide,
    )


class LeanProves:
    """The requests a fake checker may answer `proved` for: exactly these, each of which real
    Lean proves (`tests/test_fakes_lean.py` checks every module's `LEAN_PROVES`)."""

    def __init__(self, *requests: CheckRequest) -> None:
        self.requests = tuple(requests)
        self._keys = {lean_key(r) for r in requests}

    def __contains__(self, req: object) -> bool:
        return isinstance(req, CheckRequest) and lean_key(req) in self._keys

    def __iter__(self) -> Iterator[CheckRequest]:
        return iter(self.requests)

    def __len__(self) -> int:
        return len(self.requests)

    def verdict(self, req: CheckRequest) -> Verdict:
        """`proved` for a listed request, else `failed`."""
        return Verdict.PROVED if req in self else Verdict.FAILED


def _requests(
    statement: str, proofs: Iterable[str], header: str | None = None, **fields: object
) -> list[CheckRequest]:
    return [CheckRequest(statement, p, header, **fields) for p in proofs]  # type: ignore[arg-type]


TOY_STATEMENT = "theorem toy : True := by"
# the toy proofs the searches of the suite assemble from `skip`/`trivial` completions
_TOY_PROOFS = (
    "\n  trivial",
    "\n  skip\n  trivial",
    "\n  skip\n\n  trivial",
    "\n  skip\n  skip\n  trivial",
)
ANSWER_HEADER = "abbrev a_solution : Nat := sorry\nabbrev b_solution : Nat := sorry\n"
ANSWER_STATEMENT = "theorem t : a_solution + b_solution = 3 := by"

LEAN_PROVES = LeanProves(
    *_requests(TOY_STATEMENT, _TOY_PROOFS, header_trusted=True),
    *_requests(TOY_STATEMENT, _TOY_PROOFS, "def two : Nat := 2\n", header_trusted=True),
    *_requests(
        ANSWER_STATEMENT,
        ["\n  trivial"],
        ANSWER_HEADER,
        header_trusted=True,
        answers=(("a_solution", "1"), ("b_solution", "2")),
    ),
)


def toy_result(req: CheckRequest) -> CheckResult:
    steps: list[TacticStep] = []
    offset, goal = 0, "⊢ g0"
    lines = req.proof.split("\n")
    for n, line in enumerate(lines, 1):
        start, offset = offset, offset + len(line) + 1
        text = line.strip()
        if not text:
            continue
        if text == "sorry":
            return CheckResult(Verdict.INCOMPLETE, initial_goals="⊢ g0", steps=steps)
        if text != "skip":
            if req in LEAN_PROVES:
                return CheckResult(Verdict.PROVED, steps=steps, initial_goals="⊢ g0")
            col = len(line) - len(line.lstrip())
            err = LeanMessage("error", n, col, n, col + len(text), f"toy: `{text}` fails")
            return CheckResult(Verdict.FAILED, messages=[err], first_error=err, steps=steps)
        after = f"⊢ g{len(steps) + 1}"
        steps.append(TacticStep(line, start, start + len(line), goal, after))
        goal = after
    err = LeanMessage("error", 1, 0, 1, 1, "unsolved goals\n" + goal, unsolved_goals=True)
    return CheckResult(
        Verdict.INCOMPLETE if steps else Verdict.FAILED,
        messages=[err],
        first_error=err,
        steps=steps,
        initial_goals="⊢ g0",
    )
