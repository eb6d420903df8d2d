"""The Lean checker driver: persistent in-Lean checker processes behind the `Checker` protocol.

Both backends run the same Lean program, `lean_project/ProverChecker.lean`, which decides every
verdict (see that file for what Lean checks).  This module only moves JSON lines and owns the
processes:

* `CheckerProcess`: one checker in its own process group and scratch directory.  It is started
  ahead (`start()` returns at once; `wait_ready()` blocks until Lean says `{"ready": true}`).
  `request()` writes one JSON line carrying a fresh random nonce and returns the first reply line
  with that nonce: every other line (the embedded build's debug prints, anything an item manages
  to print) is ignored, so nothing a proof prints can pass for a reply.  A wall-clock limit, a
  resident-memory cap and end of output kill the whole process group and raise
  `CheckerProcessFailure` with the tail of stderr.
* `LeanChecker`: `workers` processes, started at construction so they warm up while the caller
  (a policy) works.  Items go one at a time to whichever process is free; a timeout, memory kill
  or crash costs exactly the item in flight (it gets `timeout`/`error`), the process is replaced
  (with back-off after consecutive failures) and the next items go on.  A process is recycled
  after `recycle_after` items (long-lived Lean processes grow).

What Python still does: an optional text screen (`screen=True`, off by default) that refuses
obviously bad input early with a clear reason; no guarantee depends on it (the attack tests run
with it on and off).  Off, every refusal is Lean's and carries its category.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, NoReturn, Protocol

from prover.lean.types import (
    CheckRequest,
    CheckResult,
    LeanInfraError,
    LeanMessage,
    TacticStep,
    Verdict,
    position_to_offset,
)

CHECKER_SOURCE = Path(__file__).resolve().parents[2] / "lean_project" / "ProverChecker.lean"
_STDERR_LINES = 200
HEADER_CACHE_SIZE = 8  # base states a checker process keeps (`baseCacheSize` in the Lean file)
_RSS_POLL_S = 0.05  # how often a waiting request samples the process group's resident set
_GROUP_SCAN_S = 1.0  # how often the group's members are looked up again (a /proc scan)


class Launcher(Protocol):
    """How to start one checker process (the backend-specific part)."""

    name: str
    lean_version: str
    strict_axioms: bool  # only propext/Classical.choice/Quot.sound (full .oleans)
    default_header: str
    # the process locks itself down before its first item (embedded: no new threads, no path
    # or standard stream to the request/reply channel); a process that does not is refused
    lockdown: bool
    # `set_option maxRecDepth N` above this is elaborated as this (0: no cap): embedded Lean
    # overflows its JavaScript stack on deep recursion (see `clampRecDepth` in the Lean file)
    rec_depth_cap: int

    def launch(self, scratch: Path) -> tuple[list[str], dict[str, str], Path]:
        """(argv, environment, working directory) of a checker whose scratch dir is `scratch`."""
        ...

    def identity(self) -> str:
        """What pins this backend's Lean (install stamp / project manifest)."""
        ...


def checker_digest() -> str:
    """sha256 (12 hex digits) of the checker program: part of every cache key."""
    import hashlib

    return hashlib.sha256(CHECKER_SOURCE.read_bytes()).hexdigest()[:12]


@dataclass
class CheckerConfig:
    """Limits of the checker processes (shared by both backends)."""

    workers: int = 1  # checker processes run in parallel
    # warm processes beyond `workers`, started once the first worker is ready (so they do not
    # slow the first verdict): when an item's process is killed (its wall-clock or memory
    # limit, a crash) a spare takes the next item at once, so a kill costs the item's limit and
    # not a process start (~30 s on embedded); each is a resident process (~3 GB embedded)
    spare_processes: int = 1
    heartbeats: int = 200_000  # per-item `maxHeartbeats` (Lean's default)
    # per-item wall-clock limit (kills the process; a warm spare takes the next item).  What
    # Lean meters stops at `heartbeats`; this catches what it does not: on embedded, `grind` on
    # imo_1977_p6 / aime_1984_p7 ran 30-60 s of CPU past `maxHeartbeats 10000` (measured).  Not
    # lower: at 20 s the one-shot proof of mathd_numbertheory_328 (`5 ^ 999999 % 7 = 6`) is
    # killed (measured).  Native: 120 s (`make_checker`)
    timeout_s: float = 60.0
    startup_s: float = 300.0  # from start until the checker is ready
    header_timeout_s: float = 600.0  # elaborating a new header (imports) in a running process
    memory_mb: int = 8192  # resident-set cap per process; exceeded -> the process is killed
    recycle_after: int = 2000  # items per process before it is replaced
    restart_backoff_s: float = 0.5  # first wait after a failed start; doubles, capped
    max_backoff_s: float = 30.0
    max_start_failures: int = 3  # consecutive failed starts before the checker gives up
    # the Python text screen first: a convenience that refuses obvious attacks early with
    # reasons of its own; off by default, so every refusal comes from Lean with its category
    screen: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1 (got {self.workers})")
        if self.spare_processes < 0:
            raise ValueError(f"spare_processes must be >= 0 (got {self.spare_processes})")
        if self.heartbeats < 1000:
            raise ValueError(
                f"heartbeats={self.heartbeats} is too small; use >= 1000 (Lean's default is "
                "200000; 0/unlimited is not allowed)"
            )
        for name in ("timeout_s", "startup_s", "header_timeout_s", "restart_backoff_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.memory_mb < 512:
            raise ValueError(f"memory_mb={self.memory_mb} is too small for Lean; use >= 512")
        if self.recycle_after < 1:
            raise ValueError("recycle_after must be >= 1 (items per process)")
        if self.max_start_failures < 1:
            raise ValueError("max_start_failures must be >= 1")


class CheckerProcessFailure(LeanInfraError):
    """A checker process was killed or died; `kind` is "timeout", "memory", "crash" or
    "compromised" (it printed a line that is not the reply it was asked for: see
    `CheckerProcess.request`)."""

    def __init__(self, kind: str, message: str, stderr_tail: str = "") -> None:
        super().__init__(message, stderr_tail)
        self.kind = kind


class _Closed(LeanInfraError):
    """What `LeanChecker.close()` leaves in the idle queue for any check still waiting."""


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_mb(pid: int) -> int:
    """Resident set of `pid` in MB (0 if it is gone)."""
    return _rss_kb(pid) // 1024


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int | str) -> list[bytes]:
    """The fields of /proc/PID/stat after the command name (state first); [] if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return []


def cpu_ticks(pid: int) -> int:
    """utime + stime + cutime + cstime of `pid` in clock ticks (0 if it is gone): all its threads
    and its reaped children."""
    try:
        return sum(int(x) for x in _stat_fields(pid)[11:15])
    except ValueError:
        return 0


def group_members(pgid: int) -> list[int]:
    """PIDs of the processes in process group `pgid` (a scan of /proc; [] if unreadable)."""
    members = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            if int(_stat_fields(name)[2]) == pgid:
                members.append(int(name))
        except (ValueError, IndexError):
            continue
    return members


class CheckerProcess:
    """One persistent checker process.  Not thread-safe: one request at a time."""

    def __init__(self, launcher: Launcher, memory_mb: int) -> None:
        self.launcher = launcher
        self.memory_mb = memory_mb
        self.scratch = Path(tempfile.mkdtemp(prefix="prover-checker-"))
        self.items = 0  # items checked by this process
        # the headers whose base state the process holds, least recently used first: the same
        # LRU as the checker's (`baseCacheSize` in ProverChecker.lean)
        # (an answered header, `CheckRequest.answers`, is a base of its own, made on its item)
        self.headers: deque[tuple[str, bool, tuple[tuple[str, str], ...]]] = deque(
            maxlen=HEADER_CACHE_SIZE
        )
        self.peak_mb = 0
        self.cpu_seen_s = 0.0  # the group's CPU seconds at the last memory poll
        self.started = time.monotonic()
        self.ready_s: float | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        # what Lean printed on stdout before `ready`: its messages on the checker program
        self._preamble: deque[str] = deque(maxlen=_STDERR_LINES)
        self.stage = "start"  # what the process is doing: start, header, item (for reasons)
        self.forged_lines = 0  # JSON lines that were not the reply asked for
        self.ignored_lines = 0  # other stdout lines after `ready` (not replies: ignored)
        self._members: list[int] = []  # the process group (lake's child lean included)
        self._members_at = -_GROUP_SCAN_S
        self._rss_at = -_RSS_POLL_S
        argv, env, cwd = launcher.launch(self.scratch)
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,  # its own process group: killed as a whole
            )
        except OSError as exc:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise LeanInfraError(f"cannot start the {launcher.name} Lean checker: {exc}") from exc
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        self._stderr_pump = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr_pump.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _pump_stdout(self) -> None:
        stream: IO[bytes] | None = self.proc.stdout
        if stream is not None:
            for raw in iter(stream.readline, b""):
                self._lines.put(raw.decode("utf-8", errors="replace"))
        self._lines.put(None)  # end of output

    def _pump_stderr(self) -> None:
        stream: IO[bytes] | None = self.proc.stderr
        if stream is not None:
            for raw in iter(stream.readline, b""):
                self._stderr.append(raw.decode("utf-8", errors="replace"))

    def stderr_tail(self) -> str:
        return "".join(list(self._stderr)[-40:])

    def group_rss_mb(self) -> int:
        """Resident set of the whole process group in MB: under `lake env lean` the process
        started is lake and Lean is its child, so the process alone is not what to cap."""
        now = time.monotonic()
        if now - self._members_at >= _GROUP_SCAN_S:
            self._members = group_members(self.proc.pid)
            self._members_at = now
        pids = set(self._members) | {self.proc.pid}
        return sum(_rss_kb(pid) for pid in pids) // 1024

    def group_cpu_s(self) -> float:
        """CPU seconds the process group has used so far (every member, threads included)."""
        pids = set(self._members) | {self.proc.pid}
        return sum(cpu_ticks(pid) for pid in pids) / _CLK_TCK

    def _check_memory(self) -> None:
        now = time.monotonic()
        if now - self._rss_at < _RSS_POLL_S:
            return
        self._rss_at = now
        rss = self.group_rss_mb()
        self.cpu_seen_s = self.group_cpu_s()
        self.peak_mb = max(self.peak_mb, rss)
        if rss > self.memory_mb:
            self._fail("memory", f"Lean checker used more than {self.memory_mb} MB")

    def _next_json(self, deadline: float, what: str) -> dict[str, Any]:
        """The next JSON object line of stdout; kills the group on timeout/memory/EOF."""
        while True:
            now = time.monotonic()
            if now > deadline:
                self._fail("timeout", f"Lean checker took too long to {what}")
            # sampled on a clock, not only when output pauses: a process that prints without
            # end must not escape the cap
            self._check_memory()
            try:
                line = self._lines.get(timeout=min(_RSS_POLL_S, max(deadline - now, 0.001)))
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait()
                # the rest of the group goes first (it may hold stderr open), then stderr is
                # read to its end: its last lines say why Lean died
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self._stderr_pump.join(timeout=5.0)
                self._fail("crash", f"Lean checker exited with code {code} while trying to {what}")
            if not line.startswith("{"):
                if self.ready_s is None:
                    self._preamble.append(line)
                else:
                    self.ignored_lines += 1
                continue  # debug output of the embedded build, or anything else: not a reply
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj

    def _fail(self, kind: str, message: str) -> NoReturn:
        tail = self.stderr_tail()
        self.close()
        raise CheckerProcessFailure(kind, message, tail)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            obj = self._next_json(deadline, "start")
            if obj.get("ready") is True:
                # a checker program Lean could not elaborate whole would run with `sorry` in
                # place of the functions it could not: refuse it
                errors = [x.strip() for x in self._preamble if ": error:" in x]
                if errors:
                    self._fail("crash", "the checker program has errors: " + " | ".join(errors))
                if self.launcher.lockdown and obj.get("lockdown") is not True:
                    self._fail(
                        "crash", "the checker did not lock its process down before its first item"
                    )
                self.ready_s = time.monotonic() - self.started
                return

    def _drain(self) -> None:
        """Between requests the process must be silent: a JSON line there (a reply before its
        request was sent, a second reply, output of something still running) means code of an
        item runs in the process."""
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return
            if line is None:
                self._lines.put(None)  # end of output: the next read reports the crash
                return
            if line.startswith("{"):
                self.forged_lines += 1
                self._fail("compromised", "the checker printed a line between requests")

    def request(self, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request; return the reply that carries its nonce.  Any other JSON line while
        waiting (a reply-shaped line with another nonce, a second reply) or before the request
        was sent kills the process (`CheckerProcessFailure` "compromised")."""
        self._drain()
        nonce = secrets.token_hex(16)
        line = json.dumps({**payload, "nonce": nonce}, ensure_ascii=False) + "\n"
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(line.encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self._fail("crash", "Lean checker closed its input")
        deadline = time.monotonic() + timeout_s
        while True:
            obj = self._next_json(deadline, "answer")
            if obj.get("nonce") == nonce and "verdict" in obj:
                return obj
            self.forged_lines += 1
            self._fail("compromised", "the checker printed a line that is not the reply asked for")

    def confirm(self, timeout_s: float) -> None:
        """A clean boundary: the process answers a ping with exactly one pong and nothing else,
        so the replies it gave before are its own (raises "compromised" otherwise)."""
        reply = self.request({"kind": "ping"}, timeout_s)
        if reply.get("verdict") != "pong":
            self._fail("compromised", "the checker did not answer a ping")

    def close(self) -> None:
        """Kill the whole process group and remove the scratch directory (idempotent)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> CheckerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# replies -> CheckResult


def _message(d: dict[str, Any]) -> LeanMessage:
    return LeanMessage(
        severity=str(d.get("severity", "error")),
        line=int(d.get("line", 0)),
        column=int(d.get("column", 0)),
        end_line=int(d.get("end_line", d.get("line", 0))),
        end_column=int(d.get("end_column", d.get("column", 0))),
        text=str(d.get("text", "")),
        unsolved_goals=bool(d.get("unsolved_goals", False)),
    )


def result_from_reply(
    req: CheckRequest, reply: dict[str, Any], backend: str, lean_version: str
) -> CheckResult:
    """Turn the checker's reply into a `CheckResult` (positions are already proof-relative)."""
    try:
        verdict = Verdict(reply.get("verdict"))
    except ValueError:
        return CheckResult(
            Verdict.ERROR,
            reason=f"checker replied with verdict {reply.get('verdict')!r}: {reply.get('reason')}",
            backend=backend,
            lean_version=lean_version,
        )
    messages = [_message(m) for m in reply.get("messages", [])]
    errors = [m for m in messages if m.severity == "error"]
    hard = [m for m in errors if not m.unsolved_goals]
    first_error = (hard or errors)[0] if errors else None
    proof = req.proof
    if verdict is Verdict.PROVED:
        prefix = proof
    else:
        cut = len(proof)
        if hard:
            cut = min(position_to_offset(proof, m.line, m.column) for m in hard)
        from prover.lean.syntax import first_sorry

        s = first_sorry(proof)
        if s is not None:
            cut = min(cut, s)
        prefix = proof[: proof.rfind("\n", 0, cut) + 1] if cut < len(proof) else proof
    steps = None
    if "steps" in reply:
        steps = [
            TacticStep(
                text=proof[int(s["start"]) : int(s["end"])],
                start=int(s["start"]),
                end=int(s["end"]),
                goals_before=str(s.get("goals_before", "")),
                goals_after=str(s.get("goals_after", "")),
                depth=int(s.get("depth", 1)),
            )
            for s in reply["steps"]
            if 0 <= int(s["start"]) <= int(s["end"]) <= len(proof)
        ]
    return CheckResult(
        verdict=verdict,
        messages=messages,
        first_error=first_error,
        verified_prefix=prefix,
        time_s=float(reply.get("time_ms", 0)) / 1000.0,
        reason=reply.get("reason") or None,
        refusal=reply.get("refusal") or None,
        limit=str(reply.get("limit") or ""),
        steps=steps,
        initial_goals=str(reply.get("initial_goals", "")),
        backend=backend,
        lean_version=lean_version,
    )


# ---------------------------------------------------------------------------------------------


class LeanChecker:
    """`Checker` over persistent in-Lean checker processes.  Thread-safe; a context manager."""

    def __init__(self, launcher: Launcher, config: CheckerConfig | None = None) -> None:
        self.launcher = launcher
        self.config = config or CheckerConfig()
        self.name = launcher.name
        self.lean_version = launcher.lean_version
        # last in, first out: the process that answered last (warm, its header bases built)
        # takes the next item, and a spare waits at the bottom until a kill needs it
        self._idle: queue.Queue[CheckerProcess | BaseException] = queue.LifoQueue()
        self._live: set[CheckerProcess] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._failures = 0  # consecutive failed starts
        self.stats = {
            "processes": 0,
            "restarts": 0,
            "items": 0,
            "recycled": 0,
            "screen_errors": 0,
            "compromised": 0,  # processes killed for output that was not their reply
            "isolated": 0,  # single-use processes (allow_native_decide items)
            "ignored_lines": 0,  # stdout lines after `ready` that are not JSON (not replies)
        }
        self._spares_started = self.config.spare_processes == 0
        self._starting = 0  # processes being started (`wait_warm`)
        self._warm = threading.Condition()
        self._last_header: tuple[str, bool] | None = None  # (header, trusted) of the last item
        for _ in range(self.config.workers):
            self._spawn_async()

    def identity(self) -> str:
        return f"{self.launcher.identity()} checker={checker_digest()}"

    # -- processes ----------------------------------------------------------------------------
    def _spawn_async(self, delay_s: float = 0.0) -> None:
        """Start a process in the background.  Before it takes items it builds the base states
        of the default header and of the header the pool used last, so a spare or a
        replacement answers its first item at the running-checker rate."""
        with self._warm:
            self._starting += 1  # counted before the thread runs: `wait_warm` sees it
        threading.Thread(target=self._spawn, args=(delay_s,), daemon=True).start()

    def _spawn(self, delay_s: float) -> None:
        try:
            self._start_one(delay_s)
        finally:
            with self._warm:
                self._starting -= 1
                self._warm.notify_all()

    def _prewarm(self, proc: CheckerProcess) -> None:
        """Build the base states of the default header and of the pool's last header."""
        wanted = [(self.launcher.default_header, True)]
        if self._last_header is not None and self._last_header not in wanted:
            wanted.append(self._last_header)
        proc.stage = "header"
        for header, trusted in wanted:
            reply = proc.request(
                {"kind": "header", "header": header, "trusted_header": trusted},
                self.config.header_timeout_s,
            )
            if reply.get("verdict") == "ok":
                proc.headers.append((header, trusted, ()))

    def _start_one(self, delay_s: float) -> None:
        if delay_s:
            time.sleep(delay_s)
        if self._closed:
            return
        try:
            proc = CheckerProcess(self.launcher, self.config.memory_mb)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            self._idle.put(exc)
            return
        with self._lock:
            self._live.add(proc)
            self.stats["processes"] += 1
        if self._closed:  # closed while this one was starting
            self._retire(proc)
            return
        try:
            proc.wait_ready(self.config.startup_s)
            self._prewarm(proc)
        except CheckerProcessFailure as exc:
            with self._lock:
                self._live.discard(proc)
            self._idle.put(exc)
            return
        with self._lock:
            self._failures = 0
            spares = not self._spares_started
            self._spares_started = True
        if self._closed:
            proc.close()
            return
        self._idle.put(proc)
        if spares:  # the first ready process: the spares start now, behind it
            for _ in range(self.config.spare_processes):
                self._spawn_async()

    def _acquire(self) -> CheckerProcess:
        while True:
            got = self._idle.get()
            if isinstance(got, CheckerProcess):
                return got
            if isinstance(got, _Closed):  # every other waiter (a `with_screen` view too) sees it
                self._idle.put(got)
                raise LeanInfraError(str(got))
            with self._lock:
                self._failures += 1
                failures = self._failures
            if failures >= self.config.max_start_failures or self._closed:
                self._idle.put(got)  # every other waiter sees the same failure
                if isinstance(got, LeanInfraError):
                    raise got
                raise LeanInfraError(f"cannot start the Lean checker: {got}") from got
            backoff = min(
                self.config.restart_backoff_s * 2 ** (failures - 1), self.config.max_backoff_s
            )
            self._spawn_async(backoff)

    def _release(self, proc: CheckerProcess) -> None:
        if proc.items >= self.config.recycle_after:
            self._retire(proc)
            with self._lock:
                self.stats["recycled"] += 1
            self._spawn_async()
        else:
            self._idle.put(proc)

    def _retire(self, proc: CheckerProcess) -> None:
        with self._lock:
            self._live.discard(proc)
        proc.close()

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._live]

    def set_memory_limit(self, memory_mb: int, running_only: bool = False) -> None:
        """Change the resident-memory cap of the running processes and, unless
        `running_only`, of the processes started later."""
        if memory_mb < 512:
            raise ValueError(f"memory_mb={memory_mb} is too small for Lean; use >= 512")
        if not running_only:
            self.config.memory_mb = memory_mb
        with self._lock:
            for p in self._live:
                p.memory_mb = memory_mb

    def wait_ready(self) -> None:
        """Block until one process is ready (raises if none can start)."""
        self._release(self._acquire())

    def wait_warm(self, timeout_s: float | None = None) -> None:
        """Block until no process is starting: the workers and the spares are ready (or failed).
        For tests and benchmarks that must not time a start.  Raises LeanInfraError after
        `timeout_s` (default: the start-up limit, twice: the spares start after a worker)."""
        limit = timeout_s if timeout_s is not None else 2 * self.config.startup_s
        self.wait_ready()  # the first worker is ready, so the spares' starts are counted
        with self._warm:
            if not self._warm.wait_for(lambda: self._starting == 0 or self._closed, limit):
                raise LeanInfraError(f"checker processes still starting after {limit:.0f} s")

    def with_screen(self, screen: bool) -> LeanChecker:
        """A view of this checker (same processes) with the Python screen on or off; used to
        show that no verdict depends on the screen.  Close the original, not the view."""
        import copy
        import dataclasses

        view = copy.copy(self)
        view.config = dataclasses.replace(self.config, screen=screen)
        return view

    # -- checking -----------------------------------------------------------------------------
    def _payload(self, req: CheckRequest) -> dict[str, Any]:
        header = req.header if req.header is not None else self.launcher.default_header
        return {
            "kind": "check",
            "header": header,
            "trusted_header": req.header is None or req.header_trusted,
            "statement": req.formal_statement,
            "proof": req.proof,
            "heartbeats": self.config.heartbeats,
            "allow_native_decide": req.allow_native_decide,
            "want_steps": req.want_steps,
            "strict_axioms": self.launcher.strict_axioms,
            "rec_depth_cap": self.launcher.rec_depth_cap,
            "answers": [{"name": n, "term": t} for n, t in req.answers],
        }

    def _ask(self, proc: CheckerProcess, req: CheckRequest) -> dict[str, Any]:
        """The reply of `proc` to `req` (its header's base state first, if the process lacks
        it), confirmed by a clean boundary.  Raises `CheckerProcessFailure`."""
        payload = self._payload(req)
        key = (payload["header"], payload["trusted_header"], ())
        self._last_header = (key[0], key[1])
        proc.stage = "header"
        if key in proc.headers:  # Lean moved it to the front of its LRU: so do we
            proc.headers.remove(key)
            proc.headers.append(key)
        else:
            # a new header (imports) may take long: its own limit, before the item's clock
            reply = proc.request(
                {"kind": "header", "header": key[0], "trusted_header": key[1]},
                self.config.header_timeout_s,
            )
            if reply.get("verdict") != "ok":
                return {
                    "verdict": "error",
                    "reason": f"header: {reply.get('reason')}",
                    "refusal": reply.get("refusal") or None,
                }
            proc.headers.append(key)
        proc.stage = "item"
        reply = proc.request(payload, req.timeout_s or self.config.timeout_s)
        if req.answers:  # Lean made (or moved to the front) the answered base
            answered = (key[0], key[1], req.answers)
            if answered in proc.headers:
                proc.headers.remove(answered)
            proc.headers.append(answered)
        # nothing else came out of the process while it checked the item: its reply stands
        proc.confirm(self.config.timeout_s)
        if proc.ignored_lines:
            with self._lock:
                self.stats["ignored_lines"] += proc.ignored_lines
            proc.ignored_lines = 0
        return reply

    def _failure_result(
        self, exc: CheckerProcessFailure, proc: CheckerProcess, t0: float, cpu0: float
    ) -> CheckResult:
        verdict = Verdict.TIMEOUT if exc.kind == "timeout" else Verdict.ERROR
        what = {
            "timeout": "wall-clock limit",
            "memory": "memory limit",
            "crash": "crash",
            "compromised": "the checker process printed output that was not its reply",
        }
        reason = f"{what[exc.kind]} ({proc.stage}): {str(exc).splitlines()[0]}"
        if exc.kind == "crash":
            # a crash's last stderr line says why (e.g. Lean's "INTERNAL PANIC: out of memory")
            last = [x.strip() for x in exc.stderr_tail.splitlines() if x.strip()]
            if last:
                reason += f"; stderr: {last[-1][:300]}"
        return CheckResult(
            verdict,
            reason=reason,
            refusal="limit"
            if exc.kind in ("timeout", "memory")
            else ("code_evaluation" if exc.kind == "compromised" else None),
            limit={"timeout": "wall_clock", "memory": "memory"}.get(exc.kind, ""),
            time_s=time.monotonic() - t0,
            backend=self.name,
            lean_version=self.lean_version,
            cpu_s=max(proc.cpu_seen_s - cpu0, 0.0),  # the last poll before the kill
        )

    def _check_one(self, req: CheckRequest, attempt: int = 0) -> CheckResult:
        if req.allow_native_decide:
            # Lean's syntax policy says whether the item evaluates natively at all: only an item
            # it refuses for that (`native_decide`) is checked again, with the flag, in a
            # process of its own; the others are answered by the shared process as they are
            first = self._check_one(replace(req, allow_native_decide=False), attempt)
            if first.refusal != "native_decide":
                return first
            return self._check_isolated(req)
        proc = self._acquire()
        t0 = time.monotonic()
        cpu0 = proc.group_cpu_s()
        try:
            reply = self._ask(proc, req)
        except CheckerProcessFailure as exc:
            with self._lock:
                self._live.discard(proc)
                self.stats["restarts"] += 1
                if exc.kind == "compromised":
                    self.stats["compromised"] += 1
            self._spawn_async()
            if exc.kind == "compromised" and attempt == 0:
                # the item in flight is checked again from scratch in a fresh process: a
                # reply-shaped line that is not Lean's reply decides nothing
                return self._check_one(req, attempt + 1)
            return self._failure_result(exc, proc, t0, cpu0)
        cpu_s = max(proc.group_cpu_s() - cpu0, 0.0)
        proc.items += 1
        with self._lock:
            self.stats["items"] += 1
        self._release(proc)
        res = result_from_reply(req, reply, self.name, self.lean_version)
        res.cpu_s = cpu_s
        return res

    def _check_isolated(self, req: CheckRequest) -> CheckResult:
        """`allow_native_decide` items that use native evaluation compile and run code by
        design: each runs in a process of its own, started for it and killed after it, that
        checks nothing else."""
        t0 = time.monotonic()
        try:
            proc = CheckerProcess(self.launcher, self.config.memory_mb)
        except LeanInfraError as exc:
            return CheckResult(
                Verdict.ERROR,
                reason=str(exc).splitlines()[0],
                backend=self.name,
                lean_version=self.lean_version,
            )
        with self._lock:
            self.stats["isolated"] += 1
        cpu0 = 0.0
        try:
            proc.wait_ready(self.config.startup_s)
            cpu0 = proc.group_cpu_s()
            reply = self._ask(proc, req)
        except CheckerProcessFailure as exc:
            with self._lock:
                if exc.kind == "compromised":
                    self.stats["compromised"] += 1
            return self._failure_result(exc, proc, t0, cpu0)
        finally:
            proc.close()
        res = result_from_reply(req, reply, self.name, self.lean_version)
        res.cpu_s = max(proc.cpu_seen_s - cpu0, 0.0)
        return res

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        if self._closed:
            raise LeanInfraError("the checker is closed")
        results: list[CheckResult | None] = [None] * len(requests)
        todo: list[int] = []
        for i, req in enumerate(requests):
            reason = self._screen(req) if self.config.screen else None
            if reason is not None:
                results[i] = CheckResult(
                    Verdict.REJECTED,
                    reason=reason,
                    backend=self.name,
                    lean_version=self.lean_version,
                )
            else:
                todo.append(i)
        if todo:
            work: queue.Queue[int] = queue.Queue()
            for i in todo:
                work.put(i)
            errors: list[BaseException] = []

            def run() -> None:
                while not errors:
                    try:
                        i = work.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        results[i] = self._check_one(requests[i])
                    except BaseException as exc:  # noqa: BLE001 - re-raised below
                        errors.append(exc)
                        return

            n = min(self.config.workers, len(todo))
            threads = [threading.Thread(target=run, daemon=True) for _ in range(n - 1)]
            for t in threads:
                t.start()
            run()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
        return [r if r is not None else CheckResult(Verdict.ERROR, reason="lost") for r in results]

    def _screen(self, req: CheckRequest) -> str | None:
        from prover.lean.soundness import screen_request

        try:
            return screen_request(req)
        except Exception:  # noqa: BLE001 - a screen bug: Lean decides the item, as without screen
            with self._lock:
                self.stats["screen_errors"] += 1
            return None

    def close(self) -> None:
        self._closed = True
        with self._lock:
            live = list(self._live)
            self._live.clear()
        for p in live:
            p.close()
        while True:
            try:
                got = self._idle.get_nowait()
            except queue.Empty:
                break
            if isinstance(got, CheckerProcess):
                got.close()
        # wakes a check() still in flight: no process will be started for it any more
        self._idle.put(_Closed("the checker is closed"))

    def __enter__(self) -> LeanChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
