"""Micro-benchmarks of the in-process heap against the C library's malloc.

    python -m pytest bench/test_micro.py --benchmark-autosave          # save a baseline
    python -m pytest bench/test_micro.py --benchmark-compare           # compare with it

The loops are C (bench/micro.c, compiled once per session) and get the allocator as
function pointers: pyalloc_malloc/pyalloc_free from pyalloc's cffi module, or the
process's malloc/free. One benchmarked call runs many thousand operations, so Python's
call overhead is amortised, and both allocators pay the same indirect call per
operation. The in-process heap reads PYALLOC_OPTIONS when first used, so
`PYALLOC_OPTIONS=profile=hardened python -m pytest bench/test_micro.py` measures that
profile; each result records the profile in its extra_info.

These live outside tests/ on purpose: the CI test run must not run benchmarks.
"""
import os
import shutil
import subprocess

import pytest

pytest.importorskip("pytest_benchmark")
cffi = pytest.importorskip("cffi")

HERE = os.path.dirname(os.path.abspath(__file__))

CDEF = """
typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);
uint64_t loop_pairs(malloc_fn alloc, free_fn release, size_t n, size_t size);
uint64_t loop_mixed(malloc_fn alloc, free_fn release, size_t n, uint64_t seed);
uint64_t loop_batch(malloc_fn alloc, free_fn release, size_t rounds, size_t batch, size_t size);
void *malloc(size_t);
void free(void *);
"""

OPS = 200_000                      # operations per benchmarked call


@pytest.fixture(scope="session")
def micro(tmp_path_factory):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build bench/micro.c")
    lib_path = str(tmp_path_factory.mktemp("micro") / "libmicro.so")
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", lib_path, os.path.join(HERE, "micro.c")], check=True)
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    return ffi, ffi.dlopen(lib_path), ffi.dlopen(None)


def _profile():
    import pyalloc

    return next(o.value for o in pyalloc.options() if o.name == "profile")


@pytest.fixture(scope="session", params=["pyalloc", "libc"])
def allocator(request, micro):
    """(name, malloc, free) as function pointers of the micro library's types."""
    ffi, _, libc = micro
    if request.param == "libc":
        return "libc", ffi.cast("malloc_fn", libc.malloc), ffi.cast("free_fn", libc.free)
    from pyalloc._native import ffi as native_ffi, lib as native

    def pointer(name, ctype):
        address = int(native_ffi.cast("uintptr_t", native_ffi.addressof(native, name)))
        return ffi.cast(ctype, address)

    return "pyalloc-" + _profile(), pointer("pyalloc_malloc", "malloc_fn"), pointer("pyalloc_free", "free_fn")


def _bench(benchmark, allocator, group, fn, *args, ops=OPS):
    name, alloc, release = allocator
    benchmark.group = group
    benchmark.extra_info.update(allocator=name, ops=ops)
    checksum = benchmark(fn, alloc, release, *args)
    # The loops return 0 only when an allocation failed.
    assert checksum != 0


@pytest.mark.parametrize("size", [16, 64, 256, 1024, 4096, 65536, 1 << 20])
def test_pairs(benchmark, micro, allocator, size):
    """malloc + free of one size, back to back."""
    ops = OPS if size < 65536 else OPS // 20
    _bench(benchmark, allocator, "pairs-%d" % size, micro[1].loop_pairs, ops, size, ops=ops)


def test_mixed(benchmark, micro, allocator):
    """Random replacement in a working set of 1024 blocks of 8..4095 bytes."""
    _bench(benchmark, allocator, "mixed", micro[1].loop_mixed, OPS, 12345)


@pytest.mark.parametrize("batch", [64, 4096])
def test_batch(benchmark, micro, allocator, batch):
    """Allocate a batch of 48-byte blocks, then free them all: cache refills and flushes."""
    _bench(benchmark, allocator, "batch-%d" % batch, micro[1].loop_batch, OPS // batch, batch, 48)
