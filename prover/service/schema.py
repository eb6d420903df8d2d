"""Request bodies of `prover serve` (pydantic; imported only by the app)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from prover.lean.types import CheckRequest


class Item(BaseModel):
    """One proof: the fields of `prover verify`'s input lines (and of `CheckRequest`)."""

    model_config = ConfigDict(extra="forbid")
    id: str = ""
    formal_statement: str
    proof: str
    header: str | None = None
    header_trusted: bool = False
    want_steps: bool | None = None
    allow_native_decide: bool = False
    timeout_s: float | None = Field(None, gt=0)
    # answer-slot name -> Lean term (`CheckRequest.answers`; slots of a trusted header)
    answers: dict[str, str] = Field(default_factory=dict)

    def to_request(self, steps: bool, max_timeout_s: float) -> CheckRequest:
        timeout = min(self.timeout_s, max_timeout_s) if self.timeout_s else max_timeout_s
        return CheckRequest(
            formal_statement=self.formal_statement,
            proof=self.proof,
            header=self.header,
            id=self.id,
            header_trusted=self.header_trusted,
            want_steps=steps if self.want_steps is None else self.want_steps,
            allow_native_decide=self.allow_native_decide,
            timeout_s=timeout,
            answers=tuple(self.answers.items()),
        )


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Item]
    steps: bool = False  # tactic states for every item (unless an item says otherwise)


class Snippet(BaseModel):
    id: str
    code: str


class KiminaCheck(BaseModel):
    """Kimina's `/api/check` body (kimina-client's `CheckRequest`)."""

    snippets: list[Snippet]
    timeout: int = Field(30, ge=0)
    debug: bool = False
    reuse: bool = True
    infotree: str | None = None

    @model_validator(mode="after")
    def _ids(self) -> KiminaCheck:
        if not self.snippets:
            raise ValueError("`snippets` must be non empty")
        if len({s.id for s in self.snippets}) != len(self.snippets):
            raise ValueError("`snippets` must have unique ids")
        return self


class Code(BaseModel):
    custom_id: str | int
    proof: str | None = None
    code: str | None = None

    def content(self) -> str:
        return self.proof if self.proof is not None else (self.code or "")


class KiminaVerify(BaseModel):
    """Kimina's older `/verify` body."""

    codes: list[Code]
    timeout: int = 300
    infotree_type: str | None = None
    disable_cache: bool = False
