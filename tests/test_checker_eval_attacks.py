"""No item runs code in the checker (real embedded Lean, Python screen off).

Lean *evaluates* some terms of a proof while elaborating it (tactic configuration terms, answers
through them, `native_decide`).  Each attack here is a proof whose configuration term runs IO in
the checker process: a thread that steals the next requests and forges `proved` replies, reads
of the request channel through the standard streams and `/proc/self/fd`, a file written in
`/scratch` and read back by a later item, `IO.Process.exit` (in a proof and in an answer), and
grind's nested `set_option`.

Each defence is shown to hold alone, and each attack is first shown to be live against a
test-only build of the checker program with that defence switched off (`attacks.checker_build`):
1. the shipped checker refuses every attack before elaborating it (`code_evaluation`), alone and
   in batches with false statements after it, both orders, with nothing written to `/scratch`;
2. liveness: with the refusal and the lockdown off, the payloads write and read files, steal the
   request line, forge `proved` for false statements, and exit the process;
3. the lockdown alone (refusal off): the thief reaches neither the channel nor a new thread, the
   standard streams and paths give nothing, and the false statements get Lean's own verdicts;
4. the driver alone: a process that prints anything but its reply is killed and the item in
   flight is checked again in a fresh process (tests/test_checker_process.py, against a fake
   process that forges: the logic is the driver's, and a real-Lean run of it costs three process
   starts).
Note: in this build `IO.getStdin` reads nothing (the C standard input of the wasm build is not
the request pipe); the `/proc/self/fd` and `/dev/stdin` paths, and threads, are the live routes.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest
from attacks import (
    EXIT,
    EXIT_ANSWER,
    GRIND_SKIP_KERNEL,
    PROCFD,
    READ_BACK,
    S_LT5,
    S_ONE_TWO,
    S_TRUE,
    STDIO,
    THIEF,
    WRITE,
    checker_build,
    stolen,
)

from prover.lean.types import CheckRequest, Verdict

pytestmark = pytest.mark.lean

FALSE = [
    CheckRequest(S_LT5, "  omega\n", id="false_lt5"),
    CheckRequest(S_ONE_TWO, "  decide\n", id="false_one_two"),
]
CODE_ATTACKS = {
    "thief": THIEF,
    "stdio": STDIO,
    "procfd": PROCFD,
    "write": WRITE,
    "read_back": READ_BACK,
    "exit": EXIT,
}


def _scratches(checker) -> list:
    with checker._lock:
        return [p.scratch for p in checker._live]


def test_shipped_checker_refuses_every_evaluation_attack(embedded_checker):
    raw = embedded_checker.with_screen(False)
    attacks = [CheckRequest(S_TRUE, p, id=k) for k, p in CODE_ATTACKS.items()]
    attacks.append(CheckRequest(S_TRUE, GRIND_SKIP_KERNEL, id="grind_set_option"))
    restarts = embedded_checker.stats["restarts"]
    for req in attacks:  # alone
        (r,) = raw.check([req])
        assert r.verdict is Verdict.REJECTED, (req.id, r)
        want = "set_option" if req.id == "grind_set_option" else "code_evaluation"
        assert r.refusal == want, (req.id, r.refusal, r.reason)
    for batch in (attacks + FALSE, (attacks + FALSE)[::-1]):  # with false statements, both orders
        res = dict(zip([r.id for r in batch], raw.check(batch), strict=True))
        assert all(r.verdict is not Verdict.PROVED for r in res.values()), res
        assert res["false_lt5"].verdict is Verdict.FAILED, res["false_lt5"]
    assert embedded_checker.stats["restarts"] == restarts  # nothing exited or crashed
    for scratch in _scratches(embedded_checker):
        assert stolen(scratch) == {}


def test_exit_in_an_answer_is_refused(embedded_checker):
    header = "abbrev toy_solution : Nat := sorry\n"
    req = CheckRequest(
        "theorem toy : toy_solution = 6 := by\n",
        "  rfl\n",
        header=header,
        header_trusted=True,
        answers=(("toy_solution", EXIT_ANSWER),),
    )
    restarts = embedded_checker.stats["restarts"]
    (r,) = embedded_checker.with_screen(False).check([req])
    assert r.verdict is Verdict.REJECTED and r.refusal == "code_evaluation", r
    assert embedded_checker.stats["restarts"] == restarts


# -- liveness and single defences: test-only builds, raw protocol -------------------------------


class Raw:
    """One checker process spoken to line by line (no confirmation pings, no recheck), so what
    the item's code does to the channel is visible."""

    def __init__(self, source, lockdown: bool) -> None:
        """Starts the process; `ready()` waits for it (two builds start side by side)."""
        from prover.lean.checker import CheckerProcess
        from prover.lean.embedded import EmbeddedLauncher

        self.proc = CheckerProcess(EmbeddedLauncher(source=source, lockdown=lockdown), 8192)

    def ready(self) -> Raw:
        self.proc.wait_ready(300)
        return self

    def send(self, req: CheckRequest) -> str:
        nonce = secrets.token_hex(16)
        payload = {
            "kind": "check",
            "header": "",
            "trusted_header": True,
            "statement": req.formal_statement,
            "proof": req.proof,
            "heartbeats": 200000,
            "nonce": nonce,
        }
        assert self.proc.proc.stdin is not None
        self.proc.proc.stdin.write((json.dumps(payload) + "\n").encode())
        self.proc.proc.stdin.flush()
        return nonce

    def replies(self, nonces: list[str], timeout_s: float = 120) -> dict[str, dict]:
        """The first JSON line for each nonce (whoever wrote it); stops at end of output."""
        got: dict[str, dict] = {}
        deadline = time.monotonic() + timeout_s
        while len(got) < len(nonces) and time.monotonic() < deadline:
            try:
                line = self.proc._lines.get(timeout=1)
            except Exception:  # noqa: BLE001 - queue.Empty
                continue
            if line is None:
                break
            if line.startswith("{"):
                obj = json.loads(line)
                if obj.get("nonce") in nonces and obj["nonce"] not in got:
                    got[obj["nonce"]] = obj
        return got

    def one_by_one(self, reqs: list[CheckRequest]) -> list[dict]:
        """Each request sent after the reply to the one before, as the driver does."""
        out = []
        for req in reqs:
            nonce = self.send(req)
            out.append(self.replies([nonce]).get(nonce, {"verdict": "none"}))
        return out

    def wait_for(self, path, timeout_s: float = 60) -> None:
        """Until the item has written `path` (what it does is observable only there)."""
        import os

        deadline = time.monotonic() + timeout_s
        while not path.exists():
            assert time.monotonic() < deadline, f"{path} never appeared"
            os.sched_yield()
            time.sleep(0.01)

    def alive(self) -> bool:
        return self.proc.proc.poll() is None

    def close(self) -> None:
        self.proc.close()


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """One process of each test-only build, started side by side (each start is ~30 s of CPU)."""
    d = tmp_path_factory.mktemp("builds")
    raws = {
        "open": Raw(checker_build(d, refuse_evaluation=False, lockdown=False), lockdown=False),
        "locked": Raw(checker_build(d, refuse_evaluation=False, lockdown=True), lockdown=True),
    }
    try:
        yield {k: r.ready() for k, r in raws.items()}
    finally:
        for r in raws.values():
            r.close()


def test_attacks_are_live_without_the_refusal_and_the_lockdown(builds):
    """The test-only build with both defences off: the payloads really run."""
    raw = builds["open"]
    # a file written by one item is read back by a later one
    got = raw.one_by_one([CheckRequest(S_TRUE, WRITE), CheckRequest(S_TRUE, READ_BACK)])
    assert [r["verdict"] for r in got] == ["proved", "proved"], got
    assert stolen(raw.proc.scratch) == {
        "pwned": "written by an item",
        "read_back": "written by an item",
    }
    (raw.proc.scratch / "pwned").unlink()
    # `/proc/self/fd/3` (the checker's own request handle) gives the next request line
    nonce = raw.send(CheckRequest(S_TRUE, PROCFD))
    raw.wait_for(raw.proc.scratch / "reading")  # the item is reading: the next line is its
    raw.send(FALSE[0])  # read by the item, never by the checker
    raw.replies([nonce])
    assert stolen(raw.proc.scratch)["stolen_path"].startswith('got:{"kind": "check"')
    # a thread started by an item answers the next request itself: a false statement
    # comes back `proved` (the thread runs once the item waits on it)
    # (the thief's read and the checker's own next read race for the next line: the checker
    # may take the first false statement, the thief then takes the second)
    thief, *false = raw.one_by_one([CheckRequest(S_TRUE, THIEF), *FALSE])
    assert thief["verdict"] == "proved", thief
    stolen_replies = [r for r in false if r.get("reason") == "thief"]
    assert [r["verdict"] for r in stolen_replies] == ["proved"], false
    # `IO.Process.exit` takes the process out: the item is never answered
    nonce = raw.send(CheckRequest(S_TRUE, EXIT))
    assert nonce not in raw.replies([nonce], timeout_s=30)


def test_lockdown_alone_holds(builds):
    raw = builds["locked"]
    items = [CheckRequest(S_TRUE, p) for p in (WRITE, STDIO, PROCFD)]
    n = [raw.send(r) for r in items]
    got = raw.replies(n)
    assert len(got) == 3, got
    left = stolen(raw.proc.scratch)
    assert left.get("pwned") == "written by an item"  # the code ran ...
    assert '"kind"' not in left.get("stolen_stdin", "")  # ... but read nothing of the channel
    assert "stolen_path" not in left and left.get("reading") == "about to read"
    got = raw.one_by_one([CheckRequest(S_TRUE, THIEF), *FALSE])
    assert "failed to create thread" in json.dumps(got[0]), got[0]
    assert [r["verdict"] for r in got] == ["failed", "failed", "failed"], got
    assert all(r.get("reason") != "thief" for r in got), got
    assert raw.alive()
