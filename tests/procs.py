"""Process helpers shared by the checker lifecycle tests (not a test module)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def pid_gone(pid: int, wait_s: float = 20.0) -> bool:
    """True once `pid` no longer exists (a zombie left for an init that does not reap counts as
    gone).  For processes this test process is not the parent of; polls up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return True
        except OSError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
