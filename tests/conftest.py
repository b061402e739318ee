"""Shared fixtures: locate libpyalloc.so, build the C/C++ test programs, run them preloaded.

Every subprocess gets a timeout (60 s by default) so a deadlocked allocator fails the test
instead of hanging the suite.
"""

import hashlib
import mmap
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
C_DIR = TESTS_DIR / "c"
CSRC_DIR = TESTS_DIR.parent / "csrc"  # pyalloc.h, for programs that read the stats
TIMEOUT = 60

CFLAGS = ["-O1", "-g", "-fno-builtin", "-Wall", "-Wno-free-nonheap-object",
          "-Wno-use-after-free", "-Wno-alloc-size-larger-than", "-pthread"]
CXXFLAGS = ["-O1", "-g", "-std=c++17", "-fsized-deallocation", "-Wall",
            "-Wno-free-nonheap-object", "-pthread"]


@dataclass
class Result:
    argv: list
    returncode: int
    stdout: str
    stderr: str
    env_prefix: str = ""

    def describe(self):
        """Everything needed to reproduce and understand a failure."""
        return (f"command: {self.env_prefix}{' '.join(map(str, self.argv))}\n"
                f"returncode: {self.returncode}\n"
                f"stdout (tail):\n{self.stdout[-3000:]}\n"
                f"stderr (tail):\n{self.stderr[-3000:]}")


def _find_library():
    env = os.environ.get("PYALLOC_LIB")
    if env:
        return Path(env).resolve()
    try:
        import pyalloc
    except ImportError as exc:
        pytest.fail(f"PYALLOC_LIB is not set and the pyalloc package cannot be imported: {exc}")
    return Path(pyalloc.library_path()).resolve()


@pytest.fixture(scope="session")
def lib():
    """Absolute path of the preloadable libpyalloc.so."""
    path = _find_library()
    if not path.is_file():
        pytest.fail(f"libpyalloc.so not found at {path}")
    return path


def run_process(argv, *, preload=None, options=None, env=None, cwd=None, input=None,
                timeout=TIMEOUT):
    """Runs argv; preload is the library to LD_PRELOAD (None: plain glibc)."""
    full_env = dict(os.environ)
    full_env.pop("LD_PRELOAD", None)
    full_env.pop("PYALLOC_OPTIONS", None)
    full_env["LC_ALL"] = "C"
    if env:
        full_env.update(env)
    if preload is not None:
        full_env["LD_PRELOAD"] = str(preload)
    if options is not None:
        full_env["PYALLOC_OPTIONS"] = options
    argv = [str(a) for a in argv]
    try:
        proc = subprocess.run(argv, env=full_env, cwd=cwd, input=input, capture_output=True,
                              text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        pytest.fail(f"timed out after {timeout}s (deadlock?): {' '.join(argv)}\n"
                    f"preload={preload} options={options}\nstdout:\n{(out or '')[-2000:]}\n"
                    f"stderr:\n{(err or '')[-2000:]}")
    prefix = "".join(f"{k}={full_env[k]} " for k in ("LD_PRELOAD", "PYALLOC_OPTIONS") if k in full_env)
    return Result(argv, proc.returncode, proc.stdout, proc.stderr, prefix)


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cbuild")


@pytest.fixture(scope="session")
def compile_program(build_dir):
    """compile_program(name_or_path, extra_flags=()) -> executable path.

    C++ is chosen by the .cpp suffix. Builds are cached by a hash of the source, the
    headers in tests/c and the flags, so each program is compiled once per session.
    """
    def compile_(source, extra_flags=()):
        src = Path(source)
        if not src.is_absolute():
            src = C_DIR / src
        cxx = src.suffix in (".cpp", ".cc")
        compiler = "g++" if cxx else "gcc"
        if shutil.which(compiler) is None:
            pytest.fail(f"{compiler} is not installed")
        flags = (CXXFLAGS if cxx else CFLAGS) + list(extra_flags)
        digest = hashlib.sha256()
        digest.update(src.read_bytes())
        for header in sorted(C_DIR.glob("*.h")) + sorted(CSRC_DIR.glob("pyalloc.h")):
            digest.update(header.read_bytes())
        digest.update(" ".join(flags).encode())
        exe = build_dir / f"{src.stem}-{digest.hexdigest()[:16]}"
        if not exe.exists():
            argv = [compiler, *flags, "-I", str(C_DIR), "-I", str(CSRC_DIR), "-o", str(exe), str(src), "-ldl"]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
            if proc.returncode != 0:
                pytest.fail(f"compile failed: {' '.join(argv)}\n{proc.stderr}")
        return exe
    return compile_


@pytest.fixture(scope="session")
def run_c(lib, compile_program):
    """run_c(source, *args, options=None, preload=True, env=None, timeout=60) -> Result.

    Builds tests/c/<source> and runs it with libpyalloc.so preloaded (or under plain
    glibc with preload=False)."""
    def run(source, *args, options=None, preload=True, env=None, timeout=TIMEOUT,
            extra_flags=()):
        exe = compile_program(source, extra_flags)
        return run_process([exe, *args], preload=lib if preload else None, options=options,
                           env=env, timeout=timeout)
    return run


@pytest.fixture(scope="session")
def run_cmd():
    """run_cmd(argv, preload=None|lib, options=, env=, cwd=, input=, timeout=) -> Result."""
    return run_process


@pytest.fixture(scope="session")
def run_preloaded(lib):
    """run_preloaded(argv, **kw) -> Result: any command with libpyalloc.so preloaded."""
    def run(argv, **kw):
        return run_process(argv, preload=lib, **kw)
    return run


@pytest.fixture(scope="session")
def need_program():
    """need_program(name) -> path; a missing program fails the test (CI installs them)."""
    def need(name):
        path = shutil.which(name)
        if path is None:
            pytest.fail(f"required program {name!r} is not installed (the CI setup installs it)")
        return path
    return need


@pytest.fixture(scope="session")
def light_guards():
    """Whether madvise(MADV_GUARD_INSTALL) works here (Linux 6.13 and later), so guard pages
    and guard slabs can be page-table markers instead of kernel mappings of their own."""
    page = mmap.mmap(-1, mmap.PAGESIZE)
    try:
        page.madvise(102)
        return True
    except OSError:
        return False
    finally:
        page.close()
