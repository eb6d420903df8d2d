"""Embedded toolchain benchmark: cold start, warm single-check latency, peak memory.

    python -m benchmarks.toolchain

Cold: a fresh Lean process checks one small theorem (wasm compile + Init import + check).
Warm: a process started ahead (`--stdin`, waiting) gets the same theorem; the latency counts
from handing over the input.  Peak memory is the Lean process's peak resident set (VmHWM).
"""

from __future__ import annotations

import os
import time

from prover.lean.embedded import LeanProcess
from prover.lean.toolchain import require_embedded

SOURCE = "theorem bench_t (a b : Nat) (h : a ≤ b) : a < b + 1 := by\n  omega\n"
# as the checker does: a last `#check` whose answer means everything was printed, so the
# process is stopped then instead of awaited through its teardown
END = "\n#check Nat\n"
END_LINE = SOURCE.count("\n") + 2


def _peak_mb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def main() -> None:
    tc = require_embedded()
    t0 = time.monotonic()
    with LeanProcess(tc, memory_mb=16384) as p:
        p.run(SOURCE + END, startup_s=600, item_s=600, end_line=END_LINE)
    cold = time.monotonic() - t0

    with LeanProcess(tc, memory_mb=16384) as p:
        time.sleep(25.0)  # let the process finish wasm compilation and block on stdin
        peak_before = _peak_mb(p.pid)
        t1 = time.monotonic()
        p.run(SOURCE + END, startup_s=600, item_s=600, end_line=END_LINE)
        warm = time.monotonic() - t1
        peak_run = p.peak_mb
    print(f"cores: {os.cpu_count()}")
    print(f"cold start + one check: {cold:.1f} s")
    print(f"warm single check:      {warm:.1f} s  (target <= 5 s)")
    print(f"peak RSS: {peak_before} MB idle warm process, {peak_run} MB while checking")


if __name__ == "__main__":
    main()
