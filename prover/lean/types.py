"""Values exchanged with the verifier: requests, verdicts, messages, tactic steps.

Lean outcomes are values (a closed set of `Verdict`s); infrastructure failures are exceptions
(`LeanInfraError` and subclasses) carrying the tail of stderr.

Positions: every `line`/`column` in this module is relative to the *proof text* of the request
(line 1 = the first line of `proof`; column = 0-based count of Unicode code points, not bytes, on
that line).  Offsets (`start`, `end`) are code-point offsets into `proof`.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


def position_to_offset(text: str, line: int, column: int) -> int:
    """1-based line, 0-based code-point column -> code-point offset into `text` (clamped; lines
    before the text map to 0, lines after it to its end)."""
    if line < 1:
        return 0
    lines = text.split("\n")
    if line > len(lines):
        return len(text)
    start = sum(len(x) + 1 for x in lines[: line - 1])
    return start + min(max(column, 0), len(lines[line - 1]))


def sorry_probe(formal_statement: str) -> str:
    """The proof text that elaborates a statement with `sorry` for its proof (does it elaborate,
    and what is its goal).  Every caller uses this one text, so a statement probed twice (by
    `prove`'s pre-check and by a search's root goal) reaches Lean once and is answered from the
    result cache the second time."""
    return "\n  sorry" if formal_statement.rstrip().endswith("by") else " by\n  sorry"


class Verdict(str, enum.Enum):
    PROVED = "proved"  # no errors, no sorry, axioms allowed
    FAILED = "failed"  # Lean reported an error (other than only "unsolved goals")
    INCOMPLETE = "incomplete"  # no hard error, but unsolved goals or `sorry` remain
    REJECTED = "rejected"  # refused before/after Lean for soundness reasons (see `reason`)
    TIMEOUT = "timeout"  # wall-clock or heartbeat limit
    ERROR = "error"  # the checker itself could not produce a verdict for this item

    def __str__(self) -> str:
        return self.value


# The stable refusal categories the checker sets (`CheckResult.refusal`; README "Refusal
# categories"): the Lean program names them, the driver adds `limit` and `code_evaluation` for a
# process killed by a limit or for printing what was not its reply.
REFUSAL_CATEGORIES = frozenset(
    {
        "code_evaluation",
        "native_decide",
        "set_option",
        "extra_command",
        "sorry",
        "declared_axiom",
        "statement_mismatch",
        "kernel_rejected",
        "untrusted_header",
        "answer_refused",
        "limit",
    }
)
# CheckResult.limit: the limit that stopped an item (Lean's heartbeats or recursion depth; the
# driver's wall clock or resident-memory cap, which kill the process)
LIMITS = ("heartbeats", "rec_depth", "wall_clock", "memory")


class LeanInfraError(RuntimeError):
    """Lean could not be run (missing toolchain, crash at start-up, protocol violation)."""

    def __init__(self, message: str, stderr_tail: str = "") -> None:
        super().__init__(message + (f"\n--- stderr tail ---\n{stderr_tail}" if stderr_tail else ""))
        self.stderr_tail = stderr_tail


@dataclass(frozen=True)
class LeanMessage:
    severity: str  # "error" | "warning" | "information"
    line: int  # relative to the proof (may be <= 0 for messages on the statement)
    column: int
    end_line: int
    end_column: int
    text: str
    # Lean's own tag on the message (`Tactic.unsolvedGoals`), never its text: a proof's
    # `fail "unsolved goals"` is a failure, not an incomplete proof
    unsolved_goals: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(d: dict[str, Any]) -> LeanMessage:
        return LeanMessage(**d)


@dataclass(frozen=True)
class TacticStep:
    """One tactic of a proof (nested ones included) with the goal states around it.

    `depth` counts the `by` blocks around the tactic: 1 for the proof's own tactics, 2 inside a
    `have … := by` block, and so on.  A nested tactic's goals are those of its own block (as the
    REPL and Lean's info trees report them).

    `start`/`end` are code-point offsets into the proof text; `text == proof[start:end]`.
    `goals_after` is Lean's pretty-printed goal list ("no goals" when closed); empty string if
    the state after this step is unknown (e.g. the step failed).
    """

    text: str
    start: int
    end: int
    goals_before: str
    goals_after: str
    depth: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(d: dict[str, Any]) -> TacticStep:
        return TacticStep(**d)


@dataclass(frozen=True)
class CheckRequest:
    """One proof to check.

    `formal_statement` is the theorem up to and including `:=` or `:= by` (as in the miniF2F
    JSONL); `proof` is the text that follows it.  `header=None` means the backend's default
    header.  `header_trusted`: the header comes from a benchmark file or the user, not a model;
    it may then declare definitions (ProofNet's `def`s); an untrusted header may only hold
    `import`/`open`/`namespace`/`section`/`end`/`universe`/allowlisted `set_option`.  `want_steps` asks for the tactic segmentation with the goal state after each step.
    """

    formal_statement: str
    proof: str
    header: str | None = None
    id: str = ""
    header_trusted: bool = False
    want_steps: bool = False
    allow_native_decide: bool = False
    timeout_s: float | None = None
    # answers for the trusted header's answer slots (`abbrev NAME : T := sorry`), as (slot name,
    # Lean term) pairs: untrusted text from a policy, judged by Lean like the proof
    # (`lean_project/ProverChecker.lean`, "Answer slots")
    answers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        names = [n for n, _ in self.answers]
        if len(set(names)) != len(names):
            raise ValueError(f"CheckRequest.answers: a slot is answered twice ({names})")

    def cache_key(self, backend: str) -> str:
        payload = json.dumps(
            [
                backend,
                self.header,
                self.header_trusted,
                self.formal_statement,
                self.proof,
                self.allow_native_decide,
            ]
            + ([[list(a) for a in self.answers]] if self.answers else []),
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class CheckResult:
    verdict: Verdict
    messages: list[LeanMessage] = field(default_factory=list)
    first_error: LeanMessage | None = None
    verified_prefix: str = ""  # longest prefix of the proof with no error (cut at a step boundary)
    time_s: float = 0.0  # wall seconds of the item, measured by Lean (`IO.monoMsNow`)
    reason: str | None = None  # why REJECTED / ERROR / TIMEOUT
    steps: list[TacticStep] | None = None  # when requested: verified steps with after-states
    initial_goals: str = ""  # goal state before the first tactic, when steps were requested
    backend: str = ""
    lean_version: str = ""
    cached: bool = False
    # CPU seconds (user + system) the checker's process group spent on this item (its header's
    # base state included when the item brought a new header), measured from /proc by the
    # driver; 0.0 when answered without Lean (cache, screen) or not measurable
    cpu_s: float = 0.0
    # why the checker refused the item, as a stable category set by Lean (README "Refusal
    # categories": sorry, declared_axiom, native_decide, set_option, code_evaluation, ...);
    # None for proved/failed/unsolved-goals verdicts
    refusal: str | None = None
    # which limit stopped the item (LIMITS): Lean's own ("heartbeats", "rec_depth") or the
    # driver's, which killed the process ("wall_clock", "memory"); "" when none did
    limit: str = ""

    @property
    def proved(self) -> bool:
        return self.verdict is Verdict.PROVED

    def to_json(self, id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if id is not None:
            out["id"] = id
        out.update(
            verdict=self.verdict.value,
            messages=[m.to_json() for m in self.messages],
            first_error=self.first_error.to_json() if self.first_error else None,
            verified_prefix=self.verified_prefix,
            time_s=round(self.time_s, 4),
        )
        if self.reason:
            out["reason"] = self.reason
        if self.refusal:
            out["refusal"] = self.refusal
        if self.limit:
            out["limit"] = self.limit
        if self.steps is not None:
            out["steps"] = [s.to_json() for s in self.steps]
            out["initial_goals"] = self.initial_goals
        return out

    @staticmethod
    def from_json(d: dict[str, Any]) -> CheckResult:
        return CheckResult(
            verdict=Verdict(d["verdict"]),
            messages=[LeanMessage.from_json(m) for m in d.get("messages", [])],
            first_error=LeanMessage.from_json(d["first_error"]) if d.get("first_error") else None,
            verified_prefix=d.get("verified_prefix", ""),
            time_s=d.get("time_s", 0.0),
            reason=d.get("reason"),
            refusal=d.get("refusal"),
            limit=d.get("limit", ""),
            steps=[TacticStep.from_json(s) for s in d["steps"]] if "steps" in d else None,
            initial_goals=d.get("initial_goals", ""),
        )


class Checker(Protocol):
    """What search, benchmarks and RL code use.  Both backends implement it."""

    name: str

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        """Check a batch; one result per request, same order.  Never raises for a bad proof."""
        ...

    def close(self) -> None: ...
