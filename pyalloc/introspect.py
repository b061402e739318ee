"""Statistics, options and build description, as the C library reports them."""
from dataclasses import dataclass, fields
from typing import Tuple

from ._native import ffi, lib


@dataclass(frozen=True)
class ClassStats:
    """One size class; fields as in pyalloc_class_stats (csrc/pyalloc.h)."""

    size: int
    slab_size: int
    in_use_count: int
    cached_count: int
    slabs: int
    slabs_resident: int
    nmalloc: int
    nfree: int


@dataclass(frozen=True)
class Stats:
    """A heap snapshot; fields as in pyalloc_stats (csrc/pyalloc.h).

    `classes` holds the first `nclasses` entries of the C array.
    """

    in_use_bytes: int
    mapped_bytes: int
    resident_bytes: int
    metadata_bytes: int
    small_in_use_bytes: int
    small_in_use_count: int
    large_in_use_bytes: int
    large_count: int
    large_mapped_bytes: int
    large_cached_bytes: int
    nmalloc: int
    nfree: int
    ncalloc: int
    nrealloc: int
    naligned: int
    nlarge_malloc: int
    nlarge_free: int
    npurge: int
    nmoved: int
    nrehomed: int
    nslot_purge: int
    threads: int
    nclasses: int
    classes: Tuple[ClassStats, ...]


@dataclass(frozen=True)
class OptionInfo:
    """One PYALLOC_OPTIONS entry and its current value."""

    name: str
    value: str
    allowed: str
    description: str
    source: str  # "default", "profile" or "PYALLOC_OPTIONS"


def _copy(cls, cstruct, **extra):
    return cls(**{f.name: getattr(cstruct, f.name) for f in fields(cls) if f.name not in extra}, **extra)


def _string(ptr):
    return ffi.string(ptr).decode() if ptr != ffi.NULL else ""


def read_options(library=lib):
    """The option table of `library`: the in-process heap, or libpyalloc.so as returned by
    ffi.dlopen (its pyalloc.h declarations are the same)."""
    info = ffi.new("pyalloc_option_info *")
    result = []
    for i in range(library.pyalloc_option_count()):
        if library.pyalloc_option_get(i, info) != 0:
            raise RuntimeError("pyalloc_option_get(%d) failed" % i)
        result.append(
            OptionInfo(
                name=_string(info.name),
                value=ffi.string(info.value).decode(),
                allowed=_string(info.allowed),
                description=_string(info.description),
                source=_string(info.source),
            )
        )
    return result


def stats():
    """Snapshot of the in-process heap (exact when no other thread allocates)."""
    st = ffi.new("pyalloc_stats *")
    lib.pyalloc_stats_get(st)
    classes = tuple(_copy(ClassStats, st.classes[i]) for i in range(st.nclasses))
    return _copy(Stats, st, classes=classes)


def options():
    """The options of the in-process heap, in the library's order."""
    return read_options()


def build_info():
    """The in-process build's description (version, build kind, compiler)."""
    return ffi.string(lib.pyalloc_build_info()).decode()


def guard_pages():
    """How the in-process heap draws guard pages: page-table markers, mprotect, or none."""
    return ffi.string(lib.pyalloc_guard_pages()).decode()
