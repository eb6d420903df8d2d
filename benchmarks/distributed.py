"""Ray: eval and collect across machines (`prover eval ... --ray [ADDRESS]`, `prover collect ...
--ray [ADDRESS]`; the `ray` extra).  Ray is imported only here, inside functions, so nothing
imports it without `--ray`.

What runs where:

- **driver** (the `prover eval` / `prover collect` process): connects to the cluster
  (`RaySession`), starts the checker actors (and a vLLM policy actor for a `vllm:` spec), submits
  one Ray task per problem (eval) or per batch of problems (collect), consumes the results as
  they finish (`ray.wait`) and alone writes the run's files (`results.jsonl`, `records.jsonl`), so
  resume, the run-config check and the re-verification of every solved proof (here, through a
  checker actor, from scratch) are the same code as without Ray.
- **checker actors** (`_CheckerActor`): each holds `RayConfig.checker_cpus` warm Lean processes
  (`prover.lean.make_checker(backend, cache=False, workers=...)`), reserves that many CPUs and
  never a GPU, spread over the nodes (`SPREAD`); `check(requests)` answers a batch.
- **tasks** (`_call`): run the search / the sampling of their problems with the policy the spec
  names (built once per worker process and reused; a `vllm:` spec gets `ActorPolicy`, which
  calls the policy actor holding the engine on GPUs) and `ActorChecker`, the `Checker` that
  calls a checker actor, under a per-task result cache (`uncached()` strips it, so a search's
  own final re-check still reaches Lean).

Faults: a task whose worker process dies is retried by Ray (`max_retries`), and so is one whose
checker actor died (`LeanInfraError`; the actor is restarted, `max_restarts`); the driver writes
a problem's line only when its task's result arrives, once.  A killed driver loses only the
problems in flight: the next run resumes from its files.
"""

from __future__ import annotations

import functools
import json
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prover.errors import UsageError
from prover.lean.types import Checker, CheckRequest, CheckResult, LeanInfraError
from prover.policy.base import Completion, Policy, ProofTask, SamplingParams


@dataclass(frozen=True)
class RayConfig:
    """How a run uses a Ray cluster (`--ray [ADDRESS]` and the `--ray-*` options)."""

    address: str = field(
        default="",
        metadata={
            "help": "the cluster: HOST:6379 of a `ray start --head`, `auto`, or empty: a cluster "
            "started on this machine by `ray start`, else a new local one",
            "cli": False,
        },
    )
    checkers: int = field(
        default=0,
        metadata={"help": "checker actors (0: one per --ray-checker-cpus CPUs of the cluster)"},
    )
    checker_cpus: int = field(
        default=4,
        metadata={"help": "CPUs of one checker actor = its warm Lean processes"},
    )
    task_cpus: float = field(
        default=1.0, metadata={"help": "CPUs reserved by one problem task (search + policy)"}
    )
    max_retries: int = field(
        default=3,
        metadata={"help": "retries of a task whose worker died (and restarts of a checker actor)"},
    )
    policy_gpus: int = field(
        default=0,
        metadata={"help": "GPUs of the vLLM policy actor (0: its --vllm-tensor-parallel-size)"},
    )
    in_flight: int = field(
        default=0,
        metadata={"help": "tasks submitted at a time (0: 2 x the cluster's CPUs)"},
    )

    def __post_init__(self) -> None:
        if self.checkers < 0:
            raise ValueError(f"RayConfig.checkers must be >= 0, got {self.checkers}")
        if self.checker_cpus < 1:
            raise ValueError(f"RayConfig.checker_cpus must be >= 1, got {self.checker_cpus}")
        if not self.task_cpus > 0:
            raise ValueError(f"RayConfig.task_cpus must be > 0, got {self.task_cpus}")
        if self.max_retries < 0:
            raise ValueError(f"RayConfig.max_retries must be >= 0, got {self.max_retries}")
        if self.policy_gpus < 0:
            raise ValueError(f"RayConfig.policy_gpus must be >= 0, got {self.policy_gpus}")
        if self.in_flight < 0:
            raise ValueError(f"RayConfig.in_flight must be >= 0, got {self.in_flight}")


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install -e '.[ray]'") from None
    return ray


# ----------------------------------------------------------------------------- checker actors


def make_bare_checker(backend: str, options: Mapping[str, Any]) -> Checker:
    """What a checker actor holds: Lean processes, no result cache (the tasks cache)."""
    import prover.lean

    return prover.lean.make_checker(backend, cache=False, **dict(options))


class _CheckerActor:
    """A Ray actor (made remote in `RaySession`) holding one checker's warm Lean processes."""

    def __init__(self, factory: Callable[[], Checker]) -> None:
        self.checker = factory()

    def info(self) -> dict[str, Any]:
        from benchmarks.budget import checker_versions
        from prover.lean.wrappers import toolchain_version

        ready = getattr(self.checker, "wait_ready", None)
        if callable(ready):  # the Lean processes are up before the driver submits a task
            ready()

        return {
            "name": self.checker.name,
            "lean_version": str(getattr(self.checker, "lean_version", "") or ""),
            "identity": toolchain_version(self.checker),
            "versions": checker_versions(self.checker),
            "pid": __import__("os").getpid(),
        }

    def check(self, requests: list[CheckRequest]) -> list[CheckResult]:
        return self.checker.check(requests)

    def close(self) -> None:
        self.checker.close()


class ActorChecker:
    """The `Checker` a task (or the driver) uses: each batch goes to one of the checker actors.
    A dead actor is an infrastructure failure (`LeanInfraError`), so the task is retried."""

    def __init__(self, actors: Sequence[Any], info: Mapping[str, Any]) -> None:
        if not actors:
            raise ValueError("ActorChecker needs at least one checker actor")
        self.actors = list(actors)
        self.name: str = str(info["name"])
        self.lean_version: str = str(info.get("lean_version", ""))
        self._identity = str(info.get("identity", ""))

    def identity(self) -> str:
        return self._identity

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        if not requests:
            return []
        ray = _ray()
        actor = random.choice(self.actors)
        try:
            out: list[CheckResult] = ray.get(actor.check.remote(list(requests)))
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
            raise LeanInfraError(f"a Ray checker actor is gone: {exc}") from exc
        return out

    def close(self) -> None:
        pass  # the session owns the actors


# ----------------------------------------------------------------------------- policy


class _PolicyActor:
    """A Ray actor holding a policy that needs GPUs (a vLLM engine), shared by all tasks."""

    def __init__(self, spec: str, lean_backend: str | None, options: Mapping[str, Any]) -> None:
        from prover.policy import load_policy

        self.policy = load_policy(spec, lean_backend=lean_backend, **dict(options))

    def generate(self, tasks: list[ProofTask], params: SamplingParams) -> list[list[Completion]]:
        return self.policy.generate(tasks, params)

    def count_tokens(self, text: str) -> int:
        count = getattr(self.policy, "count_tokens", None)
        return int(count(text)) if callable(count) else 0

    def close(self) -> None:
        self.policy.close()


class ActorPolicy:
    """The `Policy` a task uses for a policy actor.  `count_tokens` answers a prompt it has seen
    from the completions' `prompt_tokens` (vLLM reports it) before asking the actor."""

    def __init__(self, actor: Any, spec: str) -> None:
        self.actor = actor
        self.spec = spec
        self._prompt_tokens: dict[str, int] = {}

    def generate(
        self, tasks: Sequence[ProofTask], params: SamplingParams
    ) -> list[list[Completion]]:
        out: list[list[Completion]] = _ray().get(self.actor.generate.remote(list(tasks), params))
        for comps in out:
            for c in comps:
                n = c.meta.get("prompt_tokens") if isinstance(c.meta, dict) else None
                if c.prompt and isinstance(n, int):
                    self._prompt_tokens[c.prompt] = n
        return out

    def count_tokens(self, text: str) -> int:
        if text in self._prompt_tokens:
            return self._prompt_tokens[text]
        return int(_ray().get(self.actor.count_tokens.remote(text)))

    def close(self) -> None:
        pass  # the session owns the actor


_POLICIES: dict[str, Policy] = {}  # per worker process: a policy is built once, then reused
_POLICIES_LOCK = threading.Lock()


@dataclass(frozen=True)
class PolicySource:
    """How a task gets its policy: a picklable policy object as is (tests), the policy actor
    (`vllm:`), or built from the spec once per worker process (automation, hf:, openai:, ...)."""

    spec: str
    lean_backend: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    policy: Any = None
    actor: Any = None

    def get(self) -> Policy:
        if self.policy is not None:
            return self.policy  # type: ignore[no-any-return]
        if self.actor is not None:
            return ActorPolicy(self.actor, self.spec)
        key = json.dumps([self.spec, self.lean_backend, self.options], sort_keys=True, default=str)
        with _POLICIES_LOCK:
            if key not in _POLICIES:
                from prover.policy import load_policy

                _POLICIES[key] = load_policy(
                    self.spec, lean_backend=self.lean_backend, **dict(self.options)
                )
            return _POLICIES[key]


def policy_actor_options(spec: str, options: Mapping[str, Any], config: RayConfig) -> dict:
    """The Ray options of the policy actor of a `vllm:` spec: GPUs = `policy_gpus`, else the
    engine's tensor-parallel size; restarted like the checker actors."""
    gpus = config.policy_gpus or int(options.get("tensor_parallel_size", 1))
    return {
        "num_gpus": gpus,
        "num_cpus": 1,
        "max_restarts": config.max_retries,
        "max_task_retries": config.max_retries,
        "max_concurrency": 4,
    }


def needs_policy_actor(spec: str) -> bool:
    from prover.policy import parse_spec

    return parse_spec(spec)[0] == "vllm"


# ----------------------------------------------------------------------------- tasks


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """The one Ray task: `fn(*args)` on a worker (`fn` a module-level function)."""
    return fn(*args)


_REMOTE: dict[str, Any] = {}
# (job id, actor name) -> handle of the checker actors this process started: a later session of
# the same Ray job (tests, a library caller's own `ray.init`) reuses their warm Lean processes
_LIVE: dict[tuple[str, str], Any] = {}


class RaySession:
    """A run's use of the cluster, as a context manager: connect (or use the caller's
    `ray.init`), start the checker actors, run tasks (`map_unordered`), and at the end cancel
    what is left, kill the actors it started and disconnect if it connected.

    `checker_factory`: what each checker actor holds (default: `make_bare_checker(backend,
    checker_options)`); a picklable callable.  Actors are named by `key`, so a session inside
    the same Ray job (tests) reuses running ones instead of starting Lean again."""

    def __init__(
        self,
        config: RayConfig,
        *,
        backend: str = "auto",
        checker_options: Mapping[str, Any] | None = None,
        checker_factory: Callable[[], Checker] | None = None,
        key: str = "",
    ) -> None:
        self.config = config
        self.backend = backend
        self.checker_options = dict(checker_options or {})
        self.factory = checker_factory or functools.partial(
            make_bare_checker, backend, self.checker_options
        )
        self.key = key or f"{backend}:{json.dumps(self.checker_options, sort_keys=True)}"
        self.ray: Any = None
        self.connected = False
        self.actors: list[Any] = []
        self.info: dict[str, Any] = {}
        self.policy_actors: list[Any] = []
        self._pending: list[Any] = []

    # -- set-up
    def __enter__(self) -> RaySession:
        ray = self.ray = _ray()
        if not ray.is_initialized():
            import logging

            ray.init(
                address=self.config.address or None,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
            self.connected = True
        try:
            self._start_checkers()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _cluster_cpus(self) -> int:
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def _start_checkers(self) -> None:
        ray, cfg = self.ray, self.config
        cpus_total = self._cluster_cpus()
        # an actor never takes the CPUs a task needs: on a 2-CPU machine, one 1-CPU actor
        cpus = max(1, min(cfg.checker_cpus, cpus_total - int(cfg.task_cpus + 0.999)))
        n = cfg.checkers or max(1, (cpus_total - int(cfg.task_cpus + 0.999)) // cpus)
        opts = dict(self.checker_options)
        factory = self.factory
        if isinstance(factory, functools.partial) and factory.func is make_bare_checker:
            opts.setdefault("workers", cpus)
            # a spare would start (and hold ~3 GB) outside the CPUs and memory Ray reserved
            # for the actor; the actors are the cluster's pool
            opts.setdefault("spare_processes", 0)
            factory = functools.partial(make_bare_checker, self.backend, opts)
        remote = ray.remote(_CheckerActor)
        job = ray.get_runtime_context().get_job_id()
        self.actors = []
        for i in range(n):
            name = f"prover-checker:{self.key}:{cpus}:{i}"
            if (job, name) not in _LIVE:  # this process keeps the handle: the actor lives on
                _LIVE[(job, name)] = remote.options(
                    name=name,
                    get_if_exists=True,
                    num_cpus=cpus,
                    num_gpus=0,
                    max_restarts=cfg.max_retries,
                    max_task_retries=cfg.max_retries,
                    max_concurrency=2 * cpus + 2,
                    scheduling_strategy="SPREAD",
                ).remote(factory)
            self.actors.append(_LIVE[(job, name)])
        infos = ray.get([a.info.remote() for a in self.actors])  # waits for Lean to start
        self.info = infos[0]

    def checker(self) -> ActorChecker:
        """A `Checker` over the actors, with no cache: the driver's re-verification."""
        return ActorChecker(self.actors, self.info)

    def versions(self) -> dict[str, str]:
        return dict(self.info.get("versions") or {})

    def policy_source(
        self,
        spec: str,
        options: Mapping[str, Any],
        lean_backend: str | None = None,
        policy: Any = None,
    ) -> PolicySource:
        """How tasks get the policy; a `vllm:` spec starts the policy actor (on GPUs)."""
        options = dict(options)
        if policy is None and needs_policy_actor(spec):
            remote = self.ray.remote(_PolicyActor)
            actor = remote.options(**policy_actor_options(spec, options, self.config)).remote(
                spec, lean_backend, options
            )
            self.policy_actors.append(actor)
            return PolicySource(spec, lean_backend, options, actor=actor)
        return PolicySource(spec, lean_backend, options, policy=policy)

    # -- tasks
    def map_unordered(
        self, fn: Callable[..., Any], items: Iterable[Any], *args: Any
    ) -> Iterator[tuple[Any, Any]]:
        """`(item, fn(item, *args))` for every item, each a Ray task, in the order they finish;
        at most `in_flight` submitted at a time.  A task that still fails after its retries
        raises here (the caller's files keep what was written)."""
        ray, cfg = self.ray, self.config
        if "call" not in _REMOTE:
            _REMOTE["call"] = ray.remote(_call)
        call = _REMOTE["call"].options(
            num_cpus=cfg.task_cpus,
            max_retries=cfg.max_retries,
            retry_exceptions=[LeanInfraError],
        )
        limit = cfg.in_flight or 2 * self._cluster_cpus()
        shared = [ray.put(a) for a in args]  # shipped once, not once per task
        todo = iter(items)
        where: dict[Any, Any] = {}
        while True:
            while len(where) < limit:
                item = next(todo, _END)
                if item is _END:
                    break
                where[call.remote(fn, item, *shared)] = item
            if not where:
                return
            self._pending = list(where)
            done, _ = ray.wait(list(where), num_returns=1)
            for ref in done:
                item = where.pop(ref)
                yield item, ray.get(ref)

    # -- tear-down
    def __exit__(self, *exc: object) -> None:
        ray = self.ray
        if ray is None or not ray.is_initialized():
            return
        for ref in self._pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:
                pass
        for actor in self.policy_actors:
            ray.kill(actor)
        if self.connected:
            for k in [k for k, v in _LIVE.items() if any(v is a for a in self.actors)]:
                del _LIVE[k]
            for actor in self.actors:
                try:
                    ray.get(actor.close.remote(), timeout=30)
                except Exception:
                    pass
                ray.kill(actor)
            ray.shutdown()


_END = object()


@dataclass(frozen=True)
class TaskEnv:
    """What every task of a run gets (put in the object store once): the checker actors and the
    policy source.  `checker()` and `policy()` are called on the worker."""

    actors: Sequence[Any]
    info: Mapping[str, Any]
    policy_source: PolicySource

    def checker(self) -> Checker:
        from prover.lean.wrappers import CachedChecker

        return CachedChecker(
            ActorChecker(self.actors, self.info), version=str(self.info.get("identity", ""))
        )

    def policy(self) -> Policy:
        return self.policy_source.get()


def task_env(session: RaySession, policy_source: PolicySource) -> TaskEnv:
    return TaskEnv(list(session.actors), dict(session.info), policy_source)


def as_config(address: str | None, **options: Any) -> RayConfig:
    """A RayConfig from `--ray [ADDRESS]` and the `--ray-*` values; UsageError for bad ones."""
    try:
        return RayConfig(address=address or "", **options)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--ray: {exc}") from None


__all__ = [
    "ActorChecker",
    "ActorPolicy",
    "PolicySource",
    "RayConfig",
    "RaySession",
    "TaskEnv",
    "as_config",
    "task_env",
]
