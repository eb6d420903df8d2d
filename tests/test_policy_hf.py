"""HFPolicy against a tiny random-weight model built locally (no downloads)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# `make test` installs the `hf` extra: a missing torch/transformers fails here, it is not skipped
import torch  # noqa: E402, F401
import transformers  # noqa: E402, F401

from prover.policy.base import ProofTask, SamplingParams  # noqa: E402
from prover.policy.prompts import FENCE, PromptConfig, PromptTooLongError  # noqa: E402

DATA = Path(
    os.environ.get(
        "PROVER_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Built from the benchmark data; missing data fails (conftest's `data_dir`), never skips."""
    from prover.policy.tiny import build_tiny_model

    files = [data_dir / "minif2f_valid_few_shot.jsonl", data_dir / "minif2f.jsonl"]
    out = tmp_path_factory.getbasetemp() / "tiny_model"
    if not (out / "config.json").is_file():
        build_tiny_model(out, files, seed=0)
    return out


@pytest.fixture(scope="module")
def policy(tiny_model: Path):  # type: ignore[no-untyped-def]
    from prover.policy.hf import HFPolicy

    p = HFPolicy(str(tiny_model), device="cpu", batch_size=8)
    yield p
    p.close()


def _tasks(k: int) -> list[ProofTask]:
    lines = (DATA / "minif2f.jsonl").read_text(encoding="utf-8").splitlines()[:k]
    recs = [json.loads(x) for x in lines]
    return [
        ProofTask(
            formal_statement=r["formal_statement"],
            header=r["header"],
            informal_prefix=r["informal_prefix"],
            name=r["name"],
        )
        for r in recs
    ]


def test_shapes_and_prompts(policy) -> None:  # type: ignore[no-untyped-def]
    tasks = _tasks(3)
    out = policy.generate(tasks, SamplingParams(n=2, max_new_tokens=24, seed=0))
    assert [len(r) for r in out] == [2, 2, 2]
    for task, rows in zip(tasks, out, strict=True):
        for c in rows:
            assert c.prompt == policy.prompts.build(task, 0).text
            assert c.prompt.endswith(task.formal_statement)
            assert 1 <= c.num_tokens <= 24
            assert c.meta["stop"] in ("stop", "eos", "length")
    assert policy.spec.startswith("hf:")


def test_stops_at_fence(policy) -> None:  # type: ignore[no-untyped-def]
    out = policy.generate(_tasks(2), SamplingParams(n=4, max_new_tokens=64, seed=3))
    comps = [c for rows in out for c in rows]
    assert all(FENCE not in c.text for c in comps)
    stopped = [c for c in comps if c.meta["stop"] == "stop"]
    assert stopped, "the tiny model boosts the fence token; some sample must stop there"
    assert all(c.num_tokens < 64 for c in stopped)


def test_seeds(policy) -> None:  # type: ignore[no-untyped-def]
    tasks = _tasks(2)
    a = policy.generate(tasks, SamplingParams(n=2, max_new_tokens=16, seed=7))
    b = policy.generate(tasks, SamplingParams(n=2, max_new_tokens=16, seed=7))
    c = policy.generate(tasks, SamplingParams(n=2, max_new_tokens=16, seed=8))
    texts = lambda r: [x.text for rows in r for x in rows]  # noqa: E731
    assert texts(a) == texts(b)
    assert texts(a) != texts(c)


def test_greedy_is_deterministic(policy) -> None:  # type: ignore[no-untyped-def]
    p = SamplingParams(n=1, temperature=0.0, max_new_tokens=12)
    assert policy.generate(_tasks(1), p) == policy.generate(_tasks(1), p)


def test_batching_several_chunks(tiny_model: Path) -> None:
    from prover.policy.hf import HFPolicy

    pol = HFPolicy(str(tiny_model), device="cpu", batch_size=3)
    tasks = _tasks(4)  # prompts of different lengths -> left padding
    out = pol.generate(tasks, SamplingParams(n=2, max_new_tokens=8, seed=1))
    assert [len(r) for r in out] == [2, 2, 2, 2]
    assert {c.meta["seed"] for rows in out for c in rows} == {1, 2, 3}  # 8 rows, 3 batches
    pol.close()


def test_resume_and_cot(tiny_model: Path) -> None:
    from prover.policy.hf import HFPolicy

    pol = HFPolicy(str(tiny_model), device="cpu", prompt={"mode": "cot"})
    task = ProofTask(
        formal_statement="theorem t (x : ℕ) : x = x := by\n",
        prefix="  intro",
        goals="x : ℕ\n⊢ x = x",
        name="t",
    )
    (c,) = pol.generate([task], SamplingParams(max_new_tokens=8, seed=0))[0]
    assert c.text.startswith("\n")  # the prefix had no trailing newline
    assert c.prompt.endswith("  intro\n  /- tactic state:\n    x : ℕ\n    ⊢ x = x\n  -/\n")


def test_v2_mode_runs(tiny_model: Path) -> None:
    from prover.policy.hf import HFPolicy

    pol = HFPolicy(str(tiny_model), device="cpu", prompt={"mode": "v2"})
    (rows,) = pol.generate(_tasks(1), SamplingParams(n=2, max_new_tokens=8, seed=0))
    assert len(rows) == 2 and all("proof plan" in c.prompt for c in rows)


def test_prompt_too_long(tiny_model: Path) -> None:
    from prover.policy.hf import HFPolicy

    pol = HFPolicy(str(tiny_model), device="cpu", max_context_tokens=64)
    with pytest.raises(PromptTooLongError, match=r"amc12a_2019_p21.*prompt tokens.*limit 64"):
        pol.generate(_tasks(1), SamplingParams(max_new_tokens=8))


def test_config_validation(tiny_model: Path) -> None:
    from prover.policy.hf import HFPolicy

    with pytest.raises(ValueError, match="device must be"):
        HFPolicy(str(tiny_model), device="tpu")
    with pytest.raises(ValueError, match="batch_size"):
        HFPolicy(str(tiny_model), batch_size=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        HFPolicy(str(tiny_model), prompt=PromptConfig(mode="bad"))  # type: ignore[arg-type]


@pytest.mark.gpu
def test_cuda_generation(tiny_model: Path) -> None:
    """The same contract on a GPU (bf16): shapes, stop at the fence, seeded reproducibility.
    Runs where CUDA is available, e.g. `PROVER_DATA_DIR=... pytest -m gpu tests/test_policy_hf.py`
    on a GPU machine; CI has no GPU, so there it is skipped with this reason."""

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here (CI has none); run `pytest -m gpu` on a GPU machine")
    from prover.policy.hf import HFPolicy

    p = HFPolicy(str(tiny_model), device="cuda", batch_size=8)
    try:
        if torch.cuda.is_bf16_supported():
            assert next(p.model.parameters()).dtype == torch.bfloat16
        tasks = _tasks(4)
        params = SamplingParams(n=3, max_new_tokens=48, seed=7)
        a, b = p.generate(tasks, params), p.generate(tasks, params)
        assert [len(r) for r in a] == [3, 3, 3, 3]
        assert [[c.text for c in r] for r in a] == [[c.text for c in r] for r in b]
        comps = [c for r in a for c in r]
        assert all(
            FENCE not in c.text and c.meta["stop"] in ("stop", "eos", "length") for c in comps
        )
        assert all(c.num_tokens <= 48 for c in comps)
    finally:
        p.close()
