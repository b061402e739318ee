"""The in-process heap: pyalloc's allocator as a private heap of this Python process.

Python's own allocations stay with glibc; only memory obtained here comes from pyalloc.
Pointers are plain ints (0 for NULL), so tests can do address arithmetic and pass any
value to free(). Like their C counterparts, these functions report failure by returning
0 and setting errno, which errno() reads. A misuse the allocator detects (double free,
invalid pointer) aborts the process, exactly as it would in a C program.

The heap reads PYALLOC_OPTIONS when this module is first imported and aborts the
process on an invalid value; `pyalloc info` checks a value safely in a child process.
"""
from ._native import ffi, lib


def _addr(ptr):
    return int(ffi.cast("uintptr_t", ptr))


def _ptr(addr):
    return ffi.cast("void *", addr)


def malloc(size):
    return _addr(lib.pyalloc_malloc(size))


def calloc(n, size):
    return _addr(lib.pyalloc_calloc(n, size))


def realloc(p, size):
    return _addr(lib.pyalloc_realloc(_ptr(p), size))


def reallocarray(p, n, size):
    return _addr(lib.pyalloc_reallocarray(_ptr(p), n, size))


def free(p):
    lib.pyalloc_free(_ptr(p))


def free_sized(p, size):
    lib.pyalloc_free_sized(_ptr(p), size)


def free_aligned_sized(p, alignment, size):
    lib.pyalloc_free_aligned_sized(_ptr(p), alignment, size)


def memalign(alignment, size):
    return _addr(lib.pyalloc_memalign(alignment, size))


def aligned_alloc(alignment, size):
    return _addr(lib.pyalloc_aligned_alloc(alignment, size))


def posix_memalign(alignment, size):
    """Return the new block; raise OSError with the returned error code on failure."""
    out = ffi.new("void **")
    err = lib.pyalloc_posix_memalign(out, alignment, size)
    if err:
        raise OSError(err, "posix_memalign(%d, %d) failed" % (alignment, size))
    return _addr(out[0])


def valloc(size):
    return _addr(lib.pyalloc_valloc(size))


def pvalloc(size):
    return _addr(lib.pyalloc_pvalloc(size))


def usable_size(p):
    return lib.pyalloc_malloc_usable_size(_ptr(p))


def trim(pad=0):
    """malloc_trim: True if memory was returned to the OS."""
    return bool(lib.pyalloc_malloc_trim(pad))


def errno():
    """errno as left by the last call into the heap from this thread.

    Meaningful only right after a call that failed, as in C.
    """
    return ffi.errno


def read(p, n):
    """The n bytes at address p."""
    if not p and n:
        raise ValueError("read from NULL")
    return ffi.buffer(ffi.cast("char *", p), n)[:]


def write(p, data):
    """Copy a bytes-like object to address p."""
    view = memoryview(data).cast("B")
    if not p and len(view):
        raise ValueError("write to NULL")
    ffi.memmove(ffi.cast("char *", p), view, len(view))
