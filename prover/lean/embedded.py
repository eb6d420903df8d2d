"""The embedded backend: Lean 4 WebAssembly run by Node, one Lean file per batch.

Isolation inside a batch: every item is wrapped in its own `namespace P<nonce>_<i>` with its own
`set_option maxHeartbeats N in`, so names cannot clash and an item cannot reference another
(the nonce is random per batch and `prover_`-prefixed names are refused by the screen).
Messages are attributed to items by position.  After each item a sentinel `#check` confirms that
the declaration really was added; an item whose sentinel is missing is never `proved`.

Failure handling: Lean elaborates the items in order and prints each message as soon as its
command finishes, so stdout shows progress.  A process gets `startup_s` to print its first
message and then `timeout_s` per item (wall clock between consecutive messages).  When it
crashes, stalls or exceeds its memory limit, the items it finished keep their verdicts, the item
it was on gets `timeout`/`error`, and the rest are checked again in a new process (a batch that
made no progress at all is bisected); so one bad item cannot take the others' verdicts with it.  Batches run on `workers` processes in parallel; a warm
pool of Lean processes (started ahead with `--stdin`, waiting for input) hides the ~11 s start-up.

Tactic states come from a second, instrumented copy of the proof in which `trace_state` follows
every top-level step (the embedded build cannot run REPL metaprograms); the verdict always comes
from the clean copy.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from prover.lean.segment import base_indent, segment_tactics
from prover.lean.soundness import first_sorry, rename_statement, screen_request, theorem_name
from prover.lean.toolchain import EMBEDDED_LEAN_VERSION, EmbeddedToolchain, require_embedded
from prover.lean.types import (
    CheckRequest,
    CheckResult,
    LeanInfraError,
    LeanMessage,
    TacticStep,
    Verdict,
)

EMBEDDED_DEFAULT_HEADER = ""
_INTERNAL_NS = re.compile(r"^P[0-9a-f]{12}_[0-9]+$")
_START_MARKER = "[DEBUG:G] Now calling lean_shell_main..."
_UNSOLVED = "unsolved goals"
_SORRY_WARNINGS = ("declaration uses `sorry`", "declaration uses 'sorry'")
_TIMEOUT_MARKERS = ("(deterministic) timeout", "maximum number of heartbeats")


@dataclass
class EmbeddedConfig:
    workers: int = 2  # Lean processes run in parallel
    batch_size: int = 32  # items per Lean process
    heartbeats: int = 200_000  # per-item `maxHeartbeats`
    timeout_s: float = 60.0  # per-item wall-clock limit
    startup_s: float = 120.0  # allowance for process start (wasm compile + import)
    memory_mb: int = 8192  # resident-set limit per Lean process; exceeded -> killed
    min_split: int = 8  # a batch is split across workers only into parts of >= this many items
    warm: int = 1  # processes kept started ahead, waiting on stdin (0: start on demand)
    toolchain: EmbeddedToolchain | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"EmbeddedConfig.workers must be >= 1 (got {self.workers})")
        if self.batch_size < 1:
            raise ValueError(f"EmbeddedConfig.batch_size must be >= 1 (got {self.batch_size})")
        if self.heartbeats < 1000:
            raise ValueError(
                f"EmbeddedConfig.heartbeats={self.heartbeats} is too small; use >= 1000 "
                "(Lean's default is 200000; 0/unlimited is not allowed)"
            )
        if self.timeout_s <= 0 or self.startup_s <= 0:
            raise ValueError("EmbeddedConfig.timeout_s and startup_s must be positive seconds")
        if self.memory_mb < 512:
            raise ValueError(f"EmbeddedConfig.memory_mb={self.memory_mb} is too small; use >= 512")
        if self.min_split < 1:
            raise ValueError(f"EmbeddedConfig.min_split must be >= 1 (got {self.min_split})")
        if self.warm < 0:
            raise ValueError("EmbeddedConfig.warm must be >= 0")


class LeanProcessFailure(LeanInfraError):
    def __init__(self, kind: str, message: str, stderr_tail: str = "", stdout: str = "") -> None:
        super().__init__(message, stderr_tail)
        self.kind = kind  # "timeout" | "memory" | "crash"
        self.stdout = stdout  # what Lean printed before it was stopped


class LeanProcess:
    """One `lean --stdin --json` process in its own process group and scratch directory.

    Used once: `run(source)` feeds the file on stdin and waits for the result.  `close()` kills
    the whole group and removes the scratch directory; it is idempotent and called on exit.
    """

    def __init__(self, toolchain: EmbeddedToolchain, memory_mb: int) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="prover-lean-"))
        self.memory_mb = memory_mb
        self.peak_mb = 0  # largest resident set seen while `run` was polling
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                toolchain.command("--stdin", "--json", "-D", "maxErrors=1000000"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.scratch,
                env=toolchain.env(self.scratch),
                start_new_session=True,
            )
        except OSError as exc:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise LeanInfraError(f"cannot start the embedded Lean: {exc}") from exc

    @property
    def pid(self) -> int:
        return self.proc.pid

    def run(
        self,
        source: str,
        startup_s: float,
        item_s: float,
        total_s: float | None = None,
        end_line: int | None = None,
    ) -> str:
        """Feed `source`, return stdout.  Raises LeanProcessFailure on timeout/memory/crash.

        Lean prints each message as soon as its command finishes, and the batch file puts a
        `#check` after every command group, so stdout shows progress.  Limits: `startup_s` until
        Lean prints its first message (wasm compile + imports), then `item_s` between two
        consecutive messages (a per-item wall clock), and `total_s` for the whole run (so a
        proof that keeps printing cannot hold the process forever).  `end_line`: the line of a
        last command whose message means Lean has printed everything (messages come in file
        order); the process is then stopped instead of awaited (its teardown costs ~0.8 s).
        """
        out_lines: list[str] = []
        err_lines: list[str] = []
        readers = [
            threading.Thread(target=_pump, args=(self.proc.stdout, out_lines), daemon=True),
            threading.Thread(target=_pump, args=(self.proc.stderr, err_lines), daemon=True),
        ]
        for t in readers:
            t.start()
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(source.encode("utf-8"))
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the process died; reported below as a crash
        begun = last_progress = time.monotonic()
        seen_messages = scanned = 0
        problem: tuple[str, str] | None = None
        finished = False
        while self.proc.poll() is None:
            time.sleep(0.05)
            lines = list(out_lines)
            n = sum(1 for line in lines if line.startswith("{"))
            if end_line is not None:
                finished = any(_message_line(x) == end_line for x in lines[scanned:])
                scanned = len(lines)
                if finished:  # all printed: stop the process rather than await its exit
                    self._kill_group()
                    break
            now = time.monotonic()
            if n != seen_messages:
                seen_messages, last_progress = n, now
            allowed = startup_s if seen_messages == 0 else item_s
            if total_s is not None and now - begun > total_s:
                problem = ("timeout", f"Lean took more than {total_s:.0f}s for the whole batch")
            elif now - last_progress > allowed:
                what = "start up" if seen_messages == 0 else "finish an item"
                problem = ("timeout", f"Lean took more than {allowed:.0f}s to {what}")
            else:
                rss = _rss_mb(self.proc.pid)
                self.peak_mb = max(self.peak_mb, rss)
                if rss > self.memory_mb:
                    problem = ("memory", f"Lean used more than {self.memory_mb} MB")
            if problem is not None:
                self._kill_group()
                break
        self.proc.wait()
        self._kill_group()  # leftovers of the group would keep stdout open
        for t in readers:
            t.join(timeout=5)
        stdout = "".join(out_lines)
        tail = "".join(err_lines[-20:])
        if problem is not None:
            self.close()
            raise LeanProcessFailure(problem[0], problem[1], tail, stdout)
        if not finished and (_START_MARKER not in stdout or self.proc.returncode not in (0, 1)):
            self.close()
            raise LeanProcessFailure(
                "crash",
                f"Lean exited with code {self.proc.returncode} before finishing",
                tail,
                stdout,
            )
        return stdout

    def _kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        # kill the whole group even if the leader already exited: its children may survive and
        # hold our pipes open
        self._kill_group()
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - kernel did not reap
                pass
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                try:
                    stream.close()
                except OSError:
                    pass
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> LeanProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _message_line(line: str) -> int | None:
    """The `pos.line` of a JSON message line of Lean's output, else None."""
    if not line.startswith("{"):
        return None
    try:
        pos = json.loads(line).get("pos") or {}
    except (ValueError, AttributeError):
        return None
    line_no = pos.get("line")
    return line_no if isinstance(line_no, int) else None


def _pump(stream: IO[bytes] | None, sink: list[str]) -> None:
    if stream is None:
        return
    for raw in iter(stream.readline, b""):
        sink.append(raw.decode("utf-8", errors="replace"))


def _rss_mb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


class WarmPool:
    """Lean processes started ahead of time, each waiting on stdin; refilled in the background."""

    def __init__(self, toolchain: EmbeddedToolchain, size: int, memory_mb: int) -> None:
        self.toolchain = toolchain
        self.size = size
        self.memory_mb = memory_mb
        self._ready: list[LeanProcess] = []
        self._lock = threading.Lock()
        self._closed = False
        self.fill()

    def fill(self) -> None:
        with self._lock:
            while not self._closed and len(self._ready) < self.size:
                self._ready.append(LeanProcess(self.toolchain, self.memory_mb))

    def take(self) -> LeanProcess:
        with self._lock:
            proc = self._ready.pop(0) if self._ready else None
        if proc is None or proc.proc.poll() is not None:
            if proc is not None:
                proc.close()
            proc = LeanProcess(self.toolchain, self.memory_mb)
        if self.size:
            threading.Thread(target=self.fill, daemon=True).start()
        return proc

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._ready]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            ready, self._ready = self._ready, []
        for p in ready:
            p.close()


# ---------------------------------------------------------------------------------------------
# building a batch file and reading its messages back


@dataclass
class _Item:
    index: int
    request: CheckRequest
    namespace: str
    name: str  # declared name inside the namespace
    clean_range: tuple[int, int] = (0, 0)  # 1-based file lines [first, last]
    block_range: tuple[int, int] = (0, 0)  # the whole `namespace ... end` block
    proof_pos: tuple[int, int] = (0, 0)  # (line, column) where the proof text starts
    sentinel_line: int = 0
    steps_range: tuple[int, int] | None = None
    trace_lines: list[int] = field(default_factory=list)  # file line of each inserted trace_state
    spans: list[tuple[int, int]] = field(default_factory=list)


def _declared_name(statement: str) -> str:
    found = theorem_name(statement)
    return found[0] if found else ""


def _named_statement(statement: str, fallback: str) -> tuple[str, str]:
    """Statement with `example`/`lemma` turned into `theorem <name>`; returns (text, name)."""
    name = _declared_name(statement)
    if not name:
        return rename_statement(statement, fallback), fallback
    if statement.lstrip().startswith("lemma"):
        return rename_statement(statement, name), name
    return statement, name


def build_batch(items: list[_Item], header: str, heartbeats: int) -> str:
    """Render one Lean file for `items`, filling in their line bookkeeping."""
    lines: list[str] = []

    def emit(text: str) -> int:
        """Append text (may hold newlines); return the 1-based line where it starts."""
        start = sum(chunk.count("\n") for chunk in lines) + 1
        lines.append(text)
        return start

    if header:
        emit(header if header.endswith("\n") else header + "\n")
    # elaborate items in order, so the sentinels tell how far Lean got before a crash/timeout
    emit("\nset_option Elab.async false\n\n#check Nat\n")
    for it in items:
        req = it.request
        statement, it.name = _named_statement(req.formal_statement, "prover_example")
        block_first = emit(
            f"\nnamespace {it.namespace}\n\nset_option maxHeartbeats {heartbeats} in\n"
        )
        first = emit(statement)
        prefix_lines = statement.split("\n")
        it.proof_pos = (first + len(prefix_lines) - 1, len(prefix_lines[-1]))
        proof = req.proof if req.proof.endswith("\n") else req.proof + "\n"
        emit(proof)
        last = sum(chunk.count("\n") for chunk in lines)
        it.clean_range = (first, last)
        it.sentinel_line = emit(f"\n#check @{it.namespace}.{_quote(it.name)}\n") + 1
        if req.want_steps:
            spans = segment_tactics(req.proof) if statement.rstrip().endswith("by") else []
            it.spans = [(s.start, s.end) for s in spans]
            ind = base_indent(req.proof)
            emit(f"\nset_option maxHeartbeats {heartbeats} in\n")
            steps_stmt = rename_statement(statement, "prover_steps")
            sfirst = emit(steps_stmt)
            cursor = sfirst + steps_stmt.count("\n")
            body: list[str] = []
            it.trace_lines = []
            for s, e in it.spans:
                it.trace_lines.append(cursor)
                body.append(f"{ind}trace_state\n")
                cursor += 1
                chunk = req.proof[s:e] + "\n"
                body.append(chunk)
                cursor += chunk.count("\n")
            it.trace_lines.append(cursor)
            body.append(f"{ind}trace_state\n")
            if not it.spans:
                body = []
                it.trace_lines = []
            if body:
                # the statement ends with `by`; the instrumented body starts on the next line
                if not steps_stmt.endswith("\n"):
                    emit("\n")
                    it.trace_lines = [ln + 1 for ln in it.trace_lines]
                emit("".join(body))
            else:
                emit(proof)
            it.steps_range = (sfirst, sum(chunk.count("\n") for chunk in lines))
            emit("\n#check Nat\n")
        end_line = emit(f"\nend {it.namespace}\n") + 1
        it.block_range = (block_first, end_line)
    return "".join(lines)


def _quote(name: str) -> str:
    return ".".join(p if p.replace("_", "a").isalnum() else f"«{p}»" for p in name.split("."))


@dataclass(frozen=True)
class _RawMsg:
    severity: str
    line: int
    column: int
    end_line: int
    end_column: int
    text: str


def parse_messages(stdout: str) -> list[_RawMsg]:
    """JSON messages Lean printed after it started processing the file."""
    start = stdout.find(_START_MARKER)
    if start < 0:
        return []
    msgs = []
    for line in stdout[start:].splitlines():
        if not line.startswith("{"):
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(d, dict) or "severity" not in d or "pos" not in d:
            continue
        end = d.get("endPos") or d["pos"]
        msgs.append(
            _RawMsg(
                severity=d["severity"],
                line=int(d["pos"]["line"]),
                column=int(d["pos"]["column"]),
                end_line=int(end["line"]),
                end_column=int(end["column"]),
                text=str(d.get("data", "")),
            )
        )
    msgs.sort(key=lambda m: (m.line, m.column))
    return msgs


def _relative(m: _RawMsg, it: _Item) -> LeanMessage:
    pl, pc = it.proof_pos

    def rel(line: int, col: int) -> tuple[int, int]:
        return line - pl + 1, (col - pc if line == pl else col)

    line, col = rel(m.line, m.column)
    eline, ecol = rel(m.end_line, m.end_column)
    return LeanMessage(m.severity, line, col, eline, ecol, m.text)


def _offset_of(proof: str, line: int, col: int) -> int:
    """Code-point offset in `proof` of a relative (line, column); <= 0 lines map to 0."""
    if line < 1:
        return 0
    lines = proof.split("\n")
    if line > len(lines):
        return len(proof)
    return sum(len(x) + 1 for x in lines[: line - 1]) + min(col, len(lines[line - 1]))


def _reached(msgs: list[_RawMsg]) -> set[int]:
    """Lines Lean reported on: a sentinel line among them means Lean got past that item (the
    sentinel `#check` answers with information, or with an error when the declaration was not
    added, e.g. its statement does not elaborate)."""
    return {m.line for m in msgs if m.severity in ("information", "error")}


def judge(it: _Item, msgs: list[_RawMsg], elapsed: float) -> CheckResult:
    """Turn the messages of one item into its verdict."""
    req = it.request
    lo, hi = it.block_range
    steps_lo, steps_hi = it.steps_range or (0, -1)
    # every message in the item's block counts (a parse error may be reported past the proof,
    # e.g. on the sentinel line), except the instrumented copy's and the sentinel's own output
    own = [
        _relative(m, it)
        for m in msgs
        if lo <= m.line <= hi
        and not steps_lo <= m.line <= steps_hi
        and not (m.line == it.sentinel_line and m.severity == "information")
    ]
    errors = [m for m in own if m.severity == "error"]
    hard = [m for m in errors if not m.text.startswith(_UNSOLVED)]
    sorry = any(m.severity == "warning" and m.text.startswith(_SORRY_WARNINGS) for m in own)
    sentinel = any(m.line == it.sentinel_line and m.severity == "information" for m in msgs)
    first_error = (hard or errors)[0] if (hard or errors) else None
    reason = None
    if any(any(t in m.text for t in _TIMEOUT_MARKERS) for m in hard):
        verdict = Verdict.TIMEOUT
        reason = "heartbeat limit reached"
    elif hard:
        verdict = Verdict.FAILED
        if first_error is not None and (first_error.line, first_error.column) < (1, 0):
            reason = "the statement does not elaborate (error before the proof)"
    elif errors or sorry:
        verdict = Verdict.INCOMPLETE
        reason = "unsolved goals" if errors else "proof uses sorry"
    elif not sentinel:
        verdict = Verdict.ERROR
        reason = "Lean did not add the declaration (sentinel missing)"
    else:
        verdict = Verdict.PROVED
    # the longest verified prefix: whole steps that end before the first hard error / sorry
    proof = req.proof
    cut = len(proof)
    if hard:
        cut = min(cut, _offset_of(proof, hard[0].line, hard[0].column))
    sorry_at = first_sorry(proof)
    if sorry_at is not None:
        cut = min(cut, sorry_at)
    spans = it.spans or [(s.start, s.end) for s in segment_tactics(proof)]
    good = [(s, e) for s, e in spans if e <= cut]
    if verdict is Verdict.PROVED:
        verified_prefix = proof
    else:
        verified_prefix = proof[: good[-1][1]] if good else ""
    result = CheckResult(
        verdict=verdict,
        messages=own,
        first_error=first_error,
        verified_prefix=verified_prefix,
        time_s=elapsed,
        reason=reason,
        backend="embedded",
        lean_version=EMBEDDED_LEAN_VERSION,
    )
    if req.want_steps and it.steps_range is not None:
        states: dict[int, str] = {}
        for m in msgs:
            if m.severity == "information" and m.line in it.trace_lines:
                states[it.trace_lines.index(m.line)] = m.text or "no goals"
        result.initial_goals = states.get(0, "")
        steps = []
        for k, (s, e) in enumerate(it.spans):
            if (s, e) not in good or (k + 1) not in states:
                break
            steps.append(TacticStep(proof[s:e], s, e, states.get(k, ""), states[k + 1]))
        result.steps = steps
    return result


# ---------------------------------------------------------------------------------------------


class EmbeddedChecker:
    """Checker over the embedded Lean.  Thread-safe; use as a context manager or call close()."""

    name = "embedded"

    def __init__(self, config: EmbeddedConfig | None = None) -> None:
        self.config = config or EmbeddedConfig()
        self.toolchain = self.config.toolchain or require_embedded()
        self.pool = WarmPool(self.toolchain, self.config.warm, self.config.memory_mb)
        self._live: set[LeanProcess] = set()
        self._lock = threading.Lock()
        self.lean_version = EMBEDDED_LEAN_VERSION
        self.stats = {"processes": 0, "bisections": 0, "lean_s": 0.0}

    # -- public API ---------------------------------------------------------------------------
    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        results: list[CheckResult | None] = [None] * len(requests)
        pending: list[_Item] = []
        for i, req in enumerate(requests):
            try:
                reason = screen_request(req) or _embedded_screen(req)
            except Exception as exc:  # a screen bug must not take the batch down
                reason = f"input could not be screened ({type(exc).__name__}: {exc})"
            if reason is not None:
                results[i] = CheckResult(
                    Verdict.REJECTED,
                    reason=reason,
                    backend="embedded",
                    lean_version=EMBEDDED_LEAN_VERSION,
                )
                continue
            pending.append(_Item(i, req, "", ""))
        groups: dict[str, list[_Item]] = {}
        for it in pending:
            header = it.request.header if it.request.header is not None else EMBEDDED_DEFAULT_HEADER
            groups.setdefault(header, []).append(it)
        batches: list[tuple[str, list[_Item]]] = []
        for header, its in groups.items():
            bad = _header_problem(header)
            if bad:
                for it in its:
                    results[it.index] = CheckResult(Verdict.ERROR, reason=bad, backend="embedded")
                continue
            # As few processes as `batch_size` allows, but spread over the workers when every
            # part still has `min_split` items: below that, start-up (~15 s) dominates, and one
            # process plus a warm-pool refill keeps both cores busy better than two cold ones.
            parts = max(
                -(-len(its) // self.config.batch_size),
                min(self.config.workers, len(its) // self.config.min_split),
                1,
            )
            per = -(-len(its) // parts)
            batches += [(header, its[k : k + per]) for k in range(0, len(its), per)]
        with ThreadPoolExecutor(max_workers=self.config.workers) as ex:
            for out in ex.map(lambda b: self._run_batch(*b), batches):
                for idx, res in out:
                    results[idx] = res
        return [r if r is not None else CheckResult(Verdict.ERROR, reason="lost") for r in results]

    def close(self) -> None:
        self.pool.close()
        with self._lock:
            live = list(self._live)
        for p in live:
            p.close()

    def __enter__(self) -> EmbeddedChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._live] + self.pool.pids()

    # -- internals ----------------------------------------------------------------------------
    def _run_batch(self, header: str, items: list[_Item]) -> list[tuple[int, CheckResult]]:
        nonce = secrets.token_hex(6)
        for k, it in enumerate(items):
            it.namespace = f"P{nonce}_{k}"
        source = build_batch(items, header, self.config.heartbeats)
        # a last `#check`: its answer means every message of the batch has been printed
        end_line = source.count("\n") + 2
        source += "\n#check Nat\n"
        item_s = max(it.request.timeout_s or self.config.timeout_s for it in items)
        t0 = time.monotonic()
        proc = self.pool.take()
        with self._lock:
            self._live.add(proc)
            self.stats["processes"] += 1
        try:
            # whole-batch limit: start-up, plus the per-item limit for each item (twice with the
            # instrumented copy that collects tactic states)
            copies = sum(2 if it.request.want_steps else 1 for it in items)
            total_s = self.config.startup_s + item_s * copies
            stdout = proc.run(source, self.config.startup_s, item_s, total_s, end_line)
        except LeanProcessFailure as exc:
            return self._salvage(header, items, exc, t0)
        finally:
            proc.close()
            with self._lock:
                self._live.discard(proc)
        elapsed = time.monotonic() - t0
        with self._lock:
            self.stats["lean_s"] += elapsed
        msgs = parse_messages(stdout)
        seen = _reached(msgs)
        if any(it.sentinel_line not in seen for it in items):
            # Lean exited "normally" but stopped early (e.g. a stack overflow inside one item)
            return self._salvage(
                header,
                items,
                LeanProcessFailure("crash", "Lean stopped at this item", "", stdout),
                t0,
            )
        per_item = elapsed / len(items)
        results = [(it.index, judge(it, msgs, per_item)) for it in items]
        stray = [
            m
            for m in msgs
            if m.severity == "error"
            and not any(it.block_range[0] <= m.line <= it.block_range[1] for it in items)
        ]
        if not stray:
            return results
        # An error Lean could not place inside any item (e.g. reported at line 1 after a parse
        # error): no item sharing this file may be called proved on its strength.
        proved = [
            it for it, (_, r) in zip(items, results, strict=True) if r.verdict is Verdict.PROVED
        ]
        kept = [(i, r) for i, r in results if r.verdict is not Verdict.PROVED]
        if len(items) == 1:
            r = results[0][1]
            if r.verdict is Verdict.PROVED:
                r.verdict = Verdict.FAILED
                r.reason = "Lean reported an error outside the proof"
                r.first_error = _relative(stray[0], items[0])
                r.messages.append(r.first_error)
                r.verified_prefix = ""
            return results
        with self._lock:
            self.stats["bisections"] += 1
        mid = len(proved) // 2
        rechecked = []
        for part in (proved[:mid], proved[mid:]):
            if part:
                rechecked += self._run_batch(header, part)
        return kept + rechecked

    def _salvage(
        self, header: str, items: list[_Item], exc: LeanProcessFailure, t0: float
    ) -> list[tuple[int, CheckResult]]:
        """Keep the verdicts of items Lean finished; the first unfinished one is the culprit;
        the rest are checked again.  With no progress at all, bisect."""
        msgs = parse_messages(exc.stdout)
        seen = _reached(msgs)
        done = [it for it in items if it.sentinel_line in seen]
        rest = [it for it in items if it.sentinel_line not in seen]
        if done and rest:
            # Lean elaborates in order: the first unfinished item is the culprit
            culprit, rest = rest[0], rest[1:]
            spent = time.monotonic() - t0
            out = [(it.index, judge(it, msgs, spent / len(items))) for it in done]
            verdict = Verdict.TIMEOUT if exc.kind == "timeout" else Verdict.ERROR
            out.append(
                (
                    culprit.index,
                    CheckResult(
                        verdict,
                        reason=str(exc),
                        time_s=spent,
                        backend="embedded",
                        lean_version=EMBEDDED_LEAN_VERSION,
                    ),
                )
            )
            with self._lock:
                self.stats["bisections"] += 1
            return out + (self._run_batch(header, rest) if rest else [])
        if len(items) == 1:
            verdict = Verdict.TIMEOUT if exc.kind == "timeout" else Verdict.ERROR
            return [
                (
                    items[0].index,
                    CheckResult(
                        verdict,
                        reason=str(exc),
                        time_s=time.monotonic() - t0,
                        backend="embedded",
                        lean_version=EMBEDDED_LEAN_VERSION,
                    ),
                )
            ]
        with self._lock:
            self.stats["bisections"] += 1
        mid = len(items) // 2
        return self._run_batch(header, items[:mid]) + self._run_batch(header, items[mid:])


def _embedded_screen(req: CheckRequest) -> str | None:
    """What the batch file needs on top of `screen_request`: a named (or `example`) theorem,
    and no reference to the checker's own names (`prover_*`, item namespaces)."""
    try:
        theorem_name(req.formal_statement)
    except ValueError as exc:
        return f"formal_statement: {exc}"
    from prover.lean.soundness import tokenize

    for tok in tokenize(req.proof):
        if tok.kind == "ident" and any(
            p.startswith("prover_") or _INTERNAL_NS.match(p) for p in tok.text.split(".")
        ):
            return f"identifier {tok.text!r} refers to the checker's internal names"
    return None


def _header_problem(header: str) -> str | None:
    for line in header.splitlines():
        s = line.strip()
        if s.startswith("import ") and any(
            mod.split(".")[0] not in {"Init", "Std", "Lean", "Lake"} for mod in s.split()[1:]
        ):
            return (
                f"header line {s!r} needs a library the embedded backend does not have "
                "(core Lean only: Init/Std/Lean); use --backend native with Mathlib"
            )
    return None
