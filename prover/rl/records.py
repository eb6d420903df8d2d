"""Feedback records: one row per Lean verification of a sampled proof.

`records.jsonl` (one JSON object per line, append-only) has the columns of `FeedbackRecord`:

    problem_id        str    benchmark problem name (or the request id)
    header            str|None  Lean header the proof was checked under (None: backend default)
    formal_statement  str    theorem up to and including `:= by`
    prompt            str    exact prompt text given to the policy ("" if unknown)
    completion        str    raw policy output (cut at the code fence)
    proof             str    the text checked after the statement
    policy            str    policy spec, e.g. "hf:/path/to/model"
    sampling          dict   {n, temperature, top_p, max_new_tokens, seed} (values may be null)
    sample_index      int    index of the sample for this problem (-1 if not applicable)
    source            str    who verified it: "collect", "prove", "eval", "reward", ...
    verdict           str    proved | failed | incomplete | rejected | timeout | error
    reward            float  1.0 iff verdict == "proved" (default axiom policy), else 0.0
    messages          list   Lean messages {severity, line, column, end_line, end_column, text}
    first_error       dict|None  the first error message (same shape), if any
    verified_prefix   str    longest error-free prefix of the proof (cut at a step boundary)
    steps             list|None  tactic steps {text, start, end, goals_before, goals_after}
                             along the proof, when the request asked for them
    initial_goals     str    goal state before the first tactic (when steps were requested)
    reason            str|None  why rejected / timeout / error
    time_s            float  verification time
    backend           str    checker backend ("embedded" / "native")
    lean_version      str    Lean version reported by the backend ("" if unknown)
    timestamp         float  Unix time the record was written

`FeedbackWriter` appends records crash-safely (flush + fsync per batch; a torn last line left by
kill -9 is cut off when the file is reopened) and deduplicates by (formal_statement, proof) across
restarts.  `RecordingChecker` wraps any Checker so every verification is recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from prover.lean.types import Checker, CheckRequest, CheckResult, Verdict

RECORDS_FILE = "records.jsonl"
SAMPLING_KEYS = ("n", "temperature", "top_p", "max_new_tokens", "seed")
_VERDICTS = {v.value for v in Verdict}


def normalize_sampling(sampling: Any) -> dict[str, Any]:
    """A dict with exactly SAMPLING_KEYS (so every row has the same schema)."""
    if sampling is None:
        src: Mapping[str, Any] = {}
    elif isinstance(sampling, Mapping):
        src = sampling
    else:  # SamplingParams or any object with those attributes
        src = {k: getattr(sampling, k, None) for k in SAMPLING_KEYS}
    out: dict[str, Any] = {}
    for k in SAMPLING_KEYS:
        v = src.get(k)
        out[k] = None if v is None else (float(v) if k in ("temperature", "top_p") else int(v))
    return out


def dedup_key(formal_statement: str, proof: str) -> str:
    payload = json.dumps([formal_statement, proof], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class FeedbackRecord:
    problem_id: str
    formal_statement: str
    proof: str
    verdict: str
    header: str | None = None
    prompt: str = ""
    completion: str = ""
    policy: str = ""
    sampling: dict[str, Any] = field(default_factory=dict)
    sample_index: int = -1
    source: str = ""
    reward: float = 0.0
    messages: list[dict[str, Any]] = field(default_factory=list)
    first_error: dict[str, Any] | None = None
    verified_prefix: str = ""
    steps: list[dict[str, Any]] | None = None
    initial_goals: str = ""
    reason: str | None = None
    time_s: float = 0.0
    backend: str = ""
    lean_version: str = ""
    timestamp: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.verdict, Verdict):
            self.verdict = self.verdict.value
        if self.verdict not in _VERDICTS:
            raise ValueError(
                f"FeedbackRecord.verdict must be one of {sorted(_VERDICTS)}, got {self.verdict!r}"
            )
        for name in ("problem_id", "formal_statement", "proof", "prompt", "completion"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"FeedbackRecord.{name} must be a string")
        if self.header is not None and not isinstance(self.header, str):
            raise TypeError("FeedbackRecord.header must be a string or None")
        self.sampling = normalize_sampling(self.sampling)
        self.reward = 1.0 if self.verdict == Verdict.PROVED.value else 0.0
        if not self.timestamp:
            self.timestamp = time.time()

    @property
    def key(self) -> str:
        return dedup_key(self.formal_statement, self.proof)

    @property
    def proved(self) -> bool:
        return self.verdict == Verdict.PROVED.value

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> FeedbackRecord:
        names = {f.name for f in fields(FeedbackRecord)}
        return FeedbackRecord(**{k: v for k, v in d.items() if k in names})

    @staticmethod
    def from_check(
        request: CheckRequest,
        result: CheckResult,
        context: RequestContext | None = None,
    ) -> FeedbackRecord:
        ctx = context or RequestContext()
        return FeedbackRecord(
            problem_id=ctx.problem_id or request.id,
            header=request.header,
            formal_statement=request.formal_statement,
            prompt=ctx.prompt,
            completion=ctx.completion if ctx.completion is not None else request.proof,
            proof=request.proof,
            policy=ctx.policy,
            sampling=normalize_sampling(ctx.sampling),
            sample_index=ctx.sample_index,
            source=ctx.source,
            verdict=result.verdict.value,
            messages=[m.to_json() for m in result.messages],
            first_error=result.first_error.to_json() if result.first_error else None,
            verified_prefix=result.verified_prefix,
            steps=[s.to_json() for s in result.steps] if result.steps is not None else None,
            initial_goals=result.initial_goals,
            reason=result.reason,
            time_s=round(float(result.time_s), 4),
            backend=result.backend,
            lean_version=result.lean_version,
        )


@dataclass(frozen=True)
class RequestContext:
    """What the checker does not know about a request: where the proof came from."""

    problem_id: str = ""
    prompt: str = ""
    completion: str | None = None  # None: the proof itself
    policy: str = ""
    sampling: Any = None  # SamplingParams, a mapping, or None
    sample_index: int = -1
    source: str = ""

    def __post_init__(self) -> None:
        if self.sample_index < -1:
            raise ValueError(f"RequestContext.sample_index must be >= -1, got {self.sample_index}")


def _drop_torn_tail(path: Path) -> None:
    """Cut a partial last line (no trailing newline, e.g. after kill -9) off the file."""
    if not path.exists():
        return
    with path.open("rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)
            f.flush()
            os.fsync(f.fileno())


def read_records(path: str | Path) -> Iterator[FeedbackRecord]:
    """Records of a directory (its records.jsonl) or a jsonl file; torn/invalid lines skipped."""
    p = Path(path)
    if p.is_dir():
        p = p / RECORDS_FILE
    if not p.exists():
        return
    with p.open(encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn tail
            try:
                yield FeedbackRecord.from_json(json.loads(line))
            except (json.JSONDecodeError, TypeError, ValueError):
                continue


class FeedbackWriter:
    """Append-only, crash-safe, deduplicated, thread-safe writer of `DIR/records.jsonl`."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / RECORDS_FILE
        self._lock = threading.Lock()
        _drop_torn_tail(self.path)
        self._keys: set[str] = set()
        self.done: dict[str, set[int]] = {}  # problem_id -> sample indices recorded
        for rec in read_records(self.path):
            self._note(rec)
        self._f = self.path.open("a", encoding="utf-8")
        self.written = 0
        self.skipped = 0

    def _note(self, rec: FeedbackRecord) -> None:
        self._keys.add(rec.key)
        if rec.sample_index >= 0:
            self.done.setdefault(rec.problem_id, set()).add(rec.sample_index)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, FeedbackRecord):
            key = key.key
        return key in self._keys

    def write(self, records: Sequence[FeedbackRecord]) -> int:
        """Append the records not seen before; flush + fsync once.  Returns how many were new."""
        with self._lock:
            if self._f.closed:
                raise ValueError(f"FeedbackWriter for {self.path} is closed")
            lines = []
            for rec in records:
                if rec.key in self._keys:
                    self.skipped += 1
                    continue
                self._note(rec)
                lines.append(json.dumps(rec.to_json(), ensure_ascii=False) + "\n")
            if lines:
                self._f.write("".join(lines))
                self._f.flush()
                os.fsync(self._f.fileno())
                self.written += len(lines)
            return len(lines)

    def close(self) -> None:
        with self._lock:
            if not self._f.closed:
                self._f.close()

    def __enter__(self) -> FeedbackWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RecordingChecker:
    """A Checker that records every verification into a FeedbackWriter.

    `check(requests)` records with the default context (plus the request id as problem id);
    `check_with_context(requests, contexts)` attaches a prompt/completion/policy context per
    request.  Contexts can also be registered ahead with `set_context(request, ctx)` (a side map
    keyed by the request, consumed by the next check)."""

    def __init__(
        self, inner: Checker, writer: FeedbackWriter, context: RequestContext | None = None
    ) -> None:
        self.inner = inner
        self.writer = writer
        self.context = context or RequestContext()
        self.name = inner.name
        self._side: dict[CheckRequest, RequestContext] = {}
        self._lock = threading.Lock()

    def set_context(self, request: CheckRequest, context: RequestContext) -> None:
        with self._lock:
            self._side[request] = context

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        with self._lock:
            contexts = [self._side.pop(r, None) for r in requests]
        return self.check_with_context(requests, contexts)

    def check_with_context(
        self,
        requests: Sequence[CheckRequest],
        contexts: Sequence[RequestContext | None],
    ) -> list[CheckResult]:
        if len(contexts) != len(requests):
            raise ValueError(f"{len(requests)} requests but {len(contexts)} contexts")
        results = self.inner.check(requests)
        recs = []
        for req, res, ctx in zip(requests, results, contexts, strict=True):
            rec = FeedbackRecord.from_check(req, res, ctx or self.context)
            if not rec.backend:
                rec.backend = self.name
            recs.append(rec)
        self.writer.write(recs)
        return results

    def close(self) -> None:
        self.inner.close()


def to_parquet(directory: str | Path, out: str | Path | None = None) -> Path:
    """Write the records of `directory` to parquet (default `DIR/records.parquet`) with the
    `datasets` library; load it back with `load_dataset("parquet", data_files=...)`."""
    rows = [r.to_json() for r in read_records(directory)]
    target = Path(out) if out is not None else Path(directory) / "records.parquet"
    rows_to_parquet(rows, target)
    return target


def rows_to_parquet(rows: list[dict[str, Any]], target: Path) -> None:
    from datasets import Dataset

    target.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows).to_parquet(str(target))
