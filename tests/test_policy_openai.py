"""OpenAIPolicy against the local OpenAI-compatible server (tiny model) and stub servers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from prover.policy.base import ProofTask, SamplingParams
from prover.policy.openai_backend import (
    OpenAIPolicy,
    OpenAIRequestError,
    _RateLimiter,
    completion_body,
)
from prover.policy.prompts import FENCE, PromptTooLongError

TASK = ProofTask(formal_statement="theorem a (x : ℕ) : x = x := by\n", name="a")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A tiny model trained on the benchmark files from `data_dir` (conftest: $PROVER_DATA_DIR,
    else ../shared/data; missing data fails the test, it is not skipped)."""
    import torch  # noqa: F401 - the `hf` extra `make test` installs: missing fails
    import transformers  # noqa: F401

    data_files = [data_dir / "minif2f_valid_few_shot.jsonl", data_dir / "minif2f.jsonl"]
    missing = [str(p) for p in data_files if not p.is_file()]
    if missing:
        pytest.fail(f"data files not found: {missing}; set PROVER_DATA_DIR")
    from prover.policy.tiny import build_tiny_model

    out = tmp_path_factory.getbasetemp() / "tiny_model"
    if not (out / "config.json").is_file():
        build_tiny_model(out, data_files, seed=0)
    return out


@pytest.fixture(scope="module")
def served(tiny_model: Path) -> Iterator[str]:
    from prover.policy.hf import HFPolicy
    from prover.policy.server import serve_in_thread

    policy = HFPolicy(str(tiny_model), device="cpu", batch_size=8)
    server, thread = serve_in_thread(policy, port=0, model_name="tiny")
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    yield f"http://{host}:{port}/v1"
    server.shutdown()
    server.server_close()
    thread.join(5)
    policy.close()


def test_completions_against_local_model(served: str) -> None:
    pol = OpenAIPolicy(served, "tiny", api_key="test-key", timeout=60)
    try:
        out = pol.generate([TASK, TASK], SamplingParams(n=3, max_new_tokens=32, seed=0))
        assert [len(r) for r in out] == [3, 3]
        for c in (c for rows in out for c in rows):
            assert FENCE not in c.text
            assert c.prompt == pol.prompts.build(TASK, 0).text
            assert c.meta["stop"] in ("stop", "length")
        again = pol.generate([TASK], SamplingParams(n=3, max_new_tokens=32, seed=0))
        assert [c.text for c in again[0]] == [c.text for c in out[0]]
        (single,) = pol.generate([TASK], SamplingParams(max_new_tokens=8, seed=1))[0]
        assert 1 <= single.num_tokens <= 8
    finally:
        pol.close()


def test_identical_prompts_in_one_call_sample_differently(served: str) -> None:
    pol = OpenAIPolicy(served, "tiny", timeout=60)
    try:
        out = pol.generate([TASK] * 6, SamplingParams(max_new_tokens=16, seed=0))
        assert len({rows[0].text for rows in out}) > 1
        assert [rows[0].meta["seed"] for rows in out] == list(range(6))
    finally:
        pol.close()


def test_server_rejects_too_long_prompt(served: str) -> None:
    pol = OpenAIPolicy(served, "tiny", max_retries=0)
    with pytest.raises(OpenAIRequestError, match="HTTP 400.*too long"):
        pol.generate([TASK], SamplingParams(max_new_tokens=100_000))
    pol.close()


def test_chat_endpoint_for_v2(served: str) -> None:
    pol = OpenAIPolicy(served, "tiny", prompt={"mode": "v2"})
    (rows,) = pol.generate([TASK], SamplingParams(n=2, max_new_tokens=8, seed=0))
    assert len(rows) == 2 and "proof plan" in rows[0].prompt
    pol.close()


class _Stub:
    """A stub server answering POSTs from a script of (delay_s, status) or (delay_s, status,
    response headers) entries; `gate` (if given) runs in each request's thread before it is
    answered; `answered` counts the responses about to be written."""

    def __init__(self, script: list[tuple[Any, ...]], gate: Any = None) -> None:
        self.script = list(script)
        self.calls: list[float] = []
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[str | None] = []
        self.answered = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.calls.append(time.monotonic())
                stub.bodies.append(body)
                stub.headers.append(self.headers.get("Authorization"))
                if gate is not None:
                    gate()
                delay, status, *extra = stub.script.pop(0) if stub.script else (0.0, 200)
                time.sleep(delay)
                if status == 200:
                    choices = [
                        {"index": i, "text": f"  rfl\n{FENCE}\n", "finish_reason": "stop"}
                        for i in range(body["n"])
                    ]
                    payload = {"choices": choices, "usage": {"completion_tokens": 4}}
                else:
                    payload = {"error": {"message": "busy"}}
                data = json.dumps(payload).encode()
                stub.answered += 1  # before the client can read it: its next request comes later
                try:
                    self.send_response(status)
                    for key, value in (extra[0] if extra else {}).items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_retries_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    stub = _Stub([(0.0, 503), (0.0, 503), (0.0, 200)])
    try:
        sleeps: list[float] = []
        pol = OpenAIPolicy(stub.url, "m", backoff_base=0.1, max_retries=3, sleep=sleeps.append)
        (rows,) = pol.generate([TASK], SamplingParams(n=2, seed=5, max_new_tokens=9))
        assert [c.text for c in rows] == ["  rfl\n", "  rfl\n"]
        assert len(stub.calls) == 3
        assert sleeps == [0.1, 0.2]  # one wait before each retry: 0.1 s, then doubled
        assert stub.headers[0] == "Bearer from-env"
        assert stub.bodies[0] == {
            "model": "m",
            "prompt": rows[0].prompt,
            "n": 2,
            "temperature": 1.0,
            "top_p": 0.95,
            "max_tokens": 9,
            "seed": 5,
            "stop": ["```"],
        }
        pol.close()
    finally:
        stub.close()


def test_429_waits_for_retry_after() -> None:
    stub = _Stub([(0.0, 429, {"Retry-After": "0.5"}), (0.0, 200)])
    try:
        sleeps: list[float] = []
        pol = OpenAIPolicy(stub.url, "m", backoff_base=0.01, max_retries=2, sleep=sleeps.append)
        (rows,) = pol.generate([TASK], SamplingParams())
        assert [c.text for c in rows] == ["  rfl\n"]
        assert len(stub.calls) == 2
        assert sleeps == [0.5]  # Retry-After, not the 0.01 s backoff
        pol.close()
    finally:
        stub.close()


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        (0, None, 0.5),
        (2, None, 2.0),  # 0.5 * 2**2
        (10, None, 4.0),  # capped by backoff_max
        (0, "3", 3.0),  # Retry-After longer than the backoff wins
        (2, "1", 2.0),  # ... but never shortens it
        (0, "60", 4.0),  # ... and is capped by backoff_max too
        (1, "soon", 1.0),  # an unparsable Retry-After is ignored
        (1, "", 1.0),
    ],
)
def test_backoff_values(attempt: int, retry_after: str | None, expected: float) -> None:
    pol = OpenAIPolicy("http://127.0.0.1:9/v1", "m", backoff_base=0.5, backoff_max=4.0)
    assert pol._backoff(attempt, retry_after) == expected
    pol.close()


def test_backoff_sequence_is_capped_and_stops_after_last_attempt() -> None:
    stub = _Stub([(0.0, 503)] * 5)
    try:
        sleeps: list[float] = []
        pol = OpenAIPolicy(
            stub.url, "m", backoff_base=1.0, backoff_max=3.0, max_retries=4, sleep=sleeps.append
        )
        with pytest.raises(OpenAIRequestError, match="after 5 attempt"):
            pol.generate([TASK], SamplingParams())
        assert len(stub.calls) == 5
        assert sleeps == [1.0, 2.0, 3.0, 3.0]  # no wait after the last failed attempt
        pol.close()
    finally:
        stub.close()


def test_each_request_carries_its_own_seed() -> None:
    stub = _Stub([])
    try:
        pol = OpenAIPolicy(stub.url, "m", max_concurrency=1)
        pol.generate([TASK] * 3, SamplingParams(seed=5))
        assert [b["seed"] for b in stub.bodies] == [5, 6, 7]  # identical prompts, distinct seeds
        own = [replace(TASK, seed=s) for s in (11, 42)]
        pol.generate(own, SamplingParams(seed=5))
        assert [b["seed"] for b in stub.bodies[3:]] == [11, 42]  # a task's own seed wins
        pol.close()
    finally:
        stub.close()


def test_too_long_prompts_are_named_by_index() -> None:
    pol = OpenAIPolicy("http://127.0.0.1:9/v1", "m", max_context_tokens=300, count_tokens=len)
    long = replace(TASK, prefix="  skip\n" * 40, name="long")
    with pytest.raises(PromptTooLongError, match="'long'") as err:
        pol.generate([TASK, long, TASK, long], SamplingParams(max_new_tokens=100))
    assert err.value.indices == (1, 3)  # nothing was sent: the server is not even running
    pol.close()


def test_gives_up_after_retries() -> None:
    stub = _Stub([(0.0, 500)] * 3)
    try:
        sleeps: list[float] = []
        pol = OpenAIPolicy(stub.url, "m", backoff_base=0.01, max_retries=2, sleep=sleeps.append)
        with pytest.raises(OpenAIRequestError, match="after 3 attempt.*HTTP 500"):
            pol.generate([TASK], SamplingParams())
        assert len(stub.calls) == 3 and sleeps == [0.01, 0.02]
        pol.close()
    finally:
        stub.close()


def test_client_error_is_not_retried() -> None:
    stub = _Stub([(0.0, 401)])
    try:
        sleeps: list[float] = []
        pol = OpenAIPolicy(stub.url, "m", backoff_base=0.01, max_retries=3, sleep=sleeps.append)
        with pytest.raises(OpenAIRequestError, match="HTTP 401"):
            pol.generate([TASK], SamplingParams())
        assert len(stub.calls) == 1 and sleeps == []
        pol.close()
    finally:
        stub.close()


def test_timeout_error_is_clear() -> None:
    stub = _Stub([(1.0, 200)])
    try:
        pol = OpenAIPolicy(stub.url, "m", timeout=0.2, max_retries=0)
        with pytest.raises(OpenAIRequestError, match=r"timed out after 0.2s"):
            pol.generate([TASK], SamplingParams())
        pol.close()
    finally:
        stub.close()


def test_concurrency_and_rate_limit() -> None:
    # each request waits in the server until 4 are in the gate together (or it is the 5th): the
    # policy must have 4 requests open at once.  The peak of requests arrived and not answered
    # is 4 for a policy that keeps its limit (its 5th starts after an answer); one with more
    # open shows 5 unless the released answers overtake its 5th request
    cond = threading.Condition()
    state = {"arrived": 0, "waiting": 0, "peak": 0}

    def gate() -> None:
        with cond:
            state["arrived"] += 1
            state["waiting"] += 1
            state["peak"] = max(state["peak"], state["arrived"] - stub.answered)
            cond.notify_all()
            together = cond.wait_for(lambda: state["waiting"] >= 4 or state["arrived"] == 5, 30)
            state["waiting"] -= 1
        assert together, "fewer than 4 requests were ever in flight at once"

    stub = _Stub([], gate=gate)
    try:
        sleeps: list[float] = []
        pol = OpenAIPolicy(stub.url, "m", max_concurrency=4, requests_per_second=20)
        # a frozen clock: each request's wait is exactly how far its slot lies ahead
        pol._limiter = _RateLimiter(20, clock=lambda: 0.0, sleep=sleeps.append)
        out = pol.generate([TASK] * 5, SamplingParams())
        assert len(out) == 5 and len(stub.calls) == 5
        assert state["peak"] == 4  # max_concurrency, reached and not exceeded
        assert sorted(sleeps) == pytest.approx([0.05, 0.10, 0.15, 0.20])  # 1/20 s apart
        pol.close()
    finally:
        stub.close()


def test_rate_limiter_spaces_request_starts() -> None:
    now = [100.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    limiter = _RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.wait()
    assert sleeps == [0.25, 0.25, 0.25]  # the first request starts at once, then every 1/4 s
    now[0] += 2.0  # idle for a while: the next request starts at once again
    limiter.wait()
    assert sleeps == [0.25, 0.25, 0.25]
    unlimited = _RateLimiter(None, clock=lambda: now[0], sleep=sleep)
    unlimited.wait()
    assert len(sleeps) == 3


def test_connection_error() -> None:
    pol = OpenAIPolicy("http://127.0.0.1:9/v1", "m", max_retries=1, backoff_base=0.01, timeout=2)
    with pytest.raises(OpenAIRequestError, match="connection error"):
        pol.generate([TASK], SamplingParams())
    pol.close()


def test_request_body_without_seed() -> None:
    body = completion_body("m", "p", SamplingParams(), [])
    assert "seed" not in body and "stop" not in body


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base_url": "localhost:8000"}, "must start with http"),
        ({"timeout": 0}, "timeout must be > 0"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"requests_per_second": 0}, "requests_per_second"),
        ({"max_context_tokens": 10}, "both max_context_tokens and count_tokens"),
    ],
)
def test_config_validation(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"base_url": "http://127.0.0.1:1/v1", "model": "m", **kwargs}
    with pytest.raises(ValueError, match=match):
        OpenAIPolicy(**args)


def test_v2_correction_round_sends_the_whole_conversation() -> None:
    """A V2 (chat) correction round keeps the chat history, as Goedel-Prover-V2 does: the first
    user message, the failed answer, then Lean's feedback as the next user turn."""
    import dataclasses

    stub = _Stub([])
    try:
        pol = OpenAIPolicy(stub.url, "m", prompt={"mode": "v2"})
        task = dataclasses.replace(
            TASK, corrections=(("  rfla\n", "line 2: unknown tactic", "goedel"),)
        )
        pol.generate([task], SamplingParams(max_new_tokens=9))
        msgs = stub.bodies[0]["messages"]
        assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
        assert msgs[1]["content"] == "  rfla\n"
        assert "unknown tactic" in msgs[2]["content"]
        pol.close()
    finally:
        stub.close()
