"""OpenAIPolicy: any OpenAI-compatible /v1/completions endpoint (`vllm serve`, hosted APIs, or
`python -m prover.policy.server`).

One request per task asks for `n` samples.  Requests run concurrently (a thread pool of
`max_concurrency`), optionally rate-limited (`requests_per_second`), each with a timeout; 429,
5xx, timeouts and connection errors are retried with exponential backoff (honouring
Retry-After), other errors fail at once.  V2 prompts go to /v1/chat/completions.  Each request
carries its task's seed (`task_seeds`), so identical prompts in one call sample differently.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from prover.policy.base import Completion, ProofTask, SamplingParams, task_seeds
from prover.policy.hf import as_prompt_config
from prover.policy.prompts import BuiltPrompt, PromptBuilder, PromptConfig

if TYPE_CHECKING:
    import httpx


class OpenAIRequestError(RuntimeError):
    """A completion request failed for good (after retries, or with a non-retryable status)."""


@dataclass(frozen=True)
class OpenAIConfig:
    """OpenAIPolicy's knobs (its constructor's keyword arguments).  Each field's metadata `help`
    is its command-line help (`prover.commands.options`: `--openai-timeout`, ...); the API key
    comes from $OPENAI_API_KEY, never from a flag."""

    base_url: str = field(metadata={"help": "server URL", "cli": False})  # the spec's
    model: str = field(metadata={"help": "model name", "cli": False})  # the spec's
    prompt: PromptConfig = field(metadata={"help": "prompt format"})
    timeout: float = field(default=120.0, metadata={"help": "seconds per request"})
    max_retries: int = field(
        default=5, metadata={"help": "retries after a failed attempt (429, 5xx, timeouts)"}
    )
    backoff_base: float = field(
        default=0.5, metadata={"help": "seconds before the first retry; doubles per retry"}
    )
    backoff_max: float = field(default=30.0, metadata={"help": "longest wait between retries"})
    max_concurrency: int = field(default=8, metadata={"help": "requests in flight at once"})
    requests_per_second: float | None = field(
        default=None, metadata={"help": "rate limit on request starts (default: none)"}
    )
    max_context_tokens: int | None = field(
        default=None,
        metadata={
            "help": "check prompt lengths locally (needs a count_tokens function, so not a "
            "flag: the server rejects prompts that are too long)",
            "cli": False,
        },
    )

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"OpenAIPolicy base_url must start with http:// or https://, got "
                f"{self.base_url!r} (e.g. http://127.0.0.1:8000/v1)"
            )
        if not self.model:
            raise ValueError("OpenAIPolicy needs a model name: openai:BASE_URL#MODEL")
        if self.timeout <= 0:
            raise ValueError(f"OpenAIPolicy timeout must be > 0 seconds, got {self.timeout}")
        if self.max_retries < 0:
            raise ValueError(f"OpenAIPolicy max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("OpenAIPolicy backoff_base and backoff_max must be >= 0")
        if self.max_concurrency < 1:
            raise ValueError(
                f"OpenAIPolicy max_concurrency must be >= 1, got {self.max_concurrency}"
            )
        if self.requests_per_second is not None and self.requests_per_second <= 0:
            raise ValueError(
                "OpenAIPolicy requests_per_second must be > 0 (or None for no limit), got "
                f"{self.requests_per_second}"
            )


class _RateLimiter:
    """At most `rate` request starts per second (evenly spaced).  `clock` and `sleep` default to
    `time.monotonic` / `time.sleep` (tests pass fakes)."""

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 0.0 if not rate else 1.0 / rate
        self.next_at = 0.0
        self.lock = threading.Lock()
        self.clock = clock
        self.sleep = sleep

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = self.clock()
            start = max(now, self.next_at)
            self.next_at = start + self.interval
        if start > now:
            self.sleep(start - now)


def completion_body(
    model: str, prompt: str, params: SamplingParams, stop: Sequence[str]
) -> dict[str, Any]:
    """The JSON body of a /v1/completions request."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "n": params.n,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_new_tokens,
    }
    if params.seed is not None:
        body["seed"] = params.seed
    if stop:
        body["stop"] = list(stop)
    return body


class OpenAIPolicy:
    """A Policy that calls an OpenAI-compatible completions endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        prompt: PromptConfig | Mapping[str, Any] | None = None,
        api_key: str | None = None,
        count_tokens: Callable[[str], int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **options: Any,
    ) -> None:
        """`options` are `OpenAIConfig` fields (timeout, max_retries, max_concurrency, ...)."""
        self.sleep = sleep  # waits between retries and for the rate limit (tests pass a fake)
        self.config = OpenAIConfig(
            base_url=base_url.rstrip("/"), model=model, prompt=as_prompt_config(prompt), **options
        )
        if (self.config.max_context_tokens is None) != (count_tokens is None):
            raise ValueError(
                "OpenAIPolicy: pass both max_context_tokens and count_tokens to check prompt "
                "length locally, or neither (the server then rejects prompts that are too long)"
            )
        self.count_tokens = count_tokens
        self.spec = f"openai:{self.config.base_url}#{self.config.model}"
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        import httpx  # here, not at import: `prover --help` imports this module's config

        self._client: httpx.Client = httpx.Client(
            headers=headers,
            timeout=self.config.timeout,
            limits=httpx.Limits(max_connections=self.config.max_concurrency),
        )
        self._limiter = _RateLimiter(self.config.requests_per_second, sleep=sleep)
        self.prompts = PromptBuilder(self.config.prompt)
        self._chat = self.config.prompt.mode == "v2"
        if self._chat:
            # The server applies the model's chat template to the user message.
            self.prompts = PromptBuilder(self.config.prompt, chat_template=lambda m: m)

    # ---------------------------------------------------------------------------- HTTP

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        delay = min(self.config.backoff_max, self.config.backoff_base * 2**attempt)
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = max(delay, min(self.config.backoff_max, float(retry_after)))
        return delay

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON with retries; returns the decoded response."""
        url = self.config.base_url + path
        attempts = self.config.max_retries + 1
        last = ""
        import httpx

        for attempt in range(attempts):
            self._limiter.wait()
            retry_after = None
            try:
                resp = self._client.post(url, json=body)
            except httpx.TimeoutException:
                last = f"timed out after {self.config.timeout:g}s"
            except httpx.TransportError as e:
                last = f"connection error: {type(e).__name__}: {e}"
            else:
                if resp.status_code == 200:
                    try:
                        data: dict[str, Any] = resp.json()
                    except ValueError:
                        raise OpenAIRequestError(
                            f"POST {url}: response is not JSON: {resp.text[:200]!r}"
                        ) from None
                    return data
                last = f"HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code != 429 and resp.status_code < 500:
                    raise OpenAIRequestError(f"POST {url} failed with {last}")
                retry_after = resp.headers.get("retry-after")
            if attempt + 1 < attempts:
                self.sleep(self._backoff(attempt, retry_after))
        raise OpenAIRequestError(
            f"POST {url} failed after {attempts} attempt(s); last error: {last}"
        )

    # ---------------------------------------------------------------------------- Policy

    def _one(self, task: ProofTask, built: BuiltPrompt, params: SamplingParams) -> list[Completion]:
        stop = self.prompts.config.stop
        body = completion_body(self.config.model, built.text, params, stop)
        if self._chat:
            del body["prompt"]
            body["messages"] = list(built.messages) or [{"role": "user", "content": built.text}]
            data = self.post("/chat/completions", body)
            texts = [(c.get("message") or {}).get("content") or "" for c in data.get("choices", [])]
        else:
            data = self.post("/completions", body)
            texts = [c.get("text") or "" for c in data.get("choices", [])]
        choices = data.get("choices", [])
        usage = data.get("usage") or {}
        total = int(usage.get("completion_tokens") or 0)
        return [
            Completion(
                text=self.prompts.postprocess(text, task, built),
                raw=text,
                answers=self.prompts.answers(text, task),
                prompt=built.text,
                num_tokens=total if len(texts) == 1 else 0,
                meta={
                    "backend": "openai",
                    "stop": c.get("finish_reason"),
                    "completion_tokens_all_samples": total,
                    "seed": params.seed,
                    "few_shot": list(built.few_shot_names),
                    "prompt_mode": built.mode,
                },
            )
            for text, c in zip(texts, choices, strict=True)
        ]

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        if self.count_tokens is not None and self.config.max_context_tokens is not None:
            built, _ = self.prompts.build_checked(
                tasks, params, self.count_tokens, self.config.max_context_tokens
            )
        else:
            built = [self.prompts.build(t, params.seed) for t in tasks]
        jobs = [
            (t, b, replace(params, seed=s))
            for t, b, s in zip(tasks, built, task_seeds(tasks, params), strict=True)
        ]
        if len(jobs) <= 1 or self.config.max_concurrency == 1:
            return [self._one(*job) for job in jobs]
        with ThreadPoolExecutor(max_workers=min(self.config.max_concurrency, len(jobs))) as ex:
            futures = [ex.submit(self._one, *job) for job in jobs]
            return [f.result() for f in futures]

    def close(self) -> None:
        self._client.close()
