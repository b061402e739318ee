"""Always-on misuse detection: each program misuses the heap once and must die by SIGABRT
after printing exactly one diagnostic line that names the error, the pointer the program
announced on stdout just before, and where the pointer lies."""

import re
import signal

import pytest

LINE_RE = re.compile(
    r"^pyalloc: (?P<error>[a-z_ ]+) 0x(?P<ptr>[0-9a-f]+) "
    r"\((?P<where>size class \d+|large|no size class)\)$")
POINTER_RE = re.compile(r"^pointer (0x[0-9a-f]+)$", re.M)

# (program, argv, expected error, accepted <where> values)
CASES = [
    ("double_free.c", [], "double free", {"size class 48"}),
    ("double_free_cached.c", [], "double free", {"size class 48"}),
    ("double_free_purged.c", [], "double free", {"size class 20480"}),
    ("double_free_idle_slot.c", [], "double free", {"size class 20480"}),
    ("double_free_cross_thread.c", [], "double free", {"size class 48"}),
    ("double_free_cross_thread.c", ["main"], "double free", {"size class 48"}),
    ("double_free_large.c", [], "double free", {"large"}),
    ("free_stack.c", [], "invalid free", {"no size class"}),
    ("free_global.c", [], "invalid free", {"no size class"}),
    ("free_interior.c", [], "invalid free", {"size class 112"}),
    # An interior pointer of a large block is not a large block's address: either wording
    # is a correct description of where it lies.
    ("free_interior_large.c", [], "invalid free", {"large", "no size class"}),
    ("free_never_allocated.c", [], "invalid free", {"size class 48"}),
    ("realloc_freed.c", [], "realloc of freed block", {"size class 48"}),
    ("realloc_invalid.c", [], "invalid realloc", {"no size class"}),
    ("usable_size_invalid.c", ["global"], "invalid usable_size", {"no size class"}),
    ("usable_size_invalid.c", ["interior"], "invalid usable_size", {"size class 112"}),
    ("usable_size_freed.c", ["small"], "usable_size of freed block", {"size class 48"}),
    ("usable_size_freed.c", ["large"], "usable_size of freed block", {"large"}),
]

# Detection must not depend on the thread cache or on the hardening profile.
OPTIONS = [None, "tcache=0", "profile=fast", "profile=hardened", "profile=paranoid"]


def case_id(case):
    program, args, _, _ = case
    return program[:-2] + ("-" + "-".join(args) if args else "")


def check_misuse(result, error, wheres):
    assert result.returncode == -signal.SIGABRT, \
        f"expected death by SIGABRT\n{result.describe()}"
    announced = POINTER_RE.findall(result.stdout)
    assert len(announced) == 1, f"program did not announce its pointer\n{result.describe()}"
    assert "survived" not in result.stdout, result.describe()
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr\n{result.describe()}"
    m = LINE_RE.match(lines[0])
    assert m, f"stderr line has the wrong format: {lines[0]!r}"
    assert m["error"] == error, f"wrong error in {lines[0]!r}, expected {error!r}"
    assert int(m["ptr"], 16) == int(announced[0], 16), \
        f"reported pointer differs from the misused one ({announced[0]}): {lines[0]!r}"
    assert m["where"] in wheres, f"wrong location in {lines[0]!r}, expected one of {sorted(wheres)}"


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: o or "defaults")
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_misuse_aborts_with_one_line(run_c, case, options):
    program, args, error, wheres = case
    check_misuse(run_c(program, *args, options=options), error, wheres)

