"""Screening untrusted proof text before it reaches Lean (a pre-filter; Lean decides).

A proof is text that follows its statement (`theorem ... := by`).  An adversarial policy that is
rewarded for "proved" will try to escape that position.  The screen lexes the proof with
`prover.lean.syntax` (the one Python Lean lexer: nested block comments, line comments,
string/char literals, «quoted» identifiers; text it cannot read as surely as Lean does is
refused) and rejects, with a reason, anything that is not plainly a proof of *this* statement:

* attack: end the declaration and add commands (`theorem`, `axiom`, `#exit`, `end`, `open`,
  `set_option ... in` at top level, attributes, macros, `elab`, ...): every command keyword and
  every `#command` token is refused anywhere in the proof.
* attack: a comment or string that never closes and swallows the rest of the file (the next
  item, our sentinels): unterminated `/-` or `"` is refused.
* attack: `sorryAx`/obfuscated sorry, `native_decide`/`Lean.ofReduceBool`/`bv_decide` and other
  routes to the compiler-trusting axioms (unless `allow_native_decide`), `implemented_by`/
  `extern`, `run_tac`/`by_elab` metaprograms, `unsafe`.
* attack: options that weaken checking (`set_option debug.skipKernelTC`, ...): only
  `maxRecDepth`, `maxHeartbeats` and `pp.*` options may be set inside a proof (their values are
  Lean's to judge).

The screen may only refuse what Lean refuses (`tests/test_checker_lean.py` runs a corpus of
honest proofs through both): `open Nat in …` and `set_option maxHeartbeats N in …` pass it.

Plain `sorry`/`admit` are *not* rejected: Lean reports them ("declaration uses `sorry`") and the
verdict is `incomplete`, which search relies on.

The authority is the in-Lean checker (`lean_project/ProverChecker.lean`): it parses the item
with Lean's parser (exactly one declaration, its syntax policy) and audits the axioms the
theorem reaches (`standardAxioms`, `nativeAxioms` there; `ALLOWED_AXIOMS`/`NATIVE_AXIOMS` here
are the same sets, for messages and reports).  The screen refuses the obvious attacks cheaply
and with a readable reason before a Lean process is involved.
"""

from __future__ import annotations

import re
from typing import Any

from prover.lean.syntax import DECLARATION_KEYWORDS, LexError, Token, tokenize

COMMAND_KEYWORDS = frozenset(
    """theorem lemma def abbrev instance axiom axioms example structure class inductive
    coinductive opaque macro macro_rules syntax elab elab_rules notation infix infixl infixr
    prefix postfix attribute open namespace section end universe universes variable variables
    import export mutual noncomputable private protected partial unsafe initialize
    builtin_initialize deriving declare_syntax_cat register_option omit include module
    add_decl_doc irreducible_def recall set_option_fn seal unseal simproc dsimproc simproc_decl
    dsimproc_decl grind_pattern binder_predicate local scoped nonrec""".split()
)
META_KEYWORDS = frozenset(
    """run_tac run_cmd run_elab run_meta by_elab implemented_by extern csimp
    reducible_def include_str""".split()
)
SORRY_AXIOM_NAMES = frozenset({"sorryAx"})
NATIVE_NAMES = frozenset(
    {
        "native_decide",
        "ofReduceBool",
        "ofReduceNat",
        "reduceBool",
        "reduceNat",
        "trustCompiler",
        "bv_decide",
        "bv_check",
    }
)
# what Lean's policy allows (maxHeartbeats up to the checker's limit and maxRecDepth up to its
# cap: the values are Lean's to judge)
ALLOWED_OPTIONS = re.compile(r"^(maxRecDepth|maxHeartbeats|pp\.[A-Za-z0-9_.]+)$")
# The axioms a proved theorem may depend on: the same sets as `standardAxioms` and
# `nativeAxioms` in lean_project/ProverChecker.lean, whose audit is the authority (the native
# backend's strict rule; the native ones only with allow_native_decide).  Here for messages and
# reports; tests/test_syntax.py checks that the two sides agree.
ALLOWED_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
NATIVE_AXIOMS = frozenset({"Lean.ofReduceBool", "Lean.ofReduceNat", "Lean.trustCompiler"})


def screen_proof(proof: str, allow_native_decide: bool = False) -> str | None:
    """Return a rejection reason, or None if the proof may be sent to Lean."""
    if "\x00" in proof:
        return "proof contains a NUL character"
    try:
        toks = tokenize(proof)
    except LexError as exc:
        return f"proof does not lex: {exc}"
    except Exception as exc:  # never let odd input take down a whole batch
        return f"proof could not be lexed ({type(exc).__name__}: {exc})"
    return _screen_tokens(
        toks, COMMAND_KEYWORDS, ALLOWED_OPTIONS, allow_native_decide, "inside a proof"
    )


# A header (the text before the statement) may import, open, set safe options, declare
# notations, sections and definitions.  It may not add axioms or hypotheses (`variable`),
# change how code is elaborated or trusted (macros, attributes, unsafe code), or hide a `sorry`.
HEADER_KEYWORDS = frozenset(
    """axiom axioms unsafe opaque variable variables include omit macro macro_rules syntax elab
    elab_rules declare_syntax_cat initialize builtin_initialize attribute register_option seal
    unseal simproc dsimproc simproc_decl dsimproc_decl grind_pattern binder_predicate sorry
    admit""".split()
)
HEADER_OPTIONS = re.compile(
    r"^(maxHeartbeats|maxRecDepth|autoImplicit|relaxedAutoImplicit|checkBinderAnnotations"
    r"|synthInstance\.maxHeartbeats|synthInstance\.maxSize|pp\.[A-Za-z0-9_.]+"
    r"|linter\.[A-Za-z0-9_.]+)$"
)


# A trusted header (a benchmark file's, e.g. PutnamBench's `abbrev ..._solution := sorry` or
# CombiBench's `theorem imo_2019_p5_1 ... := by sorry`) may prove a declaration by `sorry`: Lean's
# axiom audit then rejects a proof that reaches it as "proved modulo header declaration(s) proved
# by sorry", which the eval harness reports as its own outcome.
TRUSTED_HEADER_KEYWORDS = HEADER_KEYWORDS - {"sorry", "admit"}


def screen_header(
    header: str, allow_native_decide: bool = False, trusted: bool = False
) -> str | None:
    """Return a rejection reason for a header that could make a false statement provable."""
    try:
        toks = tokenize(header)
    except LexError as exc:
        return f"header: {exc}"
    keywords = TRUSTED_HEADER_KEYWORDS if trusted else HEADER_KEYWORDS
    reason = _screen_tokens(toks, keywords, HEADER_OPTIONS, allow_native_decide, "")
    return f"header: {reason}" if reason else None


def screen_statement(statement: str, allow_native_decide: bool = False) -> str | None:
    """A statement is exactly one declaration (`theorem`, `lemma`, `example`, or a `def` to
    construct, as some ProofNet items are; optionally `private`/`protected`/`noncomputable`)
    and nothing else: no second declaration, command or option around it."""
    try:
        toks = tokenize(statement)
    except LexError as exc:
        return f"formal_statement: {exc}"
    decl = next(
        (k for k, t in enumerate(toks) if t.kind == "ident" and t.name in DECLARATION_KEYWORDS),
        None,
    )
    if decl is None:
        return "formal_statement: must start with `theorem NAME`, `lemma NAME`, `example` or `def`"
    for t in toks[:decl]:
        if t.name not in {"private", "protected", "noncomputable"}:
            return f"formal_statement: {t.name!r} before the declaration is not allowed"
    reason = _screen_tokens(
        toks[decl + 1 :], COMMAND_KEYWORDS, ALLOWED_OPTIONS, allow_native_decide, ""
    )
    return f"formal_statement: {reason}" if reason else None


def screen_answer(name: str, term: str, allow_native_decide: bool = False) -> str | None:
    """A policy's answer for the answer slot `name` (a Lean term that replaces the slot's
    `sorry`): screened like a proof, as one term."""
    reason = screen_proof(term, allow_native_decide)
    return f"the answer `{name}`: {reason}" if reason else None


def screen_request(request: Any) -> str | None:
    """Screen one check request (a `CheckRequest`): proof, answers, statement and header, in
    that order.  The backend's default header (`header=None`) is trusted."""
    return (
        screen_proof(request.proof, allow_native_decide=request.allow_native_decide)
        or next(
            (
                r
                for n, t in getattr(request, "answers", ())
                if (r := screen_answer(n, t, request.allow_native_decide))
            ),
            None,
        )
        or screen_statement(request.formal_statement, request.allow_native_decide)
        or (
            screen_header(
                request.header,
                request.allow_native_decide,
                trusted=bool(getattr(request, "header_trusted", False)),
            )
            if request.header is not None
            else None
        )
    )


def _opens_in(toks: list[Token], k: int) -> bool:
    """`toks[k]` is `open` followed by namespaces (and `(…)`/`hiding`/`renaming` lists) and `in`."""
    for t in toks[k + 1 : k + 40]:
        if t.kind == "ident" and t.name == "in":
            return True
        if t.kind != "ident" and t.text not in {"(", ")", "→"}:
            return False
    return False


def _screen_tokens(
    toks: list[Token],
    keywords: frozenset[str],
    options: re.Pattern[str],
    allow_native_decide: bool,
    where: str,
) -> str | None:
    """The first forbidden token in `toks`, as a reason ending with `where`, or None."""
    at = f" {where}" if where else ""
    for k, tok in enumerate(toks):
        if tok.kind == "hash":
            return f"command {tok.name!r} is not allowed{at}"
        if tok.kind == "symbol" and tok.name == "@[":
            return f"attributes (`@[...]`) are not allowed{at}"
        if tok.kind != "ident":
            continue
        parts = tok.name.split(".")
        while len(parts) > 1 and parts[0] == "_root_":
            parts = parts[1:]
        last = parts[-1]
        if tok.name == "open" and "open" in keywords and _opens_in(toks, k):
            continue  # `open Nat in …` (term or tactic): scoped to what follows, not a command
        if tok.name in keywords:
            return f"command keyword {tok.name!r} is not allowed{at}"
        if tok.name in META_KEYWORDS:
            return f"metaprogramming construct {tok.name!r} is not allowed{at}"
        if any(p in SORRY_AXIOM_NAMES for p in parts):
            return f"{tok.name!r} (the sorry axiom) is not allowed; write `sorry` for an incomplete proof"
        if not allow_native_decide and any(p in NATIVE_NAMES for p in parts):
            return (
                f"{tok.name!r} relies on the compiler-trusting axiom Lean.ofReduceBool; "
                "pass --allow-native-decide to accept it"
            )
        if last == "native" and not allow_native_decide:
            prev = toks[k - 1] if k else None
            nxt = toks[k + 1] if k + 1 < len(toks) else None
            if prev is not None and prev.text == "+":
                return "`decide +native` relies on Lean.ofReduceBool; pass --allow-native-decide"
            if nxt is not None and nxt.text == ":=":
                return "`native := true` relies on Lean.ofReduceBool; pass --allow-native-decide"
        if tok.name == "set_option":
            opt = toks[k + 1] if k + 1 < len(toks) else None
            if opt is None or opt.kind != "ident" or not options.match(opt.name):
                name = opt.name if opt is not None else "<missing>"
                return f"set_option {name} is not allowed{at} (it could weaken checking)"
            val = toks[k + 2] if k + 2 < len(toks) else None
            if (
                options is ALLOWED_OPTIONS
                and opt.name == "maxHeartbeats"
                and val is not None
                and val.text == "0"
            ):
                return f"set_option maxHeartbeats 0 (no limit) is not allowed{at}"
    return None
