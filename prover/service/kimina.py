"""The Kimina Lean Server API (what `kimina-client` calls), on our checker.

`POST /api/check` takes `{"snippets": [{"id", "code"}], "timeout", "debug", "reuse",
"infotree"}` and answers `{"results": [{"id", "time", "error", "response"}]}` where `response`
is a Lean REPL command response (`messages`, `sorries`, `env`).  `POST /verify` is Kimina's
older form (`{"codes": [{"custom_id", "proof" | "code"}], "timeout"}` ->
`{"results": [{"custom_id", "error", "response"}]}`).

A snippet is a whole Lean file.  The text before its first `theorem`/`lemma`/`example` is its
header (untrusted: imports, `open`, `namespace`, ... only); each declaration is then one item of
our checker, checked from that header alone in a clean environment (so a theorem cannot use an
earlier lemma of the same snippet), and Lean decides each.  The snippet's response is what the
client's own analysis (`ReplResponse.analyze`) reads by our mapping:

    every item proved                       -> no error message, no sorries   -> `valid`
    some item incomplete, none worse        -> its goals in `sorries`, unsolved-goal errors
                                               shown as warnings             -> `sorry`
    any item failed/rejected/timeout/error  -> an error message saying why   -> `lean_error`

Beyond the REPL's fields, a response whose items Lean refused carries `refusals`: the refusal
category of each refused item (README "Refusal categories": `sorry`, `native_decide`,
`code_evaluation`, ...), in the snippet's order (absent when none was refused); the error
message of a refused item names its category too.  Clients that do not know the key ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prover.lean.syntax import declarations, lex
from prover.lean.types import CheckRequest, CheckResult, LeanMessage, Verdict

_OPEN = {"(", "[", "{", "⟨", "⦃", "@[", "⟦"}
_CLOSE = {")", "]", "}", "⟩", "⦄", "⟧"}


@dataclass(frozen=True)
class SnippetItem:
    """One declaration of a snippet: the request and where its proof starts in the snippet."""

    request: CheckRequest
    line0: int  # 1-based snippet line of the proof text's first line
    col0: int  # code-point column of the proof text's start on that line
    decl_line: int


class SnippetError(ValueError):
    """A snippet that cannot be turned into checker items (the reason is sent back as a Lean
    error message)."""


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1)


def _split_statement(chunk: str) -> int:
    """Offset just past the declaration's top-level `:=` (its statement ends there)."""
    depth = 0
    toks = [t for t in lex(chunk, strict=False) if t.kind != "comment"]
    for k, tok in enumerate(toks):
        if tok.text in _OPEN:
            depth += 1
        elif tok.text in _CLOSE:
            depth = max(depth - 1, 0)
        elif depth == 0 and tok.text == ":=":
            return tok.end
        elif depth == 0 and tok.text == ":" and k + 1 < len(toks):
            nxt = toks[k + 1]  # the lexer may give `:=` as `:` `=`
            if nxt.text == "=" and nxt.offset == tok.end:
                return nxt.end
    raise SnippetError(
        "no `:=` after the statement (pattern-matching and `where` proofs are not supported)"
    )


def _header(preamble: str) -> str | None:
    toks = [t for t in lex(preamble, strict=False) if t.kind != "comment"]
    if not toks:
        return None
    return preamble[: toks[-1].end].strip() + "\n\n"


def snippet_items(
    code: str, snippet_id: str, timeout_s: float | None, allow_native_decide: bool = False
) -> list[SnippetItem]:
    """The checker items of one snippet (SnippetError when it holds no theorem)."""
    decls = declarations(code)
    if not decls:
        raise SnippetError(
            "no theorem, lemma or example starting a line: this server checks proofs, one "
            "declaration per item, not arbitrary commands"
        )
    header = _header(code[: decls[0].start])
    items = []
    for k, d in enumerate(decls):
        end = decls[k + 1].start if k + 1 < len(decls) else len(code)
        chunk = code[d.start : end].rstrip()
        cut = _split_statement(chunk)
        line0, col0 = _line_col(code, d.start + cut)
        req = CheckRequest(
            formal_statement=chunk[:cut],
            proof=chunk[cut:],
            header=header,
            id=f"{snippet_id}#{k}",
            header_trusted=False,  # a client's (a model's) text
            allow_native_decide=allow_native_decide,
            timeout_s=timeout_s,
        )
        items.append(SnippetItem(req, line0, col0, _line_col(code, d.start)[0]))
    return items


def _pos(item: SnippetItem, line: int, column: int) -> dict[str, int]:
    if line < 1:  # on the statement: point at the declaration
        return {"line": item.decl_line, "column": 0}
    return {"line": item.line0 + line - 1, "column": column + (item.col0 if line == 1 else 0)}


def _message(item: SnippetItem, m: LeanMessage, severity: str | None = None) -> dict[str, Any]:
    sev = severity or {"information": "info"}.get(m.severity, m.severity)
    return {
        "severity": sev,
        "pos": _pos(item, m.line, m.column),
        "endPos": _pos(item, m.end_line, m.end_column),
        "data": m.text,
    }


def snippet_response(items: list[SnippetItem], results: list[CheckResult]) -> dict[str, Any]:
    """The REPL-style command response of one snippet from its items' verdicts."""
    messages: list[dict[str, Any]] = []
    sorries: list[dict[str, Any]] = []
    refusals = [res.refusal for res in results if res.refusal]
    for item, res in zip(items, results, strict=True):
        name = item.request.formal_statement.split(":", 1)[0].strip()
        if res.verdict is Verdict.PROVED:
            messages += [_message(item, m) for m in res.messages if m.severity != "error"]
        elif res.verdict is Verdict.INCOMPLETE:
            # incomplete = sorry: Lean found no hard error, goals remain
            messages += [
                _message(item, m, "warning" if m.severity == "error" else None)
                for m in res.messages
            ]
            at = res.first_error or next(iter(res.messages), None)
            pos = _pos(item, at.line, at.column) if at else {"line": item.decl_line, "column": 0}
            sorries.append(
                {"pos": pos, "endPos": pos, "goal": res.initial_goals or (at.text if at else "")}
            )
        else:
            messages += [_message(item, m) for m in res.messages]
            why = res.reason or (res.first_error.text if res.first_error else "")
            if res.refusal:
                why = f"[refusal {res.refusal}] {why}".rstrip()
            messages.append(
                {
                    "severity": "error",
                    "pos": {"line": item.decl_line, "column": 0},
                    "endPos": {"line": item.decl_line, "column": 0},
                    "data": f"{name}: verdict {res.verdict.value}" + (f": {why}" if why else ""),
                }
            )
    out: dict[str, Any] = {"env": 0, "messages": messages}
    if sorries:
        out["sorries"] = sorries
    if refusals:
        out["refusals"] = refusals
    return out


def error_response(line: int, text: str) -> dict[str, Any]:
    pos = {"line": line, "column": 0}
    return {"env": 0, "messages": [{"severity": "error", "pos": pos, "endPos": pos, "data": text}]}
