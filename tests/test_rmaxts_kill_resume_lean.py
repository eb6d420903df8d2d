"""`prover prove --search rmaxts --tree-dir` killed with SIGKILL in mid-search on real Lean, then
run again: the second run resumes from the checkpoint the first one left.

The child process starts no Lean: it verifies through `--checker URL`, a `prover serve` app
served in this test process (uvicorn in a thread, tests/serve_util.py) over the session's
embedded checker.  The server holds the child's request for sample `HOLD` (0-based) until the
child is dead, so the kill lands in mid-search, after the checkpoint of the first `HOLD` samples
(`--checkpoint-every 1`) and before the proof, on every machine and under any load; the test
waits for that checkpoint by polling the tree folder (with a deadline), then kills the child's
process group with SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from procs import pid_gone
from serve_util import WAIT_S, HoldingChecker, InProcessServer

from prover.lean.types import CheckRequest, Verdict
from search.tree import read_json

pytestmark = pytest.mark.lean

REPO = Path(__file__).resolve().parents[1]
NAME = "demo_sq_mod_four"
# examples/demo.lean: no single automation tactic closes it at the root; RMaxTS first grows
# `intro a`, then splits on `a % 4`.  One sample per round, uninterrupted: samples 0-3 fail at
# the root, sample 4 adds `intro a` (tree of 2 nodes), sample 7 is the proof
STATEMENT = f"theorem {NAME} : ∀ a : Int, a ^ 2 % 4 = 0 ∨ a ^ 2 % 4 = 1 := by"
HOLD = 6  # the sample whose verification the server holds until the child is killed
SAMPLE_ID = re.compile(rf"^{NAME}:(\d+)$")  # an RMaxTS sample's request id (`NAME:index`)


def _samples(ids: Sequence[str]) -> list[int]:
    return [int(m.group(1)) for m in map(SAMPLE_ID.match, ids) if m]


def _checkpoint(trees: Path) -> dict[str, Any] | None:
    """The run-0 checkpoint in `trees`, or None while there is none (written atomically: a file
    that exists is complete)."""
    files = list(trees.glob("rmaxts-*.run0.json"))
    assert len(files) <= 1, files
    return read_json(files[0]) if files else None


def test_rmaxts_tree_dir_survives_sigkill_and_resumes(tmp_path: Path, embedded_checker) -> None:
    checker = HoldingChecker(embedded_checker, lambda r: r.id == f"{NAME}:{HOLD}")
    server = InProcessServer(checker, workers=1, timeout_s=60.0)
    trees = tmp_path / "trees"
    cmd = [sys.executable, "-m", "prover.cli", "prove", "--statement", STATEMENT]
    cmd += ["--policy", "automation", "--search", "rmaxts", "--budget", "1x32"]
    cmd += ["--concurrency", "1", "--checkpoint-every", "1", "--tree-dir", str(trees)]
    cmd += ["--checker", server.url, "--no-polish", "--json"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = None
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: killpg reaches all of it
        )
        # wait for the checkpoint of the first HOLD samples (the server holds sample HOLD, so
        # the child can get no further); the deadline is a backstop against a hang
        deadline = time.monotonic() + 120
        saved = _checkpoint(trees)
        while saved is None or saved["samples"] < HOLD:
            assert proc.poll() is None, "the child ended before it could be killed: " + (
                proc.stderr.read().decode() if proc.stderr else ""
            )
            assert time.monotonic() < deadline, f"no checkpoint of {HOLD} samples: {saved}"
            time.sleep(0.05)
            saved = _checkpoint(trees)
        assert checker.held.wait(WAIT_S), f"the child never asked for sample {HOLD}"
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(WAIT_S) == -signal.SIGKILL
        assert pid_gone(proc.pid)
        with pytest.raises(ProcessLookupError):  # nothing of its process group is left
            os.killpg(proc.pid, 0)
        checker.release.set()  # the held request goes on to Lean; its answer goes nowhere

        # what the killed run left: a mid-run checkpoint of exactly HOLD samples, no proof
        assert saved == _checkpoint(trees)  # the kill wrote nothing after it
        assert saved["samples"] == saved["generated"] == HOLD
        assert not saved["finished"] and not saved["solved"] and saved["proof"] == ""
        saved_nodes = saved["tree"]["nodes"]
        assert len(saved_nodes) >= 2, "the tree had not grown past its root when killed"
        killed = len(checker.ids)
        assert _samples(checker.ids) == list(range(HOLD + 1))  # 0..HOLD-1 answered, HOLD held

        r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        out = json.loads(r.stdout)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        checker.release.set()
        server.stop()
        server.dispatcher.close()

    # the resumed run started at sample HOLD (never absorbed before the kill), not at 0: none
    # of the samples the checkpoint holds was drawn or verified again
    assert out["name"] == NAME and out["solved"], out
    assert out["found_at"] == out["samples"] > HOLD
    resumed = _samples(checker.ids[killed:])
    assert resumed == list(range(HOLD, out["found_at"])), resumed
    final = _checkpoint(trees)
    assert final is not None and final["solved"] and final["finished"]
    assert final["proof"] == out["proof"] and final["found_at"] == out["found_at"]
    assert final["samples"] == final["generated"] == out["found_at"]
    # the tree grew from the saved one: every saved node is still there, same goal and parent
    nodes = final["tree"]["nodes"]
    assert len(nodes) >= len(saved_nodes)
    for old, new in zip(saved_nodes, nodes, strict=False):
        assert (new["goal"], new["parent"]) == (old["goal"], old["parent"])
        assert new["codes"][: len(old["codes"])] == old["codes"]
    # the reported proof is a proof: real Lean, from scratch, past the server
    (again,) = embedded_checker.check([CheckRequest(out["statement"], out["proof"])])
    assert again.verdict is Verdict.PROVED, again
    text = out["text"]
    assert text.startswith(STATEMENT) and text.endswith(out["proof"].lstrip("\n"))
