"""Policy spec parsing and the vLLM backend's argument mapping (vllm itself is not needed: a
stand-in `vllm` module records what VLLMPolicy passes to `vllm.LLM` / `vllm.SamplingParams`)."""

from __future__ import annotations

import sys
from dataclasses import replace
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from prover.errors import UsageError
from prover.policy import load_policy, parse_spec
from prover.policy.base import ProofTask, SamplingParams
from prover.policy.prompts import PromptTooLongError
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
    import prover.policy.vllm_backend  # noqa: F401 - first-party: it must import

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


class _FakeVLLM:
    """A stand-in `vllm` module: `LLM` and `SamplingParams` record what VLLMPolicy passes them
    (the real package needs a CUDA GPU).  Each sample's text names the seed it was drawn with."""

    def __init__(self, max_model_len: int = 4096) -> None:
        self.llm_kwargs: list[dict[str, Any]] = []
        self.sampling_kwargs: list[dict[str, Any]] = []
        self.generate_calls: list[tuple[list[str], list[Any], dict[str, Any]]] = []
        fake = self

        class Tokenizer:
            chat_template = "{{ messages }}"

            def encode(self, text: str) -> list[int]:
                return [0] * len(text.split())

            def apply_chat_template(self, messages: list[dict[str, str]], **kw: Any) -> str:
                assert kw == {"tokenize": False, "add_generation_prompt": True}
                return f"<user>{messages[0]['content']}<assistant>"

        class SamplingParams:
            def __init__(self, **kwargs: Any) -> None:
                fake.sampling_kwargs.append(kwargs)
                self.kwargs = kwargs

        class LLM:
            def __init__(self, **kwargs: Any) -> None:
                fake.llm_kwargs.append(kwargs)
                self.llm_engine = SimpleNamespace(
                    model_config=SimpleNamespace(max_model_len=max_model_len)
                )

            def get_tokenizer(self) -> Tokenizer:
                return Tokenizer()

            def generate(self, prompts: list[str], sps: list[Any], **kw: Any) -> list[Any]:
                fake.generate_calls.append((prompts, sps, kw))
                return [
                    SimpleNamespace(
                        outputs=[
                            SimpleNamespace(
                                text=f"  rfl -- seed {sp.kwargs['seed']} #{i}\n```\nextra",
                                token_ids=[1, 2, 3],
                                finish_reason="stop",
                            )
                            for i in range(sp.kwargs["n"])
                        ]
                    )
                    for sp in sps
                ]

        self.module = ModuleType("vllm")
        self.module.LLM = LLM  # type: ignore[attr-defined]
        self.module.SamplingParams = SamplingParams  # type: ignore[attr-defined]


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> _FakeVLLM:
    fake = _FakeVLLM()
    monkeypatch.setitem(sys.modules, "vllm", fake.module)
    return fake


def test_vllm_engine_arguments(fake_vllm: _FakeVLLM) -> None:
    pol = load_policy(
        "vllm:/models/prover",
        tensor_parallel_size=2,
        gpu_memory_utilization=0.5,
        max_model_len=4096,
        dtype="bfloat16",
        seed=7,
        trust_remote_code=True,
    )
    assert pol.spec == "vllm:/models/prover"
    assert fake_vllm.llm_kwargs == [
        {
            "model": "/models/prover",
            "tensor_parallel_size": 2,
            "gpu_memory_utilization": 0.5,
            "max_model_len": 4096,
            "dtype": "bfloat16",
            "seed": 7,
            "trust_remote_code": True,
        }
    ]
    pol.close()
    load_policy("vllm:/m")  # the defaults
    assert fake_vllm.llm_kwargs[1] == {
        "model": "/m",
        "tensor_parallel_size": 1,
        "gpu_memory_utilization": 0.9,
        "max_model_len": None,
        "dtype": "auto",
        "seed": 0,
        "trust_remote_code": False,
    }


def test_vllm_sampling_arguments_reach_vllm(fake_vllm: _FakeVLLM) -> None:
    pol = load_policy("vllm:/m", prompt={"mode": "cot"})
    task = ProofTask(formal_statement="theorem t (x : ℕ) : x = x := by\n", name="t")
    params = SamplingParams(n=2, temperature=0.7, top_p=0.8, max_new_tokens=64, seed=10)
    out = pol.generate([task, task, replace(task, seed=99)], params)
    # one vllm.SamplingParams per task, each with that task's seed (seed + i, or its own)
    base = {"n": 2, "temperature": 0.7, "top_p": 0.8, "max_tokens": 64, "stop": ["```"]}
    assert fake_vllm.sampling_kwargs == [
        {**base, "seed": 10},
        {**base, "seed": 11},
        {**base, "seed": 99},
    ]
    ((prompts, sps, kw),) = fake_vllm.generate_calls
    assert kw == {"use_tqdm": False}
    assert [sp.kwargs for sp in sps] == fake_vllm.sampling_kwargs
    assert prompts == [pol.prompts.build(task, 10).text] * 3
    assert [[c.meta["seed"] for c in rows] for rows in out] == [[10, 10], [11, 11], [99, 99]]
    first = out[0][0]
    assert first.text.startswith("  rfl -- seed 10 #0") and "```" not in first.text
    assert first.num_tokens == 3 and first.meta["backend"] == "vllm"
    assert first.meta["prompt_tokens"] == len(prompts[0].split())
    # greedy decoding: top_p forced to 1; unseeded: seed None
    pol.generate([task], SamplingParams(temperature=0.0, max_new_tokens=8))
    assert fake_vllm.sampling_kwargs[-1] == {
        "n": 1,
        "temperature": 0.0,
        "top_p": 1.0,
        "max_tokens": 8,
        "seed": None,
        "stop": ["```"],
    }


def test_vllm_v2_uses_chat_template_and_no_stop(fake_vllm: _FakeVLLM) -> None:
    pol = load_policy("vllm:/m", prompt={"mode": "v2"})
    task = ProofTask(formal_statement="theorem t : True := by\n", name="t")
    pol.generate([task], SamplingParams(max_new_tokens=16, seed=0))
    assert "stop" not in fake_vllm.sampling_kwargs[0]  # V2 must not stop at the fence
    ((prompts, _, _),) = fake_vllm.generate_calls
    assert prompts[0].startswith("<user>") and prompts[0].endswith("<assistant>")


def test_vllm_prompt_too_long_is_caught_before_generation(fake_vllm: _FakeVLLM) -> None:
    pol = load_policy("vllm:/m")  # the fake engine reports a 4096-token context
    task = ProofTask(formal_statement="theorem t : True := by\n", name="long")
    with pytest.raises(PromptTooLongError, match="'long'"):
        pol.generate([task], SamplingParams(max_new_tokens=4096))
    assert fake_vllm.generate_calls == []
