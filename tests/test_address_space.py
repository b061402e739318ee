"""Address-space limits (RLIMIT_AS, `ulimit -v`, the kernel's count of mappings): the heap
must neither crash at start-up nor starve the program's own mappings, and must fail
allocations cleanly at the limit. The programs also run under plain glibc: what they
check is glibc's behaviour."""

import json
import sys

import pytest

LIMIT_KIB = 512 * 1024


@pytest.mark.parametrize("options", [None, "profile=hardened", "tcache=0"],
                         ids=lambda o: o or "defaults")
@pytest.mark.parametrize("mode", ["runtime", "startup"])
def test_malloc_fails_cleanly_at_the_limit(run_c, mode, options):
    result = run_c("address_space_limit.c", mode, options=options)
    assert result.returncode == 0, result.describe()
    assert result.stdout.strip() == "OK", result.describe()


@pytest.mark.parametrize("mode", ["runtime", "startup"])
def test_control_under_glibc(run_c, mode):
    result = run_c("address_space_limit.c", mode, preload=False)
    assert result.returncode == 0, result.describe()


def test_programs_run_under_ulimit_v(run_preloaded, need_program):
    """A shell started with `ulimit -v` runs a pipeline of real programs preloaded."""
    need_program("bash")
    script = (f"ulimit -v {LIMIT_KIB}; "
              "python3 -c 'import json; print(len(json.dumps([list(range(50))] * 20000)))' | sort | head -1")
    result = run_preloaded(["bash", "-c", script])
    assert result.returncode == 0, result.describe()
    assert result.stdout.strip() == "3840000", result.describe()
    assert "pyalloc" not in result.stderr, result.describe()


# Guard slabs must not split the slab region into a kernel mapping each: carving 64 MiB of
# slabs under paranoid (a guard every other slab) added 2,050 mappings with PROT_NONE
# guard slabs, and at about 2 GiB of small blocks the heap ran out (vm.max_map_count).
@pytest.mark.parametrize("options", ["profile=hardened", "profile=paranoid"])
def test_guard_slabs_cost_no_kernel_mappings(run_c, light_guards, options):
    if not light_guards:
        pytest.skip("this kernel has no lightweight guard pages (Linux 6.13): guard slabs are mappings")
    result = run_c("slab_guard_mappings.c", options=options)
    assert result.returncode == 0 and result.stdout.startswith("OK"), result.describe()
    grew = int(result.stdout.split("grew by")[1])
    assert grew <= 8, result.describe()


# Whether a program can hold tens of thousands of large blocks depends on how guard pages
# are drawn, so `pyalloc info` says it, from the preloaded library itself.
@pytest.mark.parametrize("options, expected", [("profile=default", None), ("profile=paranoid", None),
                                               ("guard=0,guard_slab_interval=0", "none")])
def test_info_says_how_guard_pages_are_drawn(run_cmd, lib, light_guards, options, expected):
    expected = expected or ("page-table markers" if light_guards else "mprotect")
    result = run_cmd([sys.executable, "-m", "pyalloc", "info", "--lib", lib, "--options", options, "--json"])
    assert result.returncode == 0, result.describe()
    assert json.loads(result.stdout)["guard_pages"].startswith(expected), result.describe()
