"""Helpers for the `prover serve` tests (not a test module): a fake checker that answers what
real Lean answers for the tests' items, and an in-process server on a free port that lets a test
wait for its admission count instead of sleeping."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from toy_lean import LeanProves

from prover.lean.types import CheckRequest, CheckResult, Verdict

# the requests the serve tests send that the fake answers `proved` (as they reach the checker
# through `/v1/verify` and `HTTPChecker`); tests/test_fakes_lean.py checks them on real Lean
STATEMENT = "theorem t : True :="
LEAN_PROVES = LeanProves(
    CheckRequest(STATEMENT, " trivial"),
    CheckRequest(
        "theorem t : x_solution = 6 :=",
        " rfl",
        "abbrev x_solution : Nat := sorry\n",
        header_trusted=True,
        answers=(("x_solution", "6"),),
    ),
)

WAIT_S = 30.0  # how long a test waits for an event before it fails (never reached when passing)


class FakeChecker:
    """`proved` for a request in LEAN_PROVES, `incomplete` for a proof with `sorry`, else
    `failed`.  An item whose id is in `hold` waits (in the fake Lean) until `release` is set;
    `entered(id)` is set once an item has reached the fake Lean."""

    name = "embedded"
    lean_version = "fake"

    def __init__(self, hold: Sequence[str] = ()) -> None:
        self.hold = set(hold)
        self.release = threading.Event()
        self.seen: list[str] = []
        self.started: list[str] = []
        self.requests: list[CheckRequest] = []
        self.lock = threading.Lock()
        self._entered: dict[str, threading.Event] = {}

    def entered(self, item_id: str) -> threading.Event:
        with self.lock:
            return self._entered.setdefault(item_id, threading.Event())

    def wait_entered(self, item_id: str) -> None:
        if not self.entered(item_id).wait(WAIT_S):
            raise AssertionError(f"item {item_id!r} never reached the checker")

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        out = []
        for r in requests:
            with self.lock:
                self.started.append(r.id)
                self.requests.append(r)
            self.entered(r.id).set()
            if r.id in self.hold and not self.release.wait(WAIT_S):
                raise AssertionError(f"held item {r.id!r} was never released")
            with self.lock:
                self.seen.append(r.id)
            if r in LEAN_PROVES:
                v = Verdict.PROVED
            else:
                v = Verdict.INCOMPLETE if "sorry" in r.proof else Verdict.FAILED
            out.append(CheckResult(v, time_s=0.001, backend=self.name))
        return out

    def close(self) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class InProcessServer:
    """uvicorn in a thread over `checker`; `stop()` is what SIGTERM does.  `wait_admitted(n)`
    returns once exactly `n` items are admitted (running or queued): the server's dispatcher
    reports every admission and release here."""

    def __init__(self, checker: Any, **config: Any) -> None:
        from prover.service.config import ServeConfig
        from prover.service.server import make_server

        self.config = ServeConfig(port=free_port(), **config)
        self.server = make_server(checker, self.config)
        self.url = f"http://127.0.0.1:{self.config.port}"
        self._changed = threading.Condition()
        self._observe(self.server.app.state.dispatcher)
        ready = threading.Event()
        startup = self.server.startup

        async def startup_and_tell(*args: Any, **kwargs: Any) -> None:
            try:
                await startup(*args, **kwargs)
            finally:  # started, or failed to (then `started` is false)
                ready.set()

        self.server.startup = startup_and_tell
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        if not ready.wait(WAIT_S) or not self.server.started:
            raise RuntimeError("in-process server did not start")

    def _observe(self, dispatcher: Any) -> None:
        admit, release = dispatcher.admit, dispatcher._release

        def admit_and_tell(n: int) -> bool:
            ok = admit(n)
            with self._changed:
                self._changed.notify_all()
            return bool(ok)

        def release_and_tell(fut: Any) -> None:
            release(fut)
            with self._changed:
                self._changed.notify_all()

        dispatcher.admit, dispatcher._release = admit_and_tell, release_and_tell
        self.dispatcher = dispatcher

    def wait_admitted(self, n: int) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.dispatcher.admitted == n, WAIT_S):
                raise AssertionError(
                    f"the server never held {n} items (it holds {self.dispatcher.admitted})"
                )

    def stop(self) -> None:
        import signal

        self.server.handle_exit(signal.SIGTERM, None)
        self.thread.join(30)


class HoldingChecker:
    """A real checker behind a test's server that holds one request: every request id is
    recorded in arrival order; the first request for which `hold(request)` is true waits (in
    the server's worker thread) until `release` is set, with `held` set once it waits.  A test
    kills the client while it waits, so the kill lands at a known point however fast the rest
    is checked."""

    def __init__(self, inner: Any, hold: Callable[[CheckRequest], bool]) -> None:
        self.inner = inner
        self.name = inner.name
        self.lean_version = inner.lean_version
        self.hold = hold
        self.held = threading.Event()
        self.release = threading.Event()
        self.ids: list[str] = []
        self.lock = threading.Lock()

    def identity(self) -> str:
        return str(self.inner.identity())

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        for r in requests:
            with self.lock:
                self.ids.append(r.id)
                wait = self.hold(r) and not self.held.is_set()
                if wait:
                    self.held.set()
            if wait and not self.release.wait(WAIT_S * 20):
                raise AssertionError(f"held request {r.id!r} was never released")
        return list(self.inner.check(requests))

    def close(self) -> None:  # the session's checker outlives the server
        pass
