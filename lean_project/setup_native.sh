#!/usr/bin/env bash
# Build the native verification backend: Lean (via elan) + Mathlib + leanprover-community REPL,
# pinned by lean-toolchain / lakefile.lean.  Needs internet access (GitHub and the Mathlib cache).
# Usage: bash lean_project/setup_native.sh      (prints the REPL path at the end)
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
  git ls-remote --exit-code https://github.com/leanprover-community/repl >/dev/null 2>&1 \
    && net_ok=1
fi
[ "$net_ok" = 1 ] || die "needs internet: cannot reach https://github.com.
The native backend downloads Lean $toolchain, Mathlib (plus its prebuilt cache, several GB) and
the REPL. Run this script on a machine with network access, or use the embedded backend
(\`prover lean install\`) which needs no Mathlib."

echo "setup_native: toolchain $toolchain (elan installs it on first use)"
elan toolchain install "$toolchain" >/dev/null 2>&1 || true

# 3. dependencies + Mathlib cache
echo "setup_native: lake update (resolving mathlib and REPL at the pinned tags) ..."
lake update
echo "setup_native: lake exe cache get (downloading prebuilt Mathlib .olean files) ..."
lake exe cache get

# 4. the REPL executable and a smoke build of the project
echo "setup_native: building the REPL ..."
lake build REPL/repl || lake build repl
echo "setup_native: building the smoke module (imports Mathlib) ..."
lake build

repl="$here/.lake/packages/REPL/.lake/build/bin/repl"
[ -x "$repl" ] || die "build finished but no REPL binary at $repl"
echo "setup_native: REPL smoke test:"
printf '{"cmd": "#eval Lean.versionString"}\n\n' | lake env "$repl" | head -n 20 || true
echo "setup_native: OK"
echo "REPL: $repl"
echo "run it as: (cd $here && lake env $repl)"
