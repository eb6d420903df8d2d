"""`prover.lean.syntax`, the one Python Lean lexer, and the agreement of everything built on it:
the screen, the `sorry` finder, comment masking, base indentation, the checker's and
truncate-and-resume's cuts, and `prove`'s declaration finder (pure logic, no Lean)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from prover.commands.prove import split_theorems
from prover.lean.checker import result_from_reply
from prover.lean.soundness import ALLOWED_AXIOMS, NATIVE_AXIOMS, screen_proof
from prover.lean.syntax import (
    LexError,
    base_indent,
    declarations,
    first_sorry,
    lex,
    mask_comments,
    tokenize,
)
from prover.lean.types import CheckRequest, CheckResult, Verdict
from search.truncate import cut_position

REPO = Path(__file__).resolve().parents[1]
STATEMENT = "theorem t : True := by\n"


def consumers(proof: str) -> dict[str, object]:
    """Where each consumer puts the first `sorry` of `proof` (None: no sorry)."""
    s = first_sorry(proof)
    masked = mask_comments(proof)
    try:
        strict: object = next(
            (t.offset for t in tokenize(proof) if t.kind == "ident" and t.name == "sorry"), None
        )
    except LexError:
        strict = "LexError"
    reply = result_from_reply(
        CheckRequest(STATEMENT, proof), {"verdict": "incomplete", "messages": []}, "fake", ""
    )
    return {
        "first_sorry": s,
        "strict tokens": strict,
        "visible after mask_comments": (
            masked.find("sorry", s) if s is not None and masked.find("sorry", s) == s else None
        ),
        "truncate cut": (
            None
            if cut_position(proof, CheckResult(Verdict.INCOMPLETE)) == len(proof)
            else cut_position(proof, CheckResult(Verdict.INCOMPLETE))
        ),
        # the checker keeps the lines before the sorry's line
        "checker prefix": (proof[: proof.rfind("\n", 0, s) + 1] if s is not None else proof)
        == reply.verified_prefix,
    }


# (proof, where its first real `sorry` is: "last" = the last `sorry` of the text, None = it has
# no real sorry).  The screen accepts all of them.
TRICKY = [
    # the issue's example: a char literal holding `"` is not a string; the line comment after it
    # ends at the newline, so the `sorry` on the next line is code
    ("  exact ('\"') -- x\n  sorry\n", "last"),
    # interpolated string: the `'"'` in braces is code (a char literal), not the string's end
    ('  exact s!"{\'"\'}"\n  sorry\n', "last"),
    # nested block comments
    ("  /- /- -/ sorry -/\n  simp\n", None),
    # Lean skips the character after `/-`, so `/-/- -/` is a whole comment and `sorry` is code
    ("  /-/- -/ sorry\n", "last"),
    # an escaped quote in a char literal
    ("  exact '\\''\n  sorry\n", "last"),
    # «quoted» identifiers: `--` inside one is not a comment
    ("  exact «a -- b» sorry\n", "last"),
    ("  exact «my sorry» -- sorry\n", None),
    # `--` and `/-` inside strings are not comments
    ('  exact "-- x" sorry\n', "last"),
    ('  exact "/- x" sorry\n', "last"),
    # a `"` inside a comment opens no string
    ('  /- " -/ sorry\n', "last"),
    ('  -- "\n  sorry\n', "last"),
    # an escaped quote inside a string
    ('  exact "a\\"b" sorry\n', "last"),
]


@pytest.mark.parametrize(("proof", "where"), TRICKY)
def test_every_consumer_agrees_on_tricky_text(proof: str, where: str | None) -> None:
    expected = proof.rindex("sorry") if where == "last" else None
    got = consumers(proof)
    assert got == {
        "first_sorry": expected,
        "strict tokens": expected,
        "visible after mask_comments": expected,
        "truncate cut": expected,
        "checker prefix": True,
    }, proof
    assert screen_proof(proof) is None
    assert base_indent("\n" + proof) == "  "


def test_the_issue_example_token_by_token() -> None:
    toks = [(t.kind, t.text) for t in lex("exact ('\"') -- x\n  sorry")]
    assert toks == [
        ("ident", "exact"),
        ("symbol", "("),
        ("char", "'\"'"),
        ("symbol", ")"),
        ("comment", "-- x"),
        ("ident", "sorry"),
    ]
    assert mask_comments("exact ('\"') -- x\n  sorry") == "exact ('\"')     \n  sorry"


def test_interpolated_string_pieces_and_code() -> None:
    toks = [(t.kind, t.text) for t in lex('s!"{\'"\'}"')]
    assert toks == [("ident", "s!"), ("string", '"{'), ("char", "'\"'"), ("string", '}"')]
    # `\{` is an escape only in an interpolated string: plain, Lean refuses it, so the
    # interpolated reading (the only one Lean can accept) is taken
    assert [t.kind for t in lex('s!"\\{"')] == ["ident", "string"]
    # a string with balanced braces reads the same both ways: the braces are shown as code
    assert [t.text for t in lex('"{x}"')] == ['"{', "x", '}"']
    assert first_sorry('  exact "{sorry}"') == 10  # the conservative reading
    # a plain `"{"` cannot be interpolated: plain it is
    assert [t.text for t in lex('exact "{"')] == ["exact", '"{"']


@pytest.mark.parametrize(
    ("text", "why"),
    [
        # Lean refuses these itself
        ("exact '\\q'", "invalid character literal"),  # bad escape `\q`: Lean "invalid escape"
        ("exact ' s", "invalid character literal"),  # missing end of character literal
        ('exact "\\q"', "invalid escape sequence"),
        ('exact "abc', "unterminated string"),
        ("simp /- x", "unterminated block comment"),
        ("exact «abc", "unterminated «identifier»"),
        ("exact 0x", "without digits"),
        ("exact 1e", "missing exponent digits"),
        # we cannot tell what Lean reads (its token table / the syntax around a string):
        ("x <-- y", "right after a symbol"),  # Lean: `<-` then `- y`; not a comment
        ("x :=/- c -/ y", "right after a symbol"),
        ("f ⁻¹'1'", "right after a symbol"),  # Mathlib's `⁻¹'` token, or a char literal?
        ('exact "{\'"\'}" sorry "', "reads differently as an interpolated string"),
    ],
)
def test_strict_lexing_fails_safe(text: str, why: str) -> None:
    with pytest.raises(LexError, match=re.escape(why)):
        lex(text)
    assert screen_proof(text) is not None and why in str(screen_proof(text))
    lex(text, strict=False)  # lenient lexing never raises


def test_lenient_reading_of_a_bad_escape() -> None:
    # `'\q'`: Lean stops with "invalid escape sequence"; lenient lexing reads `'` as a symbol
    # and goes on, so a `sorry` after it is still found
    assert [t.text for t in lex("exact '\\q'", strict=False)] == ["exact", "'", "\\", "q'"]
    assert first_sorry("  exact '\\q'\n  sorry") == 15


@pytest.mark.parametrize(
    "text",
    [
        "f ⁻¹' s",  # not a char literal: a symbol (Mathlib's token, or Lean fails)
        "f ⁻¹'a'",  # either reading covers the same text as code
        "f '' s",  # Mathlib's image `''`
        "x := -- c\n  y",
        "(-- c\n  y)",
        "h.2.1 2.succ 0x1F 1.5e-3 '\\x41' '\\u0041' '\\\\' '\"'",
        'r"a\\q" r#"x"y"#',
    ],
)
def test_lexes_without_doubt(text: str) -> None:
    lex(text)


def test_tokens_cover_the_source() -> None:
    text = 'theorem «a b».c (h : x = \'a\') : s!"{x}" = "y" := by -- c\n  /- d -/ simp'
    toks = lex(text)
    assert all(text[t.offset : t.end] == t.text for t in toks)
    assert all(a.end <= b.offset for a, b in zip(toks, toks[1:], strict=False))
    ident = next(t for t in toks if t.text == "«a b».c")
    assert ident.parts == ("a b", "c") and ident.name == "a b.c"


def test_random_text_never_crashes_the_lexer() -> None:
    rng = random.Random(0)
    alphabet = list("ab '\"\\{}()-/!#«»\n.0x1e⁻¹s") + ["--", "/-", "-/", "s!", "'\"'"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        toks = lex(text, strict=False)
        assert all(text[t.offset : t.end] == t.text for t in toks), text
        masked = mask_comments(text)
        assert len(masked) == len(text) and masked.count("\n") == text.count("\n")
        try:
            lex(text)
        except LexError:
            pass


def test_base_indent_skips_comment_lines_and_continuations() -> None:
    assert base_indent("\n  -- c\n/- a\nb -/\n    simp\n  rfl") == "    "
    assert base_indent('\n  exact "a\nb"\n') == "  "
    assert base_indent("/- x\n  y -/ simp\n   rfl") == "   "  # line 2 starts in the comment
    assert base_indent("-- only a comment") == "  "
    assert base_indent("\n  exact ('\"') -- x\n    sorry") == "  "


def test_declarations_of_a_file() -> None:
    text = (
        "import Foo\n"
        '/-- theorem in a doc comment -/ def s := "theorem x"\n'
        "@[simp] private theorem a (n : Nat) : n = n := by\n"
        "lemma «b c» : True := by\n"
        "example : True := by\n"
        "theorem d (lemma : Nat) :\n  lemma = lemma := by\n"  # core Lean: `lemma` is an identifier
        "def «theorem» := 1\n"  # a quoted keyword is an identifier
    )
    found = [(d.keyword, d.name, text[d.start : d.keyword_offset]) for d in declarations(text)]
    assert found == [
        ("theorem", "a", "@[simp] private "),
        ("lemma", "«b c»", ""),
        ("example", None, ""),
        ("theorem", "d", ""),
    ]
    theorems = text[text.index("@[simp]") : text.index("def «theorem»")]
    header, goals = split_theorems(theorems, "f.lean")
    assert header is None and [g.name for g in goals] == ["a", "«b c»", "example@3", "d"]


def test_python_axiom_sets_are_the_lean_checkers() -> None:
    lean = (REPO / "lean_project" / "ProverChecker.lean").read_text(encoding="utf-8")

    def lean_list(name: str) -> set[str]:
        m = re.search(rf"def {name} : List Name := \[(.*?)\]", lean)
        assert m, name
        return {x.strip().lstrip("`") for x in m.group(1).split(",")}

    assert lean_list("standardAxioms") == ALLOWED_AXIOMS
    assert lean_list("nativeAxioms") == NATIVE_AXIOMS


def test_one_lexer() -> None:
    """Lean comments are recognised in one module: no other code looks for `--` or `/-`."""
    pattern = re.compile(r"""["'](--|/-|-/)["']""")
    offenders = []
    for pkg in ("prover", "search", "benchmarks"):
        for path in (REPO / pkg).rglob("*.py"):
            if path.name == "syntax.py" and path.parent.name == "lean":
                continue
            if pattern.search(path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_answer_definitions() -> None:
    """Top-level answer definitions in a model's code: the term after the first `:=` outside
    brackets, up to the next command at column 0 (a term may continue at column 0)."""
    from prover.lean.syntax import answer_definitions, without_spans

    code = (
        "import Mathlib\n\n"
        "noncomputable abbrev a_solution (k : ℕ := 2) : Set ℕ :=\n{n | n = k} -- note\n\n"
        "abbrev b_solution : ℕ → ℕ := fun n => n + 1\n"
        "def other_solution : ℕ := 1\n"
        "/-- doc -/\ntheorem t : True := by\n  trivial\n"
        "abbrev c_solution : ℕ := 3\n#eval 1\n"
    )
    defs = answer_definitions(code, ["a_solution", "b_solution", "c_solution"])
    assert [(d.name, d.term) for d in defs] == [
        ("a_solution", "{n | n = k} -- note"),
        ("b_solution", "fun n => n + 1"),
        ("c_solution", "3"),
    ]
    for d in defs:
        assert code[d.term_start : d.term_start + len(d.term)] == d.term
    rest = without_spans(code, [(d.start, d.end) for d in defs])
    assert "a_solution" not in rest and "other_solution" in rest and rest.endswith("#eval 1\n")
    assert answer_definitions("  abbrev a_solution : ℕ := 1\n", ["a_solution"]) == []
    # a doc comment belongs to the next declaration (Lean does not read it as whitespace)
    doc = "abbrev a_solution : ℕ := 6\n/-- The theorem. -/\ntheorem t : True := trivial\n"
    assert answer_definitions(doc, ["a_solution"])[0].term == "6"
    assert (
        answer_definitions('abbrev a_solution : String := "/-"', ["a_solution"])[0].term == '"/-"'
    )
