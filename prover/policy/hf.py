"""HFPolicy: local generation with transformers (CPU or CUDA).

Prompts from several tasks (times `n` samples each) are generated together in batches of
`batch_size` sequences with left padding.  V1.5 prompts stop at the closing code fence (a
StoppingCriteria that decodes the generated tail of each row).  A batch samples all its rows from
one generator: with `SamplingParams.seed` set, batch `i` of a call is seeded with `seed + i`; when
the tasks carry their own seeds (`ProofTask.seed`, set by searches), a batch is seeded from the
(task seed, sample index) pairs of its rows.  Either way the same call (with the same batch_size,
device and library versions) returns the same completions.

A prompt that does not fit in the context fails the call before anything is generated, with one
PromptTooLongError whose `indices` name every such task.

torch and transformers are imported only when a policy is constructed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prover.policy.base import Completion, ProofTask, SamplingParams, derive_seed, task_seeds
from prover.policy.prompts import (
    PromptConfig,
    check_token_budget,
    tokenizer_prompt_builder,
)

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")


def as_prompt_config(prompt: PromptConfig | Mapping[str, Any] | None) -> PromptConfig:
    if prompt is None:
        return PromptConfig()
    if isinstance(prompt, PromptConfig):
        return prompt
    return PromptConfig(**dict(prompt))


@dataclass(frozen=True)
class HFConfig:
    """HFPolicy's knobs (its constructor's keyword arguments).  Each field's metadata `help` is
    its command-line help (`prover.commands.options`: `--hf-device`, `--hf-batch-size`, ...)."""

    model: str = field(metadata={"help": "model path or hub id", "cli": False})  # the spec's
    prompt: PromptConfig = field(metadata={"help": "prompt format"})
    device: str = field(
        default="auto", metadata={"help": "auto (CUDA if available), cpu, cuda or cuda:N"}
    )
    dtype: str = field(
        default="auto",
        metadata={
            "help": "weights dtype; auto: bfloat16 on CUDA when supported, else float32",
            "choices": DTYPES,
        },
    )
    batch_size: int = field(
        default=16, metadata={"help": "sequences per model.generate call (left-padded)"}
    )
    max_context_tokens: int | None = field(
        default=None,
        metadata={
            "help": "prompt + new tokens limit (default: the model's max_position_embeddings)"
        },
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "let transformers run the model repository's own code"}
    )

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("HFPolicy needs a model path or hub id, e.g. hf:/path/to/model")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(
                f"HFPolicy device must be auto, cpu, cuda or cuda:N; got {self.device!r}"
            )
        if self.dtype not in DTYPES:
            raise ValueError(
                f"HFPolicy dtype must be one of {', '.join(DTYPES)}; got {self.dtype!r}"
            )
        if self.batch_size < 1:
            raise ValueError(f"HFPolicy batch_size must be >= 1, got {self.batch_size}")
        if self.max_context_tokens is not None and self.max_context_tokens < 2:
            raise ValueError(
                f"HFPolicy max_context_tokens must be >= 2 (or None for the model's limit), "
                f"got {self.max_context_tokens}"
            )


def _make_stop_criteria(
    tokenizer: Any, stop: Sequence[str], prompt_len: int, batch: int, window: int = 8
) -> Any:
    """A StoppingCriteria that ends a row once its generated text contains a stop string (such
    as the closing fence); it remembers, per row, how many tokens had been generated then."""
    import torch
    from transformers import StoppingCriteria

    window = max(window, *(len(s) for s in stop))

    class StopStrings(StoppingCriteria):
        def __init__(self) -> None:
            self.stopped_at: list[int | None] = [None] * batch

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            generated = input_ids.shape[1] - prompt_len
            # one device-to-host copy per step for the whole batch (a copy per row synchronised
            # the GPU `batch` times a step and made CUDA generation slower than the CPU)
            tails = input_ids[:, input_ids.shape[1] - min(window, generated) :].tolist()
            done = []
            for row, ids in enumerate(tails):
                if self.stopped_at[row] is None:
                    tail = tokenizer.decode(ids, skip_special_tokens=True)
                    if any(s in tail for s in stop):
                        self.stopped_at[row] = generated
                done.append(self.stopped_at[row] is not None)
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StopStrings()


def _no_cudnn_attention(device_type: str) -> Any:
    """Context: SDPA without its cuDNN backend on CUDA.  cuDNN attention plans a graph for every
    new key length, i.e. at every decoding step: on an H100 (torch 2.11, bf16) generation ran
    8x slower with it (284 vs 2267 tokens/s, `python -m benchmarks.perf.policy_throughput --device
    cuda --batch-size 64`).  Flash / memory-efficient / math kernels are kept."""
    import contextlib

    if device_type != "cuda":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(
        [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    )


class HFPolicy:
    """A Policy backed by transformers' AutoModelForCausalLM."""

    def __init__(
        self,
        model: str,
        *,
        prompt: PromptConfig | Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        """`options` are `HFConfig` fields (device, dtype, batch_size, ...)."""
        self.config = HFConfig(model=str(model), prompt=as_prompt_config(prompt), **options)
        self.spec = f"hf:{self.config.model}"

        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        cfg = self.config
        dev = cfg.device
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(dev)
        if cfg.dtype == "auto":
            use_bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
            torch_dtype = torch.bfloat16 if use_bf16 else torch.float32
        else:
            torch_dtype = getattr(torch, cfg.dtype)

        self.tokenizer = AutoTokenizer.from_pretrained(
            cfg.model, trust_remote_code=cfg.trust_remote_code
        )
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
        hf_model: Any = AutoModelForCausalLM.from_pretrained(
            cfg.model, trust_remote_code=cfg.trust_remote_code, **{dtype_kw: torch_dtype}
        )
        self.model: Any = hf_model.to(self.device)
        self.model.eval()

        limit = cfg.max_context_tokens or getattr(
            self.model.config, "max_position_embeddings", None
        )
        if not limit:
            raise ValueError(
                f"cannot tell the context length of {cfg.model}; pass max_context_tokens"
            )
        self.max_context_tokens = int(limit)

        self.prompts = tokenizer_prompt_builder(cfg.prompt, self.tokenizer)
        # the chat template already holds the BOS token
        self._add_special_tokens = self.prompts.chat_template is None

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=self._add_special_tokens)["input_ids"])

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        built, ntoks = self.prompts.build_checked(
            tasks, params, self.count_tokens, self.max_context_tokens
        )
        seeds = task_seeds(tasks, params)
        own_seeds = any(t.seed is not None for t in tasks)
        jobs = [(i, j) for i in range(len(tasks)) for j in range(params.n)]
        results: list[list[Completion]] = [[] for _ in tasks]
        bs = self.config.batch_size
        for chunk_no, start in enumerate(range(0, len(jobs), bs)):
            chunk = jobs[start : start + bs]
            if own_seeds:
                seed: int | None = derive_seed(*(f"{seeds[i]}/{j}" for i, j in chunk))
            else:
                seed = None if params.seed is None else params.seed + chunk_no
            texts = self._generate_batch(
                [built[i].text for i, _ in chunk], params, seed, self.prompts.config.stop
            )
            for (i, _), (raw, num_tokens, stop) in zip(chunk, texts, strict=True):
                results[i].append(
                    Completion(
                        text=self.prompts.postprocess(raw, tasks[i], built[i]),
                        raw=raw,
                        answers=self.prompts.answers(raw, tasks[i]),
                        prompt=built[i].text,
                        num_tokens=num_tokens,
                        meta={
                            "backend": "hf",
                            "stop": stop,
                            "prompt_tokens": ntoks[i],
                            "seed": seed,
                            "few_shot": list(built[i].few_shot_names),
                            "prompt_mode": built[i].mode,
                        },
                    )
                )
        return results

    def complete(
        self, prompts: Sequence[str], params: SamplingParams, stop: Sequence[str] = ()
    ) -> list[list[tuple[str, int, str]]]:
        """Raw completion of prompt strings (used by the HTTP server): for each prompt, `n`
        tuples (text cut before the first stop string, generated tokens, "stop" | "eos" |
        "length").  Raises PromptTooLongError like generate()."""
        for k, p in enumerate(prompts):
            check_token_budget(
                p,
                self.count_tokens,
                self.max_context_tokens,
                params.max_new_tokens,
                name=f"prompt #{k}",
            )
        jobs = [i for i in range(len(prompts)) for _ in range(params.n)]
        out: list[list[tuple[str, int, str]]] = [[] for _ in prompts]
        bs = self.config.batch_size
        for chunk_no, start in enumerate(range(0, len(jobs), bs)):
            chunk = jobs[start : start + bs]
            seed = None if params.seed is None else params.seed + chunk_no
            rows = self._generate_batch([prompts[i] for i in chunk], params, seed, stop)
            for i, (text, ntok, reason) in zip(chunk, rows, strict=True):
                cut = min([text.find(s) for s in stop if s in text], default=-1)
                out[i].append((text if cut < 0 else text[:cut], ntok, reason))
        return out

    def _generate_batch(
        self,
        prompts: list[str],
        params: SamplingParams,
        seed: int | None,
        stop: Sequence[str] = (),
    ) -> list[tuple[str, int, str]]:
        """(raw generated text, generated token count, stop reason) per prompt; a row ends at the
        first stop string (kept in the text), EOS, or max_new_tokens."""
        import torch
        from transformers import StoppingCriteriaList

        enc = self.tokenizer(
            prompts,
            return_tensors="pt",
            padding=True,
            add_special_tokens=self._add_special_tokens,
        ).to(self.device)
        prompt_len = enc["input_ids"].shape[1]
        criteria = StoppingCriteriaList()
        fence = None
        if stop:
            fence = _make_stop_criteria(self.tokenizer, stop, prompt_len, len(prompts))
            criteria.append(fence)
        sample = params.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "do_sample": sample,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
            "stopping_criteria": criteria,
        }
        if sample:
            # top_k=0: sample from the whole vocabulary as vLLM does (transformers defaults to 50)
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if seed is not None:
            torch.manual_seed(seed)
        with torch.inference_mode(), _no_cudnn_attention(self.device.type):
            out = self.model.generate(**enc, **kwargs)
        gen = out[:, prompt_len:].tolist()
        eos = self.tokenizer.eos_token_id
        results = []
        for row, ids in enumerate(gen):
            stopped = fence.stopped_at[row] if fence is not None else None
            reason = "length"
            count = len(ids)
            if stopped is not None:
                count, reason = stopped, "stop"
            if eos is not None and eos in ids[:count]:
                count, reason = ids.index(eos) + 1, "eos"
            text = str(self.tokenizer.decode(ids[:count], skip_special_tokens=True))
            results.append((text, count, reason))
        return results

    def close(self) -> None:
        model = getattr(self, "model", None)
        if model is not None:
            self.model = None
            if self.device.type == "cuda":
                import torch

                torch.cuda.empty_cache()
