"""Out-of-band metadata: writes into user memory (overflows, forged chunk sizes,
use-after-free) cannot make pyalloc return attacker-chosen or overlapping memory. The
tcache-poisoning program is first shown to work against glibc, so the attack is real."""

import re

import pytest

# Profiles whose checks do not abort on the corruption itself (canaries and
# write-after-free checks would, which is tested elsewhere).
OPTIONS = [None, "tcache=0", "profile=fast"]


def parse_poison(result):
    values = dict(re.findall(r"^(target|first|second|hit) (\S+)$", result.stdout, re.M))
    assert set(values) == {"target", "first", "second", "hit"}, result.describe()
    return values


def test_tcache_poisoning_works_against_glibc(run_c):
    result = run_c("oob_tcache_poison.c", "mangled", preload=False)
    assert result.returncode == 0, result.describe()
    values = parse_poison(result)
    assert values["hit"] == "yes", f"the attack did not work against glibc:\n{result.describe()}"
    assert int(values["second"], 16) == int(values["target"], 16)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: o or "defaults")
@pytest.mark.parametrize("variant", ["mangled", "raw"])
def test_tcache_poisoning_fails_against_pyalloc(run_c, variant, options):
    result = run_c("oob_tcache_poison.c", variant, options=options)
    assert result.returncode == 0, result.describe()
    values = parse_poison(result)
    target = int(values["target"], 16)
    assert values["hit"] == "no", f"pyalloc returned the attacker's address:\n{result.describe()}"
    assert target not in (int(values["first"], 16), int(values["second"], 16))
    assert "more ok" in result.stdout, result.describe()


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: o or "defaults")
@pytest.mark.parametrize("program", ["oob_overflow.c", "oob_size_overwrite.c", "oob_uaf.c"])
def test_corrupted_user_memory_does_not_steer_allocator(run_c, program, options):
    result = run_c(program, options=options)
    assert result.returncode == 0, result.describe()
    assert result.stdout.strip() == "OK", result.describe()
