"""The benchmark machinery (pyalloc.bench) end to end on one tiny workload: runs are
measured and reported, and an allocator that corrupts memory is reported as failed and
left unranked rather than counted. Nothing here depends on how fast anything is."""
import json
import platform
import shutil
import subprocess

import pytest

from pyalloc import bench, cli

# Every 512th malloc flips a byte at the end of the block handed out just before, which
# in larson is still live: the workload's own check must catch it.
CORRUPTING_SHIM = r"""
#include <stddef.h>
extern void *__libc_malloc(size_t);
static unsigned char *last;
static size_t last_size;
static unsigned long calls;
void *malloc(size_t n) {
    unsigned char *p = __libc_malloc(n);
    if (last && last_size && ++calls % 512 == 0) last[last_size - 1] ^= 0x5a;
    last = p;
    last_size = n;
    return p;
}
"""

WORKLOAD = "larson-t1"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Workloads compile into the test's directory, not the user's cache."""
    monkeypatch.setenv("PYALLOC_BENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def corrupting_allocator(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    source = tmp_path / "corrupt.c"
    source.write_text(CORRUPTING_SHIM)
    library = tmp_path / "libcorrupt.so"
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return "corrupt=%s" % library


def test_command_reports_and_rejects_a_corrupting_allocator(tmp_path, corrupting_allocator, capsys):
    out = tmp_path / "out"
    status = cli.main(["bench", "--quick", "--workloads", WORKLOAD, "--allocators", "pyalloc-default",
                       corrupting_allocator, "--repeat", "1", "--no-charts", "--out", str(out)])
    assert status == 1, "a failed run must make the command fail"

    report = json.loads((out / "results.json").read_text())
    by_allocator = {r["allocator"]: r for r in report["results"]}
    assert set(by_allocator) == {"glibc", "pyalloc-default", "corrupt"}
    for name in ("glibc", "pyalloc-default"):
        r = by_allocator[name]
        assert r["status"] == "ok", r["message"]
        run, = r["runs"]
        assert run["wall"] > 0 and run["cpu"] > 0 and run["rss"] > 0
        assert r["wall_ratio"]["n"] == 1
    assert by_allocator["glibc"]["wall_ratio"]["median"] == 1.0

    corrupt = by_allocator["corrupt"]
    assert corrupt["status"] == "failed"
    assert "corruption detected" in corrupt["message"]
    assert corrupt["wall_ratio"] is None
    assert report["summary"]["corrupt"]["failed"] == 1
    assert report["summary"]["corrupt"]["time"] is None
    assert report["summary"]["pyalloc-default"]["time"] is not None
    assert report["ranked_variants"] == [WORKLOAD]

    markdown = (out / "results.md").read_text()
    assert "| corrupt | **FAILED** |" in markdown
    assert "%s under corrupt: **failed**" % WORKLOAD in markdown
    assert "| pyalloc-default | " in markdown
    assert "wrote %s" % (out / "results.md") in capsys.readouterr().out


def test_command_keeps_the_options_of_one_pyalloc_allocator_together(tmp_path):
    out = tmp_path / "out"
    spec = "pyalloc:canary=1,zero_on_free=1"
    status = cli.main(["bench", "--quick", "--workloads", WORKLOAD, "--allocators", spec + ",pyalloc-default",
                       "--repeat", "1", "--no-charts", "--out", str(out)])
    report = json.loads((out / "results.json").read_text())
    assert {r["allocator"] for r in report["results"]} == {"glibc", spec, "pyalloc-default"}, \
        "the comma between two options was taken for one between two allocators"
    assert status == 0


def test_api_returns_results_and_reports_a_missing_allocator():
    results = bench.run(WORKLOAD, allocators=["pyalloc-default", "gone=/nonexistent/libgone.so"],
                        repeat=1, quick=True)
    by_allocator = {r.allocator: r for r in results}
    assert set(by_allocator) == {"glibc", "pyalloc-default", "gone"}
    ok = by_allocator["pyalloc-default"]
    assert ok.ok and ok.workload == WORKLOAD and ok.threads == 1
    assert ok.wall.n == 1 and ok.rss.median > 0 and ok.wall_ratio.median > 0
    gone = by_allocator["gone"]
    assert gone.status == "missing" and "no such file" in gone.message and not gone.runs


def test_python_workload_allocates_objects_with_malloc():
    """pywork exits with an error when the interpreter would keep pymalloc (PYTHONMALLOC
    ignored under -E or -I), which would leave the allocator under test almost idle."""
    results = bench.run("python", allocators=["pyalloc-default"], repeat=1, quick=True)
    for r in results:
        assert r.ok, "%s: %s" % (r.allocator, r.message)


def test_scudo_is_the_newest_compiler_rt_and_named_when_missing(tmp_path, monkeypatch):
    """Scudo lives under a directory per LLVM version: the newest must win by number (9
    sorts after 14 as text), and without any the report names the package to install."""
    monkeypatch.setattr(bench, "_library_dirs", lambda: [str(tmp_path)])
    for version in ("9.0.1", "14.0.6", "13.0.1"):
        linux = tmp_path / ("llvm-%s" % version.split(".")[0]) / "lib" / "clang" / version / "lib" / "linux"
        linux.mkdir(parents=True)
        (linux / ("libclang_rt.scudo_standalone-%s.so" % platform.machine())).write_bytes(b"")
    found = bench.resolve_allocator("scudo")
    assert found.missing is None and "/llvm-14/lib/clang/14.0.6/" in found.library

    monkeypatch.setattr(bench, "_library_dirs", lambda: [str(tmp_path / "empty")])
    gone = bench.resolve_allocator("scudo")
    assert gone.library is None and "libclang-rt-dev" in gone.missing
