"""`prover serve` with real Lean: ONE server process (one Lean worker) for the module, driven by
the real `kimina-client`, by `prover verify --checker` and by `HTTPChecker`; each verdict is
compared with `prover verify` run locally (the session's Lean checker)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from serve_util import free_port

pytestmark = pytest.mark.lean

S_ADD = "theorem k_add (a b : Nat) : a + b = b + a := by\n"
ITEMS = [  # (id, header, statement, proof): honest, sorry and attack proofs
    ("ok", None, S_ADD, "  omega\n"),
    ("ok_open", "open Nat\n\n", "theorem k_succ (n : Nat) : succ n = n + 1 := by\n", "  rfl\n"),
    ("wrong", None, S_ADD, "  rfl\n"),
    ("sorry", None, S_ADD, "  sorry\n"),
    (
        "axiom_header",
        "axiom cheat : False\n\n",
        "theorem k_f : 1 = 2 := by\n",
        "  exact cheat.elim\n",
    ),
    ("axiom_after", None, "theorem k_g : 1 = 2 := by\n", "  exact bad\naxiom bad : 1 = 2\n"),
    ("native_decide", None, "theorem k_nd : 10 < 11 := by\n", "  native_decide\n"),
]
MAPPING = {"proved": "valid", "incomplete": "sorry"}  # any other verdict: lean_error


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PROVER_API_KEY", None)
    cmd = [sys.executable, "-m", "prover.cli", "serve", "--port", str(port), "--workers", "1"]
    cmd += ["--backend", "embedded", "--timeout-s", "90", "--spare-processes", "0"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    # /health answers once the server listens (Lean starts behind it); the bound is only a
    # backstop against a hang, far above any start under load
    deadline = time.monotonic() + 600
    while True:
        try:
            if httpx.get(url + "/health").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "prover serve did not come up"
        time.sleep(0.2)
    yield url
    proc.send_signal(signal.SIGTERM)  # graceful shutdown: drains, closes Lean
    rc = proc.wait(60)
    err = proc.stderr.read() if proc.stderr else ""
    assert rc == 0, err
    assert "prover serve: stopped" in err


@pytest.fixture(scope="module")
def local_verdicts(tmp_path_factory, embedded_checker):
    """`prover verify` on the items, locally (in-process, the session's Lean)."""
    import prover.lean
    from prover.cli import main

    d = tmp_path_factory.mktemp("local")
    inp, out = d / "in.jsonl", d / "out.jsonl"
    inp.write_text(
        "".join(
            json.dumps({"id": i, "header": h, "formal_statement": s, "proof": p}) + "\n"
            for i, h, s, p in ITEMS
        )
    )
    mp = pytest.MonkeyPatch()
    mp.setattr(prover.lean, "make_checker", lambda *a, **k: _Borrowed(embedded_checker))
    try:
        main(["verify", str(inp), "--out", str(out), "--backend", "embedded"])
    finally:
        mp.undo()
    return {r["id"]: r["verdict"] for r in map(json.loads, out.read_text().splitlines())}


class _Borrowed:
    def __init__(self, inner) -> None:
        self.inner, self.name = inner, inner.name

    def check(self, requests):
        return self.inner.check(requests)

    def close(self) -> None:
        pass


def _kimina_client():
    """kimina-client 0.2.1 declares its response types with `typing.TypedDict`, which pydantic
    refuses on Python < 3.12 (`PydanticUserError: typed-dict-version`, raised as soon as it
    validates a response); on 3.11 its module is imported with typing_extensions' TypedDict,
    which pydantic accepts.  The client's code is otherwise unchanged."""
    if sys.version_info >= (3, 12) or "kimina_client" in sys.modules:
        import kimina_client

        return kimina_client
    import typing

    import typing_extensions

    saved = typing.TypedDict
    typing.TypedDict = typing_extensions.TypedDict  # type: ignore[misc]
    try:
        import kimina_client
    finally:
        typing.TypedDict = saved  # type: ignore[misc]
    return kimina_client


def test_kimina_client_matches_prover_verify(server, local_verdicts) -> None:
    kimina = _kimina_client()
    KiminaClient, Snippet = kimina.KiminaClient, kimina.Snippet

    assert set(local_verdicts.values()) >= {"proved", "incomplete", "failed", "rejected"}
    client = KiminaClient(api_url=server, n_retries=1)
    snippets = [Snippet(id=i, code=(h or "") + s + p) for i, h, s, p in ITEMS]
    resp = client.check(snippets, timeout=90, show_progress=False, batch_size=4, max_workers=2)
    got = {r.id: r.analyze().status.value for r in resp.results}
    want = {i: MAPPING.get(v, "lean_error") for i, v in local_verdicts.items()}
    assert got == want, (got, local_verdicts)
    assert got["ok"] == got["ok_open"] == "valid" and got["sorry"] == "sorry"
    assert got["native_decide"] == got["axiom_header"] == got["axiom_after"] == "lean_error"
    bad = next(r for r in resp.results if r.id == "native_decide")
    assert any("native_decide" in m["data"] for m in bad.response["messages"])  # says why
    # Kimina's older /verify form
    old = httpx.post(
        server + "/verify",
        json={"codes": [{"custom_id": "ok", "proof": S_ADD + "  omega\n"}]},
        timeout=120,
    ).json()
    assert old["results"][0]["custom_id"] == "ok"
    assert not [m for m in old["results"][0]["response"]["messages"] if m["severity"] == "error"]


def test_verify_with_checker_url_matches_local(server, local_verdicts, tmp_path: Path) -> None:
    from prover.cli import main

    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text(
        "".join(
            json.dumps({"id": i, "header": h, "formal_statement": s, "proof": p}) + "\n"
            for i, h, s, p in ITEMS
        )
    )
    assert main(["verify", str(inp), "--out", str(out), "--checker", server]) == 1
    rows = {r["id"]: r["verdict"] for r in map(json.loads, out.read_text().splitlines())}
    assert rows == local_verdicts
    metrics = httpx.get(server + "/metrics").text
    assert "prover_lean_processes 1" in metrics
    assert 'prover_verdicts_total{verdict="proved"}' in metrics
