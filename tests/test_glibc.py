"""glibc's own malloc testsuite, GENERIC and CLIENT classes, against libpyalloc.so.

The runner fetches the glibc source matching the installed libc (see
pyalloc/glibctests.py). Being unable to obtain or build it is a failure, not a
skip: the tests exist to keep pyalloc a drop-in replacement for glibc's malloc.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

from pyalloc import library_path
from pyalloc.glibctests import collapse_repeats

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_CLASSES = ("GENERIC", "CLIENT")
# The slowest tests (tst-mallocfork2/3) have 100 s timeouts of their own; the
# first run also downloads and builds the sources.
RUN_TIMEOUT = 1200


def test_glibc_generic_and_client_tests_pass(tmp_path):
    library = os.environ.get("PYALLOC_LIB") or library_path()
    report = tmp_path / "glibc-tests.json"
    cmd = [sys.executable, "-m", "pyalloc.glibctests", "--lib", str(library), "--json", str(report)]
    for klass in REQUIRED_CLASSES:
        cmd += ["--class", klass]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 2, "the glibc malloc tests could not be built or run:\n" + log
    results = json.loads(report.read_text())["results"]

    by_class = {klass: [r for r in results if r["class"] == klass] for klass in REQUIRED_CLASSES}
    assert all(by_class.values()), "the runner selected no GENERIC or CLIENT test:\n" + log
    # An UNSUPPORTED test would hide a regression as well as a failure does.
    not_passed = [r for r in results if r["status"] != "PASS"]
    assert not not_passed, "\n\n".join(
        "%s (%s) %s: %s\n%s" % (r["name"], r["class"], r["status"], r["reason"],
                                 "\n".join(collapse_repeats(r["output"].splitlines())[-40:]))
        for r in not_passed
    )
    assert proc.returncode == 0, log
