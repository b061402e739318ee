"""glibc-compatible semantics of the malloc API. Each program checks its own conditions and
exits 1 naming the first violation. Every program also runs under plain glibc as a control:
the semantics tested are glibc's, so a program failing there is a wrong test, not a pyalloc
bug."""

import os

import pytest

PROGRAMS = [
    "api_alignment.c",
    "api_errno.c",
    "api_basics.c",
    "api_realloc.c",
    "api_realloc_spanning.c",
    "api_large_reuse.c",
    "api_slot_reuse.c",
    "api_calloc.c",
    "api_usable.c",
    "api_page.c",
    "api_introspection.c",
    "api_libc_names.c",
    "api_cxx.cpp",
]


def assert_ok(result):
    assert result.returncode == 0, result.describe()
    assert result.stdout.startswith("OK"), result.describe()


@pytest.mark.parametrize("program", PROGRAMS)
def test_api_under_pyalloc(run_c, program):
    assert_ok(run_c(program))


@pytest.mark.parametrize("program", ["api_alignment.c", "api_realloc.c", "api_calloc.c",
                                     "api_usable.c", "api_cxx.cpp"])
@pytest.mark.parametrize("options", ["tcache=0", "profile=fast", "profile=hardened",
                                     "profile=paranoid"])
def test_api_under_other_options(run_c, program, options):
    assert_ok(run_c(program, options=options))


@pytest.mark.parametrize("options", [None, "profile=fast", "profile=hardened"])
def test_realloc_across_kernel_mappings(run_c, options):
    assert_ok(run_c("api_realloc_spanning.c", options=options))


# Every profile with a large cache hands the range back; hardened's cache keeps it
# inaccessible meanwhile and clears it (zero_on_free) on free.
@pytest.mark.parametrize("options, expected", [
    (None, "reused=1"), ("profile=fast", "reused=1"), ("profile=hardened", "reused=1 zeroed=1"),
    ("profile=hardened,guard=0", "reused=1 zeroed=1"), ("profile=paranoid", "zeroed=1"),
])
def test_large_cache_reuse(run_c, options, expected):
    result = run_c("api_large_reuse.c", options=options)
    assert_ok(result)
    assert expected in result.stdout, result.describe()


# With mprotect guards every guarded large block cost two kernel mappings, and malloc
# returned NULL at about 32,700 live blocks (vm.max_map_count). Guard markers cost none,
# in the protected cache of hardened and paranoid too.
@pytest.mark.parametrize("options", [None, "profile=hardened", "profile=paranoid"])
def test_many_live_large_blocks(run_c, light_guards, options):
    if not light_guards:
        pytest.skip("this kernel has no lightweight guard pages (Linux 6.13): guards are mappings")
    assert_ok(run_c("api_large_many.c", options=options))


def test_many_live_large_blocks_control_under_glibc(run_c):
    assert_ok(run_c("api_large_many.c", preload=False))


# A slot taken by blocks of many sizes, some resized in place (which moves the canary),
# must never look written after free, whatever the fill.
@pytest.mark.parametrize("options", ["profile=hardened,quarantine_bytes=0",
                                     "profile=hardened,junk=1,quarantine_bytes=0",
                                     "profile=paranoid,quarantine_bytes=0"])
def test_slot_reuse_passes_the_fill_check(run_c, options):
    assert_ok(run_c("api_slot_reuse.c", options=options))


@pytest.mark.parametrize("program", PROGRAMS)
def test_api_control_under_glibc(run_c, program):
    assert_ok(run_c(program, preload=False))


def test_cxx_output_matches_glibc(run_c):
    assert run_c("api_cxx.cpp").stdout == run_c("api_cxx.cpp", preload=False).stdout


def test_malloc_stats_prints_to_stderr(run_c):
    result = run_c("api_introspection.c")
    assert_ok(result)
    assert result.stderr.strip(), "malloc_stats() printed nothing on stderr"


def test_every_api_function_resolves_into_pyalloc(run_c, lib):
    result = run_c("api_exports.c")
    assert result.returncode == 0, result.describe()
    resolved = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert len(resolved) == 27, result.stdout
    wrong = {name: path for name, path in resolved.items()
             if path == "missing" or os.path.realpath(path) != str(lib)}
    assert not wrong, f"functions not served by {lib}: {wrong}"
