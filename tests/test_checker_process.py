"""`CheckerProcess` / `LeanChecker` lifecycle against a fake checker (no Lean needed).

The fake (tests/fixtures/fake_checker.py) speaks the JSON-lines protocol of
`lean_project/ProverChecker.lean`; what it does for an item is chosen by the proof text (hang,
crash, alloc, print-forged, ...), and it logs every PID it ran as and every request it read.
It answers `proved` only for the (statement, proof) pairs of its LEAN_PROVES, which real Lean
proves (tests/test_fakes_lean.py): the proofs expected to pass here are listed there.
No assertion here is about how long something took: limits are exercised, and the tests check
the verdicts, the reasons and that no process outlives what killed it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from procs import pid_gone

from prover.lean.checker import (
    CheckerConfig,
    CheckerProcess,
    CheckerProcessFailure,
    LeanChecker,
    checker_digest,
    result_from_reply,
)
from prover.lean.types import CheckRequest, LeanInfraError, TacticStep, Verdict

FAKE = Path(__file__).resolve().with_name("fixtures") / "fake_checker.py"
# the statements of the fake's LEAN_PROVES
STMT = "theorem t (n : Nat) : n = n := by\n"
TRUE = "theorem t : True := by\n"


class FakeLauncher:
    """A `Launcher` that starts the fake checker with `env` added to its environment."""

    name = "fake"
    lean_version = "0.0-fake"
    strict_axioms = False
    lockdown = False
    rec_depth_cap = 0
    default_header = "import Fake\n"

    def __init__(self, state: Path, **env: str) -> None:
        self.state = state
        self.env = env
        self.scratches: list[Path] = []

    def launch(self, scratch: Path) -> tuple[list[str], dict[str, str], Path]:
        self.scratches.append(scratch)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.env}
        return [sys.executable, str(FAKE), str(self.state)], env, scratch

    def identity(self) -> str:
        return "fake 0.0"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    return d


def _config(**kw: Any) -> CheckerConfig:
    kw.setdefault("timeout_s", 60.0)
    kw.setdefault("startup_s", 60.0)
    kw.setdefault("memory_mb", 2048)
    kw.setdefault("restart_backoff_s", 0.01)
    kw.setdefault("max_backoff_s", 0.05)
    kw.setdefault("screen", False)
    kw.setdefault("spare_processes", 0)  # the tests that count processes; spares: their own test
    return CheckerConfig(**kw)


def _req(proof: str, **kw: Any) -> CheckRequest:
    return CheckRequest(STMT, f"  {proof}\n", **kw)


def _nth(i: int) -> str:
    """The i-th of the distinct proofs of STMT in the fake's LEAN_PROVES (i < 9)."""
    return f"have h{i} : n = n := rfl\n  exact h{i}"


def _pids(state: Path, name: str = "pids") -> list[int]:
    path = state / name
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _requests(state: Path) -> list[dict[str, Any]]:
    path = state / "requests"
    if not path.exists():
        return []
    # the confirmation pings after each reply are the driver's protocol, tested on their own
    reqs = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in reqs if r.get("kind") != "ping"]


def _pid_of(state: Path, proof: str) -> int:
    """PID of the fake process that received the check request with `proof`."""
    for r in _requests(state):
        if r.get("kind") == "check" and r["proof"].strip() == proof:
            return int(r["pid"])
    raise AssertionError(f"no request with proof {proof!r}")


def _assert_gone(pid: int) -> None:
    """A process this test process started (and `close()` reaped) no longer exists."""
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _all_gone(state: Path) -> None:
    for pid in _pids(state) + _pids(state, "children"):
        assert pid_gone(pid), f"process {pid} outlived the checker"


# ---------------------------------------------------------------------------------------------
# config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("workers", 0, "workers must be >= 1 (got 0)"),
        ("heartbeats", 10, "heartbeats=10 is too small; use >= 1000"),
        ("heartbeats", 0, "0/unlimited is not allowed"),
        ("timeout_s", 0, "timeout_s must be a positive number of seconds"),
        ("startup_s", -1.0, "startup_s must be a positive number of seconds"),
        ("header_timeout_s", 0, "header_timeout_s must be a positive number of seconds"),
        ("restart_backoff_s", 0, "restart_backoff_s must be a positive number of seconds"),
        ("memory_mb", 100, "memory_mb=100 is too small for Lean; use >= 512"),
        ("recycle_after", 0, "recycle_after must be >= 1 (items per process)"),
        ("max_start_failures", 0, "max_start_failures must be >= 1"),
    ],
)
def test_config_validation_messages(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        CheckerConfig(**{field: value})  # type: ignore[arg-type]
    assert message in str(info.value)


def test_config_minimums_are_accepted() -> None:
    cfg = CheckerConfig(workers=1, heartbeats=1000, memory_mb=512, recycle_after=1)
    assert not cfg.screen and cfg.max_start_failures == 3  # Lean decides alone by default


# ---------------------------------------------------------------------------------------------
# CheckerProcess


def test_process_roundtrip_own_group_and_close(state: Path) -> None:
    launcher = FakeLauncher(state)
    proc = CheckerProcess(launcher, memory_mb=2048)
    scratch = proc.scratch
    assert launcher.scratches == [scratch] and scratch.is_dir()
    proc.wait_ready(60)
    assert proc.ready_s is not None
    assert os.getpgid(proc.pid) == proc.pid  # its own process group
    reply = proc.request({"kind": "header", "header": "import Fake\n"}, 60)
    assert reply["verdict"] == "ok"
    reply = proc.request({"kind": "check", "statement": STMT, "proof": "  rfl\n"}, 60)
    assert reply["verdict"] == "proved"
    nonces = [r["nonce"] for r in _requests(state)]
    assert len(nonces) == 2 and len(set(nonces)) == 2 and reply["nonce"] == nonces[1]
    assert len(nonces[0]) == 32  # 128 random bits
    pid = proc.pid
    proc.close()
    proc.close()  # idempotent
    _assert_gone(pid)
    assert not scratch.exists()


def test_process_timeout_kills_the_group_children_included(state: Path) -> None:
    with CheckerProcess(FakeLauncher(state), memory_mb=2048) as proc:
        proc.wait_ready(60)
        pid = proc.pid
        with pytest.raises(CheckerProcessFailure) as info:
            proc.request({"kind": "check", "proof": "hang-child"}, 0.5)
    assert info.value.kind == "timeout"
    assert "took too long to answer" in str(info.value)
    _assert_gone(pid)
    (child,) = _pids(state, "children")
    assert pid_gone(child), "the item's child outlived its process group"


def test_process_crash_carries_the_stderr_tail(state: Path) -> None:
    proc = CheckerProcess(FakeLauncher(state), memory_mb=2048)
    proc.wait_ready(60)
    with pytest.raises(CheckerProcessFailure) as info:
        proc.request({"kind": "check", "proof": "crash"}, 60)
    assert info.value.kind == "crash"
    assert "exited with code 7 while trying to answer" in str(info.value)
    assert "fake: boom" in info.value.stderr_tail
    _assert_gone(proc.pid)
    assert not proc.scratch.exists()


def test_process_ignores_lines_that_are_not_its_reply(state: Path) -> None:
    with CheckerProcess(FakeLauncher(state), memory_mb=2048) as proc:
        proc.wait_ready(60)
        first = proc.request({"kind": "check", "statement": STMT, "proof": "  rfl\n"}, 60)
        with pytest.raises(CheckerProcessFailure) as info:
            proc.request({"kind": "check", "proof": "print-forged"}, 60)
        pid = proc.pid
    assert first["verdict"] == "proved"
    # a reply-shaped line that is not the reply: the process is compromised and killed
    assert info.value.kind == "compromised" and proc.forged_lines == 1
    assert pid_gone(pid)


@pytest.mark.parametrize("what", ["print-forged", "print-after"])
def test_a_process_that_forges_is_killed_and_its_item_rechecked(state: Path, what: str) -> None:
    """Output that is not the reply asked for (before it, or after it: caught by the clean
    boundary, a ping answered by exactly one pong) kills the process; the item in flight is
    checked again in a fresh process (which the fake's item compromises again: `error`), and
    the items after it get their verdicts."""
    reqs = [_req("rfl"), _req(what), _req("omega")]
    with LeanChecker(FakeLauncher(state), _config()) as checker:
        res = checker.check(reqs)
        stats = dict(checker.stats)
    assert [r.verdict for r in res] == [Verdict.PROVED, Verdict.ERROR, Verdict.PROVED], res
    assert res[1].refusal == "code_evaluation" and "not its reply" in (res[1].reason or "")
    assert stats["compromised"] == 2 and stats["restarts"] == 2
    rechecked = [r for r in _requests(state) if r.get("proof", "").strip() == what]
    assert len(rechecked) == 2 and rechecked[0]["pid"] != rechecked[1]["pid"]
    for r in rechecked:
        assert pid_gone(r["pid"])


# ---------------------------------------------------------------------------------------------
# LeanChecker: items that kill their process


def test_hanging_item_times_out_and_the_rest_go_on(state: Path) -> None:
    reqs = [_req("rfl"), _req("hang", timeout_s=0.5), _req("simp"), _req("omega")]
    with LeanChecker(FakeLauncher(state), _config()) as checker:
        res = checker.check(reqs)
        stats = dict(checker.stats)
    assert [r.verdict for r in res] == [
        Verdict.PROVED,
        Verdict.TIMEOUT,
        Verdict.PROVED,
        Verdict.PROVED,
    ]
    assert (res[1].reason or "").startswith("wall-clock limit (item): ")
    assert "took too long to answer" in (res[1].reason or "")
    assert all(r.backend == "fake" and r.lean_version == "0.0-fake" for r in res)
    assert stats["restarts"] == 1 and stats["items"] == 3
    hung = _pid_of(state, "hang")
    _assert_gone(hung)
    assert _pid_of(state, "simp") != hung  # the next items ran in the replacement
    _all_gone(state)


def test_crashing_item_is_an_error_and_costs_only_itself(state: Path) -> None:
    with LeanChecker(FakeLauncher(state), _config()) as checker:
        res = checker.check([_req("rfl"), _req("crash"), _req("simp")])
        assert checker.stats["restarts"] == 1
    assert [r.verdict for r in res] == [Verdict.PROVED, Verdict.ERROR, Verdict.PROVED]
    reason = res[1].reason or ""
    assert reason.startswith("crash (item): ") and "exited with code 7" in reason
    _assert_gone(_pid_of(state, "crash"))
    _all_gone(state)


@pytest.mark.parametrize("proof", ["alloc", "alloc-chatty"])
def test_memory_cap_kills_the_item_and_the_rest_go_on(state: Path, proof: str) -> None:
    """`alloc-chatty` prints all the while: the cap must hold even when output never stops (it
    is killed on its way to 1 GB, not once its allocation stops)."""
    with LeanChecker(FakeLauncher(state), _config(memory_mb=512, timeout_s=60.0)) as checker:
        res = checker.check([_req("rfl"), _req(proof), _req("simp")])
        assert checker.stats["restarts"] == 1
    assert [r.verdict for r in res] == [Verdict.PROVED, Verdict.ERROR, Verdict.PROVED]
    reason = res[1].reason or ""
    assert reason.startswith("memory limit (item): ")
    assert "used more than 512 MB" in reason
    assert int((state / "allocated").read_text()) < 1024
    _assert_gone(_pid_of(state, proof))
    _all_gone(state)


def test_a_crashing_screen_leaves_the_item_to_lean(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python screen is a convenience: when it raises on an input (a screen bug), the item
    goes to the checker process like any other and gets Lean's verdict, not a rejection."""
    import prover.lean.soundness as soundness

    real = soundness.screen_request

    def crashing(req: CheckRequest) -> str | None:
        if "rfl" in req.proof:
            raise IndexError("screen bug")
        return real(req)

    monkeypatch.setattr(soundness, "screen_request", crashing)
    with LeanChecker(FakeLauncher(state), _config(screen=True)) as checker:
        res = checker.check([_req("rfl"), _req("simp")])
        assert checker.stats["screen_errors"] == 1
    assert [r.verdict for r in res] == [Verdict.PROVED, Verdict.PROVED]
    assert _pid_of(state, "rfl")  # it reached the process


# ---------------------------------------------------------------------------------------------
# recycling, parallel workers


def test_processes_are_recycled_after_recycle_after_items(state: Path) -> None:
    with LeanChecker(FakeLauncher(state), _config(recycle_after=2)) as checker:
        res = checker.check([_req(_nth(i)) for i in range(5)])
        assert checker.stats["recycled"] >= 2
        live = checker.pids()
    assert all(r.verdict is Verdict.PROVED for r in res)
    checks = [r for r in _requests(state) if r["kind"] == "check"]
    used = list(dict.fromkeys(r["pid"] for r in checks))
    assert len(used) == 3  # items 1-2, 3-4, 5
    for old in used[:2]:
        assert old not in live
        _assert_gone(old)
    _all_gone(state)


def test_parallel_workers_keep_request_order(state: Path) -> None:
    reqs = [_req("print-after" if i % 3 == 0 else _nth(i)) for i in range(9)]
    with LeanChecker(FakeLauncher(state), _config(workers=3)) as checker:
        res = checker.check(reqs)
        assert checker.stats["items"] == 6 and checker.stats["compromised"] == 6
    assert [r.verdict for r in res] == [
        Verdict.ERROR if i % 3 == 0 else Verdict.PROVED for i in range(9)
    ]
    _all_gone(state)


# ---------------------------------------------------------------------------------------------
# start-up


def test_start_up_failures_raise_with_the_stderr_tail(state: Path) -> None:
    launcher = FakeLauncher(state, FAKE_FAIL_START="1")
    checker = LeanChecker(launcher, _config(max_start_failures=2))
    try:
        with pytest.raises(LeanInfraError) as info:
            checker.check([_req("rfl")])
        assert "fake: cannot load the checker" in info.value.stderr_tail
        assert "fake: cannot load the checker" in str(info.value)
        assert "exited with code 3 while trying to start" in str(info.value)
        with pytest.raises(LeanInfraError):  # it has given up: later calls fail the same way
            checker.check([_req("rfl")])
        assert len(_pids(state)) == 2  # max_start_failures attempts, no more
        assert _requests(state) == []
    finally:
        checker.close()
    _all_gone(state)


def test_a_checker_program_with_errors_is_refused(state: Path) -> None:
    """Lean runs a program it could not elaborate whole with `sorry` for the broken functions,
    which would give wrong verdicts: an error message before `ready` is a failed start."""
    checker = LeanChecker(
        FakeLauncher(state, FAKE_COMPILE_ERROR="1"), _config(max_start_failures=1)
    )
    try:
        with pytest.raises(LeanInfraError) as info:
            checker.check([_req("rfl")])
        assert "checker program has errors" in str(info.value)
        assert "ProverChecker.lean:666:56: error: unexpected identifier" in str(info.value)
        assert _requests(state) == []
    finally:
        checker.close()
    _all_gone(state)


def test_answers_reach_lean_and_answered_bases_are_remembered(state: Path) -> None:
    """`answers` travel in the item; an answered header is a base of its own in Lean's LRU (made
    on its item, after the plain header), which the driver's record mirrors."""
    hdr = "abbrev x_solution : Nat := sorry\n"
    ans = (("x_solution", "6"),)
    reqs = [
        _req("rfl", header=hdr, header_trusted=True, answers=ans),
        _req("simp", header=hdr, header_trusted=True, answers=ans),
        _req("omega", header=hdr, header_trusted=True),
    ]
    with LeanChecker(FakeLauncher(state), _config()) as checker:
        assert all(r.verdict is Verdict.PROVED for r in checker.check(reqs))
        (proc,) = checker._live
        default = (FakeLauncher.default_header, True, ())  # built before it was ready
        assert list(proc.headers) == [default, (hdr, True, ans), (hdr, True, ())]
    got = [(r["kind"], r.get("answers")) for r in _requests(state)]
    answers = [{"name": "x_solution", "term": "6"}]
    assert got == [
        ("header", None),  # the default header (prewarm)
        ("header", None),
        ("check", answers),
        ("check", answers),
        ("check", []),
    ]


def test_start_up_failures_below_the_limit_are_retried(state: Path) -> None:
    launcher = FakeLauncher(state, FAKE_FAIL_FIRST="2")
    with LeanChecker(launcher, _config(max_start_failures=3)) as checker:
        (res,) = checker.check([_req("rfl")])
        assert checker.stats["processes"] == 3
    assert res.verdict is Verdict.PROVED
    assert len(_pids(state)) == 3
    _all_gone(state)


def test_start_up_retries_back_off_exponentially(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[float] = []
    real = LeanChecker._spawn_async

    def spy(self: LeanChecker, delay_s: float = 0.0) -> None:
        delays.append(delay_s)
        real(self, delay_s)

    monkeypatch.setattr(LeanChecker, "_spawn_async", spy)
    cfg = _config(max_start_failures=5, restart_backoff_s=0.01, max_backoff_s=0.03)
    with LeanChecker(FakeLauncher(state, FAKE_FAIL_FIRST="3"), cfg) as checker:
        (res,) = checker.check([_req("rfl")])
        assert checker._failures == 0  # reset by the start that succeeded
    assert res.verdict is Verdict.PROVED
    assert delays == [0.0, 0.01, 0.02, 0.03]  # the first start, then doubling, capped


def test_never_ready_is_an_infra_error(state: Path) -> None:
    launcher = FakeLauncher(state, FAKE_NO_READY="1")
    # long enough for the fake to record its pid under load (0.5 s raced its own spawn)
    checker = LeanChecker(launcher, _config(startup_s=3.0, max_start_failures=1))
    try:
        with pytest.raises(LeanInfraError, match="took too long to start"):
            checker.wait_ready()
        with pytest.raises(LeanInfraError, match="took too long to start"):
            checker.check([_req("rfl")])
    finally:
        checker.close()
    (pid,) = _pids(state)
    _assert_gone(pid)


def test_launch_failure_is_an_infra_error(state: Path) -> None:
    class Missing(FakeLauncher):
        def launch(self, scratch: Path) -> tuple[list[str], dict[str, str], Path]:
            return [str(state / "no-such-lean")], {}, scratch

    checker = LeanChecker(Missing(state), _config(max_start_failures=1))
    try:
        with pytest.raises(LeanInfraError, match="cannot start the fake Lean checker"):
            checker.check([_req("rfl")])
    finally:
        checker.close()


# ---------------------------------------------------------------------------------------------
# close


def test_close_leaves_no_process(state: Path) -> None:
    launcher = FakeLauncher(state)
    checker = LeanChecker(launcher, _config(workers=2))
    res = checker.check([_req("rfl"), _req("simp"), _req("omega")])
    assert all(r.verdict is Verdict.PROVED for r in res)
    pids = checker.pids()
    assert len(pids) == 2
    checker.close()
    checker.close()  # idempotent
    for pid in pids:
        _assert_gone(pid)
    assert checker.pids() == []
    _all_gone(state)
    assert launcher.scratches and not any(s.exists() for s in launcher.scratches)
    with pytest.raises(LeanInfraError, match="closed"):
        checker.check([_req("rfl")])


def test_context_manager_closes_and_close_while_starting(state: Path) -> None:
    with LeanChecker(FakeLauncher(state), _config(workers=2)) as checker:
        checker.wait_ready()
    with pytest.raises(LeanInfraError, match="closed"):
        checker.check([_req("rfl")])
    LeanChecker(FakeLauncher(state), _config(workers=2)).close()  # closed before ready
    _all_gone(state)


def test_close_during_a_check_ends_it(state: Path) -> None:
    """A batch in flight when the checker is closed stops with an error instead of waiting
    forever for a process that will never be started."""
    checker = LeanChecker(FakeLauncher(state), _config())
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(checker.check([_req("hang"), _req("rfl"), _req("simp")]))
        except LeanInfraError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for _ in range(400):  # until the hanging item has reached the fake
        if any(r.get("kind") == "check" for r in _requests(state)):
            break
        time.sleep(0.05)
    checker.close()
    thread.join(60)
    assert not thread.is_alive(), "check() did not return after close()"
    assert len(outcome) == 1 and isinstance(outcome[0], LeanInfraError)
    assert "closed" in str(outcome[0])
    _all_gone(state)


# ---------------------------------------------------------------------------------------------
# headers and payloads


def test_one_header_request_per_process_and_header(state: Path) -> None:
    reqs = [
        _req("rfl"),  # default header
        _req("simp"),
        _req("omega", header="import Other\n", header_trusted=True),
        _req("exact rfl"),  # default header: still known to the process
        _req("apply Eq.refl", header="import Other\n"),  # untrusted: another header key
    ]
    with LeanChecker(FakeLauncher(state), _config()) as checker:
        res = checker.check(reqs)
    assert all(r.verdict is Verdict.PROVED for r in res)
    seen = [(r["kind"], r.get("header"), r.get("trusted_header")) for r in _requests(state)]
    assert seen == [
        ("header", "import Fake\n", True),
        ("check", "import Fake\n", True),
        ("check", "import Fake\n", True),
        ("header", "import Other\n", True),
        ("check", "import Other\n", True),
        ("check", "import Fake\n", True),
        ("header", "import Other\n", False),
        ("check", "import Other\n", False),
    ]


def test_header_cache_is_least_recently_used_like_the_checkers(state: Path) -> None:
    """The driver's record of loaded headers evicts like Lean's LRU: a header used again stays,
    the least recently used one goes (else an item would pay an import under its own limit)."""
    from prover.lean.checker import HEADER_CACHE_SIZE

    headers = [f"import H{i}\n" for i in range(HEADER_CACHE_SIZE + 1)]
    reqs = [_req("rfl", header=h, header_trusted=True) for h in headers[:HEADER_CACHE_SIZE]]
    reqs.append(_req("rfl", header=headers[0], header_trusted=True))  # H0 used again
    reqs.append(_req("rfl", header=headers[-1], header_trusted=True))  # evicts H1, not H0
    reqs.append(_req("rfl", header=headers[0], header_trusted=True))  # still loaded
    reqs.append(_req("rfl", header=headers[1], header_trusted=True))  # evicted: loaded again
    with LeanChecker(FakeLauncher(state), _config()) as checker:
        assert all(r.verdict is Verdict.PROVED for r in checker.check(reqs))
    loaded = [r["header"] for r in _requests(state) if r["kind"] == "header"]
    assert loaded == [FakeLauncher.default_header, *headers, headers[1]]  # default: prewarm


def test_a_new_process_gets_the_header_again(state: Path) -> None:
    with LeanChecker(FakeLauncher(state), _config(recycle_after=2)) as checker:
        checker.check([_req(_nth(i)) for i in range(4)])
    reqs = _requests(state)
    by_pid: dict[int, list[str]] = {}
    for r in reqs:
        by_pid.setdefault(r["pid"], []).append(r["kind"])
    assert list(by_pid.values()) == [["header", "check", "check"]] * 2


def test_header_error_is_an_error_verdict_for_that_item(state: Path) -> None:
    bad = "import BADHEADER\n"
    reqs = [_req("rfl", header=bad), _req("simp"), _req("omega", header=bad)]
    with LeanChecker(FakeLauncher(state), _config()) as checker:
        res = checker.check(reqs)
        assert checker.stats["restarts"] == 0
    assert [r.verdict for r in res] == [Verdict.ERROR, Verdict.PROVED, Verdict.ERROR]
    assert res[0].reason == "header: unknown module BADHEADER"
    kinds = [r["kind"] for r in _requests(state)]
    assert kinds == ["header", "header", "check", "header"]  # a failed header is not remembered


def test_check_payload_fields(state: Path) -> None:
    req = CheckRequest(TRUE, "  exact trivial\n", allow_native_decide=True, want_steps=True)
    with LeanChecker(FakeLauncher(state), _config(heartbeats=12345)) as checker:
        (res,) = checker.check([req])
    check = [r for r in _requests(state) if r["kind"] == "check"][0]
    assert check["statement"] == TRUE and check["proof"] == "  exact trivial\n"
    assert check["heartbeats"] == 12345
    # an item with the flag goes to the shared process without it first: only one Lean refuses
    # for native evaluation is checked again, with the flag, in a process of its own
    assert check["allow_native_decide"] is False and check["want_steps"] is True
    assert check["strict_axioms"] is False  # the launcher's rule
    assert check["header"] == "import Fake\n" and check["trusted_header"] is True
    assert res.verdict is Verdict.PROVED
    assert res.steps == [TacticStep("exact trivial", 2, 15, "⊢ True", "no goals", 1)]
    assert res.initial_goals == "⊢ True"


def test_screen_refuses_before_lean_and_identity(state: Path) -> None:
    with LeanChecker(FakeLauncher(state), _config(screen=True)) as checker:
        (res,) = checker.check([_req("#exit")])
        assert checker.identity() == f"fake 0.0 checker={checker_digest()}"
    assert res.verdict is Verdict.REJECTED and "#exit" in (res.reason or "")
    assert [r for r in _requests(state) if r["kind"] == "check"] == []


# ---------------------------------------------------------------------------------------------
# result_from_reply


def _msg(line: int, column: int, text: str, severity: str = "error") -> dict[str, Any]:
    return {
        "severity": severity,
        "line": line,
        "column": column,
        "end_line": line,
        "end_column": column + 3,
        "text": text,
        # Lean's tag, sent by the checker (the driver never looks at the text)
        "unsolved_goals": text.startswith("unsolved goals"),
    }


def test_reply_positions_first_error_and_prefix() -> None:
    proof = "  constructor\n  · exact hp\n  · exakt hq\n  done\n"
    req = CheckRequest(STMT, proof)
    reply = {
        "verdict": "failed",
        "messages": [
            _msg(1, 2, "unsolved goals\n⊢ p"),
            _msg(2, 4, "linter says hi", severity="warning"),
            _msg(3, 4, "unknown identifier 'exakt'"),
            _msg(4, 2, "no goals to be proved"),
        ],
        "time_ms": 1500,
        "reason": "",
    }
    res = result_from_reply(req, reply, "fake", "0.0")
    assert res.verdict is Verdict.FAILED and res.backend == "fake" and res.lean_version == "0.0"
    assert [(m.severity, m.line, m.column, m.end_column) for m in res.messages] == [
        ("error", 1, 2, 5),
        ("warning", 2, 4, 7),
        ("error", 3, 4, 7),
        ("error", 4, 2, 5),
    ]
    # a hard error first, even though "unsolved goals" comes earlier
    assert res.first_error is not None and res.first_error.text == "unknown identifier 'exakt'"
    assert res.verified_prefix == "  constructor\n  · exact hp\n"  # cut at the error's line
    assert res.time_s == 1.5 and res.reason is None and res.steps is None


def test_reply_unsolved_goals_only() -> None:
    proof = "  constructor\n  exact hp\n"
    reply = {"verdict": "incomplete", "messages": [_msg(1, 2, "unsolved goals\ncase right")]}
    res = result_from_reply(CheckRequest(STMT, proof), reply, "fake", "0.0")
    assert res.verdict is Verdict.INCOMPLETE
    assert res.first_error is not None and res.first_error.text.startswith("unsolved goals")
    assert res.verified_prefix == proof  # no hard error: nothing is cut


def test_reply_prefix_cut_at_sorry_and_statement_errors() -> None:
    proof = "  have h : p := by sorry\n  exact h\n"
    res = result_from_reply(
        CheckRequest(STMT, proof), {"verdict": "incomplete", "messages": []}, "f", ""
    )
    assert res.verified_prefix == ""  # the first line holds the sorry
    proof2 = "  intro x\n  sorry\n"
    res2 = result_from_reply(CheckRequest(STMT, proof2), {"verdict": "incomplete"}, "f", "")
    assert res2.verified_prefix == "  intro x\n"
    # an error on the statement (line <= 0) leaves no verified prefix
    res3 = result_from_reply(
        CheckRequest(STMT, "  rfl\n"),
        {"verdict": "failed", "messages": [_msg(0, 10, "unknown identifier 'ℤ'")]},
        "f",
        "",
    )
    assert res3.verified_prefix == "" and res3.first_error is not None
    assert res3.first_error.line == 0


def test_reply_positions_count_code_points() -> None:
    proof = "  have h₁ : x ∈ S := h₀\n  exakt h₁\n"
    reply = {"verdict": "failed", "messages": [_msg(2, 2, "unknown tactic")]}
    res = result_from_reply(CheckRequest(STMT, proof), reply, "f", "")
    assert res.verified_prefix == "  have h₁ : x ∈ S := h₀\n"


def test_reply_steps_take_text_from_the_proof() -> None:
    proof = "  have h : q := by\n    exact hq\n  exact ⟨hp, h⟩\n"
    outer = proof.index("have")
    inner = proof.index("exact hq")
    last = proof.index("exact ⟨")
    reply = {
        "verdict": "proved",
        "messages": [],
        "steps": [
            {"start": outer, "end": inner + 8, "depth": 1, "goals_before": "⊢ p ∧ q"},
            {"start": inner, "end": inner + 8, "depth": 2, "goals_after": "no goals"},
            {"start": last, "end": len(proof) - 1, "goals_after": "no goals"},
            {"start": 5, "end": 999},  # out of range: dropped
            {"start": 9, "end": 3},  # reversed: dropped
        ],
        "initial_goals": "hp : p\n⊢ p ∧ q",
    }
    res = result_from_reply(CheckRequest(STMT, proof), reply, "f", "")
    assert res.verdict is Verdict.PROVED and res.verified_prefix == proof
    assert res.steps is not None
    assert [(s.text, s.depth) for s in res.steps] == [
        ("have h : q := by\n    exact hq", 1),
        ("exact hq", 2),
        ("exact ⟨hp, h⟩", 1),
    ]
    assert res.steps[0].goals_before == "⊢ p ∧ q" and res.steps[0].goals_after == ""
    assert res.steps[2].goals_after == "no goals"
    assert res.initial_goals == "hp : p\n⊢ p ∧ q"


@pytest.mark.parametrize("verdict", ["maybe", None, "ok"])
def test_reply_unknown_verdict_is_an_error(verdict: object) -> None:
    reply = {"verdict": verdict, "reason": "confused"}
    res = result_from_reply(CheckRequest(STMT, "  rfl\n"), reply, "fake", "0.0")
    assert res.verdict is Verdict.ERROR
    assert res.reason == f"checker replied with verdict {verdict!r}: confused"
    assert res.backend == "fake" and res.lean_version == "0.0"


def test_reply_verdicts_and_reason_pass_through() -> None:
    for v in Verdict:
        res = result_from_reply(
            CheckRequest(STMT, "  rfl\n"), {"verdict": v.value, "reason": "why"}, "f", ""
        )
        assert res.verdict is v and res.reason == "why"


def test_a_spare_process_takes_the_next_item_after_a_kill(state: Path) -> None:
    """With a spare started ahead, the item after a killed one is answered by a process that was
    ready before the kill: a kill costs the item's limit, not a process start."""
    reqs = [_req("rfl"), _req("hang", timeout_s=0.5), _req("simp")]
    with LeanChecker(FakeLauncher(state), _config(spare_processes=1)) as checker:
        checker.wait_warm()  # the worker and the spare are both ready
        assert checker._idle.qsize() == 2
        ready_before = set(checker.pids())
        res = checker.check(reqs)
        stats = dict(checker.stats)
    assert [r.verdict for r in res] == [Verdict.PROVED, Verdict.TIMEOUT, Verdict.PROVED]
    assert res[1].refusal == "limit"
    assert stats["restarts"] == 1
    log = _requests(state)
    by_proof = {r["proof"].strip(): r["pid"] for r in log if r["kind"] == "check"}
    taker = by_proof["simp"]
    assert taker in ready_before and taker != by_proof["hang"]
    # every process built its header's base before it was ready (prewarm): the item after
    # the kill did not wait for one
    assert [r["kind"] for r in log][:2] == ["header", "header"]
    assert [r["kind"] for r in log if r["pid"] == taker][1:] == ["check"]


def test_native_evaluation_runs_in_a_process_of_its_own(state: Path) -> None:
    reqs = [_req("needs-native", allow_native_decide=True), _req("rfl", allow_native_decide=True)]
    with LeanChecker(FakeLauncher(state), _config()) as checker:
        res = checker.check(reqs)
        stats = dict(checker.stats)
        shared = checker.pids()
    # the shared process refused the first item (native_decide); the isolated one, allowed
    # native evaluation, answered it as Lean would a text that is no proof
    assert [r.verdict for r in res] == [Verdict.FAILED, Verdict.PROVED]
    assert res[0].refusal is None and res[0].first_error is not None
    assert "`needs-native` does not prove this" in res[0].first_error.text
    assert stats["isolated"] == 1
    checks = [r for r in _requests(state) if r["kind"] == "check"]
    native = [r for r in checks if r["allow_native_decide"]]
    assert len(native) == 1 and native[0]["proof"].strip() == "needs-native"
    assert native[0]["pid"] not in shared and pid_gone(native[0]["pid"])
