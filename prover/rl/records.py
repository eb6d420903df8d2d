"""Feedback records: one row per Lean verification of a sampled proof.

`records.jsonl` (one JSON object per line, append-only) has the columns of `FeedbackRecord`:

    problem_id        str    benchmark problem id (e.g. minif2f/<name>, proofnet/<split>/<idx>)
                             or the search task's name; the request id when nothing else is known
    header            str|None  Lean header the proof was checked under (None: backend default)
    formal_statement  str    theorem up to and including `:= by`
    kind              str    sample: a whole-proof completion (from the empty prefix, or from a
                             verified prefix as in RMaxTS: proof = prefix + completion);
                             tactic: one best-first-search step (proof = prefix + step);
                             precheck: statement + `sorry` (does the statement elaborate);
                             final: a search's fresh re-check of a proof it found;
                             correction: a self-correction round's answer to Lean's feedback;
                             sketch: a decomposition sketch (gaps are `sorry`s).
                             Records written before this column existed read as `sample`.
    prompt            str    exact prompt text given to the policy ("" if unknown)
    completion        str    raw policy output (cut at the code fence)
    prefix            str    verified proof prefix the policy continued ("" for whole proofs)
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
    refusal           str|None  the stable category of a refusal, set by Lean (README
                             "Refusal categories": sorry, code_evaluation, native_decide, ...)
    time_s            float  verification time
    backend           str    checker backend ("embedded" / "native")
    lean_version      str    Lean version reported by the backend ("" if unknown)
    timestamp         float  Unix time the record was written
    round             int    self-correction round (0: a first attempt)
    turns             list   chat turns {role, content} before `completion` in a correction
                             chain (user prompt, assistant answer, user Lean feedback, ...)
    answers           list   the answers checked with the proof (PutnamBench's plain variant:
                             {name: answer slot, term: Lean term}; [] otherwise); part of the
                             dedup key

`FeedbackWriter` appends records through a `prover.jsonl.JsonlStore` (flush + fsync per batch; a
torn last line left by kill -9 is cut off; an exclusive flock, so several processes can append to
one file) and deduplicates by (formal_statement, proof, answers) across restarts and
processes.  A `timeout` or `error` verdict says nothing about the proof, so it does not count for
deduplication: the pair is checked and written again when it comes up again, and `load_records`
keeps the later record.
A `prover.lean.wrappers.RecordingChecker` with a FeedbackWriter as its sink records every
verification; searches attach what the checker cannot know (problem id, prompt, completion,
sampling, sample index, kind) as a `RequestContext` through `check_with_context`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from prover.jsonl import JsonlStore, LockedJsonl
from prover.lean.types import CheckRequest, CheckResult, Verdict
from prover.lean.wrappers import RequestContext, check_kind

RECORDS_FILE = "records.jsonl"
SAMPLING_KEYS = ("n", "temperature", "top_p", "max_new_tokens", "seed")
# verdicts that say nothing about the proof (the check did not finish): never deduplicated
TRANSIENT = frozenset({Verdict.TIMEOUT.value, Verdict.ERROR.value})
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


def dedup_key(formal_statement: str, proof: str, answers: Mapping[str, str] | None = None) -> str:
    """The identity of a checked proof: statement, proof and (plain variant) the answers."""
    key: list[Any] = [formal_statement, proof]
    if answers:
        key.append(sorted(answers.items()))
    payload = json.dumps(key, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class FeedbackRecord:
    problem_id: str
    formal_statement: str
    proof: str
    verdict: str
    header: str | None = None
    kind: str = "sample"
    prompt: str = ""
    completion: str = ""
    prefix: str = ""
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
    refusal: str | None = None
    time_s: float = 0.0
    backend: str = ""
    lean_version: str = ""
    timestamp: float = 0.0
    round: int = 0
    turns: list[dict[str, str]] = field(default_factory=list)
    answers: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.verdict, Verdict):
            self.verdict = self.verdict.value
        if self.verdict not in _VERDICTS:
            raise ValueError(
                f"FeedbackRecord.verdict must be one of {sorted(_VERDICTS)}, got {self.verdict!r}"
            )
        check_kind("FeedbackRecord", self.kind)
        for name in ("problem_id", "formal_statement", "proof", "prompt", "completion", "prefix"):
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
        return dedup_key(
            self.formal_statement, self.proof, {a["name"]: a["term"] for a in self.answers}
        )

    @property
    def proved(self) -> bool:
        return self.verdict == Verdict.PROVED.value

    @property
    def settled(self) -> bool:
        """False for `timeout` / `error`: the check did not finish, the proof may be fine."""
        return self.verdict not in TRANSIENT

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
            kind=ctx.kind,
            prompt=ctx.prompt,
            completion=ctx.completion if ctx.completion is not None else request.proof,
            prefix=ctx.prefix,
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
            refusal=result.refusal,
            time_s=round(float(result.time_s), 4),
            backend=result.backend,
            lean_version=result.lean_version,
            round=ctx.round,
            turns=[{"role": r, "content": c} for r, c in ctx.turns],
            answers=[{"name": n, "term": t} for n, t in request.answers],
        )


def _parse(obj: Any) -> FeedbackRecord | None:
    if not isinstance(obj, Mapping):
        return None
    try:
        return FeedbackRecord.from_json(obj)
    except (TypeError, ValueError):
        return None


def read_records(path: str | Path) -> Iterator[FeedbackRecord]:
    """Every record of a directory (its records.jsonl) or a jsonl file, in file order; torn and
    invalid lines are skipped.  See `load_records` for one record per (statement, proof)."""
    p = Path(path)
    if p.is_dir():
        p = p / RECORDS_FILE
    for obj in JsonlStore(p).read():
        rec = _parse(obj)
        if rec is not None:
            yield rec


def load_records(path: str | Path) -> list[FeedbackRecord]:
    """One record per (formal_statement, proof), at the place of its first record: a later record
    replaces an earlier one unless the later one is a `timeout` / `error` and the earlier is not
    (a settled verdict replaces a transient one, never the other way round)."""
    out: dict[str, FeedbackRecord] = {}
    for rec in read_records(path):
        old = out.get(rec.key)
        if old is None or rec.settled or not old.settled:
            out[rec.key] = rec
    return list(out.values())


class FeedbackWriter:
    """Append-only, crash-safe, deduplicated writer of `DIR/records.jsonl`, safe to share between
    threads (a lock) and processes (an exclusive flock around each append; before appending, the
    records other processes appended meanwhile are read, so their pairs are not written twice).

    `done` maps problem id -> sample indices with a settled verdict (collect's resume state)."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / RECORDS_FILE
        self._lock = threading.Lock()
        self._keys: set[str] = set()
        self.done: dict[str, set[int]] = {}
        self._store = JsonlStore(self.path)
        self._pos = 0  # bytes of the file already read (a line boundary)
        self._closed = False
        with self._lock, self._store.locked() as f:
            self._sync(f)
        self.written = 0
        self.skipped = 0

    def _sync(self, f: LockedJsonl) -> None:
        """Note the records appended since the last look (by this or another process)."""
        objs, self._pos = f.read_from(self._pos)
        for obj in objs:
            rec = _parse(obj)
            if rec is not None:
                self._note(rec)

    def _note(self, rec: FeedbackRecord) -> None:
        if not rec.settled:
            return  # a timeout / error is checked and written again when the pair comes back
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
        """Append the records whose (statement, proof) has no settled record yet; flush + fsync
        once.  Returns how many were written."""
        with self._lock:
            if self._closed:
                raise ValueError(f"FeedbackWriter for {self.path} is closed")
            with self._store.locked() as f:
                self._sync(f)
                rows = []
                for rec in records:
                    if rec.key in self._keys:
                        self.skipped += 1
                        continue
                    self._note(rec)
                    rows.append(rec.to_json())
                self._pos = f.write(rows)
                self.written += len(rows)
            return len(rows)

    def record(
        self, checked: Sequence[tuple[CheckRequest, CheckResult, RequestContext]], backend: str
    ) -> None:
        """The `RecordSink` side of `RecordingChecker`: one record per verification."""
        recs = []
        for req, res, ctx in checked:
            rec = FeedbackRecord.from_check(req, res, ctx)
            rec.backend = rec.backend or backend
            recs.append(rec)
        self.write(recs)

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def __enter__(self) -> FeedbackWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def to_parquet(directory: str | Path, out: str | Path | None = None) -> Path:
    """Write the records of `directory` (`load_records`: one per statement + proof) to parquet
    (default `DIR/records.parquet`) with the `datasets` library; load it back with
    `load_dataset("parquet", data_files=...)`."""
    rows = [r.to_json() for r in load_records(directory)]
    target = Path(out) if out is not None else Path(directory) / "records.parquet"
    rows_to_parquet(rows, target)
    return target


def rows_to_parquet(rows: list[dict[str, Any]], target: Path, features: Any = None) -> None:
    """Rows to a parquet file through `datasets` (`features`: a `datasets.Features`, or None to
    infer the schema from the rows)."""
    from datasets import Dataset

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    if features is None:
        ds = Dataset.from_list(rows)
    else:  # from columns: also right for zero rows
        ds = Dataset.from_dict({c: [r[c] for r in rows] for c in features}, features=features)
    ds.to_parquet(str(tmp))
    tmp.replace(target)
