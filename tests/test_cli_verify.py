"""`prover verify` CLI logic with a fake checker (no Lean): input validation, output order,
streaming per chunk, resume after a kill, exit codes, header trust.  The fake proves only what
real Lean proves (LEAN_PROVES, checked by tests/test_fakes_lean.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from toy_lean import LeanProves

from prover.cli import main
from prover.lean.types import CheckRequest, CheckResult, Verdict

STMT = "theorem one : 1 = 1 := by"
DEF_HEADER = "def f : Nat := 1\n"
ANSWER_HEADER = "abbrev g_solution : Nat := sorry\n"
LEAN_PROVES = LeanProves(
    CheckRequest(STMT, "  rfl"),
    CheckRequest(STMT, "  rfl", header_trusted=True),
    CheckRequest(STMT, "  rfl", DEF_HEADER, header_trusted=True),
    CheckRequest(STMT, "  rfl", ANSWER_HEADER, header_trusted=True, answers=(("g_solution", "6"),)),
)


class FakeChecker:
    """A request in LEAN_PROVES -> proved, 'sorry' in a proof -> incomplete, anything else ->
    failed (real Lean's verdict may differ, e.g. `error` for an untrusted header that declares a
    `def`, but it is never `proved`)."""

    def __init__(self, name: str, out: Path | None) -> None:
        self.name = name
        self.out = out
        self.calls: list[list[str]] = []
        self.requests: list[CheckRequest] = []
        self.lines_before_call: list[int] = []
        self.closed = False

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        self.calls.append([r.id for r in requests])
        self.requests += requests
        if self.out is not None:  # what earlier chunks already wrote
            self.lines_before_call.append(len(self.out.read_text().splitlines()))
        results = []
        for r in requests:
            if r in LEAN_PROVES:
                results.append(CheckResult(Verdict.PROVED))
            elif "sorry" in r.proof:
                results.append(CheckResult(Verdict.INCOMPLETE))
            else:
                results.append(CheckResult(Verdict.FAILED))
        return results

    def close(self) -> None:
        self.closed = True


class FakeFactory:
    """Stands in for `make_checker`; `made` lists every checker built (empty: none was)."""

    def __init__(self) -> None:
        self.name = "native"
        self.out: Path | None = None
        self.made: list[FakeChecker] = []

    def __call__(self, backend: str = "auto", **options: Any) -> FakeChecker:
        self.made.append(FakeChecker(self.name, self.out))
        return self.made[-1]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeFactory:
    factory = FakeFactory()
    monkeypatch.setattr("prover.lean.make_checker", factory)
    return factory


def _line(id: str, proof: Any = "  rfl", **extra: Any) -> str:
    obj = {"id": id, "header": None, "formal_statement": STMT, "proof": proof}
    obj.update(extra)
    return json.dumps(obj)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _ids(text: str) -> list[str]:
    return [json.loads(line)["id"] for line in text.splitlines()]


def test_malformed_lines_reported_before_any_check(
    tmp_path: Path, fake: FakeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(
        tmp_path / "in.jsonl",
        [
            '{"id": "a", "proof": ',  # 1: bad JSON
            json.dumps({"id": "b", "formal_statement": "theorem b : True := by"}),  # 2: no proof
            _line("c", proof=5),  # 3: wrong type
            _line("d"),  # 4: fine
            _line("d"),  # 5: duplicate id
            _line("e", header=3),  # 6: header neither string nor null
            "[1, 2]",  # 7: not an object
            _line("f"),  # 8: fine
            _line("g", answers={"g_solution": 6}),  # 9: an answer that is not text
        ],
    )
    assert main(["verify", str(src)]) == 2
    err = capsys.readouterr().err
    assert f"{src}:1: invalid JSON" in err
    assert f"{src}:2: missing field 'proof'" in err
    assert f"{src}:3: field 'proof' must be a string" in err
    assert f"{src}:5: duplicate id 'd' (first on line 4)" in err
    assert f"{src}:6: field 'header' must be a string or null" in err
    assert f"{src}:7: expected a JSON object" in err
    assert f"{src}:9: field 'answers' must map answer-slot names to Lean terms" in err
    assert f"{src}:4:" not in err and f"{src}:8:" not in err
    assert fake.made == []  # no checker was even built, so nothing was checked


def test_non_utf8_input_is_a_usage_error(
    tmp_path: Path, fake: FakeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(_line("a").encode() + b"\n" + _line("b").encode("latin-1") + b"\xe9\xff\n")
    assert main(["verify", str(src)]) == 2
    err = capsys.readouterr().err
    assert f"{src}:2: not UTF-8 text (byte 0xe9)" in err
    assert "Traceback" not in err
    assert fake.made == []


def test_missing_input_file(
    tmp_path: Path, fake: FakeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(tmp_path / "nope.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_stdout_in_input_order_with_exit_0(
    tmp_path: Path, fake: FakeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ["z", "b", "m", "a", "q"]
    src = _write(tmp_path / "in.jsonl", [_line(i) for i in ids])
    assert main(["verify", str(src), "--chunk", "2"]) == 0
    out, err = capsys.readouterr()
    assert _ids(out) == ids
    assert all(json.loads(line)["verdict"] == "proved" for line in out.splitlines())
    assert fake.made[0].calls == [["z", "b"], ["m", "a"], ["q"]]
    assert fake.made[0].closed
    assert "verified 5 proofs (0 already done): proved=5" in err


def test_stdin_input(
    fake: FakeFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (_line("s1") + "\n" + _line("s2", proof="  sorry") + "\n").encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    assert main(["verify", "-"]) == 1
    out = capsys.readouterr().out
    assert [json.loads(line)["verdict"] for line in out.splitlines()] == ["proved", "incomplete"]


def test_exit_1_when_any_proof_is_not_proved(
    tmp_path: Path, fake: FakeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(tmp_path / "in.jsonl", [_line("a"), _line("b", proof="  bad"), _line("c")])
    assert main(["verify", str(src)]) == 1
    assert [json.loads(x)["verdict"] for x in capsys.readouterr().out.splitlines()] == [
        "proved",
        "failed",
        "proved",
    ]


def test_results_are_written_after_each_chunk(tmp_path: Path, fake: FakeFactory) -> None:
    src = _write(tmp_path / "in.jsonl", [_line(f"t{i}") for i in range(7)])
    out = tmp_path / "out.jsonl"
    fake.out = out
    assert main(["verify", str(src), "--out", str(out), "--chunk", "3"]) == 0
    assert fake.made[0].lines_before_call == [0, 3, 6]
    assert _ids(out.read_text()) == [f"t{i}" for i in range(7)]


@pytest.mark.parametrize("backend", ["native", "embedded"])
def test_default_chunk_is_small(tmp_path: Path, fake: FakeFactory, backend: str) -> None:
    # the checker processes persist between calls on both backends: small chunks cost nothing
    fake.name = backend
    src = _write(tmp_path / "in.jsonl", [_line(f"t{i}") for i in range(20)])
    assert main(["verify", str(src), "--out", str(tmp_path / "o.jsonl")]) == 0
    assert [len(c) for c in fake.made[0].calls] == [16, 4]


@pytest.mark.parametrize(
    ("flag", "trusted", "code"), [([], False, 1), (["--trusted-header"], True, 0)]
)
def test_input_headers_are_untrusted_unless_flagged(
    tmp_path: Path, fake: FakeFactory, flag: list[str], trusted: bool, code: int
) -> None:
    # Lean refuses an untrusted header that declares a `def` (verdict `error`): exit 1
    src = _write(tmp_path / "in.jsonl", [_line("h", header=DEF_HEADER), _line("d")])
    out = tmp_path / "o.jsonl"
    assert main(["verify", str(src), "--out", str(out), *flag]) == code
    by_id = {r.id: r for r in fake.made[0].requests}
    assert by_id["h"].header == DEF_HEADER and by_id["h"].header_trusted is trusted
    verdicts = {json.loads(x)["id"]: json.loads(x)["verdict"] for x in out.read_text().splitlines()}
    assert verdicts["d"] == "proved" and (verdicts["h"] == "proved") is trusted
    assert by_id["d"].header is None  # the backend default: trusted by the checker regardless


def test_input_answers_reach_the_checker(tmp_path: Path, fake: FakeFactory) -> None:
    line = _line("g", header=ANSWER_HEADER, answers={"g_solution": "6"})
    src = _write(tmp_path / "in.jsonl", [line, _line("d")])
    assert main(["verify", str(src), "--trusted-header", "--out", str(tmp_path / "o.jsonl")]) == 0
    by_id = {r.id: r for r in fake.made[0].requests}
    assert by_id["g"].answers == (("g_solution", "6"),) and by_id["d"].answers == ()


@pytest.mark.parametrize("chunk", ["0", "-3"])
def test_bad_chunk(
    tmp_path: Path, fake: FakeFactory, capsys: pytest.CaptureFixture[str], chunk: str
) -> None:
    src = _write(tmp_path / "in.jsonl", [_line("a")])
    assert main(["verify", str(src), "--chunk", chunk]) == 2
    assert "--chunk must be >= 1" in capsys.readouterr().err
    assert fake.made == []


def test_out_in_missing_directory(
    tmp_path: Path, fake: FakeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(tmp_path / "in.jsonl", [_line("a")])
    assert main(["verify", str(src), "--out", str(tmp_path / "no" / "o.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert fake.made == []


@pytest.mark.parametrize(
    "torn",
    [
        '{"id": "b", "verd',  # killed mid-line
        '{"id": "b", "verdict": "proved"}',  # killed before the newline: still re-checked
    ],
)
def test_resume_skips_written_ids_and_rewrites_a_torn_line(
    tmp_path: Path, fake: FakeFactory, capsys: pytest.CaptureFixture[str], torn: str
) -> None:
    src = _write(tmp_path / "in.jsonl", [_line("a"), _line("b"), _line("c")])
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": "a", "verdict": "proved"}) + "\n" + torn)
    assert main(["verify", str(src), "--out", str(out)]) == 0
    assert fake.made[0].calls == [["b", "c"]]
    assert _ids(out.read_text()) == ["a", "b", "c"]
    assert "verified 2 proofs (1 already done)" in capsys.readouterr().err


def test_resume_with_nothing_left(
    tmp_path: Path, fake: FakeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(tmp_path / "in.jsonl", [_line("a"), _line("b")])
    out = tmp_path / "out.jsonl"
    assert main(["verify", str(src), "--out", str(out)]) == 0
    before = out.read_text()
    assert main(["verify", str(src), "--out", str(out)]) == 0
    assert out.read_text() == before
    assert len(fake.made) == 1  # the resumed run starts no Lean process at all
    assert "nothing to do" in capsys.readouterr().err


def test_resume_counts_earlier_verdicts_in_the_exit_code(tmp_path: Path, fake: FakeFactory) -> None:
    src = _write(tmp_path / "in.jsonl", [_line("a"), _line("b")])
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": "a", "verdict": "failed"}) + "\n")
    assert main(["verify", str(src), "--out", str(out)]) == 1
    assert fake.made[0].calls == [["b"]]


def test_non_utf8_out_file_is_a_usage_error(
    tmp_path: Path, fake: FakeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(tmp_path / "in.jsonl", [_line("a")])
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"id": "\xff"}\n')
    assert main(["verify", str(src), "--out", str(out)]) == 2
    assert f"{out} (--out):1: not UTF-8 text" in capsys.readouterr().err
    assert fake.made == []
