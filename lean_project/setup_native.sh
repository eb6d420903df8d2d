#!/usr/bin/env bash
# Build the native verification backend: Lean (via elan) + Mathlib, pinned by lean-toolchain /
# lakefile.lean; the checker (ProverChecker.lean) is then run with `lake env lean`.  Needs internet access (GitHub and the Mathlib cache).
# Usage: bash lean_project/setup_native.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
toolchain="$(tr -d '[:space:]' < lean-toolchain)"

die() { echo "setup_native: $*" >&2; exit 1; }

# 1. elan / lake
if ! command -v lake >/dev/null 2>&1; then
  if [ -x "$HOME/.elan/bin/lake" ]; then
    export PATH="$HOME/.elan/bin:$PATH"
  else
    die "lake (elan) not found. Install elan first:
    curl https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh -sSf | sh -s -- -y --default-toolchain none
    source \"\$HOME/.elan/env\"
then re-run: bash lean_project/setup_native.sh"
  fi
fi
command -v git >/dev/null 2>&1 || die "git is required (e.g. apt-get install git)"

# 2. network (fail fast instead of hanging in lake update)
net_ok=0
if command -v curl >/dev/null 2>&1; then
  curl -fsS --max-time 10 -o /dev/null https://github.com && net_ok=1
else
  git ls-remote --exit-code https://github.com/leanprover-community/mathlib4 >/dev/null 2>&1 \
    && net_ok=1
fi
[ "$net_ok" = 1 ] || die "needs internet: cannot reach https://github.com.
The native backend downloads Lean $toolchain and Mathlib (plus its prebuilt cache, several GB). Run this script on a machine with network access, or use the embedded backend
(\`prover lean install\`) which needs no Mathlib."

echo "setup_native: toolchain $toolchain (elan installs it on first use)"
elan toolchain install "$toolchain" >/dev/null 2>&1 || true

# 3. dependencies + Mathlib cache
echo "setup_native: lake update (resolving mathlib at the pinned tag) ..."
lake update
echo "setup_native: lake exe cache get (downloading prebuilt Mathlib .olean files) ..."
lake exe cache get

# 4. a smoke build of the project, then the checker itself answers one request
echo "setup_native: building the smoke module (imports Mathlib) ..."
lake build
echo "setup_native: checker smoke test (ProverChecker.lean, one proof) ..."
printf '%s\n' '{"nonce":"smoke","statement":"theorem smoke : (2 : Nat) + 2 = 4 := by","proof":" norm_num","strict_axioms":true,"trusted_header":true,"header":"import Mathlib"}' \
  | timeout 900 lake env lean ProverChecker.lean | grep '"nonce":"smoke"' || die "the checker did not answer"
echo "setup_native: OK (prover lean doctor should now report the native backend)"
