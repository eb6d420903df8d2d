"""Helpers for the `prover serve` tests (not a test module): a fake checker and an in-process
server on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from prover.lean.types import CheckRequest, CheckResult, Verdict


class FakeChecker:
    """Answers `proved` unless the proof is `block` (waits for `release`) or `sorry`."""

    name = "embedded"
    lean_version = "fake"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.seen: list[str] = []
        self.started: list[str] = []
        self.requests: list[CheckRequest] = []
        self.lock = threading.Lock()

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        out = []
        for r in requests:
            with self.lock:
                self.started.append(r.id)
                self.requests.append(r)
            if r.proof.strip() == "block":
                self.release.wait(30)
            with self.lock:
                self.seen.append(r.id)
            v = Verdict.INCOMPLETE if "sorry" in r.proof else Verdict.PROVED
            out.append(CheckResult(v, time_s=0.001, backend=self.name))
        return out

    def close(self) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class InProcessServer:
    """uvicorn in a thread over `checker`; `stop()` is what SIGTERM does."""

    def __init__(self, checker: Any, **config: Any) -> None:
        from prover.service.config import ServeConfig
        from prover.service.server import make_server

        self.config = ServeConfig(port=free_port(), **config)
        self.server = make_server(checker, self.config)
        self.url = f"http://127.0.0.1:{self.config.port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("in-process server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        import signal

        self.server.handle_exit(signal.SIGTERM, None)
        self.thread.join(30)
