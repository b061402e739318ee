"""Ask libpyalloc.so for its build and options from a child process.

The library parses PYALLOC_OPTIONS when it starts and aborts on a bad value, by design
(a misspelt hardening switch must not be ignored). Loading it into the caller would
take the caller down with it, and the in-process heap, once loaded, never rereads the
environment. So the query runs in a fresh interpreter started exactly as `pyalloc run`
starts a program: with the library preloaded and the merged PYALLOC_OPTIONS.
"""
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys

from .library import library_path
from .preload import preload_env

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# Run with -I, so neither the working directory (which may be a source checkout with an
# unbuilt pyalloc/) nor PYTHONPATH decides what gets imported: the child loads this very
# package from its path.
_CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location(
    "pyalloc", {init!r}, submodule_search_locations=[{package!r}])
module = importlib.util.module_from_spec(spec)
sys.modules["pyalloc"] = module
spec.loader.exec_module(module)
from pyalloc.probe import child_main
child_main({library!r})
"""


class ProbeError(Exception):
    """The child failed; `message` is what it printed, `aborted` tells a rejected option
    value (or another fatal report from the library) from other failures."""

    def __init__(self, message, aborted):
        super().__init__(message)
        self.message = message
        self.aborted = aborted


@contextlib.contextmanager
def no_core_dumps():
    """Children started inside get no core files: an abort on a bad option, or on misuse a
    benchmarked allocator detects, is an answer, not a crash worth a core file. The limit is
    inherited at fork, so lowering it around the spawn covers the child."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def query(library=None, options=None):
    """Return {"build_info": str, "guard_pages": str, "options": [dict, ...]} from the preload library.

    library and options are as for preload_env(). Raises ProbeError when the child fails.
    """
    library = os.path.abspath(library) if library else library_path()
    env = preload_env(library, options)
    code = _CHILD.format(init=os.path.join(_PACKAGE_DIR, "__init__.py"), package=_PACKAGE_DIR, library=library)
    with no_core_dumps():
        proc = subprocess.run(
            [sys.executable, "-I", "-c", code], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
    if proc.returncode == 0:
        return json.loads(proc.stdout)
    message = proc.stderr.strip()
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        message = message or "the library query was killed by %s" % name
    else:
        message = message or "the library query exited with status %d" % proc.returncode
    raise ProbeError(message, aborted=proc.returncode == -signal.SIGABRT)


def child_main(library):
    from dataclasses import asdict

    from ._native import ffi
    from .introspect import read_options

    # RTLD_NOLOAD: use the copy ld.so preloaded, never map a second malloc into a process
    # that did not start with it.
    try:
        preloaded = ffi.dlopen(library, ffi.RTLD_NOW | ffi.RTLD_NOLOAD)
    except OSError:
        sys.exit("%s was not preloaded (see the ld.so message above, if any)" % library)
    json.dump(
        {
            "build_info": ffi.string(preloaded.pyalloc_build_info()).decode(),
            "guard_pages": ffi.string(preloaded.pyalloc_guard_pages()).decode(),
            "options": [asdict(o) for o in read_options(preloaded)],
        },
        sys.stdout,
    )
