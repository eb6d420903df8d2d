"""End-to-end `prover eval` / `prover prove` on the real embedded Lean, plus bad-input exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from serve_util import HoldingChecker, InProcessServer

REPO = Path(__file__).resolve().parents[1]

# miniF2F-core valid problems for the kill/resume run, in file order.  --limit 5 keeps the first
# five (the last one is dropped).  OBVIOUS are closed by `omega` (linear arithmetic over ℕ with
# literal moduli), the first alternative of the automation policy's one-shot proof `first | omega
# | decide | ...`, which is always its first whole-proof sample; the other two are hard.
OBVIOUS = ("mathd_numbertheory_132", "mathd_numbertheory_458", "mathd_algebra_123")
PICKED = (
    "amc12a_2015_p10",
    "imo_1984_p2",
    *OBVIOUS,
    "mathd_numbertheory_961",
)


def _prover(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prover.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=kw.pop("timeout", 60),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmark", "putnam", "--split", "valid"], "unknown benchmark 'putnam'"),
        (["--benchmark", "minif2f", "--split", "valid", "--budget", "3x"], "RUNSxSAMPLES"),
        (
            ["--benchmark", "minif2f", "--split", "valid", "--data-dir", "/nonexistent/d"],
            "data directory /nonexistent/d (--data-dir) does not exist",
        ),
        (["--benchmark", "minif2f", "--split", "train"], "unknown split"),
    ],
)
def test_eval_bad_input_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    r = _prover("eval", *args, "--out", str(tmp_path / "out"))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr


def test_prove_bad_input_exit_2() -> None:
    r = _prover("prove", "--statement", "theorem x : 1 = 1 := by rfl", "--budget", "1x1")
    assert r.returncode == 2 and "must end with ':= by'" in r.stderr
    r = _prover("prove", "--statement", "theorem x : 1 = 1 := by", "--budget", "3x")
    assert r.returncode == 2 and "RUNSxSAMPLES" in r.stderr


@pytest.mark.lean
def test_eval_kill_and_resume(tmp_path: Path, data_dir: Path, embedded_checker) -> None:
    """A run killed with SIGKILL between problems keeps what it wrote, byte for byte, and the
    rerun does only the rest.  Lean is the session's process behind a `prover serve` in this
    test process (`--checker URL`), so the two runs start no Lean of their own; the server holds
    the fourth problem's first request until the run is dead."""
    hold = f"theorem {PICKED[3]} "
    holding = HoldingChecker(embedded_checker, lambda r: hold in r.formal_statement)
    server = InProcessServer(holding, workers=1, timeout_s=120.0)
    out = tmp_path / "eval"
    cmd = [
        sys.executable,
        "-m",
        "prover.cli",
        "eval",
        "--benchmark",
        "minif2f-core",
        "--split",
        "valid",
        "--names",
        *PICKED,
        "--limit",
        "5",
        "--policy",
        "automation",
        "--search",
        "sample",
        "--budget",
        "1x4",
        "--out",
        str(out),
        "--data-dir",
        str(data_dir),
        "--quiet",
        "--checker",
        server.url,
    ]
    try:
        _kill_and_resume(cmd, out, holding)
    finally:
        holding.release.set()
        server.stop()


def _kill_and_resume(cmd: list[str], out: Path, holding: HoldingChecker) -> None:
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    results = out / "results.jsonl"
    try:
        # the fourth problem's first request is held: the first three are written by then
        assert holding.held.wait(400), "the run never reached the fourth problem: " + (
            proc.stderr.read().decode() if proc.poll() is not None and proc.stderr else ""
        )
        assert proc.poll() is None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group
        proc.wait()
    holding.release.set()  # the rerun's requests go through
    before = results.read_bytes() if results.exists() else b""
    before = before[: before.rfind(b"\n") + 1]  # complete lines (a torn one is dropped)
    first = before.count(b"\n")
    assert 1 <= first < 5, f"{first} results when killed; expected a kill mid-run"
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=500)
    assert r.returncode == 0, r.stderr
    assert results.read_bytes().startswith(before)  # what was written survives, byte for byte
    rows = [json.loads(x) for x in results.read_text(encoding="utf-8").splitlines()]
    ids = [x["id"] for x in rows]
    assert len(ids) == len(set(ids)) == 5
    assert sorted(x["name"] for x in rows) == sorted(PICKED[:5])  # --names, then --limit
    by_name = {x["name"]: x for x in rows}
    for name in OBVIOUS:  # the one shot proves them at the first sample
        assert by_name[name]["solved"] and by_name[name]["found_at"] == 1, by_name[name]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problems"] == 5 and summary["solved"] == sum(x["solved"] for x in rows)
    assert summary["config"]["budget"] == "1x4"
    assert all(x["samples"] <= 4 for x in rows)
    assert (out / "report.md").exists() and (out / "pass_curve.png").exists()
    rep = _prover("report", str(out))
    assert rep.returncode == 0 and "pass rate" in rep.stdout


@pytest.mark.lean
def test_prove_statement_and_non_elaborating(tmp_path: Path, capsys, shared_checker) -> None:
    """`prover prove` in-process (its own code; the session's running Lean checker)."""
    from prover.cli import main

    trees = tmp_path / "trees"
    argv = ["prove", "--statement", "theorem x (a b : Nat) : a + b = b + a := by"]
    argv += ["--policy", "automation", "--budget", "1x8", "--tree-dir", str(trees)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("theorem x (a b : Nat) : a + b = b + a := by")
    assert len(out.strip().splitlines()[0]) < len(out.strip())  # a proof follows
    # the search tree was checkpointed and can be drawn
    (tree,) = trees.glob("rmaxts-x*.run0.json")
    assert main(["tree", "show", str(tree), "--out", str(tmp_path / "tree.png")]) == 0
    assert (tmp_path / "tree.png").stat().st_size > 0
    bad = ["prove", "--statement", 'theorem y (a : Nat) : a + "s" = 1 := by', "--budget", "1x1"]
    assert main(bad) == 2
    assert "does not elaborate" in capsys.readouterr().err
