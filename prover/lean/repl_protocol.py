"""Pure logic of the leanprover-community REPL JSON protocol (github.com/leanprover-community/repl).

No processes here: the functions below turn requests into REPL commands and REPL responses into
`CheckResult` pieces, so that they can be unit-tested on recorded exchanges.

Protocol summary (REPL `Main.lean`/`JSON.lean`):

* stdin: one JSON object per command, commands separated by a blank line.  Command mode:
  ``{"cmd": str, "env"?: int, "allTactics"?: bool}`` (no ``env`` = fresh session, the only place
  where ``import`` is allowed); tactic mode: ``{"tactic": str, "proofState": int}``; pickling:
  ``{"pickleTo": path, "env": int}``, ``{"unpickleEnvFrom": path}``.
* stdout: one (pretty-printed, possibly multi-line) JSON object per command followed by a blank
  line.  Command responses: ``{"env": int, "messages": [...], "sorries": [...], "tactics": [...]}``
  (empty lists are omitted).  Messages: ``{"severity": "error"|"warning"|"info", "pos": {"line",
  "column"}, "endPos": {...} | null, "data": str}``.  Tactics (``allTactics``): ``{"tactic",
  "goals" (the goals *before* the tactic), "pos", "endPos", "proofState"}``.  Sorries: ``{"goal",
  "proofState", "pos", "endPos"}``.  A command the REPL cannot run yields ``{"message": str}``.
* positions: ``line`` is 1-based, ``column`` is 0-based and counts Unicode code points (Lean's
  `FileMap.toPosition`), lines are separated by ``\\n`` only.

The checked command is ``formal_statement + proof`` (header-free) run in the environment that
imported the header; every position is converted to be relative to the proof text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prover.lean.soundness import mask_comments
from prover.lean.types import CheckRequest, LeanMessage, TacticStep, Verdict

ALLOWED_AXIOMS: frozenset[str] = frozenset({"propext", "Classical.choice", "Quot.sound"})
NATIVE_DECIDE_AXIOMS: frozenset[str] = frozenset({"Lean.ofReduceBool", "Lean.trustCompiler"})
# Newer Lean versions compile each `native_decide` into an auxiliary axiom named like
# `thm._native.native_decide.ax_1_1`; these are the same trust as `Lean.ofReduceBool`.
_NATIVE_AUX_AXIOM = re.compile(r"(^|\.)_native\.native_decide\.ax_[0-9_]+$")

UNSOLVED_GOALS = "unsolved goals"
SORRY_WARNING = "declaration uses 'sorry'"
_HEARTBEATS = "maximum number of heartbeats"
_SEVERITY = {"error": "error", "warning": "warning", "info": "information", "trace": "information"}


class ReplProtocolError(ValueError):
    """The REPL answered something that is not a well-formed response."""


# --------------------------------------------------------------------------------------------
# encoding


def encode(obj: dict[str, Any]) -> bytes:
    """One command as sent on stdin: single-line JSON followed by a blank line."""
    return (json.dumps(obj, ensure_ascii=False) + "\n\n").encode("utf-8")


def command(cmd: str, env: int | None = None, all_tactics: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"cmd": cmd}
    if env is not None:
        out["env"] = env
    if all_tactics:
        out["allTactics"] = True
    return out


def tactic_command(tactic: str, proof_state: int) -> dict[str, Any]:
    return {"tactic": tactic, "proofState": proof_state}


def pickle_env_command(env: int, path: str) -> dict[str, Any]:
    return {"pickleTo": path, "env": env}


def unpickle_env_command(path: str) -> dict[str, Any]:
    return {"unpickleEnvFrom": path}


# --------------------------------------------------------------------------------------------
# decoding


_BLANK_LINE = re.compile(r"\n[ \t]*\n")


class ResponseDecoder:
    """Incremental decoder of blank-line separated JSON objects (robust to arbitrary chunking).

    `feed` returns the responses completed by the new data; text that is not JSON (e.g. a stray
    line printed by `lake`) is kept in `garbage` instead of raising.
    """

    def __init__(self) -> None:
        self._buf = ""
        self.garbage: list[str] = []

    @property
    def pending(self) -> str:
        return self._buf

    def feed(self, data: str) -> list[dict[str, Any]]:
        self._buf = (self._buf + data).replace("\r\n", "\n")
        out: list[dict[str, Any]] = []
        while True:
            m = _BLANK_LINE.search(self._buf)
            if m is None:
                break
            record, self._buf = self._buf[: m.start()], self._buf[m.end() :]
            self._emit(record, out)
        if not self._buf.strip(" \t\n"):
            self._buf = self._buf if self._buf.endswith("\r") else ""
        return out

    def finish(self) -> list[dict[str, Any]]:
        """At end of stream: parse whatever is left (a last response without a blank line)."""
        out: list[dict[str, Any]] = []
        record, self._buf = self._buf, ""
        self._emit(record, out)
        return out

    def _emit(self, record: str, out: list[dict[str, Any]]) -> None:
        text = record.strip()
        if not text:
            return
        obj = _parse_object(text)
        if obj is None:
            # non-JSON lines before the object: parse from the first line that opens an object
            idx = text.find("\n{")
            while obj is None and idx >= 0:
                obj = _parse_object(text[idx + 1 :])
                if obj is not None:
                    self.garbage.append(text[:idx])
                    break
                idx = text.find("\n{", idx + 1)
        if obj is None:
            self.garbage.append(text)
        else:
            out.append(obj)


def _parse_object(text: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


# --------------------------------------------------------------------------------------------
# positions


@dataclass(frozen=True)
class ProofFrame:
    """Where the proof sits inside the command `statement + proof` (all in code points)."""

    statement: str
    proof: str
    line: int  # 1-based line of the command on which the proof starts
    column: int  # code-point column on that line where the proof starts
    line_starts: tuple[int, ...]  # code-point offset of each line of the command

    @staticmethod
    def of(statement: str, proof: str) -> ProofFrame:
        text = statement + proof
        starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                starts.append(i + 1)
        line = statement.count("\n") + 1
        column = len(statement) - (statement.rfind("\n") + 1)
        return ProofFrame(statement, proof, line, column, tuple(starts))

    @property
    def command(self) -> str:
        return self.statement + self.proof

    def command_offset(self, line: int, column: int) -> int:
        """Code-point offset in the command of a REPL (line, column)."""
        if line < 1:
            return 0
        if line > len(self.line_starts):
            return len(self.command)
        start = self.line_starts[line - 1]
        end = self.line_starts[line] - 1 if line < len(self.line_starts) else len(self.command)
        return min(start + max(column, 0), end)

    def proof_offset(self, line: int, column: int) -> int:
        """Code-point offset into the proof (negative when the position is in the statement)."""
        return self.command_offset(line, column) - len(self.statement)

    def relative(self, line: int, column: int) -> tuple[int, int]:
        """REPL position -> (line, column) relative to the proof.

        Line 1 is the proof's first line (its columns count from the proof start); positions in
        the statement get line <= 0 and keep their column on the command line.
        """
        if (line, column) < (self.line, self.column):
            return line - self.line, column
        if line == self.line:
            return 1, column - self.column
        return line - self.line + 1, column


def _pos(d: Any) -> tuple[int, int] | None:
    if not isinstance(d, dict):
        return None
    try:
        return int(d["line"]), int(d["column"])
    except (KeyError, TypeError, ValueError):
        return None


def to_lean_message(msg: dict[str, Any], frame: ProofFrame) -> LeanMessage:
    pos = _pos(msg.get("pos")) or (frame.line, frame.column)
    end = _pos(msg.get("endPos")) or pos
    line, col = frame.relative(*pos)
    end_line, end_col = frame.relative(*end)
    severity = _SEVERITY.get(str(msg.get("severity", "error")), "information")
    return LeanMessage(severity, line, col, end_line, end_col, str(msg.get("data", "")))


# --------------------------------------------------------------------------------------------
# verdicts


def is_unsolved_goals(m: LeanMessage) -> bool:
    return m.severity == "error" and m.text.startswith(UNSOLVED_GOALS)


def verdict_of(messages: Sequence[LeanMessage], sorries: Sequence[Any] = ()) -> Verdict:
    """Lean's verdict before the axiom check (PROVED means "no error, no sorry")."""
    errors = [m for m in messages if m.severity == "error"]
    if any(_HEARTBEATS in m.text for m in errors):
        return Verdict.TIMEOUT
    if errors:
        return Verdict.INCOMPLETE if all(is_unsolved_goals(m) for m in errors) else Verdict.FAILED
    if sorries or any(m.severity == "warning" and SORRY_WARNING in m.text for m in messages):
        return Verdict.INCOMPLETE
    return Verdict.PROVED


def _key(m: LeanMessage) -> tuple[int, int]:
    return m.line, m.column


def first_error(messages: Sequence[LeanMessage]) -> LeanMessage | None:
    errors = [m for m in messages if m.severity == "error"]
    return min(errors, key=_key) if errors else None


# --------------------------------------------------------------------------------------------
# tactic steps


@dataclass(frozen=True)
class RawTactic:
    start: int  # code-point offsets into the proof
    end: int
    goals_before: str
    text: str


def raw_tactics(tactics: Iterable[dict[str, Any]], frame: ProofFrame) -> list[RawTactic]:
    out = []
    for t in tactics:
        pos, end = _pos(t.get("pos")), _pos(t.get("endPos"))
        if pos is None or end is None:
            continue
        s, e = frame.proof_offset(*pos), frame.proof_offset(*end)
        if s < 0 or e < s:
            continue  # a tactic of the statement (e.g. an auto-param), not of the proof
        out.append(RawTactic(s, e, str(t.get("goals", "")), str(t.get("tactic", ""))))
    return out


def top_level(tactics: Sequence[RawTactic]) -> list[RawTactic]:
    """Tactics not nested inside another one, in source order."""
    ordered = sorted(tactics, key=lambda t: (t.start, -t.end))
    out: list[RawTactic] = []
    for t in ordered:
        if out and t.start < out[-1].end:
            continue  # inside the previous top-level step (nested tactic or same range)
        out.append(t)
    return out


def _goals(s: str) -> str:
    return s if s.strip() else "no goals"


def tactic_steps(
    tactics: Iterable[dict[str, Any]], frame: ProofFrame, closed: bool
) -> tuple[list[TacticStep], str]:
    """Top-level steps with the goals after each, and the initial goals.

    The REPL reports the goals *before* each tactic; the state after step i is the state before
    step i+1.  After the last step it is "no goals" when the proof closed (`closed`), else unknown
    ("").
    """
    tops = top_level(raw_tactics(tactics, frame))
    steps = []
    for i, t in enumerate(tops):
        if i + 1 < len(tops):
            after = _goals(tops[i + 1].goals_before)
        else:
            after = "no goals" if closed else ""
        text = frame.proof[t.start : t.end]
        steps.append(TacticStep(text, t.start, t.end, _goals(t.goals_before), after))
    initial = _goals(tops[0].goals_before) if tops else ""
    return steps, initial


def verified_prefix(
    proof: str, messages: Sequence[LeanMessage], steps: Sequence[TacticStep] | None = None
) -> str:
    """The proof cut before its first hard error, at a step boundary.

    "unsolved goals" errors do not cut (everything written was accepted).  With tactic steps the
    cut is after the last top-level step that ends before the error; without them, at the start
    of the error's line.
    """
    hard = [m for m in messages if m.severity == "error" and not is_unsolved_goals(m)]
    if not hard:
        return proof
    err = min(hard, key=_key)
    if err.line < 1:
        return ""
    err_off = _offset_in(proof, err.line, err.column)
    if steps:
        done = [s for s in steps if s.end <= err_off]
        return proof[: done[-1].end] if done else ""
    line_start = _offset_in(proof, err.line, 0)
    return proof[:line_start].rstrip(" \t")


def _offset_in(text: str, line: int, column: int) -> int:
    """Offset of a proof-relative (line, column) in `text` (line 1 = first line)."""
    lines = text.split("\n")
    if line > len(lines):
        return len(text)
    off = sum(len(x) + 1 for x in lines[: line - 1])
    return off + min(max(column, 0), len(lines[line - 1]))


# --------------------------------------------------------------------------------------------
# theorem names and axioms


_DECL = re.compile(r"(?<![\w.'])(theorem|lemma|example)(?![\w'])")
_NAME = re.compile(r"\s+([^\s:({\[⦃]+)")


@dataclass(frozen=True)
class PreparedStatement:
    statement: str  # possibly rewritten (`example` -> `theorem <fresh name>`)
    name: str | None  # declared name to pass to `#print axioms`


def prepare_statement(statement: str, fresh_name: str = "prover_example_") -> PreparedStatement:
    """Find the declared theorem name; give `example`s a fresh name so axioms can be printed."""
    masked = mask_comments(statement)
    m = _DECL.search(masked)
    if m is None:
        return PreparedStatement(statement, None)
    if m.group(1) == "example":
        name = fresh_name + hashlib.sha256(statement.encode("utf-8")).hexdigest()[:10]
        new = statement[: m.start()] + f"theorem {name}" + statement[m.end() :]
        return PreparedStatement(new, name)
    nm = _NAME.match(masked, m.end())
    return PreparedStatement(statement, nm.group(1) if nm else None)


def print_axioms_command(name: str, env: int) -> dict[str, Any]:
    return command(f"#print axioms {name}", env=env)


_DEPENDS = re.compile(r"depends on axioms:\s*\[(.*?)\]", re.S)
_NO_AXIOMS = "does not depend on any axioms"


def parse_axioms(response: dict[str, Any]) -> list[str]:
    """Axioms listed by a `#print axioms` response; raises ReplProtocolError if none is found."""
    texts = [str(m.get("data", "")) for m in response.get("messages", []) or []]
    errors = [
        str(m.get("data", ""))
        for m in response.get("messages", []) or []
        if m.get("severity") == "error"
    ]
    for t in texts:
        m = _DEPENDS.search(t)
        if m:
            return [a.strip() for a in m.group(1).split(",") if a.strip()]
        if _NO_AXIOMS in t:
            return []
    detail = "; ".join(errors or texts) or json.dumps(response)[:300]
    raise ReplProtocolError(f"could not read the `#print axioms` output: {detail}")


def disallowed_axioms(axioms: Iterable[str], allow_native_decide: bool) -> list[str]:
    bad = []
    for a in axioms:
        if a in ALLOWED_AXIOMS:
            continue
        if allow_native_decide and (a in NATIVE_DECIDE_AXIOMS or _NATIVE_AUX_AXIOM.search(a)):
            continue
        bad.append(a)
    return bad


def axiom_rejection(axioms: Sequence[str], allow_native_decide: bool) -> str | None:
    """Reason to reject a proof that depends on `axioms`, or None when they are allowed."""
    bad = disallowed_axioms(axioms, allow_native_decide)
    if not bad:
        return None
    native = [a for a in bad if a in NATIVE_DECIDE_AXIOMS or _NATIVE_AUX_AXIOM.search(a)]
    hint = (
        " (native_decide/ofReduceBool is only accepted with allow_native_decide)" if native else ""
    )
    return f"proof depends on disallowed axioms: {', '.join(bad)}{hint}"


# --------------------------------------------------------------------------------------------
# whole response -> analysis


@dataclass
class Analysis:
    """What one command response says about a proof (before the axiom check)."""

    verdict: Verdict
    messages: list[LeanMessage]
    first_error: LeanMessage | None
    verified_prefix: str
    env: int | None
    steps: list[TacticStep] | None = None
    initial_goals: str = ""
    sorries: list[dict[str, Any]] = field(default_factory=list)


def analyze_response(
    response: dict[str, Any], statement: str, proof: str, want_steps: bool = False
) -> Analysis:
    """Turn the REPL response to `{"cmd": statement + proof, ...}` into an `Analysis`."""
    if "message" in response and "env" not in response:
        raise ReplProtocolError(f"REPL error: {response['message']}")
    frame = ProofFrame.of(statement, proof)
    raw = response.get("messages", []) or []
    messages = [to_lean_message(m, frame) for m in raw if isinstance(m, dict)]
    messages.sort(key=_key)
    sorries = [s for s in response.get("sorries", []) or [] if isinstance(s, dict)]
    verdict = verdict_of(messages, sorries)
    steps: list[TacticStep] | None = None
    initial = ""
    if want_steps:
        closed = not any(m.severity == "error" for m in messages)
        steps, initial = tactic_steps(response.get("tactics", []) or [], frame, closed)
    prefix = verified_prefix(proof, messages, steps)
    if steps is not None:
        steps = [s for s in steps if s.end <= len(prefix)]  # only the verified steps
    env = response.get("env")
    return Analysis(
        verdict=verdict,
        messages=messages,
        first_error=first_error(messages),
        verified_prefix=prefix,
        env=int(env) if isinstance(env, int) else None,
        steps=steps,
        initial_goals=initial,
        sorries=sorries,
    )


def request_command(request: CheckRequest, statement: str, env: int | None) -> dict[str, Any]:
    """The command that checks `request` (statement possibly rewritten by prepare_statement)."""
    return command(statement + request.proof, env=env, all_tactics=request.want_steps)
