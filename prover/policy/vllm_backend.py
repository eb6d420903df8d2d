"""VLLMPolicy: offline batched generation with `vllm.LLM` (GPU).  vllm is imported only when a
policy is constructed; `vllm_sampling_kwargs` (the SamplingParams mapping) is pure.

GPU smoke test (needs `pip install -e .[vllm]` and a CUDA GPU; any small local causal LM works,
e.g. a DeepSeek-Prover-V1.5 checkpoint directory)::

    python -c "
    from prover.policy import load_policy, ProofTask, SamplingParams
    p = load_policy('vllm:/models/DeepSeek-Prover-V1.5-RL', prompt={'mode': 'cot'})
    t = ProofTask(formal_statement='theorem t (x : Nat) : x + 0 = x := by\\n', name='t')
    for c in p.generate([t], SamplingParams(n=4, max_new_tokens=256, seed=0))[0]:
        print(repr(c.text), c.num_tokens)
    p.close()"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from prover.policy.base import Completion, ProofTask, SamplingParams, task_seeds
from prover.policy.hf import as_prompt_config
from prover.policy.prompts import PromptConfig, tokenizer_prompt_builder


def vllm_sampling_kwargs(params: SamplingParams, stop: Sequence[str]) -> dict[str, Any]:
    """Keyword arguments for `vllm.SamplingParams` equivalent to `params`.

    The stop strings (the closing fence for V1.5 prompts) are excluded from the output, as
    OpenAI-style servers do.  top_p is forced to 1 for greedy decoding (temperature 0)."""
    kwargs: dict[str, Any] = {
        "n": params.n,
        "temperature": params.temperature,
        "top_p": params.top_p if params.temperature > 0 else 1.0,
        "max_tokens": params.max_new_tokens,
        "seed": params.seed,
    }
    if stop:
        kwargs["stop"] = list(stop)
    return kwargs


@dataclass(frozen=True)
class VLLMConfig:
    """VLLMPolicy's knobs (its constructor's keyword arguments).  Each field's metadata `help` is
    its command-line help (`prover.commands.options`: `--vllm-tensor-parallel-size`, ...)."""

    model: str = field(metadata={"help": "model path or hub id", "cli": False})  # the spec's
    prompt: PromptConfig = field(metadata={"help": "prompt format"})
    tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs the model is split over"})
    gpu_memory_utilization: float = field(
        default=0.9, metadata={"help": "share of GPU memory vLLM may take, in (0, 1]"}
    )
    max_model_len: int | None = field(
        default=None, metadata={"help": "context length (default: the model's)"}
    )
    dtype: str = field(
        default="auto", metadata={"help": "weights dtype (vLLM's: auto, bfloat16, float16, ...)"}
    )
    seed: int = field(
        default=0,
        metadata={"help": "engine seed (each request is also seeded by the search)"},
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "let vLLM run the model repository's own code"}
    )

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("VLLMPolicy needs a model path or hub id, e.g. vllm:/path/to/model")
        if self.tensor_parallel_size < 1:
            raise ValueError(
                f"VLLMPolicy tensor_parallel_size must be >= 1, got {self.tensor_parallel_size}"
            )
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(
                "VLLMPolicy gpu_memory_utilization must be in (0, 1], got "
                f"{self.gpu_memory_utilization}"
            )
        if self.max_model_len is not None and self.max_model_len < 2:
            raise ValueError(f"VLLMPolicy max_model_len must be >= 2, got {self.max_model_len}")


class VLLMPolicy:
    """A Policy backed by vLLM's offline engine."""

    def __init__(
        self,
        model: str,
        *,
        prompt: PromptConfig | Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        """`options` are `VLLMConfig` fields (tensor_parallel_size, max_model_len, ...)."""
        self.config = VLLMConfig(model=str(model), prompt=as_prompt_config(prompt), **options)
        self.spec = f"vllm:{self.config.model}"
        try:
            import vllm
        except ImportError as e:
            from prover.errors import UsageError

            raise UsageError(
                "the vllm backend needs vLLM: pip install -e '.[vllm]' (CUDA GPU required)"
            ) from e
        cfg = self.config
        self._vllm = vllm
        self.llm: Any = vllm.LLM(
            model=cfg.model,
            tensor_parallel_size=cfg.tensor_parallel_size,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
            max_model_len=cfg.max_model_len,
            dtype=cfg.dtype,
            seed=cfg.seed,
            trust_remote_code=cfg.trust_remote_code,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.max_context_tokens = int(self.llm.llm_engine.model_config.max_model_len)
        self.prompts = tokenizer_prompt_builder(cfg.prompt, self.tokenizer)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        built, ntoks = self.prompts.build_checked(
            tasks, params, self.count_tokens, self.max_context_tokens
        )
        # one request per task, each with its own seed (identical prompts must not share one)
        seeds = task_seeds(tasks, params)
        stop = self.prompts.config.stop
        sps = [
            self._vllm.SamplingParams(**vllm_sampling_kwargs(replace(params, seed=s), stop))
            for s in seeds
        ]
        outputs = self.llm.generate([b.text for b in built], sps, use_tqdm=False)
        results: list[list[Completion]] = []
        for task, b, nt, seed, out in zip(tasks, built, ntoks, seeds, outputs, strict=True):
            results.append(
                [
                    Completion(
                        text=self.prompts.postprocess(o.text, task, b),
                        raw=o.text,
                        answers=self.prompts.answers(o.text, task),
                        prompt=b.text,
                        num_tokens=len(o.token_ids),
                        meta={
                            "backend": "vllm",
                            "stop": o.finish_reason,
                            "prompt_tokens": nt,
                            "seed": seed,
                            "few_shot": list(b.few_shot_names),
                            "prompt_mode": b.mode,
                        },
                    )
                    for o in out.outputs
                ]
            )
        return results

    def close(self) -> None:
        self.llm = None
