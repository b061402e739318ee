"""Benchmark suite: pyalloc against glibc, jemalloc, mimalloc, tcmalloc and scudo.

Every allocator runs the same programs through LD_PRELOAD:

  * workloads of our own (bench_src/*.c, *.cc, compiled on first use into a cache
    directory) modelled on what allocator papers measure: small short-lived objects,
    servers passing objects between threads, producer/consumer, false sharing, realloc
    growth, a size-class sweep, large blocks, fragmentation over time and thread churn,
    the multi-threaded ones at 1, 2, 4 and 8 threads;
  * real programs: CPython (PYTHONMALLOC=malloc), sqlite3, redis-server driven by
    redis-benchmark, and a g++ compile.

Each program checks its own results and exits non-zero on corruption, so a broken
allocator fails instead of winning. A round runs every workload under every allocator,
the allocators in a fresh random order for each workload, so that machine noise hits them
alike; figures are medians over rounds, and ratios to glibc are taken within a round
before their median is taken.

    import pyalloc.bench
    for r in pyalloc.bench.run("larson", allocators=["glibc", "pyalloc-default"]):
        print(r.workload, r.allocator, r.wall.median, r.wall_ratio.median)

The `pyalloc bench` command (see add_parser) runs the suite and writes JSON, Markdown and
PNG charts.
"""
import contextlib
import csv
import ctypes.util
import dataclasses
import datetime
import glob
import hashlib
import io
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from .library import LibraryNotFoundError, library_path
from .probe import no_core_dumps

SOURCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_src")
THREADS = (1, 2, 4, 8)
PROFILES = ("fast", "default", "hardened", "paranoid")
GLIBC = "glibc"
DEFAULT_ALLOCATORS = (GLIBC,) + tuple("pyalloc-" + p for p in PROFILES) + ("jemalloc", "mimalloc", "tcmalloc", "scudo")
EXIT_CORRUPT = 3                     # what the workloads exit with when a check fails

# ---------------------------------------------------------------------------- allocators

# Debian's packages; other distributions install the same sonames. Scudo (LLVM's hardened
# allocator, Android's default) is the peer of pyalloc's hardened profile; it ships inside
# compiler-rt, under a directory named after the LLVM version, so it is found by a pattern
# (the newest version wins).
_THIRD_PARTY = {
    "jemalloc": (("libjemalloc.so.2",), "libjemalloc2"),
    "mimalloc": (("libmimalloc.so.2", "libmimalloc.so"), "libmimalloc2.0"),
    "tcmalloc": (("libtcmalloc_minimal.so.4", "libtcmalloc.so.4"), "libtcmalloc-minimal4"),
    "scudo": (("llvm-*/lib/clang/*/lib/linux/libclang_rt.scudo_standalone-%s.so" % platform.machine(),),
              "libclang-rt-dev"),
}


@dataclasses.dataclass(frozen=True)
class Allocator:
    """An allocator as a program sees it: what LD_PRELOAD and PYALLOC_OPTIONS say."""

    name: str
    library: Optional[str]           # the LD_PRELOAD entry
    options: Optional[str] = None    # PYALLOC_OPTIONS
    missing: Optional[str] = None    # why it cannot run here; None when it can

    def environ(self, base=None):
        env = dict(os.environ if base is None else base)
        env.pop("LD_PRELOAD", None)
        env.pop("PYALLOC_OPTIONS", None)
        if self.library:
            env["LD_PRELOAD"] = self.library
        if self.options:
            env["PYALLOC_OPTIONS"] = self.options
        return env


def _library_dirs():
    dirs = []
    multiarch = sysconfig.get_config_var("MULTIARCH") or "%s-linux-gnu" % platform.machine()
    for d in ("/usr/lib/" + multiarch, "/lib/" + multiarch, "/usr/lib64", "/usr/lib", "/usr/local/lib"):
        if os.path.isdir(d) and d not in dirs:
            dirs.append(d)
    return dirs


def _version_key(path):
    return [int(part) if part.isdigit() else -1 for part in re.split(r"[/.-]", path)]


def _find_library(sonames):
    for d in _library_dirs():
        for soname in sonames:
            paths = sorted((p for p in glob.glob(os.path.join(d, soname)) if os.path.isfile(p)), key=_version_key)
            if paths:
                return paths[-1]
    return None


def resolve_allocator(spec):
    """An Allocator from its name on the command line:

    glibc, jemalloc, mimalloc,            the system's, found under /usr/lib;
    tcmalloc, scudo
    pyalloc-PROFILE                       libpyalloc.so with PYALLOC_OPTIONS=profile=PROFILE;
    pyalloc:OPTIONS                       libpyalloc.so with PYALLOC_OPTIONS=OPTIONS;
    NAME=PATH                             any other preloadable malloc.
    A known allocator that is not installed comes back with `missing` set.
    """
    if spec == GLIBC:
        # Preloading the C library itself puts glibc's malloc first even in programs
        # linked against another allocator (Debian's redis-server links jemalloc).
        return Allocator(GLIBC, ctypes.util.find_library("c") or "libc.so.6")
    if spec.startswith("pyalloc-") or spec.startswith("pyalloc:"):
        if spec.startswith("pyalloc-"):
            profile = spec[len("pyalloc-"):]
            if profile not in PROFILES:
                raise ValueError("unknown pyalloc profile %r (profiles: %s)" % (profile, ", ".join(PROFILES)))
            options = "profile=" + profile
        else:
            options = spec[len("pyalloc:"):]
        try:
            return Allocator(spec, library_path(), options)
        except LibraryNotFoundError as e:
            return Allocator(spec, None, options, missing=str(e))
    if spec in _THIRD_PARTY:
        sonames, package = _THIRD_PARTY[spec]
        path = _find_library(sonames)
        if path:
            return Allocator(spec, path)
        return Allocator(spec, None, missing="%s not found in %s (Debian package %s; bench/setup.sh installs it)"
                         % (" or ".join(sonames), ", ".join(_library_dirs()), package))
    name, sep, path = spec.partition("=")
    if sep and name and path:
        path = os.path.abspath(path)
        return Allocator(name, path, missing=None if os.path.isfile(path) else "%s: no such file" % path)
    raise ValueError("unknown allocator %r (known: %s, pyalloc:OPTIONS, NAME=PATH)"
                     % (spec, ", ".join(DEFAULT_ALLOCATORS)))


def resolve_allocators(specs=None):
    """Allocators for the specs (default: all), glibc always first: it is the baseline of
    every ratio."""
    specs = [s for s in (specs or DEFAULT_ALLOCATORS) if s != GLIBC]
    allocators = [resolve_allocator(GLIBC)] + [resolve_allocator(s) for s in specs]
    names = [a.name for a in allocators]
    if len(set(names)) != len(names):
        raise ValueError("allocator named twice: %s" % ", ".join(sorted({n for n in names if names.count(n) > 1})))
    return allocators


# --------------------------------------------------------------------------- measurement

@dataclasses.dataclass(frozen=True)
class Run:
    """One measured execution."""

    round: int
    wall: float                      # seconds (for redis: time spent serving the benchmark)
    cpu: float                       # user + system seconds of the measured process tree
    rss: int                         # peak resident set, bytes
    rps: Optional[float] = None      # requests per second, for servers


class RunFailed(Exception):
    """A run exited badly, timed out or produced output that does not verify."""


class Unavailable(Exception):
    """A workload cannot run on this machine (a program or compiler is missing)."""


@dataclasses.dataclass
class Process:
    wall: float
    cpu: float
    rss: int
    stdout: str
    stderr: str


def _describe_exit(code, stderr):
    if code < 0:
        try:
            what = "killed by %s" % signal.Signals(-code).name
        except ValueError:
            what = "killed by signal %d" % -code
    elif code == EXIT_CORRUPT:
        what = "corruption detected (exit status 3)"
    else:
        what = "exit status %d" % code
    tail = stderr.strip().splitlines()[-3:]
    return what + (": " + " | ".join(tail) if tail else "")


class Launched:
    """A program started through the launcher (bench_src/launch.c), which reports its
    resource usage. Peak RSS survives exec, so a program spawned straight from this
    interpreter would count the interpreter's RSS as its own; the small launcher in
    between keeps that inherited peak to a megabyte or two."""

    def __init__(self, launcher, argv, env, report, **popen):
        self.report = report
        try:
            # A session of its own, so that killing it takes the whole process tree.
            self.proc = subprocess.Popen([launcher, report] + list(argv), env=env, start_new_session=True, **popen)
        except OSError as e:
            raise RunFailed("cannot start %s: %s" % (launcher, e.strerror)) from None

    def exited(self):
        """Whether the program has ended, leaving the launcher for finish() to reap."""
        try:
            return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def kill(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def finish(self):
        """Wait for the end; (exit code as subprocess gives it, CPU seconds, peak RSS
        bytes), or None when the launcher was killed before it could report."""
        self.proc.wait()
        try:
            with open(self.report) as f:
                status, user, system, maxrss = f.read().split()
        except (OSError, ValueError):
            return None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.report)
        return os.waitstatus_to_exitcode(int(status)), float(user) + float(system), int(maxrss) * 1024


def measure(ctx, argv, env, stdin=None, cwd=None):
    """Run argv to completion and return its wall time, CPU time, peak RSS and output.

    CPU time and peak RSS come from wait4() in the launcher, so they cover the program
    and every child it waited for (g++ runs cc1plus, as and ld) and cost it nothing."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        launched = Launched(ctx.launcher, argv, env, ctx.report_path(), cwd=cwd, stdout=out, stderr=err,
                            stdin=stdin if stdin is not None else subprocess.DEVNULL)
        timer = threading.Timer(ctx.timeout, launched.kill)
        timer.start()
        try:
            usage = launched.finish()
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if usage is None:
        if wall >= ctx.timeout:
            raise RunFailed("timed out after %.0f s" % ctx.timeout)
        raise RunFailed("the launcher failed: %s" % _describe_exit(launched.proc.returncode, stderr))
    code, cpu, rss = usage
    if code != 0:
        raise RunFailed(_describe_exit(code, stderr))
    return Process(wall, cpu, rss, stdout, stderr)


# ------------------------------------------------------------------------------ workloads

@dataclasses.dataclass
class Context:
    """What workloads share during one suite: sizes, where to build and put files."""

    quick: bool
    cache_dir: str
    work_dir: str
    timeout: float
    launcher: str = ""
    _reports: int = 0

    def report_path(self):
        self._reports += 1
        return os.path.join(self.work_dir, "usage-%d" % self._reports)


def cache_dir():
    """Where compiled workloads are kept: $PYALLOC_BENCH_CACHE, else the XDG cache."""
    override = os.environ.get("PYALLOC_BENCH_CACHE")
    if override:
        return override
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pyalloc", "bench")


def _which(program, package):
    path = shutil.which(program)
    if not path:
        raise Unavailable("%s not found (Debian package %s; bench/setup.sh installs it)" % (program, package))
    return path


class Workload:
    """A benchmark program. Subclasses set the class attributes and implement run()."""

    name = ""
    description = ""
    threads: Tuple[int, ...] = (1,)
    kind = "synthetic"               # or "program": a real program with its own inputs

    def variants(self):
        if self.threads == (1,):
            return [self.name]
        return ["%s-t%d" % (self.name, t) for t in self.threads]

    def prepare(self, ctx):
        """Build or generate what the runs need; raise Unavailable when it cannot."""

    def run(self, ctx, threads, allocator, round_):
        raise NotImplementedError


def _compiler(cplusplus):
    names = (os.environ.get("CXX"), "c++", "g++") if cplusplus else (os.environ.get("CC"), "cc", "gcc")
    for name in names:
        if name:
            argv = shlex.split(name)
            if shutil.which(argv[0]):
                return argv
    raise Unavailable("no %s compiler found (set %s)" % ("C++" if cplusplus else "C", "CXX" if cplusplus else "CC"))


def compile_source(source, ctx):
    """Path of the executable built from bench_src/SOURCE, compiling it into the cache
    directory unless a build of the same sources with the same compiler is there."""
    cplusplus = source.endswith(".cc")
    compiler = _compiler(cplusplus)
    flags = ["-O2", "-pthread"] + (["-std=c++17"] if cplusplus else ["-std=gnu11"])
    try:
        version = subprocess.run(compiler + ["--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise Unavailable("%s --version failed: %s" % (compiler[0], e)) from None
    digest = hashlib.sha256(repr((compiler, flags, version)).encode())
    for name in (source, "bench.h"):
        with open(os.path.join(SOURCE_DIR, name), "rb") as f:
            digest.update(f.read())
    os.makedirs(ctx.cache_dir, exist_ok=True)
    exe = os.path.join(ctx.cache_dir, "%s-%s" % (os.path.splitext(source)[0], digest.hexdigest()[:16]))
    if os.path.isfile(exe):
        return exe
    # Built under a temporary name and renamed, so that concurrent suites never run a
    # half-written binary.
    fd, tmp = tempfile.mkstemp(dir=ctx.cache_dir, prefix=".build-")
    os.close(fd)
    try:
        done = subprocess.run(compiler + flags + ["-o", tmp, os.path.join(SOURCE_DIR, source)],
                              capture_output=True, text=True)
        if done.returncode:
            raise Unavailable("compiling %s failed: %s" % (source, done.stderr.strip()[-2000:]))
        os.replace(tmp, exe)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return exe


class Compiled(Workload):
    """One of our own programs: PROG -t THREADS -n WORK [ARGS]."""

    def __init__(self, name, source, description, full, quick, threads=(1,), args=()):
        self.name, self.source, self.description = name, source, description
        self.full, self.quick, self.threads, self.args = full, quick, tuple(threads), tuple(args)
        self.exe = None

    def prepare(self, ctx):
        self.exe = compile_source(self.source, ctx)

    def run(self, ctx, threads, allocator, round_):
        work = self.quick if ctx.quick else self.full
        argv = [self.exe, "-t", str(threads), "-n", str(work)] + list(self.args)
        return _verified_run(ctx, argv, allocator.environ(), "ok ", round_)


def _verified_run(ctx, argv, env, verification, round_):
    """Measures argv; a run whose output does not start with the workload's own check
    line (it verified what it computed) fails."""
    p = measure(ctx, argv, env)
    if not p.stdout.startswith(verification):
        raise RunFailed("no verification line in the output: %r" % p.stdout[:200])
    return Run(round_, p.wall, p.cpu, p.rss)


class PythonProgram(Workload):
    name = "python"
    kind = "program"
    description = "CPython with PYTHONMALLOC=malloc on an allocation-heavy script (dicts, strings, JSON, GC)"

    def prepare(self, ctx):
        # The interpreter binary itself: a venv's python is a symlink to it, and wrappers
        # such as pyenv's shims are scripts whose shell would be measured too.
        self.python = os.path.realpath(sys.executable)
        self.script = os.path.join(SOURCE_DIR, "pywork.py")

    def run(self, ctx, threads, allocator, round_):
        # Isolated from the user's site and PYTHON* settings, but not with -I or -E:
        # those make the interpreter ignore PYTHONMALLOC too.
        env = {k: v for k, v in allocator.environ().items() if not k.startswith("PYTHON")}
        env["PYTHONMALLOC"] = "malloc"
        argv = [self.python, "-s", "-S", self.script, "1" if ctx.quick else "4"]
        return _verified_run(ctx, argv, env, "ok pywork", round_)


class Sqlite(Workload):
    name = "sqlite"
    kind = "program"
    description = "sqlite3 on an in-memory database: bulk and single-row inserts, indexes, grouping, joins, updates"

    def prepare(self, ctx):
        self.sqlite = _which("sqlite3", "sqlite3")
        rows = 20000 if ctx.quick else 250000
        script, self.expected = sqlite_script(rows)
        self.script = os.path.join(ctx.work_dir, "bench.sql")
        with open(self.script, "w") as f:
            f.write(script)

    def run(self, ctx, threads, allocator, round_):
        with open(self.script, "rb") as stdin:
            p = measure(ctx, [self.sqlite, "-batch", ":memory:"], allocator.environ(), stdin=stdin)
        if p.stdout != self.expected:
            raise RunFailed("query results differ from the expected ones (first lines: %r)" % p.stdout[:200])
        return Run(round_, p.wall, p.cpu, p.rss)


def sqlite_script(rows):
    """An SQL script and the exact output it must produce, computed here independently."""
    def name(x):
        return "n%08x" % (x * 2654435761 % 2 ** 32)

    data = {x: [name(x), x % 97, x * 7919 % 100003, "z" * (20 + x % 80)] for x in range(1, rows + 1)}
    kv_rows = rows // 5
    sql = [
        "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val INTEGER, note TEXT);",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d)" % rows,
        "INSERT INTO t SELECT x, printf('n%08x', x * 2654435761 % 4294967296), x % 97, x * 7919 % 100003,",
        "  substr(replace(hex(zeroblob(100)), '0', 'z'), 1, 20 + x % 80) FROM c;",
        "CREATE INDEX t_name ON t(name);",
        "CREATE INDEX t_grp ON t(grp, val);",
        "SELECT count(*), sum(val) FROM t;",
        "SELECT grp, count(*), sum(val), max(name) FROM t GROUP BY grp ORDER BY grp;",
        "SELECT count(*) FROM t WHERE name BETWEEN 'n1' AND 'n3';",
        "UPDATE t SET note = note || 'y' WHERE grp < 10;",
        "DELETE FROM t WHERE val % 5 = 0;",
        "SELECT count(*), sum(length(note)) FROM t;",
        "SELECT id FROM t ORDER BY note DESC, name LIMIT 10;",
        "CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER);",
        "BEGIN;",
    ]
    # Single-row statements: the parser and the statement cache allocate per statement.
    sql += ["INSERT INTO kv VALUES('k%d', %d);" % (i, i * i % 1000) for i in range(1, kv_rows + 1)]
    sql += [
        "COMMIT;",
        "SELECT count(*), sum(kv.v) FROM kv JOIN t ON t.id = CAST(substr(kv.k, 2) AS INTEGER);",
    ]

    out = ["%d|%d" % (rows, sum(r[2] for r in data.values()))]
    groups = {}
    for r in data.values():
        g = groups.setdefault(r[1], [0, 0, ""])
        g[0] += 1
        g[1] += r[2]
        g[2] = max(g[2], r[0])
    out += ["%d|%d|%d|%s" % (g, c, s, m) for g, (c, s, m) in sorted(groups.items())]
    out.append(str(sum(1 for r in data.values() if "n1" <= r[0] <= "n3")))
    for r in data.values():
        if r[1] < 10:
            r[3] += "y"
    data = {x: r for x, r in data.items() if r[2] % 5}
    out.append("%d|%d" % (len(data), sum(len(r[3]) for r in data.values())))
    ranked = sorted(data.items(), key=lambda item: item[1][0])
    ranked.sort(key=lambda item: item[1][3], reverse=True)      # stable: ties stay by name
    out += [str(x) for x, _ in ranked[:10]]
    joined = [i for i in range(1, kv_rows + 1) if i in data]
    out.append("%d|%d" % (len(joined), sum(i * i % 1000 for i in joined)))
    return "\n".join(sql) + "\n", "\n".join(out) + "\n"


class Gxx(Workload):
    name = "g++"
    kind = "program"
    description = "g++ -O2 compiling and linking a generated C++ file (a distinct std::map instantiation per function)"

    def prepare(self, ctx):
        self.gxx = _which("g++", "g++")
        source, self.expected = cxx_source(1 if ctx.quick else 12)
        self.source = os.path.join(ctx.work_dir, "generated.cc")
        self.output = os.path.join(ctx.work_dir, "generated")
        with open(self.source, "w") as f:
            f.write(source)

    def run(self, ctx, threads, allocator, round_):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.output)
        p = measure(ctx, [self.gxx, "-O2", "-std=c++17", "-o", self.output, self.source], allocator.environ(),
                    cwd=ctx.work_dir)
        # The compiled program is the compiler's result: run it (on glibc) and check it.
        try:
            got = subprocess.run([self.output], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RunFailed("the compiled program did not run: %s" % e) from None
        if got != self.expected:
            raise RunFailed("the compiled program printed %r, expected %r" % (got[:100], self.expected))
        return Run(round_, p.wall, p.cpu, p.rss)


def cxx_source(functions):
    """A C++ file whose functions each instantiate std::map for a type of their own, and
    the output the compiled program must print."""
    parts = ["#include <algorithm>", "#include <cstdio>", "#include <map>", "#include <numeric>",
             "#include <string>", "#include <vector>", ""]
    total = 0
    for i in range(functions):
        parts.append("""struct Key{i} {{
    int v;
    bool operator<(const Key{i} &o) const {{ return v < o.v; }}
}};
long f{i}() {{
    std::map<Key{i}, std::string> m;
    for (int j = 0; j < 20; ++j) m[Key{i}{{(j * 7 + {i}) % 13}}] += std::to_string(j + {i});
    std::vector<long> v;
    for (const auto &kv : m) v.push_back(kv.first.v * {w}L + (long)kv.second.size());
    std::sort(v.begin(), v.end(), [](long a, long b) {{ return a > b; }});
    return std::accumulate(v.begin(), v.end(), 0L) % 1000003;
}}
""".format(i=i, w=3 * i + 1))
        m = {}
        for j in range(20):
            k = (j * 7 + i) % 13
            m[k] = m.get(k, "") + str(j + i)
        total += sum(k * (3 * i + 1) + len(s) for k, s in m.items()) % 1000003
    parts.append("int main() {")
    parts.append("    long total = 0;")
    parts += ["    total += f%d();" % i for i in range(functions)]
    parts.append('    std::printf("%ld\\n", total);')
    parts.append("}")
    return "\n".join(parts) + "\n", "%d\n" % total


class Redis(Workload):
    name = "redis"
    kind = "program"
    description = "redis-server (preloaded) serving redis-benchmark on loopback, pipelined; time = 1 / requests per second"
    TESTS = "set,get,lpush,lpop,hset"

    def prepare(self, ctx):
        self.server = _which("redis-server", "redis-server")
        self.client = _which("redis-benchmark", "redis-tools")

    def run(self, ctx, threads, allocator, round_):
        port = _free_port()
        argv = [self.server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning", "--dir", ctx.work_dir]
        requests = 5000 if ctx.quick else 50000
        with tempfile.TemporaryFile() as err:
            server = Launched(ctx.launcher, argv, allocator.environ(), ctx.report_path(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            try:
                _wait_for_port(server, port, err)
                # The client runs on glibc: only the server's allocator is under test.
                client = measure(ctx, [self.client, "-h", "127.0.0.1", "-p", str(port), "-c", "32", "-P", "16",
                                       "-n", str(requests), "-d", "64", "-r", "100000", "-t", self.TESTS, "--csv"],
                                 resolve_allocator(GLIBC).environ())
                rates = [float(row["rps"]) for row in csv.DictReader(io.StringIO(client.stdout))]
                if len(rates) != len(self.TESTS.split(",")):
                    raise RunFailed("redis-benchmark printed %r" % client.stdout[:300])
                _verify_redis(port)
            finally:
                with contextlib.suppress(OSError):
                    _redis_command(port, b"SHUTDOWN", b"NOSAVE")
                deadline = time.monotonic() + 10
                while not server.exited() and time.monotonic() < deadline:
                    time.sleep(0.01)
                if not server.exited():
                    server.kill()
                usage = server.finish()
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        if usage is None or usage[0] != 0:
            raise RunFailed("redis-server: " + (_describe_exit(usage[0], stderr) if usage else "did not stop"))
        # Time spent serving: the sum over tests of requests / rate, without client start-up.
        serving = sum(requests / r for r in rates)
        return Run(round_, serving, usage[1], usage[2], rps=requests * len(rates) / serving)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(server, port, err, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.exited():
            err.seek(0)
            raise RunFailed("redis-server exited during start-up: %s" % err.read().decode(errors="replace")[-500:])
        try:
            if _redis_command(port, b"PING") == b"PONG":
                return
        except OSError:
            time.sleep(0.02)
    raise RunFailed("redis-server did not answer on port %d within %d s" % (port, timeout))


def _resp(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


class _Reader:
    """Just enough of RESP to read replies to the commands sent here."""

    def __init__(self, sock):
        self.file = sock.makefile("rb")

    def reply(self):
        line = self.file.readline()
        if not line:
            raise OSError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind in (b"+", b":"):
            return rest
        if kind == b"-":
            raise RunFailed("redis error: %s" % rest.decode(errors="replace"))
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RunFailed("unexpected redis reply %r" % line[:50])


def _redis_command(port, *args):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(_resp(*args))
        if args[0] == b"SHUTDOWN":
            return None
        return _Reader(s).reply()


def _verify_redis(port):
    """Values of many sizes written through the server's allocator must read back intact."""
    values = {b"pyalloc:verify:%d" % i: (b"%d:" % i) * (1 + i * 37 % 400) for i in range(2000)}
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        reader = _Reader(s)
        s.sendall(b"".join(_resp(b"SET", k, v) for k, v in values.items()))
        for _ in values:
            reader.reply()
        keys = list(values)
        s.sendall(_resp(b"MGET", *keys))
        got = reader.reply()
    if got != [values[k] for k in keys]:
        raise RunFailed("values read back from redis differ from those written")


WORKLOADS: List[Workload] = [
    Compiled("bignum", "bignum.c", "cfrac-like: bignum arithmetic, every intermediate a new 16..300-byte block",
             full=350000, quick=12000),
    Compiled("wordfreq", "wordfreq.c", "espresso-like mixed small objects: strings, tokens and hash-table nodes",
             full=200, quick=10),
    Compiled("stl", "stl.cc", "C++ std::map / unordered_map / string / vector / shared_ptr churn",
             full=150, quick=8),
    Compiled("bintree", "bintree.c", "binary-trees: allocate, walk and free trees of 24-byte nodes per thread",
             full=800, quick=40, threads=THREADS),
    Compiled("larson", "larson.c", "server: threads replace random live objects, hand them to successor threads",
             full=15000000, quick=300000, threads=THREADS),
    Compiled("xmalloc", "xmalloc.c", "producer/consumer ring: every block freed by another thread",
             full=200000, quick=6000, threads=THREADS),
    Compiled("cache-thrash", "cache.c", "false sharing: threads allocate, write and free 8-byte objects",
             full=500000, quick=20000, threads=THREADS, args=("thrash",)),
    Compiled("cache-scratch", "cache.c", "passive false sharing: threads first free objects the main thread allocated",
             full=500000, quick=20000, threads=THREADS, args=("scratch",)),
    Compiled("threads", "threads.c", "thread churn: waves of short-lived threads, half their blocks freed by the next wave",
             full=12000, quick=400, threads=THREADS),
    Compiled("realloc", "realloc.c", "realloc growth: exact-size appends and capacity doubling, up to 256 KiB",
             full=6000000, quick=250000),
    Compiled("sizes", "sizes.c", "size-class sweep: batches of each size from 8 bytes to 512 KiB, freed in 3 orders",
             full=150, quick=10),
    Compiled("large", "large.c", "large blocks: 64 KiB..8 MiB, every page written, random replacement",
             full=2500, quick=120),
    Compiled("fragment", "fragment.c", "fragmentation over time: a 24 MiB live set whose sizes shift phase by phase",
             full=4000000, quick=250000),
    PythonProgram(),
    Sqlite(),
    Redis(),
    Gxx(),
]


def workload(name):
    for w in WORKLOADS:
        if w.name == name:
            return w
    raise KeyError(name)


def select_variants(names=None, threads=None):
    """(Workload, threads, variant name) for each selected variant, in suite order.

    A name selects a workload with all its thread counts (`larson`) or one variant
    (`larson-t4`); `threads` keeps only those counts of multi-threaded workloads."""
    chosen = []
    known = {}
    for w in WORKLOADS:
        for t, v in zip(w.threads, w.variants()):
            known[v] = (w, t)
    wanted = set(names or [w.name for w in WORKLOADS])
    unknown = wanted - set(known) - {w.name for w in WORKLOADS}
    if unknown:
        raise ValueError("unknown workload %s (workloads: %s)" % (
            ", ".join(sorted(unknown)), ", ".join(w.name for w in WORKLOADS)))
    for v, (w, t) in known.items():
        if (v in wanted or w.name in wanted) and (threads is None or w.threads == (1,) or t in threads):
            chosen.append((w, t, v))
    if not chosen:
        raise ValueError("no workload variant left to run")
    return chosen


# -------------------------------------------------------------------------------- results

@dataclasses.dataclass(frozen=True)
class Stat:
    """Median and range of one figure over the rounds."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values):
        values = sorted(v for v in values if v is not None)
        if not values:
            return None
        mid = len(values) // 2
        median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        return cls(median, values[0], values[-1], len(values))

    @property
    def spread(self):
        """Half the range relative to the median: the +/- of a figure."""
        return (self.high - self.low) / 2 / self.median if self.median else 0.0


@dataclasses.dataclass
class Result:
    """Every run of one workload variant under one allocator."""

    workload: str                    # variant name, e.g. larson-t4
    family: str                      # workload name, e.g. larson
    threads: int
    allocator: str
    status: str = "ok"               # ok, failed, missing (allocator), unavailable (workload)
    message: str = ""
    runs: List[Run] = dataclasses.field(default_factory=list)
    # Per round, this allocator's figure over glibc's in the same round.
    ratios: Dict[str, List[float]] = dataclasses.field(default_factory=lambda: {"wall": [], "cpu": [], "rss": []})

    @property
    def ok(self):
        return self.status == "ok" and bool(self.runs)

    def stat(self, metric):
        return Stat.of([getattr(r, metric) for r in self.runs]) if self.runs else None

    def ratio(self, metric):
        return Stat.of(self.ratios[metric]) if self.ok else None

    wall = property(lambda self: self.stat("wall"))
    cpu = property(lambda self: self.stat("cpu"))
    rss = property(lambda self: self.stat("rss"))
    rps = property(lambda self: self.stat("rps") if any(r.rps for r in self.runs) else None)
    wall_ratio = property(lambda self: self.ratio("wall"))
    cpu_ratio = property(lambda self: self.ratio("cpu"))
    rss_ratio = property(lambda self: self.ratio("rss"))

    def to_json(self):
        out = {k: getattr(self, k) for k in ("workload", "family", "threads", "allocator", "status", "message")}
        out["runs"] = [dataclasses.asdict(r) for r in self.runs]
        for metric in ("wall", "cpu", "rss", "rps", "wall_ratio", "cpu_ratio", "rss_ratio"):
            s = getattr(self, metric)
            out[metric] = dataclasses.asdict(s) if s else None
        return out


def geomean(values):
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


@dataclasses.dataclass
class Suite:
    """The results of one `pyalloc bench` run, with what is needed to reproduce it."""

    results: List[Result]
    allocators: List[Allocator]
    variants: List[str]
    meta: Dict[str, object]

    def get(self, variant, allocator):
        for r in self.results:
            if r.workload == variant and r.allocator == allocator:
                return r
        return None

    def failures(self, allocator):
        return sum(1 for r in self.results if r.allocator == allocator and r.status == "failed")

    def ranked_variants(self):
        """The variants that geometric means are taken over: those completed by every
        allocator that did not fail anywhere. Means over one set compare like with like;
        an allocator that skipped the workloads it broke would otherwise look better."""
        clean = [a.name for a in self.allocators if not a.missing and not self.failures(a.name)]
        return [v for v in self.variants if clean and all(self.get(v, n).ok for n in clean)]

    def summary(self, allocator):
        """Geometric means of the ratios to glibc over ranked_variants(), the number of
        variants completed, and failures. An allocator that failed a run gets no means:
        a heap that corrupts memory is not ranked, however fast it was elsewhere."""
        mine = [r for r in self.results if r.allocator == allocator]
        failed = self.failures(allocator)
        out = {"time": None, "cpu": None, "rss": None, "ok": sum(1 for r in mine if r.ok), "failed": failed}
        if not failed:
            ranked = set(self.ranked_variants())
            done = [r for r in mine if r.workload in ranked and r.ratios["wall"]]
            out.update(time=geomean(r.wall_ratio.median for r in done), cpu=geomean(r.cpu_ratio.median for r in done),
                       rss=geomean(r.rss_ratio.median for r in done))
        return out

    def noise(self):
        """How much the same measurement moved between rounds: the median and 90th
        percentile of the wall-time +/- over every (workload, allocator) pair."""
        spreads = sorted(r.wall.spread for r in self.results if r.ok and len(r.runs) > 1)
        if not spreads:
            return None
        return {"median": spreads[len(spreads) // 2], "p90": spreads[min(len(spreads) - 1, int(len(spreads) * 0.9))]}

    def to_json(self):
        return {
            "meta": self.meta,
            "allocators": [dataclasses.asdict(a) for a in self.allocators],
            "variants": self.variants,
            "summary": {a.name: self.summary(a.name) for a in self.allocators},
            "ranked_variants": self.ranked_variants(),
            "noise": self.noise(),
            "results": [r.to_json() for r in self.results],
        }


def machine_description():
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    libc = " ".join(platform.libc_ver())
    return "%s, %d CPUs, %.0f GiB RAM, Linux %s, %s" % (model, os.cpu_count() or 1, mem, platform.release(), libc)


# --------------------------------------------------------------------------------- runner

ProgressFn = Callable[[int, int, str], None]


def run_suite(workloads=None, allocators=None, repeat=None, quick=False, threads=None, seed=0,
              progress: Optional[ProgressFn] = None, timeout=None, command=None) -> Suite:
    """Run the selected workload variants under the allocators, `repeat` interleaved
    rounds (default 5, or 3 with quick), and return the Suite of results.

    workloads: names or variant names (default: all); allocators: specs for
    resolve_allocator (default: all; glibc is always included); threads: thread counts
    to keep (default: 1, 2, 4, 8); progress(done, total, label) is called after each run.
    """
    repeat = repeat or (3 if quick else 5)
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    chosen = select_variants(workloads, threads)
    allocs = resolve_allocators(allocators)
    runnable = [a for a in allocs if not a.missing]
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "command": command or "pyalloc.bench.run_suite(%r)" % (dict(workloads=workloads, allocators=allocators,
                                                                   repeat=repeat, quick=quick, threads=threads),),
        "repeat": repeat,
        "quick": quick,
        "seed": seed,
    }
    results = {}
    for w, t, v in chosen:
        for a in allocs:
            results[v, a.name] = Result(v, w.name, t, a.name)
            if a.missing:
                results[v, a.name].status = "missing"
                results[v, a.name].message = a.missing

    # One warm-up run per variant (glibc, unmeasured) puts binaries and inputs in the page
    # cache and proves the workload works here before allocators are compared on it.
    total = len(chosen) * (1 + repeat * len(runnable))
    done = 0
    with tempfile.TemporaryDirectory(prefix="pyalloc-bench-") as work_dir, no_core_dumps():
        ctx = Context(quick, cache_dir(), work_dir, timeout or (120 if quick else 600))
        try:
            ctx.launcher = compile_source("launch.c", ctx)
        except Unavailable as e:
            raise Unavailable("cannot build the launcher that measures runs: %s" % e) from None
        live = []
        prepared = set()
        for w, t, v in chosen:
            problem = None
            try:
                if w.name not in prepared:
                    w.prepare(ctx)
                    prepared.add(w.name)
                w.run(ctx, t, runnable[0], -1)
            except (Unavailable, RunFailed) as e:
                problem = str(e)
            done += 1 + (repeat * len(runnable) if problem else 0)
            if problem:
                for a in runnable:
                    results[v, a.name].status = "unavailable"
                    results[v, a.name].message = problem
            else:
                live.append((w, t, v))
            if progress:
                progress(done, total, "%s: warm-up" % v)

        for round_ in range(repeat):
            for index, (w, t, v) in enumerate(live):
                order = list(runnable)
                random.Random("%d/%d/%d" % (seed, round_, index)).shuffle(order)
                for a in order:
                    res = results[v, a.name]
                    if res.status == "ok":
                        try:
                            res.runs.append(w.run(ctx, t, a, round_))
                        except RunFailed as e:
                            res.status = "failed"
                            res.message = "round %d: %s" % (round_ + 1, e)
                    done += 1
                    if progress:
                        progress(done, total, "round %d/%d %s %s" % (round_ + 1, repeat, v, a.name))
                base = results[v, GLIBC]
                base_run = base.runs[-1] if base.runs and base.runs[-1].round == round_ else None
                for a in runnable:
                    res = results[v, a.name]
                    run_ = res.runs[-1] if res.runs and res.runs[-1].round == round_ else None
                    if base_run and run_:
                        for metric in ("wall", "cpu", "rss"):
                            b = getattr(base_run, metric)
                            if b > 0:
                                res.ratios[metric].append(getattr(run_, metric) / b)
    return Suite([results[v, a.name] for _, _, v in chosen for a in allocs], allocs, [v for _, _, v in chosen], meta)


def run(workload, allocators=None, repeat=3, quick=False, threads=None, progress=None) -> List[Result]:
    """Run one workload (all its thread variants, or one variant like `larson-t4`) and
    return a Result per (variant, allocator), glibc included."""
    return run_suite([workload], allocators, repeat, quick, threads, progress=progress).results


# -------------------------------------------------------------------------------- reports

def _fmt_ratio(stat, with_spread=True):
    if stat is None:
        return "–"
    text = "%.2f" % stat.median
    if with_spread and stat.n > 1:
        text += " ±%.0f%%" % (100 * stat.spread)
    return text


def _cell(result, metric):
    if result is None:
        return "–"
    if result.status == "missing":
        return "missing"
    if result.status == "unavailable":
        return "n/a"
    if result.status == "failed":
        return "**FAILED**"
    return _fmt_ratio(result.ratio(metric))


def markdown(suite: Suite, charts=()):
    """The report: summary, per-workload tables of ratios to glibc, problems, charts."""
    names = [a.name for a in suite.allocators]
    others = [n for n in names if n != GLIBC]
    meta = suite.meta
    lines = ["# pyalloc benchmark results", ""]
    lines.append("Measured %s on %s." % (meta["date"], meta["machine"]))
    lines.append("")
    lines.append("Command: `%s`" % meta["command"])
    lines.append("")
    noise = suite.noise()
    lines.append(
        "%d rounds%s; in each round every workload runs under every allocator, the allocators in a "
        "fresh random order. Figures are medians over the rounds; a ratio is taken against glibc in "
        "the same round, then its median is taken. ±x%% is half the range over the rounds. Lower is better "
        "everywhere but in requests per second." % (meta["repeat"], " (quick sizes)" if meta["quick"] else ""))
    if noise:
        lines.append("")
        lines.append("Noise: the wall time of one (workload, allocator) pair moved by ±%.1f%% between rounds "
                     "(median over pairs; 90th percentile ±%.1f%%)." % (100 * noise["median"], 100 * noise["p90"]))
    ranked = suite.ranked_variants()
    lines += ["", "## Summary", "",
              "Geometric means of the ratios to glibc over the %d workload variants that every allocator "
              "without a failure completed. An allocator with a failed run is not ranked." % len(ranked), "",
              "| allocator | time | CPU time | peak RSS | completed | failed |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for a in suite.allocators:
        s = suite.summary(a.name)
        if a.missing:
            lines.append("| %s | missing | | | | |" % a.name)
            continue
        if s["failed"]:
            lines.append("| %s | **FAILED** | | | %d | **%d** |" % (a.name, s["ok"], s["failed"]))
            continue
        fmt = (lambda v: "%.2f" % v if v is not None else "–")
        lines.append("| %s | %s | %s | %s | %d | 0 |" % (a.name, fmt(s["time"]), fmt(s["cpu"]), fmt(s["rss"]), s["ok"]))

    for title, metric, unit, scale in (("Wall time", "wall", "s", 1.0), ("CPU time", "cpu", "s", 1.0),
                                       ("Peak RSS", "rss", "MiB", 1 / 2 ** 20)):
        lines += ["", "## %s (ratio to glibc)" % title, "",
                  "| workload | glibc (%s) | %s |" % (unit, " | ".join(others)),
                  "| --- | ---: |%s" % (" ---: |" * len(others))]
        for v in suite.variants:
            base = suite.get(v, GLIBC)
            b = base.stat(metric) if base and base.ok else None
            absolute = ("%.3g" % (b.median * scale)) if b else _cell(base, metric)
            lines.append("| %s | %s | %s |" % (v, absolute, " | ".join(_cell(suite.get(v, n), metric) for n in others)))

    served = [r for r in suite.results if r.ok and r.rps]
    if served:
        lines += ["", "## Requests per second (redis)", "", "| allocator | requests/s | ratio to glibc (higher is better) |",
                  "| --- | ---: | ---: |"]
        for r in served:
            inverse = Stat.of([1 / x for x in r.ratios["wall"]]) if r.ratios["wall"] else None
            lines.append("| %s | %.0f | %s |" % (r.allocator, r.rps.median, _fmt_ratio(inverse)))

    problems = [r for r in suite.results if r.status in ("failed", "unavailable")]
    missing = [a for a in suite.allocators if a.missing]
    if problems or missing:
        lines += ["", "## Not measured", ""]
        for a in missing:
            lines.append("- allocator %s: missing: %s" % (a.name, a.missing))
        seen = set()
        for r in problems:
            if r.status == "unavailable":
                if r.workload not in seen:
                    seen.add(r.workload)
                    lines.append("- workload %s: unavailable: %s" % (r.workload, r.message))
            else:
                lines.append("- %s under %s: **failed**: %s" % (r.workload, r.allocator, r.message))

    lines += ["", "## Workloads", ""]
    for w in WORKLOADS:
        if any(v in suite.variants for v in w.variants()):
            lines.append("- **%s**%s: %s" % (w.name, " (threads %s)" % ", ".join(map(str, w.threads))
                                             if w.threads != (1,) else "", w.description))
    if charts:
        lines += ["", "## Charts", ""]
        lines += ["![%s](%s)" % (title, os.path.basename(path)) for title, path in charts]
    return "\n".join(lines) + "\n"


def charts(suite: Suite, out_dir):
    """PNG charts (matplotlib, Agg): ratio heat maps for time and RSS, and thread scaling.
    Returns [(title, path)]; raises ImportError without matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    others = [a.name for a in suite.allocators if a.name != GLIBC and not a.missing]
    made = []
    for metric, title, fname in (("wall", "Wall time, ratio to glibc", "time_ratio.png"),
                                 ("rss", "Peak RSS, ratio to glibc", "rss_ratio.png")):
        rows = suite.variants + ["geometric mean"]
        grid, labels = [], []
        for v in suite.variants:
            row, lab = [], []
            for n in others:
                r = suite.get(v, n)
                s = r.ratio(metric) if r and r.ok else None
                row.append(s.median if s else float("nan"))
                lab.append("%.2f" % s.median if s else ("FAIL" if r and r.status == "failed" else "–"))
            grid.append(row)
            labels.append(lab)
        key = "time" if metric == "wall" else "rss"
        means = [suite.summary(n)[key] for n in others]
        grid.append([m if m else float("nan") for m in means])
        labels.append(["%.2f" % m if m else "–" for m in means])
        fig, ax = plt.subplots(figsize=(1.2 * len(others) + 3, 0.32 * len(rows) + 1.5))
        # Diverging around 1 on a log scale, so 0.5x and 2x look equally far from parity.
        im = ax.imshow(grid, cmap="RdYlGn_r", norm=LogNorm(vmin=0.25, vmax=4), aspect="auto")
        ax.set_xticks(range(len(others)), others, rotation=30, ha="right")
        ax.set_yticks(range(len(rows)), rows)
        for i, lab in enumerate(labels):
            for j, text in enumerate(lab):
                ax.text(j, i, text, ha="center", va="center", fontsize=7)
        ax.axhline(len(rows) - 1.5, color="black", linewidth=1)
        ax.set_title("%s (lower is better)" % title)
        bar = fig.colorbar(im, ax=ax, shrink=0.6)
        bar.set_ticks([0.25, 0.5, 1, 2, 4], labels=["0.25", "0.5", "1", "2", "4"])
        bar.minorticks_off()
        fig.tight_layout()
        path = os.path.join(out_dir, fname)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append((title, path))

    families = [w for w in WORKLOADS if w.threads != (1,)
                and sum(1 for v in w.variants() if v in suite.variants) > 1]
    if families:
        cols = min(3, len(families))
        rows_n = (len(families) + cols - 1) // cols
        fig, axes = plt.subplots(rows_n, cols, figsize=(4.5 * cols, 3.3 * rows_n), squeeze=False)
        names = [a.name for a in suite.allocators if not a.missing]
        for ax, w in zip(axes.flat, families):
            for n in names:
                xs, ys = [], []
                for t, v in zip(w.threads, w.variants()):
                    r = suite.get(v, n)
                    if r and r.ok:
                        xs.append(t)
                        ys.append(r.wall.median)
                if xs:
                    ax.plot(xs, ys, marker="o", label=n, linewidth=2 if n.startswith("pyalloc") else 1.2,
                            linestyle="-" if n.startswith("pyalloc") or n == GLIBC else "--")
            ax.set_title(w.name)
            ax.set_xscale("log", base=2)
            ax.set_xticks(list(w.threads), [str(t) for t in w.threads])
            ax.set_xlabel("threads (same total work)")
            ax.set_ylabel("wall time (s)")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(families):]:
            ax.axis("off")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8), fontsize=8)
        fig.suptitle("Thread scaling (lower is better)")
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        path = os.path.join(out_dir, "scaling.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(("Thread scaling", path))
    return made


def write_reports(suite: Suite, out_dir, want_charts=True):
    """results.json, results.md and the charts into out_dir; returns the paths written and a
    note when charts could not be drawn."""
    os.makedirs(out_dir, exist_ok=True)
    written, note = [], None
    path = os.path.join(out_dir, "results.json")
    with open(path, "w") as f:
        json.dump(suite.to_json(), f, indent=1)
    written.append(path)
    made = []
    if want_charts:
        try:
            made = charts(suite, out_dir)
        except ImportError:
            note = "charts skipped: matplotlib is not installed (pip install matplotlib, or bench/setup.sh)"
    written += [p for _, p in made]
    path = os.path.join(out_dir, "results.md")
    with open(path, "w") as f:
        f.write(markdown(suite, made))
    written.append(path)
    return written, note


# ------------------------------------------------------------------------------------ CLI

class ProgressBar:
    """One redrawn line on a terminal; otherwise a line per finished variant and round, so
    logs stay readable."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self.last = ""

    def __call__(self, done, total, label):
        elapsed = time.monotonic() - self.start
        eta = elapsed / done * (total - done) if done else 0
        width = 30
        filled = int(width * done / total)
        line = "[%s%s] %d/%d %s ETA %d:%02d" % ("#" * filled, "." * (width - filled), done, total, label,
                                                eta // 60, eta % 60)
        if self.tty:
            columns = shutil.get_terminal_size().columns
            self.stream.write("\r" + line[:columns - 1].ljust(min(len(self.last), columns - 1)))
            self.last = line
            if done == total:
                self.stream.write("\n")
        else:
            step = label.split(" ", 3)[:3]
            if done == total or step != self.last:
                self.stream.write(line + "\n")
                self.last = step
        self.stream.flush()


def _split(values):
    return [v for item in values or [] for v in item.split(",") if v] or None


def _split_allocators(values):
    """_split that keeps a pyalloc:OPTIONS spec whole: in `pyalloc:canary=1,guard=0` the
    comma separates options, as it does in PYALLOC_OPTIONS, not allocators."""
    specs, option_names = [], None
    for v in _split(values) or []:
        if specs and specs[-1].startswith("pyalloc:"):
            if option_names is None:
                from .introspect import options
                option_names = {o.name for o in options()}
            if v.partition("=")[0] in option_names:
                specs[-1] += "," + v
                continue
        specs.append(v)
    return specs or None


def add_parser(subparsers):
    p = subparsers.add_parser(
        "bench", help="compare pyalloc with glibc, jemalloc, mimalloc, tcmalloc and scudo",
        description="Run the benchmark suite: each workload under each allocator (LD_PRELOAD), in "
        "interleaved rounds; write results.json, results.md and PNG charts to --out. Workloads check "
        "their results, so a run that corrupts memory fails instead of counting.",
    )
    p.add_argument("--quick", action="store_true", help="small sizes and 3 rounds: a few minutes in all")
    p.add_argument("--workloads", nargs="+", metavar="NAME",
                   help="workloads (all thread counts) or variants like larson-t4; default: all")
    p.add_argument("--allocators", nargs="+", metavar="NAME",
                   help="%s, pyalloc:OPTIONS or NAME=PATH; default: all (glibc always runs, as the "
                        "baseline)" % ", ".join(DEFAULT_ALLOCATORS))
    p.add_argument("--threads", metavar="N,...", help="thread counts for multi-threaded workloads (default 1,2,4,8)")
    p.add_argument("--repeat", type=int, metavar="N", help="rounds (default 5, with --quick 3)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: pyalloc-bench-DATE-TIME)")
    p.add_argument("--seed", type=int, default=0, help="seed of the allocator order in each round")
    p.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    p.add_argument("--list", action="store_true", help="list workloads and allocators, and exit")
    p.set_defaults(handler=main, parser=p)


def _list():
    print("workloads:")
    for w in WORKLOADS:
        print("  %-14s %s%s" % (w.name, w.description, "" if w.threads == (1,) else
                                " [threads %s]" % ",".join(map(str, w.threads))))
    print("allocators:")
    for a in resolve_allocators():
        print("  %-17s %s" % (a.name, "MISSING: " + a.missing if a.missing else
                              (a.library or "") + (" PYALLOC_OPTIONS=" + a.options if a.options else "")))
    return 0


def main(args):
    if args.list:
        return _list()
    try:
        threads = [int(t) for t in args.threads.split(",")] if args.threads else None
        if threads and any(t < 1 for t in threads):
            raise ValueError
    except ValueError:
        args.parser.error("--threads takes positive integers, e.g. 1,4")
    if args.repeat is not None and args.repeat < 1:
        args.parser.error("--repeat must be at least 1")
    out = args.out or "pyalloc-bench-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    command = "pyalloc " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["bench"] else None
    try:
        suite = run_suite(_split(args.workloads), _split_allocators(args.allocators), args.repeat, args.quick, threads,
                          args.seed, progress=ProgressBar(), command=command or "pyalloc bench")
    except ValueError as e:
        args.parser.error(str(e))
    except Unavailable as e:
        print("pyalloc bench: %s" % e, file=sys.stderr)
        return 1
    written, note = write_reports(suite, out, not args.no_charts)
    print(markdown(suite).split("\n## Wall time")[0].rstrip())
    print()
    for path in written:
        print("wrote %s" % path)
    if note:
        print(note, file=sys.stderr)
    failed = [r for r in suite.results if r.status == "failed"]
    return 1 if failed else 0
