"""Policy spec parsing and the vLLM SamplingParams mapping (vllm itself is not needed)."""

from __future__ import annotations

import pytest

from prover.errors import UsageError
from prover.policy import load_policy, parse_spec
from prover.policy.base import SamplingParams
from prover.policy.vllm_backend import vllm_sampling_kwargs


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("automation", ("automation", ())),
        ("hf:/models/tiny", ("hf", ("/models/tiny",))),
        (
            "hf:deepseek-ai/DeepSeek-Prover-V1.5-RL",
            ("hf", ("deepseek-ai/DeepSeek-Prover-V1.5-RL",)),
        ),
        ("vllm:/m", ("vllm", ("/m",))),
        (
            "openai:http://127.0.0.1:8000/v1#deepseek-ai/DeepSeek-Prover-V1.5-RL",
            ("openai", ("http://127.0.0.1:8000/v1", "deepseek-ai/DeepSeek-Prover-V1.5-RL")),
        ),
        ("openai:https://api.example.com/v1#m", ("openai", ("https://api.example.com/v1", "m"))),
    ],
)
def test_parse_spec(spec: str, expected: tuple) -> None:
    assert parse_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("gpt4", "unknown policy spec"),
        ("torch:/m", "unknown policy spec"),
        ("hf:", "names no model"),
        ("vllm:  ", "names no model"),
        ("openai:http://127.0.0.1:8000/v1", "separated by '#'"),
        ("openai:http://127.0.0.1:8000/v1#", "separated by '#'"),
        ("openai:#m", "separated by '#'"),
        ("openai:127.0.0.1:8000#m", "http:// or https://"),
    ],
)
def test_bad_specs(spec: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        load_policy(spec)


def test_vllm_mapping() -> None:
    p = SamplingParams(n=4, temperature=0.8, top_p=0.9, max_new_tokens=512, seed=3)
    assert vllm_sampling_kwargs(p, ["```"]) == {
        "n": 4,
        "temperature": 0.8,
        "top_p": 0.9,
        "max_tokens": 512,
        "seed": 3,
        "stop": ["```"],
    }
    greedy = vllm_sampling_kwargs(SamplingParams(temperature=0.0), [])
    assert greedy == {
        "n": 1,
        "temperature": 0.0,
        "top_p": 1.0,
        "max_tokens": 2048,
        "seed": None,
    }


def test_vllm_missing_is_a_usage_error() -> None:
    pytest.importorskip("prover.policy.vllm_backend")
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match="pip install"):
            load_policy("vllm:/nonexistent")
    else:
        pytest.skip("vllm is installed")


def test_openai_spec_builds_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    pol = load_policy("openai:http://127.0.0.1:1/v1/#m", max_retries=0)
    assert pol.spec == "openai:http://127.0.0.1:1/v1#m"
    pol.close()


def test_automation_adds_mathlib_tactics_only_on_native() -> None:
    from prover.policy import load_policy
    from prover.policy.automation import step_candidates

    assert load_policy("automation", lean_backend="native").config.mathlib is True  # type: ignore[attr-defined]
    assert load_policy("automation", lean_backend="embedded").config.mathlib is False  # type: ignore[attr-defined]
    assert "linarith" in dict(step_candidates(None, mathlib=True))
    assert "linarith" not in dict(step_candidates(None, mathlib=False))
