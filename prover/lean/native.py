"""Native backend: a pool of leanprover-community REPL processes (real Lean + Mathlib).

* `ReplProcess` owns one REPL subprocess in its own process group (``start_new_session``), under
  an address-space limit, with a hard per-command timeout that kills the whole group.
* `ReplPool` keeps processes keyed by header: a process imports its header once (``{"cmd":
  header}`` -> env id) and checks every later proof in that env; it is recycled after
  `max_uses` proofs (the REPL keeps every environment it ever produced).
* `NativeChecker` implements the `Checker` protocol on top of the pool.

Protocol details and all pure logic live in `prover.lean.repl_protocol`.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.lean import repl_protocol as rp
from prover.lean.types import CheckRequest, CheckResult, LeanInfraError, Verdict

NATIVE_DEFAULT_HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)

_STDERR_TAIL_CHARS = 8000


class ReplTimeout(LeanInfraError):
    """A command ran past its wall-clock limit; the REPL's process group was killed."""


class ReplCrashed(LeanInfraError):
    """The REPL exited (or closed stdout) before answering."""


class HeaderError(LeanInfraError):
    """Importing the header failed (e.g. Mathlib is not built); no proof can be checked."""


def _default_pool_size() -> int:
    return max(1, min(4, (os.cpu_count() or 2) // 2))


@dataclass(frozen=True)
class NativeConfig:
    """How to run the REPL.  Build one with `NativeConfig.from_toolchain()` normally."""

    repl_command: tuple[str, ...]
    project_dir: Path
    memory_limit_mb: int | None = 32768  # RLIMIT_AS of each REPL; None = unlimited
    command_timeout_s: float = 120.0  # per proof, unless the request sets timeout_s
    header_timeout_s: float = 600.0  # importing Mathlib can take minutes on a cold cache
    max_uses: int = 100  # proofs per process before it is recycled
    pool_size: int = field(default_factory=_default_pool_size)
    restart_backoff_s: float = 1.0  # first wait after a crash; doubles per consecutive crash
    max_backoff_s: float = 30.0
    env: tuple[tuple[str, str], ...] | None = None  # environment of the REPL; None = inherit

    def __post_init__(self) -> None:
        object.__setattr__(self, "repl_command", tuple(str(a) for a in self.repl_command))
        object.__setattr__(self, "project_dir", Path(self.project_dir))
        if not self.repl_command:
            raise ValueError(
                "NativeConfig.repl_command is empty; use NativeConfig.from_toolchain() or pass "
                "e.g. ('lake', 'env', '<project>/.lake/packages/REPL/.lake/build/bin/repl')"
            )
        if not self.project_dir.is_dir():
            raise ValueError(
                f"NativeConfig.project_dir {self.project_dir} is not a directory; point it at the "
                "Lake project (lean_project/) and build it with lean_project/setup_native.sh"
            )
        if self.memory_limit_mb is not None and self.memory_limit_mb < 256:
            raise ValueError(
                f"NativeConfig.memory_limit_mb={self.memory_limit_mb} is too small for Lean; use "
                "at least 8192 with Mathlib, or None for no limit"
            )
        for name in ("command_timeout_s", "header_timeout_s", "restart_backoff_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"NativeConfig.{name} must be > 0 seconds")
        if self.max_backoff_s < self.restart_backoff_s:
            raise ValueError("NativeConfig.max_backoff_s must be >= restart_backoff_s")
        if self.max_uses < 1:
            raise ValueError("NativeConfig.max_uses must be >= 1 (proofs per REPL process)")
        if self.pool_size < 1:
            raise ValueError("NativeConfig.pool_size must be >= 1 (number of REPL processes)")

    @classmethod
    def from_toolchain(cls, toolchain: Any = None, **overrides: Any) -> NativeConfig:
        """Config for the built `lean_project/` (raises ToolchainError saying how to build it)."""
        from prover.lean.toolchain import ToolchainError, native_toolchain

        tc = toolchain if toolchain is not None else native_toolchain()
        if not tc.is_built():
            raise ToolchainError(
                f"the native Lean project at {tc.project} is not built (no REPL at "
                f"{tc.repl_binary} or no Mathlib); run `bash lean_project/setup_native.sh` "
                "(or `make lean-native`) on a machine with internet access"
            )
        return cls(repl_command=tuple(tc.repl_command()), project_dir=tc.project, **overrides)

    def lean_version(self) -> str:
        f = self.project_dir / "lean-toolchain"
        try:
            text = f.read_text().strip()
        except OSError:
            return ""
        return text.rsplit(":", 1)[-1].lstrip("v")


_EOF = object()


class ReplProcess:
    """One REPL subprocess.  Use as a context manager or call `close()`; nothing outlives it."""

    def __init__(
        self,
        config: NativeConfig,
        header: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.header = header
        self._sleep = sleep
        self._proc: subprocess.Popen[bytes] | None = None
        self._responses: queue.Queue[Any] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque()
        self._stderr_len = 0
        self._stderr_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._header_env: int | None = None
        self._lock = threading.Lock()
        self.uses = 0  # proofs checked by the current subprocess
        self.starts = 0
        self.consecutive_crashes = 0
        self.backoffs: list[float] = []  # waits before restarts (for diagnostics/tests)
        self.closed = False

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.closed:
            raise LeanInfraError("ReplProcess.start() after close()")
        self._kill()
        if self.consecutive_crashes > 0:
            wait = min(
                self.config.max_backoff_s,
                self.config.restart_backoff_s * 2 ** (self.consecutive_crashes - 1),
            )
            self.backoffs.append(wait)
            self._sleep(wait)
        argv = list(self.config.repl_command)
        if self.config.memory_limit_mb is not None:
            # `ulimit -v` (KiB) sets RLIMIT_AS in the shell, which then execs the REPL (same pid).
            # Unlike preexec_fn this is safe when processes are started from worker threads.
            kib = self.config.memory_limit_mb * 1024
            argv = ["/bin/sh", "-c", 'ulimit -v "$0" && exec "$@"', str(kib), *argv]
        env = dict(self.config.env) if self.config.env is not None else None
        try:
            proc = subprocess.Popen(
                argv,
                cwd=self.config.project_dir,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env=env,
            )
        except OSError as e:
            self.consecutive_crashes += 1
            raise ReplCrashed(f"could not start the REPL {argv!r}: {e}") from e
        self._proc = proc
        self._responses = queue.Queue()
        with self._stderr_lock:
            self._stderr.clear()
            self._stderr_len = 0
        self._header_env = None
        self.uses = 0
        self.starts += 1
        assert proc.stdout is not None and proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(proc.stdout, self._responses)),
            threading.Thread(target=self._read_stderr, args=(proc.stderr,)),
        ]
        for t in self._threads:
            t.daemon = True
            t.start()

    def restart(self) -> None:
        self.start()

    def close(self) -> None:
        self.closed = True
        self._kill()

    def __enter__(self) -> ReplProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        stuck = False
        for t in self._threads:
            t.join(timeout=5)
            stuck = stuck or t.is_alive()
        self._threads = []
        if not stuck:  # never close an fd a reader thread may still be reading from
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()

    # ---- I/O -------------------------------------------------------------------------------

    @staticmethod
    def _read_stdout(stream: Any, out: queue.Queue[Any]) -> None:
        decoder = rp.ResponseDecoder()
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = stream.fileno()
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                for resp in decoder.feed(utf8.decode(chunk)):
                    out.put(resp)
            for resp in decoder.feed(utf8.decode(b"", final=True)) + decoder.finish():
                out.put(resp)
        except (OSError, ValueError):
            pass
        finally:
            out.put(_EOF)

    def _read_stderr(self, stream: Any) -> None:
        fd = stream.fileno()
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        with contextlib.suppress(OSError, ValueError):
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                text = utf8.decode(chunk)
                with self._stderr_lock:
                    self._stderr.append(text)
                    self._stderr_len += len(text)
                    while self._stderr_len > 2 * _STDERR_TAIL_CHARS and len(self._stderr) > 1:
                        self._stderr_len -= len(self._stderr.popleft())

    def stderr_tail(self) -> str:
        with self._stderr_lock:
            return "".join(self._stderr)[-_STDERR_TAIL_CHARS:]

    def send(self, cmd: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one command and wait for its response.

        Raises ReplTimeout (after killing the process group) or ReplCrashed (stderr tail
        attached).  A dead process is restarted first, with exponential backoff after crashes.
        """
        with self._lock:
            if not self.alive():
                self.start()
            proc = self._proc
            assert proc is not None and proc.stdin is not None
            try:
                proc.stdin.write(rp.encode(cmd))
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass  # the reader sees EOF; reported below with the stderr tail
            try:
                resp = self._responses.get(timeout=timeout)
            except queue.Empty:
                self._kill()
                raise ReplTimeout(
                    f"REPL command exceeded {timeout:.1f}s; process group killed",
                    self.stderr_tail(),
                ) from None
            if resp is _EOF:
                code = proc.wait()
                for t in self._threads:  # let the stderr reader drain what the REPL wrote
                    t.join(timeout=2)
                tail = self.stderr_tail()
                self._kill()
                self.consecutive_crashes += 1
                raise ReplCrashed(f"the REPL exited (code {code}) before answering", tail)
            self.consecutive_crashes = 0
            return resp  # type: ignore[no-any-return]

    def header_env(self, timeout: float | None = None) -> int | None:
        """Env id in which the header is imported (imports it on first use); None = no header."""
        if self.header is None:
            return None
        if self._header_env is not None and self.alive():
            return self._header_env
        limit = timeout if timeout is not None else self.config.header_timeout_s
        try:
            resp = self.send(rp.command(self.header), limit)
        except ReplTimeout as e:
            raise HeaderError(
                f"importing the header took more than {limit:.0f}s", e.stderr_tail
            ) from e
        errors = [m for m in resp.get("messages", []) or [] if m.get("severity") == "error"]
        env = resp.get("env")
        if errors or not isinstance(env, int):
            detail = "; ".join(str(m.get("data", "")) for m in errors) or str(resp)[:500]
            raise HeaderError(f"importing the header failed: {detail}", self.stderr_tail())
        self._header_env = env
        return env


class ReplPool:
    """At most `pool_size` REPL processes, keyed by header; thread-safe checkout."""

    def __init__(self, config: NativeConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._sleep = sleep
        self._cond = threading.Condition()
        self._idle: dict[str | None, list[ReplProcess]] = {}
        self._all: set[ReplProcess] = set()
        self._closed = False
        self.recycled = 0

    def _take(self, header: str | None) -> ReplProcess:
        with self._cond:
            while True:
                if self._closed:
                    raise LeanInfraError("ReplPool is closed")
                idle = self._idle.get(header)
                if idle:
                    return idle.pop()
                if len(self._all) < self.config.pool_size:
                    proc = ReplProcess(self.config, header, sleep=self._sleep)
                    self._all.add(proc)
                    return proc
                victim = next((ps for ps in self._idle.values() if ps), None)
                if victim:  # an idle process for another header: replace it
                    old = victim.pop()
                    self._all.discard(old)
                    old.close()
                    continue
                self._cond.wait()

    def _give_back(self, proc: ReplProcess, used: bool) -> None:
        if used:
            proc.uses += 1
        with self._cond:
            if self._closed or proc.closed:
                self._all.discard(proc)
                proc.close()
            elif proc.uses >= self.config.max_uses:
                self.recycled += 1
                proc.close()  # restarted fresh (new subprocess) on next demand
                self._all.discard(proc)
            else:
                self._idle.setdefault(proc.header, []).append(proc)
            self._cond.notify_all()

    @contextlib.contextmanager
    def checkout(self, header: str | None) -> Iterator[ReplProcess]:
        proc = self._take(header)
        used = False
        try:
            yield proc
            used = True
        except BaseException:
            used = True
            raise
        finally:
            self._give_back(proc, used)

    def processes(self) -> list[ReplProcess]:
        with self._cond:
            return list(self._all)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            procs = list(self._all)
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        for p in procs:
            p.close()


class NativeChecker:
    """`Checker` over real Lean + Mathlib via the REPL."""

    name = "native"

    def __init__(
        self,
        config: NativeConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config if config is not None else NativeConfig.from_toolchain()
        self.pool = ReplPool(self.config, sleep=sleep)
        self.lean_version = self.config.lean_version()

    def __enter__(self) -> NativeChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.pool.close()

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        from prover.lean import soundness  # lazy: owned by another module, patched in tests

        screen = soundness.screen_request
        if not requests:
            return []
        workers = min(self.config.pool_size, len(requests))
        with ThreadPoolExecutor(max_workers=workers) as ex:
            return list(ex.map(lambda r: self._check_safe(r, screen), requests))

    def _check_safe(self, request: CheckRequest, screen: Callable[..., str | None]) -> CheckResult:
        t0 = time.monotonic()
        try:
            result = self._check_one(request, screen)
        except Exception as e:  # never raise for one item
            result = CheckResult(Verdict.ERROR, reason=f"{type(e).__name__}: {e}")
        result.time_s = time.monotonic() - t0
        result.backend = self.name
        result.lean_version = self.lean_version
        return result

    def _check_one(self, request: CheckRequest, screen: Callable[..., str | None]) -> CheckResult:
        reason = screen(request)
        if reason:
            return CheckResult(Verdict.REJECTED, reason=reason)
        header = request.header if request.header is not None else NATIVE_DEFAULT_HEADER
        prepared = rp.prepare_statement(request.formal_statement)
        timeout = request.timeout_s or self.config.command_timeout_s
        last_error: LeanInfraError | None = None
        for _attempt in range(2):  # a crash is retried once on a fresh process
            try:
                with self.pool.checkout(header) as proc:
                    return self._run(proc, request, prepared, timeout)
            except ReplTimeout as e:
                return CheckResult(Verdict.TIMEOUT, reason=str(e).split("\n", 1)[0])
            except HeaderError as e:
                return CheckResult(Verdict.ERROR, reason=str(e))
            except LeanInfraError as e:
                last_error = e
        assert last_error is not None
        return CheckResult(Verdict.ERROR, reason=f"REPL crashed twice: {last_error}")

    def _run(
        self,
        proc: ReplProcess,
        request: CheckRequest,
        prepared: rp.PreparedStatement,
        timeout: float,
    ) -> CheckResult:
        env = proc.header_env()
        resp = proc.send(rp.request_command(request, prepared.statement, env), timeout)
        a = rp.analyze_response(resp, prepared.statement, request.proof, request.want_steps)
        result = CheckResult(
            verdict=a.verdict,
            messages=a.messages,
            first_error=a.first_error,
            verified_prefix=a.verified_prefix,
            steps=a.steps,
            initial_goals=a.initial_goals,
        )
        if a.verdict is Verdict.TIMEOUT:
            result.reason = "Lean heartbeat limit reached"
        if a.verdict is not Verdict.PROVED:
            return result
        if prepared.name is None or a.env is None:
            result.verdict = Verdict.REJECTED
            result.reason = "could not determine the theorem to check its axioms"
            return result
        ax_resp = proc.send(rp.print_axioms_command(prepared.name, a.env), timeout)
        try:
            axioms = rp.parse_axioms(ax_resp)
        except rp.ReplProtocolError as e:
            result.verdict = Verdict.REJECTED
            result.reason = f"axiom check failed: {e}"
            return result
        why = rp.axiom_rejection(axioms, request.allow_native_decide)
        if why:
            result.verdict = Verdict.REJECTED
            result.reason = why
        return result
