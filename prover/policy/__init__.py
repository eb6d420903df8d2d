"""Policies: a ProofTask in, candidate proof continuations out.

`load_policy(spec, **kwargs)` builds one from a spec string; backends are imported lazily:

    automation              prover.policy.automation.AutomationPolicy(**kwargs)
    hf:PATH_OR_ID           prover.policy.hf.HFPolicy(PATH_OR_ID, **kwargs)
    vllm:PATH_OR_ID         prover.policy.vllm_backend.VLLMPolicy(PATH_OR_ID, **kwargs)
    openai:BASE_URL#MODEL   prover.policy.openai_backend.OpenAIPolicy(BASE_URL, MODEL, **kwargs)
    replay:FILE.jsonl       prover.policy.replay.ReplayPolicy(FILE, **kwargs)  (recorded answers)
"""

from __future__ import annotations

from typing import Any

from prover.errors import UsageError
from prover.policy.base import Completion, Policy, ProofTask, Sampling, SamplingParams

__all__ = [
    "POLICY_KINDS",
    "Completion",
    "Policy",
    "ProofTask",
    "Sampling",
    "SamplingParams",
    "config_class",
    "load_policy",
    "parse_spec",
]

SPEC_HELP = (
    "use automation, hf:PATH_OR_ID, vllm:PATH_OR_ID, openai:BASE_URL#MODEL or replay:FILE.jsonl"
)


def parse_spec(spec: str) -> tuple[str, tuple[str, ...]]:
    """(kind, positional args) of a policy spec; UsageError if malformed."""
    spec = spec.strip()
    if spec == "automation":
        return "automation", ()
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in ("hf", "vllm", "openai", "replay"):
        raise UsageError(f"unknown policy spec {spec!r}; {SPEC_HELP}")
    if not rest.strip():
        raise UsageError(f"policy spec {spec!r} names no model; {SPEC_HELP}")
    if kind in ("hf", "vllm", "replay"):
        return kind, (rest,)
    url, sep, model = rest.rpartition("#")
    if not sep or not url or not model:
        raise UsageError(
            f"policy spec {spec!r}: openai specs need a base URL and a model name separated by "
            "'#', e.g. openai:http://127.0.0.1:8000/v1#deepseek-ai/DeepSeek-Prover-V1.5-RL"
        )
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"policy spec {spec!r}: the base URL must start with http:// or https://")
    return kind, (url, model)


POLICY_KINDS = ("automation", "hf", "vllm", "openai", "replay")


def config_class(kind: str) -> type:
    """The config dataclass of a policy kind (its constructor's keyword arguments are its
    fields; the spec gives the fields without a default, e.g. `model`)."""
    if kind == "automation":
        from prover.policy.automation import AutomationConfig

        return AutomationConfig
    if kind == "hf":
        from prover.policy.hf import HFConfig

        return HFConfig
    if kind == "vllm":
        from prover.policy.vllm_backend import VLLMConfig

        return VLLMConfig
    if kind == "openai":
        from prover.policy.openai_backend import OpenAIConfig

        return OpenAIConfig
    if kind == "replay":
        from prover.policy.replay import ReplayConfig

        return ReplayConfig
    raise ValueError(f"unknown policy kind {kind!r}; choose one of {', '.join(POLICY_KINDS)}")


def load_policy(spec: str, lean_backend: str | None = None, **kwargs: Any) -> Policy:
    """Build the policy named by `spec`; keyword arguments go to the backend's constructor.
    `lean_backend` ("embedded"/"native") lets `automation` add Mathlib tactics on native."""
    kind, args = parse_spec(spec)
    if kind == "automation":
        from prover.policy.automation import AutomationPolicy

        if lean_backend is not None and kwargs.get("mathlib") is None:
            kwargs["mathlib"] = lean_backend == "native"
        return AutomationPolicy(**kwargs)  # type: ignore[no-any-return]
    if kind == "hf":
        from prover.policy.hf import HFPolicy

        return HFPolicy(*args, **kwargs)
    if kind == "vllm":
        from prover.policy.vllm_backend import VLLMPolicy

        return VLLMPolicy(*args, **kwargs)
    if kind == "replay":
        from prover.policy.replay import ReplayPolicy

        return ReplayPolicy(*args, **kwargs)
    from prover.policy.openai_backend import OpenAIPolicy

    return OpenAIPolicy(*args, **kwargs)
