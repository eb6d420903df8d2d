"""Items that kill their checker process, on a checker of their own (a file of its own, so the
two pytest workers of `make test` can run it beside the other real-Lean files: it starts a
worker, a spare and three replacements)."""

from __future__ import annotations

import os
import time

import pytest

from prover.lean.types import CheckRequest, Verdict

pytestmark = pytest.mark.lean

S_AND = "theorem t_and (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n"
S_ADD = "theorem t_add (a b : Nat) : a + b = b + a := by\n"


def test_runaway_crash_and_memory_kill_cost_only_their_item():
    """Items that kill their process (on a checker of its own with a warm spare, so the kills
    and caps cannot touch the session checker: a kill costs the item's limit, not a start).

    Runaway: `decide +kernel` on 160 x 160 products runs in the kernel, where the heartbeat
    limit does not reach (measured, idle machine: 27 s and `proved` under a 60 s limit; 80 x 80:
    7 s), so the driver's wall clock stops it:
    `timeout` within its limit + 2 s, and the next honest item, answered by the warm spare,
    within 2 s after that.  Crash: 6000 nested parentheses overflow the parser's JavaScript stack
    and the process dies.  Memory: the cap is set above each running process's idle resident
    memory (~3 GB) and one item's header imports the whole `Lean` library, which grows its
    process by ~235 MB (measured), past the cap.  Each item gets its verdict with the limit that
    stopped it, its process is gone, and the items after it get their verdicts."""
    from prover.lean.checker import CheckerConfig
    from prover.lean.embedded import EmbeddedChecker

    config = CheckerConfig(workers=1, spare_processes=1, timeout_s=120)
    with EmbeddedChecker(config) as checker:
        _kills_cost_only_their_item(checker)


def _kills_cost_only_their_item(checker) -> None:
    from prover.lean.checker import CheckerProcess, rss_mb

    limit_s = 3.0
    runaway = CheckRequest(
        "theorem t_runaway : (List.range 160).all fun a => (List.range 160).all fun b => "
        "a * b < 25600 := by\n",
        "  decide +kernel\n",
        timeout_s=limit_s,
    )
    crash = CheckRequest(
        "theorem t_crash : True := by\n", "  exact " + "(" * 6000 + "trivial" + ")" * 6000 + "\n"
    )
    hog = CheckRequest("theorem t_hog : 1 = 1 := by\n", "  rfl\n", header="import Lean\n")
    ok = CheckRequest(S_ADD, "  omega\n")
    ok2 = CheckRequest(S_AND, "  exact ⟨hp, hq⟩\n")
    bad = CheckRequest(S_ADD, "  rfl\n")

    # [honest, runaway, honest] as one batch; when each verdict came, seen by the pool
    checker.wait_warm()  # the worker and the spare are ready
    before, restarts = set(checker.pids()), checker.stats["restarts"]
    assert len(before) == 2
    done: dict[str, float] = {}
    real = checker._check_one

    def timed(req, attempt=0):
        res = real(req, attempt)
        done[req.formal_statement] = time.monotonic()
        return res

    checker._check_one = timed
    try:
        t0 = time.monotonic()
        res = checker.check([ok, runaway, ok2])
    finally:
        del checker._check_one
    assert [r.verdict for r in res] == [Verdict.PROVED, Verdict.TIMEOUT, Verdict.PROVED]
    assert res[1].limit == "wall_clock" and res[1].refusal == "limit"
    assert done[runaway.formal_statement] - t0 <= limit_s + 2.0
    assert done[ok2.formal_statement] - done[runaway.formal_statement] <= 2.0
    assert checker.stats["restarts"] == restarts + 1
    (killed,) = before - set(checker.pids())
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)

    # memory: the idle, warm processes get a cap just above their resident set (a starting
    # process peaks higher: it keeps the default cap, and the items after the kill may wait
    # for it)
    before = set(checker.pids())
    with checker._idle.mutex:
        idle = [p for p in checker._idle.queue if isinstance(p, CheckerProcess)]
    assert idle
    try:
        for p in idle:
            resident = rss_mb(p.pid)
            assert resident > 1000
            p.memory_mb = resident + 80
        res = checker.check([hog, ok, bad])
    finally:
        checker.set_memory_limit(checker.config.memory_mb, running_only=True)
    assert [r.verdict for r in res] == [
        Verdict.ERROR,
        Verdict.PROVED,
        Verdict.FAILED,
    ], [(r.verdict, r.reason) for r in res]
    assert "memory" in (res[0].reason or "") and res[0].limit == "memory"
    assert checker.stats["restarts"] == restarts + 2
    (killed,) = before - set(checker.pids())
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)

    before = set(checker.pids())  # replacements may be starting: the items may wait for one
    res = checker.check([ok, crash, ok2, bad])
    assert [r.verdict for r in res] == [
        Verdict.PROVED,
        Verdict.ERROR,
        Verdict.PROVED,
        Verdict.FAILED,
    ], [(r.verdict, r.reason) for r in res]
    assert "crash" in (res[1].reason or "") and not res[1].limit
    assert checker.stats["restarts"] == restarts + 3
    (killed,) = before - set(checker.pids())
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)
