"""The anchored `lean.js` patches on small made-up sources (no npm package needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from prover.lean.patch_leanjs import PATCH_MARKER, PATCHES, PatchError, patch_file, patch_source


def _source(skip: str | None = None, twice: str | None = None) -> str:
    """Every anchor once, between filler code; `skip` leaves one out, `twice` doubles one."""
    parts = ["var Module={};"]
    for patch in PATCHES:
        if patch.name != skip:
            parts.append(patch.anchor)
        if patch.name == twice:
            parts.append("/* again */" + patch.anchor)
        parts.append(f"function filler_{len(parts)}(){{return 0}}")
    return "\n".join(parts)


def test_every_anchor_once_is_patched() -> None:
    out = patch_source(_source())
    assert out.startswith(PATCH_MARKER + "\n")
    for patch in PATCHES:
        assert patch.anchor not in out, patch.name
        assert out.count(patch.replacement) == 1, patch.name
    assert "var Module={};" in out and "function filler_2(){return 0}" in out


@pytest.mark.parametrize("name", [p.name for p in PATCHES])
def test_missing_anchor_names_the_patch(name: str) -> None:
    with pytest.raises(PatchError, match=f"patch '{name}': anchor found 0 times"):
        patch_source(_source(skip=name))


@pytest.mark.parametrize("name", [p.name for p in PATCHES])
def test_duplicated_anchor_names_the_patch(name: str) -> None:
    with pytest.raises(PatchError, match=f"patch '{name}': anchor found 2 times"):
        patch_source(_source(twice=name))


def test_patching_twice_is_refused() -> None:
    once = patch_source(_source())
    with pytest.raises(PatchError, match="already patched"):
        patch_source(once)


def test_patched_text_without_the_marker_fails_on_the_first_anchor() -> None:
    stripped = patch_source(_source()).removeprefix(PATCH_MARKER + "\n")
    with pytest.raises(PatchError, match=f"patch '{PATCHES[0].name}': anchor found 0 times"):
        patch_source(stripped)


def test_patch_file_writes_atomically_and_returns_the_digest(tmp_path: Path) -> None:
    src, dst = tmp_path / "lean.js", tmp_path / "lean.patched.js"
    src.write_text(_source(), encoding="utf-8")
    digest = patch_file(src, dst)
    text = dst.read_text(encoding="utf-8")
    assert text == patch_source(_source())
    assert digest == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lean.js", "lean.patched.js"]


def test_patch_file_leaves_no_output_when_an_anchor_is_missing(tmp_path: Path) -> None:
    src, dst = tmp_path / "lean.js", tmp_path / "lean.patched.js"
    src.write_text(_source(skip=PATCHES[-1].name), encoding="utf-8")
    with pytest.raises(PatchError, match=PATCHES[-1].name):
        patch_file(src, dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lean.js"]
