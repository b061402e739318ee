"""PYALLOC_OPTIONS: valid settings are accepted; an unknown option, a malformed item or a
bad value aborts before the program runs, with one line naming the option (and, for a bad
value, the allowed values)."""

import re
import signal

import pytest

from test_misuse import check_misuse


def assert_option_error(result, *needles):
    assert result.returncode == -signal.SIGABRT, result.describe()
    assert "OK" not in result.stdout, "the program ran despite a bad option"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr\n{result.describe()}"
    for needle in needles:
        assert needle in lines[0], f"{needle!r} missing from {lines[0]!r}"


@pytest.mark.parametrize("options", ["nonsense=1", "tcache=1,nonsense=1", "nonsense=1,tcache=1"])
def test_unknown_option_aborts(run_c, options):
    assert_option_error(run_c("hello_malloc.c", options=options), "nonsense")


@pytest.mark.parametrize("options, name, allowed", [
    ("tcache=2", "tcache", "0 or 1"),
    ("tcache=yes", "tcache", "0 or 1"),
    ("tcache=", "tcache", "0 or 1"),
    ("profile=ludicrous", "profile", "hardened"),
    ("retain_bytes=lots", "retain_bytes", "bytes"),
    ("retain_bytes=4X", "retain_bytes", "bytes"),
    ("on_invalid_free=explode", "on_invalid_free", "abort"),
])
def test_bad_value_aborts_naming_option_and_allowed_values(run_c, options, name, allowed):
    assert_option_error(run_c("hello_malloc.c", options=options), name, allowed)


def test_item_without_value_aborts(run_c):
    assert_option_error(run_c("hello_malloc.c", options="tcache"), "tcache")


@pytest.mark.parametrize("options", [
    "", "tcache=0", "tcache=1", "tcache=0,tcache=1", "retain_bytes=0", "retain_bytes=4M",
    "large_cache_bytes=0", "profile=fast", "profile=default", "profile=hardened",
    "profile=paranoid", "canary=0,profile=hardened", "print_stats=0",
])
def test_valid_options_are_accepted(run_c, options):
    result = run_c("hello_malloc.c", options=options)
    assert result.returncode == 0, result.describe()
    assert result.stdout.strip() == "OK"
    assert result.stderr == "", result.describe()


def test_on_invalid_free_report_continues(run_c):
    result = run_c("free_global.c", options="on_invalid_free=report")
    assert result.returncode == 0, result.describe()
    assert "survived" in result.stdout
    assert re.fullmatch(r"pyalloc: invalid free 0x[0-9a-f]+ \(no size class\)\n", result.stderr), \
        result.describe()


def test_on_invalid_free_ignore_is_silent(run_c):
    result = run_c("free_global.c", options="on_invalid_free=ignore")
    assert result.returncode == 0, result.describe()
    assert "survived" in result.stdout and result.stderr == ""


@pytest.mark.parametrize("mode", ["report", "ignore"])
def test_double_free_aborts_whatever_on_invalid_free_says(run_c, mode):
    check_misuse(run_c("double_free_cached.c", options=f"on_invalid_free={mode}"),
                 "double free", {"size class 48"})
