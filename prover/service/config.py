"""`ServeConfig`: every knob of `prover serve` (the command's options are made from its fields)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class ServeConfig:
    host: str = field(
        default="127.0.0.1",
        metadata={"help": "bind address; any non-local one needs --api-key (or $PROVER_API_KEY)"},
    )
    port: int = field(default=8000, metadata={"help": "TCP port"})
    workers: int = field(default=1, metadata={"help": "Lean checker processes (about 1 per core)"})
    backend: str = field(
        default="auto",
        metadata={
            "help": "Lean backend of the checker processes",
            "choices": ("auto", "embedded", "native"),
        },
    )
    api_key: str | None = field(
        default=None,
        metadata={
            "help": "require `Authorization: Bearer KEY` (or `X-API-Key: KEY`) on every request "
            "but GET /health (default: $PROVER_API_KEY)"
        },
    )
    max_queue: int = field(
        default=64,
        metadata={
            "help": "items that may wait for a free Lean process; a request that would exceed it "
            "gets 429 with Retry-After (never an unbounded backlog)"
        },
    )
    max_items: int = field(
        default=64, metadata={"help": "items (proofs/snippets) per request; more: 413"}
    )
    max_body_bytes: int = field(
        default=4 << 20, metadata={"help": "request body size limit in bytes; larger: 413"}
    )
    timeout_s: float = field(
        default=60.0,
        metadata={
            "help": "per-item wall-clock limit (verdict `timeout`, limit `wall_clock`; the "
            "process is killed and a warm spare takes the next item)"
        },
    )
    heartbeats: int = field(
        default=200_000,
        metadata={"help": "Lean's maxHeartbeats per item (verdict `timeout`, limit `heartbeats`)"},
    )
    spare_processes: int = field(
        default=1,
        metadata={
            "help": "warm Lean processes beside the --workers ones: one takes the next item at "
            "once when a process is killed at its limit (each ~3 GB resident, embedded)"
        },
    )
    request_timeout_s: float = field(
        default=600.0,
        metadata={
            "help": "per-request limit: items not done by then are cancelled and it gets 504"
        },
    )
    graceful_s: float = field(
        default=120.0,
        metadata={
            "help": "on SIGTERM/SIGINT: stop accepting, answer what is running (items not started "
            "come back as verdict `error`, reason 'server shutting down'), wait at most this long"
        },
    )
    screen: bool = field(
        default=False,
        metadata={
            "help": "run the Python text screen before Lean (off by default: Lean decides every "
            "item and gives each refusal its category; the screen refuses obvious attacks "
            "early, with reasons of its own and no category)"
        },
    )
    retry_after_s: int = field(
        default=2, metadata={"help": "the Retry-After seconds sent with 429/503"}
    )

    def __post_init__(self) -> None:
        if self.api_key is None and os.environ.get("PROVER_API_KEY"):
            object.__setattr__(self, "api_key", os.environ["PROVER_API_KEY"])
        if self.host not in LOCAL_HOSTS and not self.api_key:
            raise ValueError(
                f"host {self.host!r} is not a local address: give --api-key (or set "
                "PROVER_API_KEY) so that only your clients can use the Lean processes"
            )
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.backend not in ("auto", "embedded", "native"):
            raise ValueError(f"backend must be auto, embedded or native, got {self.backend!r}")
        for name in ("workers", "max_items", "max_body_bytes", "retry_after_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.spare_processes < 0:
            raise ValueError(f"spare_processes must be >= 0, got {self.spare_processes}")
        if self.heartbeats < 1000:
            raise ValueError(
                f"heartbeats must be >= 1000 (Lean's default: 200000), got {self.heartbeats}"
            )
        if self.max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, got {self.max_queue}")
        for name in ("timeout_s", "request_timeout_s", "graceful_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
