/-
The prover's checking program: a persistent Lean process that decides what is proved.

Run by both backends with one JSON-lines protocol (see `prover/lean/checker.py`):
* embedded: `lean ProverChecker.lean` inside the WebAssembly Lean (core Lean only);
* native:   `lake env lean ProverChecker.lean` in `lean_project/` (Mathlib available).

The `#eval` at the bottom loops forever: it reads one JSON request per line from the real
standard input, checks it, and writes one JSON reply per line to the real standard output.
Every reply carries the request's `nonce`; the driver ignores any line without it, so nothing an
item prints can pass for a reply.

What Lean checks for one item (statement + proof, under a header), each from a clean state:
1. The header is parsed and elaborated once into a *base state* (imports, `open`s, ...), kept in
   a small LRU.  Untrusted headers may only hold `open`, allowlisted `set_option`,
   `namespace`/`section`/`end` and `universe` commands (judged on Lean's syntax tree).
2. Statement + proof is parsed by Lean's own parser from the base state: it must be exactly one
   declaration command (`theorem`/`lemma`/`example`) with no attributes or `unsafe`, and its syntax
   tree must hold no code-running syntax (`run_tac`, `by_elab`, ...) and no `set_option` outside
   an allowlist.  Nothing is elaborated before this passes.
3. The statement is elaborated alone (`:= sorry`) from the base state to get the expected type.
4. The item is elaborated from the base state (fresh message log, info trees on, per-item
   `maxHeartbeats`, `Elab.async false`).  Nothing it declares is visible to any other item: every
   item starts from the base state value, which is never modified.
5. Verdict: errors -> failed (or incomplete when they are only "unsolved goals"); otherwise the
   expected theorem must exist, be a theorem, and have exactly the expected type; every constant
   the item added is re-checked by the kernel from the base environment with default options
   (as lean4checker does), so no option can have skipped the kernel; the axioms it reaches
   (through auxiliary and header declarations) must be allowed.
6. Tactic states at every tactic (nested ones included) come from the info trees of the same
   elaboration.

Exported-level `.olean`s (embedded): the interpreter cannot compile code that reaches private
library helpers, so this file uses lists and explicit recursion rather than `for` over arrays.
-/
import Lean.Elab.Frontend
import Lean.Data.Json

open Lean Elab Command Meta

namespace ProverChecker

/-! ## JSON helpers -/

def jStr (j : Json) (k : String) (d : String := "") : String :=
  match j.getObjValAs? String k with
  | .ok v => v
  | .error _ => d

def jNat (j : Json) (k : String) (d : Nat) : Nat :=
  match j.getObjValAs? Nat k with
  | .ok v => v
  | .error _ => d

def jBool (j : Json) (k : String) (d : Bool := false) : Bool :=
  match j.getObjValAs? Bool k with
  | .ok v => v
  | .error _ => d

/-! ## List helpers

The library's polymorphic list functions compile to `_redArg` helpers that exported-level
`.olean`s do not carry, so the few this file needs are written out here. -/

def rev {α} (l : List α) : List α :=
  let rec go : List α → List α → List α
    | [], acc => acc
    | x :: xs, acc => go xs (x :: acc)
  go l []

def len {α} : List α → Nat
  | [] => 0
  | _ :: xs => len xs + 1

def app {α} (a b : List α) : List α :=
  let rec go : List α → List α → List α
    | [], acc => acc
    | x :: xs, acc => go xs (x :: acc)
  go (rev a) b

def keep {α} (p : α → Bool) (l : List α) : List α :=
  let rec go : List α → List α → List α
    | [], acc => rev acc
    | x :: xs, acc => go xs (if p x then x :: acc else acc)
  go l []

def some? {α} (p : α → Bool) : List α → Bool
  | [] => false
  | x :: xs => p x || some? p xs

def every {α} (p : α → Bool) : List α → Bool
  | [] => true
  | x :: xs => p x && every p xs

def first? {α} (p : α → Bool) : List α → Option α
  | [] => none
  | x :: xs => if p x then some x else first? p xs

def mapL {α β} (f : α → β) (l : List α) : List β :=
  let rec go : List α → List β → List β
    | [], acc => rev acc
    | x :: xs, acc => go xs (f x :: acc)
  go l []

def hd? {α} : List α → Option α
  | [] => none
  | x :: _ => some x

def nil? {α} : List α → Bool
  | [] => true
  | _ => false

def setL {α} : List α → Nat → α → List α
  | [], _, _ => []
  | _ :: xs, 0, y => y :: xs
  | x :: xs, n + 1, y => x :: setL xs n y

def takeL {α} : Nat → List α → List α
  | 0, _ => []
  | _, [] => []
  | n + 1, x :: xs => x :: takeL n xs

def lenL {α} : List α → Nat
  | [] => 0
  | _ :: xs => lenL xs + 1

def mapIO {α β} (f : α → IO β) : List α → IO (List β)
  | [] => pure []
  | x :: xs => do
    let y ← f x
    let ys ← mapIO f xs
    return y :: ys

def filterSome {α} : List (Option α) → List α
  | [] => []
  | none :: xs => filterSome xs
  | some x :: xs => x :: filterSome xs

def hasName (l : List Name) (n : Name) : Bool := some? (· == n) l

def arrToList {α} (a : Array α) [Inhabited α] : List α :=
  let rec go (i : Nat) (acc : List α) : List α :=
    match i with
    | 0 => acc
    | k + 1 => go k (a[k]! :: acc)
  go a.size []

def showNames (l : List Name) : String :=
  String.intercalate ", " (mapL (fun n => "`" ++ n.toString ++ "`") l)

/-! ## Requests -/

structure Req where
  nonce : String
  kind : String := "check"
  header : String := ""
  trusted : Bool := false
  statement : String := ""
  proof : String := ""
  heartbeats : Nat := 200000
  allowNative : Bool := false
  wantSteps : Bool := false
  /-- `set_option maxRecDepth` values above this are clamped to it (0: none; see
  `clampRecDepth`) -/
  recDepthCap : Nat := 0
  /-- `true` on native (full `.olean`s): only `propext`, `Classical.choice`, `Quot.sound`.
  `false` on embedded: imported library theorems carry no proofs and look like axioms, so the
  audit is a denylist over imported constants plus "the item and header add no axiom". -/
  strictAxioms : Bool := false
  /-- Answers for the header's answer slots (`def`/`abbrev NAME : T := sorry`), as
  (slot name, Lean term) pairs: untrusted text from a policy (see "Answer slots"). -/
  answers : List (String × String) := []

def parseAnswer (j : Json) : Except String (String × String) := do
  let name ← j.getObjValAs? String "name"
  let term ← j.getObjValAs? String "term"
  return (name, term)

def parseAnswers (j : Json) : Except String (List (String × String)) :=
  match j.getObjVal? "answers" with
  | .error _ => .ok []
  | .ok (.arr a) =>
    let rec go : List Json → Except String (List (String × String))
      | [] => .ok []
      | x :: xs => do
        let p ← parseAnswer x
        let ps ← go xs
        return p :: ps
    go (arrToList a)
  | .ok _ => .error "`answers` must be a list of {name, term} objects"

def parseReq (line : String) : Except String Req := do
  let j ← Json.parse line
  let nonce := jStr j "nonce"
  if nonce.isEmpty then throw "request without a nonce"
  return { nonce, kind := jStr j "kind" "check", header := jStr j "header",
           trusted := jBool j "trusted_header", statement := jStr j "statement",
           proof := jStr j "proof", heartbeats := jNat j "heartbeats" 200000,
           allowNative := jBool j "allow_native_decide", wantSteps := jBool j "want_steps",
           strictAxioms := jBool j "strict_axioms", answers := ← parseAnswers j,
           recDepthCap := jNat j "rec_depth_cap" 0 }

/-! ## Running command elaboration by hand -/

def mkInput (src : String) : Parser.InputContext :=
  { inputString := src, fileName := "<item>", fileMap := src.toFileMap }

def runCmd (input : Parser.InputContext) (s : Command.State) (stx : Syntax) :
    IO Command.State := do
  let ctx : Command.Context :=
    { fileName := input.fileName, fileMap := input.fileMap, snap? := none, cancelTk? := none }
  match ← ((elabCommandTopLevel stx ctx).run s).toBaseIO with
  | .ok (_, s') => return s'
  | .error e => throw (IO.userError ("elaboration raised: " ++ (← e.toMessageData.toString)))

def withOption (s : Command.State) (f : Options → Options) : Command.State :=
  match s.scopes with
  | sc :: rest => { s with scopes := { sc with opts := f sc.opts } :: rest }
  | [] => s

def pmctxOf (s : Command.State) : Parser.ParserModuleContext :=
  match s.scopes with
  | sc :: _ => { env := s.env, options := sc.opts, currNamespace := sc.currNamespace,
                 openDecls := sc.openDecls }
  | [] => { env := s.env, options := {} }

/-- Parse every command of `input` from state `s` without elaborating any.  Returns the commands
(end of input excluded) and the parser's messages. -/
def parseAll (input : Parser.InputContext) (s : Command.State) : List Syntax × MessageLog :=
  let rec go (fuel : Nat) (ps : Parser.ModuleParserState) (msgs : MessageLog) (acc : List Syntax) :
      List Syntax × MessageLog :=
    match fuel with
    | 0 => (rev acc, msgs)
    | fuel + 1 =>
      let (stx, ps', msgs') := Parser.parseCommand input (pmctxOf s) ps msgs
      if stx.isOfKind ``Parser.Command.eoi then (rev acc, msgs')
      else go fuel ps' msgs' (stx :: acc)
  go 64 {} {} []

/-! ## Syntax policy (judged on Lean's own syntax tree)

Nothing of an item runs as code while it is checked.  Lean *evaluates* (compiles and runs in its
interpreter) some terms while elaborating: tactic configuration terms (`simp (config := e)`,
`(field := e)`, `{ field := e }`: `declare_config_elab` runs them with `evalExpr`, unsafe
included), `native_decide`/`decide +native` (the goal's `Decidable` instance is compiled and
run), `Lean.reduceBool c`/`Lean.reduceNat c` (`whnf` and the kernel run `c`), and code-running
syntax (`run_tac`, `by_elab`, `#eval`, `eval%`, `run_io`, ...).  The policy below refuses each of
these before anything is elaborated:
* configuration values must be *inert*: literals, names (library constants), `.ctor` names,
  lists, anonymous constructors, and `{ field := inert, ... }`, or a name applied to inert
  arguments; everything else (`fun`, `do`, `let`, `by`, strings, ...) is refused;
* `native_decide`, `+native`/`(native := ..)`, and the names `reduceBool`, `reduceNat`,
  `ofReduceBool`, `ofReduceNat`, `trustCompiler` only with `allow_native_decide`;
* names of the unsafe escape hatches (`unsafeBaseIO`, `unsafeCast`, `ptrAddrUnsafe`, ...);
* code-running syntax kinds, and as a backstop for kinds this file cannot name (Mathlib, Aesop,
  Lake: their keywords), any of their keywords as a token;
* every `set_option` node (found by its `set_option` token, whatever its kind: grind's
  interactive one included) is judged against the allowlist.
The whole tree is searched, so `conv`, `calc`, `have … := by`, `grind => …` are judged too. -/

/-- A refusal: its category (stable, machine-readable: see README "Refusal categories") and a
reason for people. -/
structure Refusal where
  category : String
  reason : String

/-- Test-only switch: `false` disables the refusals of evaluated code (configuration terms,
native evaluation, unsafe names, the keyword backstop), so a test can show each attack is live.
The checker shipped always has `true`. -/
def refuseEvaluation : Bool := true

/-- Test-only switch: `false` leaves the process unlocked (see `lockdown`). -/
def lockdownEnabled : Bool := true

/-- Syntax kinds that run code, read host files or change the environment while a proof is
checked.  The names are the kinds Lean's parser gives (checked against the library's `.olean`s:
`by_elab`, `run_cmd`, `run_elab`, `run_meta` and `include_str` are declared in `namespace Lean`,
so their kinds are `Lean.byElab`, ...; Mathlib's `eval%` is `Mathlib.Meta.eval_expr`). -/
def forbiddenKinds : List Name :=
  [`Lean.Parser.Tactic.runTac, `Lean.byElab, `Lean.runCmd, `Lean.runElab, `Lean.runMeta,
   `Lean.includeStr, `Mathlib.Meta.eval_expr, `Lean.Parser.Command.eval,
   `Lean.Parser.Command.evalBang,
   `Lean.Parser.Command.elab, `Lean.Parser.Command.elab_rules, `Lean.Parser.Command.macro,
   `Lean.Parser.Command.macro_rules, `Lean.Parser.Command.syntax,
   `Lean.Parser.Command.attribute,
   -- `@[...]` inside a term (`let rec @[tactic ..] f ...`, `where`): Lean would apply it
   -- (register a tactic or elaborator, `implemented_by`, `simp`, `instance`) while checking
   `Lean.Parser.Term.attributes, `Lean.Parser.Term.attrInstance,
   -- `unsafe t` elaborates `t` as unsafe code behind an `implemented_by`
   `Lean.Parser.Term.unsafe,
   -- Lake (`run_io`, `meta if`), Mathlib (`trace e`, `success_if_fail_with_msg e`, `run_conv`),
   -- Plausible, ProofWidgets, bv_decide's proof-file reader: each evaluates a term of the item
   `Lake.DSL.runIO, `Lake.DSL.metaIf, `Lean.Parser.Tactic.trace,
   `Mathlib.Tactic.successIfFailWithMsg, `plausibleSyntax, `slimCheckSyntax,
   `ProofWidgets.withPanelWidgetsTacticStx, `Lean.Parser.Tactic.bvCheck]

/-- Keywords of code-running syntax, refused as tokens wherever they occur: the backstop for
kinds of libraries a header may import whose names this file cannot check (macros such as
Mathlib's `run_conv` expand to `run_tac` after this check). -/
def forbiddenTokens : List String :=
  ["run_tac", "run_conv", "by_elab", "eval%", "include_str", "run_io", "run_cmd", "run_elab",
   "run_meta", "#eval", "#eval!", "on_failure", "plausible", "slim_check", "with_panel_widgets",
   "success_if_fail_with_msg", "bv_check", "sudo", "#exit"]

/-- Names whose use makes Lean or its kernel run compiled code (native evaluation). -/
def nativeNames : List String :=
  ["reduceBool", "reduceNat", "ofReduceBool", "ofReduceNat", "trustCompiler"]

/-- The unsafe escape hatches (only evaluated code could use them: a theorem is safe). -/
def unsafeNames : List String :=
  ["unsafeBaseIO", "unsafeIO", "unsafeEIO", "unsafeCast", "ptrAddrUnsafe", "withPtrAddrUnsafe",
   "ptrEq", "ptrEqList", "unsafeCastImpl", "evalConst", "evalConstCheck", "evalExpr",
   "evalExpr'", "evalTerm"]

def toNameSet : List Name → NameSet
  | [] => {}
  | n :: ns => (toNameSet ns).insert n

/-- The lists above as sets (library code: a lookup per syntax node, not a list scan in the
interpreter). -/
def forbiddenKindSet : NameSet := toNameSet forbiddenKinds
def forbiddenTokenSet : NameSet := toNameSet (mapL Name.mkSimple forbiddenTokens)
def nativeNameSet : NameSet := toNameSet (mapL Name.mkSimple nativeNames)
def unsafeNameSet : NameSet := toNameSet (mapL Name.mkSimple unsafeNames)

def allowedOption (n : Name) : Bool :=
  n == `maxRecDepth || n == `maxHeartbeats || (`pp).isPrefixOf n

/-- The largest `maxRecDepth` an untrusted header may set (embedded: deeper recursion overflows
the JavaScript stack and kills the process instead of failing the item; an item's own
`set_option maxRecDepth N` is clamped to the request's `rec_depth_cap`, see `clampRecDepth`). -/
def maxRecDepthCap : Nat := 512

def lastComponent (n : Name) : String :=
  match n.eraseMacroScopes with
  | .str _ s => s
  | _ => ""

def atomVal? (stx : Syntax) : Option String :=
  match stx with
  | .atom _ v => some v
  | _ => none

/-- A configuration value that cannot run code: literals, names, `.ctor`, lists, anonymous
constructors, parentheses, `{ field := inert, ... }` (no `with` source), and a name applied to
inert arguments (`.ofNat 3`, `.pos [1]`). -/
partial def inert (stx : Syntax) : Bool :=
  match stx with
  | .ident .. => true
  | .atom .. => true
  | .missing => true
  | .node _ kind args =>
    let all := fun (l : List Syntax) => every inert l
    if kind == `num || kind == `scientific || kind == `char || kind == nullKind ||
       kind == ``Parser.Term.dotIdent || kind == ``Parser.Term.paren ||
       kind == ``Parser.Term.hygienicLParen || kind == `hygieneInfo ||
       kind == ``Parser.Term.anonymousCtor || kind == `«term[_]» || kind == `«term{}» ||
       kind == choiceKind || kind == ``Parser.Term.structInstFields ||
       kind == ``Parser.Term.structInstField || kind == ``Parser.Term.structInstLVal ||
       kind == ``Parser.Term.structInstFieldDef || kind == ``Parser.Term.optEllipsis ||
       kind == `«term-_» then
      all (arrToList args)
    else if kind == ``Parser.Term.structInst then
      -- `{ src with ... }` evaluates `src`
      args.size ≥ 2 && args[1]!.getNumArgs == 0 && all (arrToList args)
    else if kind == ``Parser.Term.app then
      args.size == 2 && (args[0]!.isIdent || args[0]!.isOfKind ``Parser.Term.dotIdent) &&
        all (arrToList args[1]!.getArgs)
    else false

/-- `native := v` with `v` other than `false`. -/
def nativeOn (v : Syntax) : Bool := !(v.isIdent && v.getId.eraseMacroScopes == `false)

/-- The index of a `set_option` token among `args` (any kind: command, term, tactic, grind's
interactive mode, Mathlib's `sudo` wrapper). -/
partial def setOptionAt (args : Array Syntax) (i : Nat) : Option Nat :=
  if h : i < args.size then
    if atomVal? args[i] == some "set_option" then some i else setOptionAt args (i + 1)
  else none
/-- The option after the `set_option` token at `i`: its name (at `i+1`) and its value if it is a
numeral (at `i+3`; 0 otherwise). -/
def optionAt (args : Array Syntax) (i : Nat) : Name × Nat :=
  ((args.getD (i + 1) .missing).getId.eraseMacroScopes,
   ((args.getD (i + 3) .missing).isNatLit?).getD 0)

/-- Why the option set at `i` (see `optionAt`) is not allowed in a proof, if it is not. -/
def optionProblem (args : Array Syntax) (i : Nat) (heartbeats : Nat) : Option Refusal :=
  let (opt, v) := optionAt args i
  if !allowedOption opt then
    some ⟨"set_option", "set_option " ++ opt.toString ++ " is not allowed in a proof (allowed: maxRecDepth, pp.*, maxHeartbeats up to the checker's limit)"⟩
  else if opt == `maxHeartbeats && (v == 0 || v > heartbeats) then
    some ⟨"set_option", "set_option maxHeartbeats " ++ toString v ++ " exceeds the checker's limit (" ++ toString heartbeats ++ ")"⟩
  else none

/-- `set_option maxRecDepth N` with `N` above `cap` is elaborated as `cap` (0: no cap).  On the
embedded Lean a deep recursion overflows the JavaScript stack and kills the process (measured:
`iterate 3000 trace_state` under maxRecDepth 1024 does, under 512 it fails the item), so there
the cap is Lean's default, 512: the item then fails with "maximum recursion depth" instead. -/
partial def clampRecDepth (cap : Nat) (stx : Syntax) : Syntax :=
  if cap == 0 then stx else
  match stx with
  | .node info kind args =>
    let l := mapL (clampRecDepth cap) (arrToList args)
    let arr := l.toArray
    match setOptionAt arr 0 with
    | some i =>
      let (opt, v) := optionAt arr i
      if opt == `maxRecDepth && v > cap then
        .node info kind (setL l (i + 3) (Syntax.mkNumLit (toString cap))).toArray
      else .node info kind arr
    | none => .node info kind arr
  | _ => stx
/-- A configuration item `(field := value)` (core's `valConfigItem`, Mathlib's and Aesop's
`(config := e)` clauses: any `( name := value )` node but a named argument), as the field's
name and the value; or a structure-instance field `field := value` inside one. -/
def configValue? (kind : Name) (args : Array Syntax) : Option (String × Syntax) :=
  if kind == ``Parser.Term.namedArgument then none
  else if kind == ``Parser.Term.structInstField && args.size ≥ 2 then
    -- `{ native := true }`: (lval, [binders, type?, fieldDef(":=", [], value)])
    let lval := args[0]!
    let field := lastComponent lval[0].getId
    match hd? (rev (arrToList args[1]!.getArgs)) with
    | some d => if d.isOfKind ``Parser.Term.structInstFieldDef && d.getNumArgs ≥ 3 then
        some (field, d[2]) else none
    | none => none
  else if args.size == 5 && atomVal? args[0]! == some "(" && atomVal? args[2]! == some ":=" &&
      atomVal? args[4]! == some ")" then
    match args[1]! with
    | .ident _ _ n _ => some (lastComponent n, args[3]!)
    | .atom _ a => if a == "config" || a == "simp_config" || a == "options" then
        some (a, args[3]!) else none
    | _ => none
  else none

/-- First policy violation inside `stx`, if any. -/
partial def findViolation (stx : Syntax) (heartbeats : Nat) (allowNative : Bool) :
    Option Refusal :=
  match stx with
  | .ident _ _ val _ =>
    let c := Name.mkSimple (lastComponent val)
    if refuseEvaluation && !allowNative && nativeNameSet.contains c then
      some ⟨"native_decide", "`" ++ val.toString ++ " makes Lean run compiled code (native evaluation; pass --allow-native-decide to accept)"⟩
    else if refuseEvaluation && unsafeNameSet.contains c then
      some ⟨"code_evaluation", "`" ++ val.toString ++ "` is an unsafe escape hatch; it is not allowed in a proof"⟩
    else none
  | .atom _ v =>
    if refuseEvaluation && forbiddenTokenSet.contains (Name.mkSimple v) then
      some ⟨"code_evaluation", "`" ++ v ++ "` runs code; it is not allowed in a proof"⟩
    else if refuseEvaluation && !allowNative && v == "native_decide" then
      some ⟨"native_decide", "native_decide compiles and runs code (pass --allow-native-decide to accept)"⟩
    else none
  | .node _ kind args =>
    if forbiddenKindSet.contains kind then
      some ⟨"code_evaluation", "`" ++ kind.toString ++ "` syntax is not allowed in a proof (it runs code or changes the environment)"⟩
    else match setOptionAt args 0 with
    | some i =>
      match optionProblem args i heartbeats with
      | some r => some r
      | none => goArgs (arrToList args) heartbeats allowNative
    | none =>
    match configValue? kind args with
    | some (field, v) =>
      if refuseEvaluation && !allowNative && field == "native" && nativeOn v then
        some ⟨"native_decide", "`native := ..` compiles and runs code (pass --allow-native-decide to accept)"⟩
      else if refuseEvaluation && !inert v then
        some ⟨"code_evaluation", "the configuration value of `" ++ field ++ "` is not a literal; Lean would run it as code (write `+flag`, `-flag`, or `(field := literal)`)"⟩
      else goArgs (arrToList args) heartbeats allowNative
    | none =>
      if refuseEvaluation && !allowNative && kind == ``Parser.Tactic.posConfigItem &&
          args.size ≥ 2 && lastComponent args[1]!.getId == "native" then
        some ⟨"native_decide", "`+native` compiles and runs code (pass --allow-native-decide to accept)"⟩
      else goArgs (arrToList args) heartbeats allowNative
  | _ => none
where
  goArgs : List Syntax → Nat → Bool → Option Refusal
    | [], _, _ => none
    | a :: rest, hb, nat => match findViolation a hb nat with
      | some r => some r
      | none => goArgs rest hb nat

/-- The declaration kinds an item may be. -/
def declKinds : List Name :=
  [``Parser.Command.theorem, ``Parser.Command.example, `Mathlib.Tactic.lemma, `lemma]

/-- Checks the single command of an item: a declaration of an allowed kind, with no attributes
and no `unsafe`/`partial`/`nonrec` modifiers, and no forbidden syntax inside. -/
def declProblem (stx : Syntax) (heartbeats : Nat) (allowNative : Bool) : Option Refusal :=
  if !stx.isOfKind ``Parser.Command.declaration then
    some ⟨"extra_command", "the item is a `" ++ stx.getKind.toString ++ "` command, not a theorem"⟩
  else
    let mods := stx[0]
    let decl := stx[1]
    if !hasName declKinds decl.getKind then
      some ⟨"extra_command", "the item declares a `" ++ decl.getKind.toString ++ "`; only theorem/lemma/example are checked"⟩
    else if !mods[1].isNone then
      some ⟨"code_evaluation", "attributes are not allowed on the checked declaration"⟩
    else if !mods[4].isNone then
      some ⟨"code_evaluation", "`unsafe` is not allowed"⟩
    else if !mods[5].isNone then
      some ⟨"code_evaluation", "`partial`/`nonrec` modifiers are not allowed"⟩
    else findViolation stx heartbeats allowNative

/-- The declared name of a theorem/lemma command (`none` for `example`). -/
def declName? (stx : Syntax) : Option Name :=
  match stx.find? (·.isOfKind ``Parser.Command.declId) with
  | some d => some d[0].getId
  | none => none

/-- An answer slot: a `def`/`abbrev NAME ... := sorry` command, as its declared name and the
`sorry` term (PutnamBench's `abbrev putnam_..._solution : T := sorry`). -/
def sorryDef? (stx : Syntax) : Option (Name × Syntax) :=
  if !stx.isOfKind ``Parser.Command.declaration then none else
  let decl := stx[1]
  if !(decl.isOfKind ``Parser.Command.definition || decl.isOfKind ``Parser.Command.abbrev) then none
  else match decl.find? (·.isOfKind ``Parser.Command.declValSimple), declName? decl with
    | some v, some n => if v[1].isOfKind ``Parser.Term.sorry then some (n, v[1]) else none
    | _, _ => none

/-- Header commands an untrusted header may hold. -/
def headerKinds : List Name :=
  [``Parser.Command.open, ``Parser.Command.namespace, ``Parser.Command.section,
   ``Parser.Command.end, ``Parser.Command.universe, ``Parser.Command.set_option]

/-- Why an untrusted header command is refused (every reason starts with "untrusted header: ",
which `checkReq` turns into the refusal category `untrusted_header`). -/
def headerProblem (stx : Syntax) : Option String :=
  if !hasName headerKinds stx.getKind then
    some ("untrusted header: it may only hold import/open/namespace/section/end/universe/set_option commands; found `" ++ stx.getKind.toString ++ "`")
  else if stx.isOfKind ``Parser.Command.set_option then
    let opt := stx[1].getId.eraseMacroScopes
    let v := (stx[3].isNatLit?).getD 0
    if opt == `maxRecDepth && (v == 0 || v > maxRecDepthCap) then
      some ("untrusted header: set_option maxRecDepth " ++ toString v ++ " exceeds the checker's cap (" ++ toString maxRecDepthCap ++ ")")
    else if opt == `autoImplicit || opt == `relaxedAutoImplicit || (`pp).isPrefixOf opt ||
        opt == `maxRecDepth then none
    else some ("untrusted header: set_option " ++ opt.toString ++ " is not allowed")
  else none

/-! ## Base states per header (bounded LRU) -/

structure Base where
  /-- header, trust and answers (`baseKey`) -/
  key : String
  state : Command.State
  /-- trusted headers with an answer slot: the state and parser position before the first slot,
  from where `mkAnswered` runs the rest of the header with answers in the slots -/
  resume : Option (Command.State × Parser.ModuleParserState) := none
  /-- answered bases: the constants the answers added (a `sorry` there is the item's own) -/
  answerConsts : List Name := []

/-- The cache key of a base state: header, trust and answers as one JSON text (unambiguous,
whatever characters the answers hold). -/
def baseKey (header : String) (trusted : Bool) (answers : List (String × String)) : String :=
  let ans := mapL (fun (a : String × String) => Json.arr #[toJson a.1, toJson a.2]) answers
  (Json.arr #[toJson header, toJson trusted, Json.arr ans.toArray]).compress

def joinMsgs (msgs : MessageLog) : IO String := do
  let ms ← mapIO (fun (m : Message) => m.toString) msgs.toList
  return String.intercalate "; " ms

/-- Import sets whose environment a process keeps for every later header with the same imports.
An import is never freed (its module data stays in memory for the life of the process), so
importing `Init` again for each new header grew the embedded process by ~150 MB a header until
its 4 GB WebAssembly memory ran out (the process hung after ~24 headers); kept, a new header
costs its own commands only.  Beyond this many import sets the process imports without keeping
(the driver's memory cap and restart are the backstop). -/
def importedCacheSize : Nat := 4

/-- The environment of `imports`, imported once per process (see `importedCacheSize`). -/
def importedEnv (imported : IO.Ref (List (String × Environment))) (imports : Array Import) :
    IO (Except String Environment) := do
  let key := String.intercalate "," (mapL (fun (i : Import) =>
    i.module.toString ++ (if i.importAll then " all" else "") ++
      (if i.isExported then "" else " private") ++ (if i.isMeta then " meta" else "")) imports.toList)
  match first? (fun (e : String × Environment) => e.1 == key) (← imported.get) with
  | some e => return .ok e.2
  | none =>
    let env ← try importModules imports {} (loadExts := true)
      catch e => return .error (toString e)
    let kept ← imported.get
    if lenL kept < importedCacheSize then imported.set ((key, env) :: kept)
    return .ok env

/-- Elaborate a header into a base state, or say why it cannot be used. -/
def mkBase (fileEnv : Environment) (imported : IO.Ref (List (String × Environment)))
    (header : String) (trusted : Bool) :
    IO (Except String (Command.State × Option (Command.State × Parser.ModuleParserState))) := do
  let input := mkInput header
  let (hdr, ps, msgs) ← Parser.parseHeader input
  if msgs.hasErrors then return .error ("header does not parse: " ++ (← joinMsgs msgs))
  -- an untrusted header is judged once before its imports are paid for, with the checker's own
  -- (larger) parser tables; the exact judgement follows, command by command, after the imports
  if !trusted then
    let rec pre (fuel : Nat) (ps : Parser.ModuleParserState) : Option String :=
      match fuel with
      | 0 => none
      | fuel + 1 =>
        let (stx, ps', pmsgs) := Parser.parseCommand input { env := fileEnv, options := {} } ps {}
        if pmsgs.hasErrors || stx.isOfKind ``Parser.Command.eoi then none
        else match headerProblem stx with
          | some why => some why
          | none => pre fuel ps'
    if let some why := pre 10000 ps then return .error why
  let imports := headerToImports ⟨hdr⟩
  let env ← match ← importedEnv imported imports with
    | .ok env => pure env
    | .error e => return .error ("header imports cannot be loaded: " ++ e)
  let opts := ({} : Options).setBool `Elab.async false
  -- one header command at a time: parse, judge (untrusted), then elaborate it
  let rec go (fuel : Nat) (s : Command.State) (ps : Parser.ModuleParserState)
      (resume : Option (Command.State × Parser.ModuleParserState)) :
      IO (Except String (Command.State × Option (Command.State × Parser.ModuleParserState))) := do
    match fuel with
    | 0 => return .error "header too long"
    | fuel + 1 =>
      let (stx, ps', pmsgs) := Parser.parseCommand input (pmctxOf s) ps {}
      if pmsgs.hasErrors then return .error ("header does not parse: " ++ (← joinMsgs pmsgs))
      if stx.isOfKind ``Parser.Command.eoi then return .ok (s, resume)
      if !trusted then
        if let some why := headerProblem stx then return .error why
      let resume := if trusted && resume.isNone && (sorryDef? stx).isSome then some (s, ps) else resume
      go fuel (← runCmd input s stx) ps' resume
  match ← go 100000 (Command.mkState env {} opts) ps none with
  | .error e => return .error e
  | .ok (s, resume) =>
    if s.messages.hasErrors then
      return .error ("header does not elaborate: " ++ (← joinMsgs s.messages))
    return .ok ({ s with messages := {}, infoState := {} }, resume)

/-! ## Messages, relative to the proof text -/

/-- Positions are reported relative to the proof: line 1 is the proof's first line, columns are
code points; `base` is the position where the proof starts in the item's text. -/
def relLine (base p : Position) : Int := (p.line : Int) - base.line + 1
def relCol (base p : Position) : Int :=
  if p.line == base.line then (p.column : Int) - base.column else p.column

def sevStr : MessageSeverity → String
  | .error => "error" | .warning => "warning" | .information => "information"

def msgJson (base : Position) (m : Message) : IO Json := do
  let text ← m.data.toString
  let endp := m.endPos.getD m.pos
  return Json.mkObj [("severity", sevStr m.severity), ("line", toJson (relLine base m.pos)),
    ("column", toJson (relCol base m.pos)), ("end_line", toJson (relLine base endp)),
    ("end_column", toJson (relCol base endp)), ("text", text),
    ("unsolved_goals", toJson (m.data.hasTag (· == `Tactic.unsolvedGoals)))]

/-! ## Axiom audit -/

def standardAxioms : List Name := [``propext, ``Classical.choice, ``Quot.sound]
def nativeAxioms : List Name := [``Lean.ofReduceBool, ``Lean.ofReduceNat, ``Lean.trustCompiler]

def constDeps (ci : ConstantInfo) : List Name :=
  app (arrToList ci.type.getUsedConstants)
    (match ci.value? (allowOpaque := true) with
     | some v => arrToList v.getUsedConstants
     | none => [])

/-- Every constant reachable from `todo` through types and values, with the order found. -/
partial def reach (env : Environment) (todo : List Name) (seen : NameSet) (acc : List Name) :
    List Name :=
  match todo with
  | [] => rev acc
  | n :: rest =>
    if seen.contains n then reach env rest seen acc else
    match env.find? n with
    | none => reach env rest (seen.insert n) (n :: acc)
    | some ci => reach env (app (constDeps ci) rest) (seen.insert n) (n :: acc)

def nameOf (ci : ConstantInfo) : Name := ci.toConstantVal.name

def isAxiomLike (ci : ConstantInfo) : Bool :=
  match ci with
  | .axiomInfo _ => true
  | _ => false

/-- Replay `cs` into the kernel environment of `base`, each after the new constants it uses
(as lean4checker does): the kernel checks every declaration again with default options. -/
def replay (base : Environment) (cs : List ConstantInfo) : Except String Unit := do
  let names := mapL (fun ci => nameOf ci) cs
  let rec order (fuel : Nat) (todo : List ConstantInfo) (done : List Name)
      (out : List ConstantInfo) : Except String (List ConstantInfo) :=
    match fuel with
    | 0 => .error "cyclic auxiliary declarations"
    | fuel + 1 =>
      if nil? todo then .ok (rev out) else
      let isReady := fun (ci : ConstantInfo) =>
        every (fun d => !hasName names d || hasName done d || d == nameOf ci) (constDeps ci)
      let ready := keep isReady todo
      let rest := keep (fun ci => !isReady ci) todo
      if nil? ready then .error "cyclic auxiliary declarations" else
      order fuel rest (app (mapL (fun ci => nameOf ci) ready) done) (app (rev ready) out)
  let ordered ← order (len cs + 1) cs [] []
  let rec add (kenv : Kernel.Environment) : List ConstantInfo → Except String Unit
    | [] => .ok ()
    | ci :: rest => do
      let decl ← match ci with
        | .thmInfo v => pure (Declaration.thmDecl v)
        | .defnInfo v => pure (Declaration.defnDecl v)
        | .opaqueInfo v => pure (Declaration.opaqueDecl v)
        | _ => throw ("the proof declares `" ++ (nameOf ci).toString ++ "`, which is not a theorem or definition")
      match kenv.addDecl {} decl with
      | .ok k => add k rest
      | .error _ => throw ("the kernel rejects `" ++ (nameOf ci).toString ++ "`")
  add base.toKernelEnv ordered

/-! ## Tactic states from the info trees -/

structure Step where
  start : Nat
  stop : Nat
  depth : Nat  -- `by` blocks around it: 1 for the proof's own tactics, 2 inside `have … := by`
  kind : String
  before : String
  after : String

def ppGoals (ci : ContextInfo) (mctx : MetavarContext) (goals : List MVarId) : IO String := do
  if nil? goals then return "no goals"
  let f ← ({ ci with mctx } : ContextInfo).ppGoals goals
  return f.pretty.trimAscii.toString

def skipTacticKinds : List Name :=
  [nullKind, ``Parser.Tactic.tacticSeq, ``Parser.Tactic.tacticSeq1Indented,
   ``Parser.Tactic.tacticSeqBracketed, ``Parser.Term.byTactic, `Lean.cdotTk, `by]

/-- Code-point offset of byte position `p` in `s`. -/
def cpOffset (s : String) (p : String.Pos.Raw) : Nat :=
  (String.Pos.Raw.extract s 0 p).length

/-- The elements of a persistent array, in order (written out: see the list helpers). -/
partial def paToList {α} [Inhabited α] (p : PersistentArray α) : List α :=
  let rec nodes : List (PersistentArrayNode α) → List α
    | [] => []
    | .leaf vs :: rest => app (arrToList vs) (nodes rest)
    | .node cs :: rest => nodes (app (arrToList cs) rest)
  app (nodes [p.root]) (arrToList p.tail)

/-- Byte ranges of every `by` block in `stx`. -/
partial def byRanges (stx : Syntax) : List (Nat × Nat) :=
  let here := if stx.isOfKind ``Parser.Term.byTactic then
      match stx.getPos? (canonicalOnly := true), stx.getTailPos? (canonicalOnly := true) with
      | some a, some b => [(a.byteIdx, b.byteIdx)]
      | _, _ => []
    else []
  let rec kids : List Syntax → List (Nat × Nat)
    | [] => []
    | k :: rest => app (byRanges k) (kids rest)
  app here (kids (arrToList stx.getArgs))

def byDepth (ranges : List (Nat × Nat)) (pos : Nat) : Nat :=
  len (keep (fun (a, b) => a < pos && pos < b) ranges)

partial def visitTree (src : String) (proofStart : String.Pos.Raw) (acc : IO.Ref (List Step))
    (ranges : List (Nat × Nat)) (ctx? : Option ContextInfo) (t : InfoTree) : IO Unit := do
  match t with
  | .context pci t' => visitTree src proofStart acc ranges (pci.mergeIntoOuter? ctx?) t'
  | .node info children =>
    if let some ctx := ctx? then
      if let .ofTacticInfo ti := info then
        let stx := ti.stx
        if !hasName skipTacticKinds stx.getKind then
          if let (some a, some b) := (stx.getPos? (canonicalOnly := true),
                                       stx.getTailPos? (canonicalOnly := true)) then
            if a.byteIdx ≥ proofStart.byteIdx then
              let before ← ppGoals ctx ti.mctxBefore ti.goalsBefore
              let after ← ppGoals ctx ti.mctxAfter ti.goalsAfter
              let base := cpOffset src proofStart
              let depth := byDepth ranges a.byteIdx
              acc.modify fun l => { start := cpOffset src a - base, stop := cpOffset src b - base,
                                    depth, kind := stx.getKind.toString, before, after } :: l
    let rec goKids : List InfoTree → IO Unit
      | [] => pure ()
      | c :: rest => do visitTree src proofStart acc ranges ctx? c; goKids rest
    goKids (paToList children)
  | .hole _ => pure ()

def collectSteps (src : String) (proofStart : String.Pos.Raw) (cmd : Syntax)
    (trees : PersistentArray InfoTree) : IO (List Step) := do
  let ranges := byRanges cmd
  let acc ← IO.mkRef ([] : List Step)
  let rec go : List InfoTree → IO Unit
    | [] => pure ()
    | t :: rest => do visitTree src proofStart acc ranges none t; go rest
  go (paToList trees)
  return rev (← acc.get)

/-! ## Checking one item -/

structure Outcome where
  verdict : String
  reason : String := ""
  messages : List Json := []
  steps : List Step := []
  initialGoals : String := ""
  axioms : List Name := []
  commands : Nat := 0
  /-- why a non-proof was refused, as a stable category (see `Refusal`); "" otherwise -/
  refusal : String := ""
  /-- the limit of Lean's that stopped the item: "heartbeats" or "rec_depth"; "" if none (the
  driver adds "wall_clock" and "memory" when it kills the process) -/
  limit : String := ""

def containsStr (hay needle : String) : Bool :=
  match hay.splitOn needle with
  | [_] => false
  | _ => true

def elabOne (input : Parser.InputContext) (base : Command.State) (stx : Syntax)
    (heartbeats : Nat) : IO Command.State := do
  let s := withOption base fun o => (o.setNat `maxHeartbeats heartbeats).setBool `Elab.async false
  let s := { s with messages := {}, infoState := { enabled := true } }
  runCmd input s stx

/-- `n` names the declaration written `short` (in the current namespace or at the root). -/
def namesDecl (short n : Name) : Bool :=
  n == short || (short.toString.length < n.toString.length &&
    n.toString.endsWith ("." ++ short.toString))

def jsonStrs (l : List String) : Json := Json.arr (mapL (fun (x : String) => toJson x) l).toArray

/-- Expected theorems kept per process (header + statement -> the statement's constant). -/
def stmtCacheSize : Nat := 256

/-! ## Answer slots

A benchmark whose theorem is about an answer it does not give (PutnamBench's plain variant:
`abbrev putnam_..._solution : T := sorry` in the trusted header) is proved together with an
answer the policy writes.  The answer is untrusted text, judged like a proof: it must parse as
one term by itself; the slot's command with `(TERM)` in place of `sorry` must parse as exactly one
command declaring the same name with the same kind, and pass the proof syntax policy; it is
elaborated with the item's heartbeat limit; its definition must have the slot's type; everything
new it reaches is re-checked by the kernel from the state before it; a `sorry` in it is the
item's own (incomplete), and the item's axiom audit reaches through it.  The statement's
expected type still comes from the header with `sorry` in the slot, so an answer cannot change
what the statement says. -/

/-- The names of the constants declared in this file's environment (not imported): the keys of
the constant map's second stage, walked by hand (see the list helpers). -/
partial def nodeKeys (n : PersistentHashMap.Node Name ConstantInfo) (acc : List Name) : List Name :=
  match n with
  | .entries es => go (arrToList es) acc
  | .collision ks _ _ => app (arrToList ks) acc
where
  go : List (PersistentHashMap.Entry Name ConstantInfo (PersistentHashMap.Node Name ConstantInfo)) →
      List Name → List Name
    | [], acc => acc
    | .entry k _ :: rest, acc => go rest (k :: acc)
    | .ref m :: rest, acc => go rest (nodeKeys m acc)
    | .null :: rest, acc => go rest acc

def localConsts (env : Environment) : List Name := nodeKeys env.constants.map₂.root []

def resolveDecl (s : Command.State) (n : Name) : Option Name :=
  if s.env.contains n then some n else
  let ns := match s.scopes with | sc :: _ => sc.currNamespace | [] => .anonymous
  if s.env.contains (ns ++ n) then some (ns ++ n) else none

def answerOutcome (n : Name) (verdict why : String) (category : Option String := none) :
    Except Outcome (Command.State × List Name) :=
  let refusal := if verdict == "rejected" then category.getD "answer_refused" else ""
  .error { verdict, reason := "the answer `" ++ n.toString ++ "` " ++ why, refusal }

/-- Elaborate the slot command `stx` (declaring `n`, hole `hole`) of `header` with `term` for its
`sorry`.  Returns the state after it and the constants the answer added, or the item's outcome. -/
def answerSlot (header : String) (s : Command.State) (stx : Syntax) (n : Name) (hole : Syntax)
    (term : String) (heartbeats : Nat) (refEnv : Environment) :
    IO (Except Outcome (Command.State × List Name)) := do
  let fail := answerOutcome n
  -- the answer alone: one term, and nothing the proof syntax policy forbids (judged on the
  -- answer's own syntax, not on the trusted slot around it)
  match Parser.runParserCategory s.env `term term "<answer>" with
  | .error e => return fail "failed" ("does not parse as one term: " ++ e)
  | .ok t => if let some why := findViolation t heartbeats false then
      return answerOutcome n "rejected" why.reason (some why.category)
  let (some a, some b, some c, some d) :=
      (stx.getPos?, hole.getPos?, hole.getTailPos?, stx.getTailPos?)
    | return fail "error" "has no source position in the header"
  -- (a newline before `)`: a term may end in a line comment)
  let text := String.Pos.Raw.extract header a b ++ "(" ++ term ++ "\n)" ++
    String.Pos.Raw.extract header c d
  let input := mkInput text
  let (cmds, pmsgs) := parseAll input s
  if pmsgs.hasErrors then return fail "failed" ("does not parse in its slot: " ++ (← joinMsgs pmsgs))
  let some cmd := hd? cmds | return fail "failed" "does not parse in its slot"
  if len cmds != 1 then
    return fail "rejected" ("makes Lean parse " ++ toString (len cmds) ++ " commands in its slot; an answer is one term")
  if cmd[1].getKind != stx[1].getKind || declName? cmd[1] != some n then
    return fail "rejected" "changes the slot's declaration"
  if let some why := findViolation cmd[1] heartbeats false then
    return answerOutcome n "rejected" why.reason (some why.category)
  let s1 ← elabOne input s cmd heartbeats
  if s1.messages.hasErrors then
    return fail "failed" ("does not elaborate: " ++ (← joinMsgs s1.messages))
  let some full := resolveDecl s1 n | return fail "error" "was not declared"
  let (some ci, some slot) := (s1.env.find? full, refEnv.find? full)
    | return fail "error" "has no slot in the header"
  if ci.type != slot.type then return fail "rejected" "has a different type from its slot"
  -- everything the answer added (its definition, auxiliary and `let rec` declarations, whether
  -- the definition reaches them or not)
  let consts := keep (fun m => !s.env.contains m) (localConsts s1.env)
  let cis := filterSome (mapL (fun m => s1.env.find? m) consts)
  if len cis != len consts then return fail "rejected" "adds constants the checker cannot read"
  match replay s.env cis with
  | .error e => return fail "rejected" ("fails the kernel re-check: " ++ e)
  | .ok () => pure ()
  -- the header goes on with its own options, messages and info state
  return .ok ({ s1 with scopes := s.scopes, messages := s.messages, infoState := s.infoState },
              consts)

/-- The base state of `header` with `answers` in its slots: the header runs again from its first
slot (`Base.resume` of the base without answers), trusted commands as they are. -/
def mkAnswered (header : String) (ref : Base) (answers : List (String × String))
    (heartbeats : Nat) : IO (Except Outcome (Command.State × List Name)) := do
  let some (s0, ps0) := ref.resume
    | return .error { verdict := "error", reason := "answers given, but the header has no answer slot (a trusted `def`/`abbrev NAME : T := sorry`)" }
  let input := mkInput header
  let rec go (fuel : Nat) (s : Command.State) (ps : Parser.ModuleParserState)
      (used : List String) (own : List Name) :
      IO (Except Outcome (Command.State × List String × List Name)) := do
    match fuel with
    | 0 => return .error { verdict := "error", reason := "header too long" }
    | fuel + 1 =>
      let (stx, ps', _) := Parser.parseCommand input (pmctxOf s) ps {}
      if stx.isOfKind ``Parser.Command.eoi then return .ok (s, used, own)
      let answer? := match sorryDef? stx with
        | some (n, hole) => match first? (fun (x : String × String) => x.1 == n.toString) answers with
          | some (_, t) => some (n, hole, t)
          | none => none
        | none => none
      match answer? with
      | some (n, hole, t) =>
        match ← answerSlot header s stx n hole t heartbeats ref.state.env with
        | .error o => return .error o
        | .ok (s', consts) => go fuel s' ps' (n.toString :: used) (app consts own)
      | none => go fuel (← runCmd input s stx) ps' used own
  match ← go 100000 s0 ps0 [] [] with
  | .error o => return .error o
  | .ok (s, used, own) =>
    match first? (fun (x : String × String) => !some? (· == x.1) used) answers with
    | some (n, _) =>
      let why := "the header has no answer slot `" ++ n ++ "` (a `def`/`abbrev " ++ n ++ " : T := sorry`)"
      return .error { verdict := "error", reason := why }
    | none =>
      if s.messages.hasErrors then
        let why := "the header does not elaborate with these answers: " ++ (← joinMsgs s.messages)
        return .error { verdict := "failed", reason := why }
      return .ok ({ s with messages := {}, infoState := {} }, own)

/-- Check item `r` from `base`; `ref` is the same header without answers (where the statement is
elaborated alone) and `answerConsts` the constants the answers added (see "Answer slots"). -/
def checkItem (ref base : Command.State) (answerConsts : List Name)
    (stmtCache : IO.Ref (List (String × ConstantInfo))) (r : Req) : IO Outcome := do
  let src0 := r.statement ++ r.proof
  -- 1. Lean's parser: one declaration command, judged before anything is elaborated
  let (cmds0, pmsgs0) := parseAll (mkInput src0) base
  let some first := hd? cmds0 | return { verdict := "failed", reason := "no command parsed" }
  -- `example` gets a name so that its theorem can be found: splice at the keyword Lean parsed
  let decl := first[1]
  let stmt := if decl.isOfKind ``Parser.Command.example then
      match decl[0].getPos?, decl[0].getTailPos? with
      | some a, some b =>
        if b.byteIdx ≤ r.statement.utf8ByteSize then
          String.Pos.Raw.extract r.statement 0 a ++ "theorem prover_example_" ++
            (r.nonce.take 8).toString ++ String.Pos.Raw.extract r.statement b ⟨r.statement.utf8ByteSize⟩
        else r.statement
      | _, _ => r.statement
    else r.statement
  let src := stmt ++ r.proof
  let input := mkInput src
  let proofStart : String.Pos.Raw := ⟨stmt.utf8ByteSize⟩
  let basePos := input.fileMap.toPosition proofStart
  let (cmds, pmsgs) := if src == src0 then (cmds0, pmsgs0) else parseAll input base
  let some cmd := hd? cmds | return { verdict := "failed", reason := "no command parsed" }
  if let some why := declProblem cmd r.heartbeats r.allowNative then
    return { verdict := "rejected", reason := why.reason, refusal := why.category,
             commands := len cmds }
  if !pmsgs.hasErrors && len cmds != 1 then
    return { verdict := "rejected", commands := len cmds, refusal := "extra_command",
             reason := "Lean parsed " ++ toString (len cmds) ++ " commands in statement + proof; exactly one declaration is allowed" }
  -- 2. the statement alone, from the clean base state, gives the expected type
  let stInput := mkInput (stmt ++ " sorry")
  let (stCmds, stMsgs) := parseAll stInput ref
  let some stCmd := hd? stCmds | return { verdict := "failed", reason := "the statement does not parse" }
  if stMsgs.hasErrors || len stCmds != 1 then
    return { verdict := "failed", reason := "the statement does not parse as one declaration",
             messages := ← mapIO (msgJson basePos) stMsgs.toList }
  if let some why := declProblem stCmd r.heartbeats r.allowNative then
    return { verdict := "rejected", reason := "statement: " ++ why.reason, refusal := why.category }
  let some shortName := declName? stCmd
    | return { verdict := "error", reason := "the statement declares no name" }
  -- (cached per header and statement: a search checks one statement many times)
  let key := (Json.arr #[toJson r.trusted, toJson r.header, toJson stmt]).compress
  let mut expected? : Option ConstantInfo := match first? (fun (k, _) => k == key) (← stmtCache.get) with
    | some (_, ci) => some ci
    | none => none
  if expected?.isNone then
    let stState ← elabOne stInput ref stCmd r.heartbeats
    let stNew := keep (fun n => !ref.env.contains n && namesDecl shortName n)
      (reach stState.env (match stState.env.find? shortName with
        | some _ => [shortName] | none => []) {} [])
    expected? := match hd? stNew with
      | some n => stState.env.find? n
      | none =>
        -- the declaration lives in the current namespace
        let ns := match ref.scopes with | sc :: _ => sc.currNamespace | [] => .anonymous
        stState.env.find? (ns ++ shortName)
    if stState.messages.hasErrors || expected?.isNone then
      let ms ← mapIO (msgJson basePos) stState.messages.toList
      return { verdict := "failed", reason := "the statement does not elaborate (error before the proof)",
               messages := ms }
    if let some ci := expected? then
      stmtCache.modify fun l => takeL stmtCacheSize ((key, ci) :: l)
  let some expected := expected? | return { verdict := "error", reason := "no expected theorem" }
  -- 3. the item, from the clean base state (only after its syntax passed)
  -- (the clamp rebuilds the tree: only when the text can hold the option at all)
  let cmd := if r.recDepthCap > 0 && containsStr src "maxRecDepth" then
      clampRecDepth r.recDepthCap cmd else cmd
  let s ← elabOne input base cmd r.heartbeats
  let msgs := app pmsgs.toList s.messages.toList
  let msgJs ← mapIO (msgJson basePos) msgs
  let steps ← if r.wantSteps then collectSteps src proofStart cmd s.infoState.trees else pure []
  let initialGoals := match hd? steps with | some st => st.before | none => ""
  let mk (verdict reason : String) : Outcome :=
    { verdict, reason, messages := msgJs, steps, initialGoals, commands := len cmds }
  -- the verdict class comes from Lean's structured data (the tags Lean puts on its own
  -- messages), never from message text: a proof's `fail "unsolved goals"` is a failure
  let errors := keep (fun (m : Message) => m.severity == MessageSeverity.error) msgs
  let hard := keep (fun (m : Message) => !m.data.hasTag (· == `Tactic.unsolvedGoals)) errors
  if some? (fun (m : Message) => m.data.hasTag (· == `runtime.maxHeartbeats)) hard then
    return { mk "timeout" "heartbeat limit reached" with refusal := "limit", limit := "heartbeats" }
  if some? (fun (m : Message) => m.data.hasTag (· == `runtime.maxRecDepth)) hard then
    return { mk "failed" "maximum recursion depth reached" with refusal := "limit", limit := "rec_depth" }
  if !nil? hard then return mk "failed" ""
  if !nil? errors then return mk "incomplete" "unsolved goals"
  if pmsgs.hasErrors then return mk "failed" "the proof does not parse"
  -- 4. the expected theorem, with exactly the expected type
  let some thm := s.env.find? (nameOf expected)
    | return mk "error" "Lean did not add the declaration"
  let isThm := match thm with | .thmInfo _ => true | _ => false
  let rej := fun (category reason : String) => { mk "rejected" reason with refusal := category }
  if !isThm then return rej "statement_mismatch" ("`" ++ (nameOf expected).toString ++ "` is not a theorem")
  if thm.type != expected.type then
    return rej "statement_mismatch" "the proved type differs from the statement elaborated alone"
  -- the constants the theorem reaches, and those of them the item added (auxiliary lemmas)
  let reached := reach s.env [nameOf thm] {} []
  let added := filterSome (mapL (fun n => s.env.find? n) (keep (fun n => !base.env.contains n) reached))
  -- 5. axiom audit over everything the theorem reaches (auxiliary and header declarations too)
  let axs := keep (fun n => match s.env.find? n with
    | some ci => isAxiomLike ci
    | none => false) reached
  let withAx := fun (o : Outcome) => { o with axioms := axs }
  let withSorry := fun (o : Outcome) => { o with axioms := axs, refusal := "sorry" }
  if hasName axs ``sorryAx then
    let users := keep (fun n => match s.env.find? n with
      | some ci => match ci.value? (allowOpaque := true) with
        | some v => hasName (arrToList v.getUsedConstants) ``sorryAx
        | none => false
      | none => false) reached
    let own := keep (fun n => some? (fun (ci : ConstantInfo) => nameOf ci == n) added) users
    if some? (hasName answerConsts) users then
      return withSorry (mk "incomplete" "the answer uses sorry")
    if !nil? own || nil? users then return withSorry (mk "incomplete" "proof uses sorry")
    return withSorry (mk "rejected"
      ("proved modulo header declaration(s) proved by sorry: " ++ showNames users))
  let fromLibrary := fun (n : Name) => (s.env.getModuleIdxFor? n).isSome
  let bad := keep (fun a =>
    if hasName standardAxioms a then false
    else if hasName nativeAxioms a then !r.allowNative
    else if r.strictAxioms then true
    -- embedded: imported library theorems carry no proofs and appear as axioms; an axiom
    -- declared outside the imported library (header or item) is refused
    else !fromLibrary a) axs
  if !nil? bad then
    let nat := keep (hasName nativeAxioms) bad
    if !nil? nat then
      return withAx (rej "native_decide" ("uses " ++ showNames nat ++ " (native_decide or another compiler-trusting axiom; pass --allow-native-decide to accept)"))
    return withAx (rej "declared_axiom" ("depends on axioms outside the allowed set: " ++ showNames bad))
  -- 6. kernel re-check of everything new the theorem reaches, from the base environment, with
  -- default options (so no `set_option` could have skipped it).  A `native_decide` proof (only
  -- with --allow-native-decide) needs the compiled code of its auxiliary definition, which the
  -- replay environment lacks: its elaboration-time kernel check stands.
  if !hasName axs ``Lean.ofReduceBool && !hasName axs ``Lean.ofReduceNat then
    match replay base.env added with
    | .error e => return withAx (rej "kernel_rejected" ("kernel re-check failed: " ++ e))
    | .ok () => pure ()
  return withAx (mk "proved" "")

/-! ## The loop -/

def stepJson (st : Step) : Json :=
  Json.mkObj [("start", toJson st.start), ("end", toJson st.stop), ("depth", toJson st.depth),
    ("kind", toJson st.kind),
    ("goals_before", toJson st.before), ("goals_after", toJson st.after)]

def outcomeJson (nonce : String) (o : Outcome) (ms : Nat) (wantSteps : Bool) : Json :=
  let fields := [("nonce", toJson nonce), ("verdict", toJson o.verdict), ("reason", toJson o.reason),
    ("messages", Json.arr o.messages.toArray),
    ("axioms", jsonStrs (mapL Name.toString o.axioms)),
    ("commands", toJson o.commands), ("time_ms", toJson ms), ("refusal", toJson o.refusal),
    ("limit", toJson o.limit)]
  let extra := if wantSteps then
      [("steps", Json.arr (mapL stepJson o.steps).toArray), ("initial_goals", toJson o.initialGoals)]
    else []
  Json.mkObj (app fields extra)

/-- Base states kept per process (least recently used dropped); the driver mirrors this LRU
(`HEADER_CACHE_SIZE` in prover/lean/checker.py) to know when a header must be imported. -/
def baseCacheSize : Nat := 8

def lookupBase (fileEnv : Environment) (imported : IO.Ref (List (String × Environment)))
    (cache : IO.Ref (List Base)) (header : String)
    (trusted : Bool) (max : Nat) : IO (Except String Base) := do
  let key := baseKey header trusted []
  let bs ← cache.get
  match first? (fun (b : Base) => b.key == key) bs with
  | some b =>
    cache.set (b :: keep (fun (x : Base) => x.key != key) bs)
    return .ok b
  | none =>
    match ← mkBase fileEnv imported header trusted with
    | .error e => return .error e
    | .ok (st, resume) =>
      let b : Base := { key, state := st, resume }
      cache.set (takeL max (b :: bs))
      return .ok b

/-- The base of `r`'s header with `r`'s answers in its slots (kept in the same LRU, after the
base without answers that it starts from). -/
def lookupAnswered (cache : IO.Ref (List Base)) (ref : Base) (r : Req) (max : Nat) :
    IO (Except Outcome Base) := do
  let key := baseKey r.header r.trusted r.answers
  let bs ← cache.get
  match first? (fun (b : Base) => b.key == key) bs with
  | some b =>
    cache.set (b :: keep (fun (x : Base) => x.key != key) bs)
    return .ok b
  | none =>
    if !r.trusted then
      return .error { verdict := "error", reason := "answers fill slots of a trusted header; this header is untrusted" }
    match ← mkAnswered r.header ref r.answers r.heartbeats with
    | .error o => return .error o
    | .ok (st, answerConsts) =>
      let b : Base := { key, state := st, answerConsts }
      cache.set (takeL max (b :: (← cache.get)))
      return .ok b

def checkReq (fileEnv : Environment) (imported : IO.Ref (List (String × Environment)))
    (cache : IO.Ref (List Base))
    (stmtCache : IO.Ref (List (String × ConstantInfo))) (r : Req) : IO Outcome := do
  match ← lookupBase fileEnv imported cache r.header r.trusted baseCacheSize with
  | .error e => return { verdict := "error", reason := "header: " ++ e,
                         refusal := if e.startsWith "untrusted header: " then "untrusted_header" else "" }
  | .ok ref =>
    if nil? r.answers then return ← checkItem ref.state ref.state [] stmtCache r
    match ← lookupAnswered cache ref r baseCacheSize with
    | .error o => return o
    | .ok b => checkItem ref.state b.state b.answerConsts stmtCache r

def handle (fileEnv : Environment) (imported : IO.Ref (List (String × Environment)))
    (cache : IO.Ref (List Base))
    (stmtCache : IO.Ref (List (String × ConstantInfo))) (line : String) : IO Json := do
  match parseReq line with
  | .error e => return Json.mkObj [("nonce", ""), ("verdict", "error"),
      ("reason", toJson ("bad request: " ++ e))]
  | .ok r =>
    let t0 ← IO.monoMsNow
    if r.kind == "ping" then
      return Json.mkObj [("nonce", toJson r.nonce), ("verdict", "pong")]
    if r.kind == "header" then
      match ← lookupBase fileEnv imported cache r.header r.trusted baseCacheSize with
      | .ok _ => return Json.mkObj [("nonce", toJson r.nonce), ("verdict", "ok"),
          ("time_ms", toJson ((← IO.monoMsNow) - t0))]
      | .error e => return Json.mkObj [("nonce", toJson r.nonce), ("verdict", "error"),
          ("reason", toJson e),
          ("refusal", toJson (if e.startsWith "untrusted header: " then "untrusted_header" else ""))]
    let o ← try checkReq fileEnv imported cache stmtCache r
      catch e => pure { verdict := "error", reason := "checker exception: " ++ toString e }
    return outcomeJson r.nonce o ((← IO.monoMsNow) - t0) r.wantSteps

partial def loop (fileEnv : Environment) (imported : IO.Ref (List (String × Environment)))
    (inp out : IO.FS.Handle) (cache : IO.Ref (List Base))
    (stmtCache : IO.Ref (List (String × ConstantInfo))) : IO Unit := do
  let line ← inp.getLine
  if line.isEmpty then return  -- end of input: the driver closed the pipe
  let line := line.trimAscii.toString
  if !line.isEmpty then
    let reply ← handle fileEnv imported cache stmtCache line
    out.putStrLn reply.compress
    out.flush
  loop fileEnv imported inp out cache stmtCache


/-- Lock the process down before the first item (embedded; see `prover/lean/patch_leanjs.py`):
opening `/dev/prover-lockdown` removes the paths of the standard streams (`/dev/stdin`, ...,
whence `/proc/self/fd/N` resolves), closes descriptors 0 and 1 and stops thread creation, so
code an item might run reaches neither the request/reply channel (open above, on descriptors of
its own) nor a thread that outlives the item.  `false` where the device does not exist (native
Lean: see README "What a compromised process costs"). -/
def lockdown : IO Bool := do
  if !lockdownEnabled || !(← System.FilePath.pathExists "/dev/prover-lockdown") then
    return false
  let _ ← IO.FS.Handle.mk "/dev/prover-lockdown" .read
  return !(← System.FilePath.pathExists "/dev/stdin")

end ProverChecker

open ProverChecker in
#eval show CommandElabM Unit from do
  let inp ← IO.FS.Handle.mk "/dev/stdin" .read
  let out ← IO.FS.Handle.mk "/dev/stdout" .write
  let cache ← IO.mkRef ([] : List Base)
  let locked ← lockdown
  out.putStrLn (Json.mkObj [("ready", true), ("lockdown", locked)]).compress
  out.flush
  loop (← getEnv) (← IO.mkRef []) inp out cache (← IO.mkRef [])
