"""Where the model's operations run.

InProcessBackend calls the in-process heap (pyalloc._native) directly; DriverBackend
runs them in a child process that has libpyalloc.so preloaded, through driver.c, so the
interposed malloc entry points and their thread caches are what gets exercised. Both
fill every new block with a pattern, verify all live blocks whenever the model syncs,
and report statistics, so HeapModel checks them the same way.
"""
import atexit
import errno
import functools
import os
import random
import resource
import select
import shutil
import subprocess
import tempfile
import time

from ..preload import preload_env
from ..probe import query
from .model import BackendDied, HeapStats, Report, Result

DRIVER_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "driver.c")
DRIVER_CFLAGS = ["-O2", "-g", "-std=gnu11", "-Wall", "-Wextra", "-pthread"]


def compile_driver(output, defines=()):
    """Compile driver.c (with extra -D defines) to the executable `output`."""
    cc = os.environ.get("CC") or "cc"
    cmd = [cc, *DRIVER_CFLAGS, *("-D" + d for d in defines), "-o", output, DRIVER_SOURCE, "-ldl"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode:
        raise RuntimeError("building the fuzz driver failed: %s\n%s" % (" ".join(cmd), proc.stdout))
    return output


@functools.lru_cache(maxsize=None)
def driver_path():
    """The driver, compiled once per process into a private directory."""
    directory = tempfile.mkdtemp(prefix="pyalloc-fuzz-")
    atexit.register(shutil.rmtree, directory, True)
    return compile_driver(os.path.join(directory, "driver"))


@functools.lru_cache(maxsize=None)
def library_options(library, options):
    """{name: value} of libpyalloc.so's options under PYALLOC_OPTIONS=options."""
    return {o["name"]: o["value"] for o in query(library, options)["options"]}


def _no_core_dump():
    # Misuse runs abort on purpose; a core file per example would fill the disk.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class DriverBackend:
    """Runs operations in `driver THREADS` with the library preloaded.

    A fresh process per model run: a failure then depends only on the operations of
    that run, which is what lets hypothesis shrink it and a reproducer replay it.
    """

    supports_misuse = True

    def __init__(self, library, options, threads=1, driver=None, timeout=60.0, option_values=None):
        from .._native import ffi

        self.library = os.path.abspath(library)
        self.options_string = options
        self.threads = threads
        self.driver = driver or driver_path()
        self.timeout = timeout
        # option_values: for a build that cannot run the query program (a seeded bug).
        self.options = option_values or library_options(self.library, options)
        self.env = preload_env(self.library, options)
        self._ffi = ffi
        self._stats_size = ffi.sizeof("pyalloc_stats")
        self.proc = None

    def start(self):
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [self.driver, str(self.threads), str(self._stats_size)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env=self.env, preexec_fn=_no_core_dump,
        )
        self._buffer = b""
        self._lines = []
        return self.sync().stats

    def submit(self, op):
        self._lines.append(op.line())

    def sync(self):
        data = ("\n".join(self._lines + ["s"]) + "\n").encode()
        self._lines = []
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            self._died()
        results, violations, stats = [], [], None
        deadline = time.monotonic() + self.timeout
        while True:
            line = self._readline(deadline)
            if line == ".":
                break
            kind, _, rest = line.partition(" ")
            if kind == "r":
                ptr, usable, err, ret = rest.split("#", 1)[0].split()
                results.append(Result(int(ptr, 16), int(usable), int(err), int(ret)))
            elif kind == "!":
                violations.append(rest)
            elif kind == "S":
                st = self._ffi.new("pyalloc_stats *")
                self._ffi.memmove(st, bytes.fromhex(rest), self._stats_size)
                stats = HeapStats.from_cdata(st)
            else:
                raise RuntimeError("unexpected driver output: %r" % line)
        return Report(results, violations, stats)

    def _readline(self, deadline):
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                # A deadlock in the allocator looks like this; kill it to see its state.
                self.proc.kill()
                self._died("driver hung for %.0f s (deadlock?)\n" % self.timeout)
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self._died()
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def _died(self, note=""):
        try:
            returncode = self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            returncode = self.proc.wait()
        self._stderr.seek(0)
        stderr = note + self._stderr.read().decode(errors="replace")
        self.proc = None
        raise BackendDied(returncode, stderr)

    def close(self):
        if self.proc is not None:
            proc, self.proc = self.proc, None
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if getattr(self, "_stderr", None) is not None:
            self._stderr.close()
            self._stderr = None


class InProcessBackend:
    """Runs operations on the in-process heap of this interpreter (pyalloc._native).

    That heap read PYALLOC_OPTIONS when it was loaded; to fuzz another profile, run the
    fuzzer in a process started with it (the campaign does). Misuse would abort this
    very process, so the model never sends it here.
    """

    supports_misuse = False
    threads = 1

    def __init__(self):
        from .._native import ffi, lib
        from ..introspect import options

        self._ffi, self._lib = ffi, lib
        self.options = {o.name: o.value for o in options()}
        self._writes = 0

    def start(self):
        # Hand back what earlier runs left in this thread's quarantine and cache, so the
        # statistics baseline holds only blocks some other user of the heap still owns.
        self._lib.pyalloc_malloc_trim(0)
        self._blocks = {}   # id -> [cdata pointer, contents written, requested size]
        self._results, self._violations = [], []
        return self._stats()

    def _stats(self):
        st = self._ffi.new("pyalloc_stats *")
        self._lib.pyalloc_stats_get(st)
        return HeapStats.from_cdata(st)

    def close(self):
        pass

    def _addr(self, p):
        return int(self._ffi.cast("uintptr_t", p))

    def _violation(self, op, message):
        self._violations.append("(%s): %s" % (op.line(), message))

    def _got(self, op, res, p, req):
        """Record a new block (or NULL) of op under its id and fill it with a pattern."""
        res.ptr = self._addr(p)
        if not res.ptr:
            return
        res.usable = self._lib.pyalloc_malloc_usable_size(p)
        self._writes += 1
        data = random.Random(self._writes).randbytes(max(res.usable, req))
        self._ffi.memmove(p, data, len(data))
        self._blocks[op.args[0]] = [p, data, req]

    def _realloc(self, op, res, p, n):
        block_id = op.args[0]
        old_p, old_data, old_req = self._blocks[block_id]
        res.ptr = self._addr(p)
        if n == 0 and not op.expect:
            del self._blocks[block_id]
            return
        if not res.ptr:
            return
        keep = min(old_req, n)
        if self._ffi.buffer(p, keep)[:] != old_data[:keep]:
            self._violation(op, "realloc lost the old contents")
        self._got(op, res, p, n)

    def submit(self, op):
        ffi, lib, a = self._ffi, self._lib, op.args
        res = Result()
        ffi.errno = 0
        code = op.code
        if code == "m":
            p = lib.pyalloc_malloc(a[1])
            res.err = ffi.errno
            self._got(op, res, p, a[1])
        elif code == "c":
            p = lib.pyalloc_calloc(a[1], a[2])
            res.err = ffi.errno
            if p != ffi.NULL and any(ffi.buffer(p, a[1] * a[2])[:]):
                self._violation(op, "calloc memory is not zero")
            self._got(op, res, p, a[1] * a[2] if p != ffi.NULL else 0)
        elif code == "rn":
            p = lib.pyalloc_realloc(ffi.NULL, a[1])
            res.err = ffi.errno
            self._got(op, res, p, a[1])
        elif code == "r":
            p = lib.pyalloc_realloc(self._blocks[a[0]][0], a[1])
            res.err = ffi.errno
            self._realloc(op, res, p, a[1])
        elif code == "ra":
            p = lib.pyalloc_reallocarray(self._blocks[a[0]][0], a[1], a[2])
            res.err = ffi.errno
            self._realloc(op, res, p, a[1] * a[2])
        elif code in ("al", "aa"):
            call = lib.pyalloc_memalign if code == "al" else lib.pyalloc_aligned_alloc
            p = call(a[1], a[2])
            res.err = ffi.errno
            self._got(op, res, p, a[2])
        elif code == "pm":
            out = ffi.new("void **")
            res.ret = lib.pyalloc_posix_memalign(out, a[1], a[2])
            # glibc leaves errno at ENOMEM when it fails for memory, and untouched otherwise.
            if ffi.errno and not (ffi.errno == res.ret == errno.ENOMEM):
                self._violation(op, "posix_memalign changed errno to %d" % ffi.errno)
            res.err = res.ret
            self._got(op, res, out[0] if not res.ret else ffi.NULL, a[2])
        elif code in ("f", "fs"):
            block = self._blocks.pop(a[0])
            if code == "f":
                lib.pyalloc_free(block[0])
            else:
                lib.pyalloc_free_sized(block[0], block[2])
        elif code == "u":
            p = self._blocks[a[0]][0]
            res.ptr = self._addr(p)
            res.usable = lib.pyalloc_malloc_usable_size(p)
        elif code == "t":
            res.ret = lib.pyalloc_malloc_trim(a[0])
        else:
            raise ValueError("the in-process backend cannot run %s" % op.line())
        self._results.append(res)

    def sync(self):
        for block_id, (p, data, _) in sorted(self._blocks.items()):
            now = self._ffi.buffer(p, len(data))[:]
            if now != data:
                at = next(i for i, (x, y) in enumerate(zip(now, data)) if x != y)
                self._violations.append("block %d changed at offset %d" % (block_id, at))
        report = Report(self._results, self._violations, self._stats())
        self._results, self._violations = [], []
        return report
