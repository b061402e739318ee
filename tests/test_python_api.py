"""The in-process Python API (pyalloc.malloc & co. on a private heap): pointers are ints,
the semantics are the C ones, and stats() reflects what the program holds. The size-class
table itself is checked against the specification here."""

import errno
import sys

import pytest

import pyalloc  # a missing package fails the module: CI installs it
from pyalloc.fuzz.model import SPEC_CLASS_SIZES
from test_misuse import check_misuse

KIB = 1024


def expected_class(n):
    return next(s for s in SPEC_CLASS_SIZES if s >= max(n, 1))


def test_size_classes_match_the_specification():
    st = pyalloc.stats()
    assert [c.size for c in st.classes] == list(SPEC_CLASS_SIZES)
    assert st.classes[-1].size == 256 * KIB


@pytest.mark.parametrize("n", [1, 16, 17, 100, 129, 200, 1000, 5000, 100000, 262144])
def test_malloc_uses_the_smallest_fitting_class(n):
    before = pyalloc.stats().classes
    p = pyalloc.malloc(n)
    after = pyalloc.stats().classes
    try:
        grown = [a.size for a, b in zip(after, before) if a.in_use_count == b.in_use_count + 1]
        assert grown == [expected_class(n)], f"malloc({n}) went to class {grown}"
        assert pyalloc.usable_size(p) == expected_class(n)
    finally:
        pyalloc.free(p)


def test_pointers_are_aligned_ints_and_memory_is_writable():
    ptrs = [pyalloc.malloc(n) for n in range(0, 3000, 7)]
    for i, p in enumerate(ptrs):
        assert isinstance(p, int) and p != 0 and p % 16 == 0
        n = pyalloc.usable_size(p)
        pyalloc.write(p, bytes([i & 0xFF]) * n)
    assert len(set(ptrs)) == len(ptrs)
    for i, p in enumerate(ptrs):
        assert pyalloc.read(p, pyalloc.usable_size(p)) == bytes([i & 0xFF]) * pyalloc.usable_size(p)
        pyalloc.free(p)


def test_calloc_zeroes_reused_memory():
    for n in (24, 500, 4000, 300000):
        for _ in range(10):
            p = pyalloc.malloc(n)
            pyalloc.write(p, b"\xaa" * n)
            pyalloc.free(p)
            q = pyalloc.calloc(1, n)
            assert pyalloc.read(q, n) == bytes(n)
            pyalloc.free(q)


def test_realloc_keeps_contents_from_small_to_large_and_back():
    data = bytes(range(256)) * 4
    p = pyalloc.malloc(len(data))
    pyalloc.write(p, data)
    for n in (2000, 70000, 300000, 3 * 2 ** 20, 100000, 1500, 1024):
        p = pyalloc.realloc(p, n)
        assert p and pyalloc.read(p, len(data)) == data
    p = pyalloc.realloc(p, 100)
    assert pyalloc.read(p, 100) == data[:100]
    pyalloc.free(p)


@pytest.mark.parametrize("align", [16 << k for k in range(0, 17, 2)])
def test_memalign_alignment(align):
    blocks = [pyalloc.memalign(align, n) for n in (1, 100, 5000, 300000)]
    for p in blocks:
        assert p and p % align == 0
    for p in blocks:
        pyalloc.free(p)


def test_impossible_size_sets_enomem():
    assert pyalloc.malloc(2 ** 63) == 0
    assert pyalloc.errno() == errno.ENOMEM
    assert pyalloc.calloc(2 ** 40, 2 ** 40) == 0
    assert pyalloc.errno() == errno.ENOMEM


def test_stats_follow_allocations_and_trim_releases():
    before = pyalloc.stats()
    ptrs = [pyalloc.malloc(1000) for _ in range(20000)]   # about 20 MiB of class 1024
    for p in ptrs[::97]:
        pyalloc.write(p, b"x" * 1000)
    held = pyalloc.stats()
    assert held.in_use_bytes - before.in_use_bytes >= 20000 * 1000
    assert held.small_in_use_count - before.small_in_use_count == 20000
    for p in ptrs:
        pyalloc.free(p)
    after = pyalloc.stats()
    assert after.small_in_use_count == before.small_in_use_count
    assert after.nfree - before.nfree == 20000
    pyalloc.trim()
    trimmed = pyalloc.stats()
    cls = next(c for c in trimmed.classes if c.size == 1024)
    held_cls = next(c for c in held.classes if c.size == 1024)
    assert cls.slabs_resident < held_cls.slabs_resident / 4, (held_cls, cls)


def test_double_free_in_process_aborts(run_cmd):
    code = ("import pyalloc\n"
            "p = pyalloc.malloc(40)\n"
            "pyalloc.free(p)\n"
            "print('pointer', hex(p), flush=True)\n"
            "pyalloc.free(p)\n"
            "print('survived')\n")
    result = run_cmd([sys.executable, "-c", code])
    check_misuse(result, "double free", {"size class 48"})
