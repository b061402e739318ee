"""pyalloc: a hardened heap allocator.

Two ways to use it:
  * `pyalloc run -- PROG ARGS...` (or LD_PRELOAD=library_path()) runs any dynamically
    linked program on libpyalloc.so;
  * the functions below allocate from a private in-process heap (pyalloc.heap), while
    Python itself keeps using glibc's malloc.

The heap and introspection functions load the native module on first use, so that
importing pyalloc (e.g. for the command line or library_path()) never starts a heap.
"""
import importlib

from .library import LibraryNotFoundError, library_path

__version__ = "0.1.0"

_LAZY = {
    "heap": (
        "malloc", "calloc", "realloc", "reallocarray", "free", "free_sized", "free_aligned_sized",
        "memalign", "aligned_alloc", "posix_memalign", "valloc", "pvalloc", "usable_size",
        "trim", "errno", "read", "write",
    ),
    "introspect": ("stats", "options", "build_info", "guard_pages", "Stats", "ClassStats", "OptionInfo"),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}

__all__ = ["LibraryNotFoundError", "library_path", *_LAZY_NAMES]


def __getattr__(name):
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError("module 'pyalloc' has no attribute %r" % name)
    value = getattr(importlib.import_module("." + module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY_NAMES))
