"""Property-based fuzzing (pyalloc/fuzz): the state machines under the quick settings
profile (PYALLOC_FUZZ_PROFILE=ci for long runs), the proof that they find a seeded bug
and shrink it to a small reproducer, and the `pyalloc fuzz` command."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from pyalloc import library_path
from pyalloc.fuzz.backends import DriverBackend, InProcessBackend, library_options
from pyalloc.fuzz.campaign import write_reproducer
from pyalloc.fuzz.machine import machine_class, minimize, profile_settings
from pyalloc.fuzz.model import FuzzFailure

ROOT = Path(__file__).resolve().parent.parent


def _lib():
    return os.environ.get("PYALLOC_LIB") or library_path()


def test_in_process_heap():
    run_state_machine_as_test(machine_class("InProcess", InProcessBackend), settings=profile_settings())


@pytest.mark.parametrize("profile", ["fast", "default", "hardened"])
def test_preloaded_library(profile):
    lib = _lib()
    machine = machine_class("Preload_" + profile, lambda: DriverBackend(lib, "profile=" + profile))
    run_state_machine_as_test(machine, settings=profile_settings())


@pytest.mark.parametrize("profile", ["default", "hardened"])
def test_threads_pass_blocks_between_them(profile):
    lib = _lib()
    machine = machine_class("Threads_" + profile, lambda: DriverBackend(lib, "profile=" + profile, threads=4),
                            threads=4)
    run_state_machine_as_test(machine, settings=profile_settings())


@pytest.mark.parametrize("profile", ["fast", "default", "hardened"])
def test_misuse_always_aborts(profile):
    # Double frees, interior frees and (with canaries) overflows: the model sends each with
    # the line it expects, and fails the example if the driver does not die of SIGABRT
    # after printing exactly that line.
    lib = _lib()
    detected = []
    machine = machine_class("Misuse_" + profile, lambda: DriverBackend(lib, "profile=" + profile), misuse=True,
                            on_example=lambda model: detected.append(model.misuse_detected))
    run_state_machine_as_test(machine, settings=settings(profile_settings(), max_examples=30))
    assert sum(detected) > 0, "no example issued a misuse: the negative properties were never tested"


def _build_seeded(tmp_path):
    build = tmp_path / "seeded"
    proc = subprocess.run(["make", "-s", "-C", str(ROOT / "csrc"), "BUILD=" + str(build),
                           "CFLAGS=-O2 -g -DPA_SEEDED_BUG", str(build / "libpyalloc.so")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return str(build / "libpyalloc.so")


def _compile_and_run(c_file, lib, tmp_path):
    exe = tmp_path / "repro"
    cc = subprocess.run(["cc", "-O1", "-g", "-pthread", "-o", str(exe), str(c_file), "-ldl"],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    env = dict(os.environ, LD_PRELOAD=lib, PYALLOC_OPTIONS="profile=default")
    return subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=60)


def test_seeded_bug_is_found_and_shrunk(tmp_path):
    """A build whose size classes above 1 KiB are off by one byte (PA_SEEDED_BUG) must be caught,
    shrunk to a handful of operations, and its reproducer must fail on that build only."""
    seeded = _build_seeded(tmp_path)
    # Its option table is the release build's; the query program itself would crash on
    # the broken build (overlapping slots corrupt the interpreter).
    values = library_options(_lib(), "profile=default")
    machine = machine_class("Seeded", lambda: DriverBackend(seeded, "profile=default", option_values=values))
    with pytest.raises(FuzzFailure):
        run_state_machine_as_test(machine, settings=settings(profile_settings(), max_examples=500, database=None))
    failure = minimize(machine)
    assert failure is not None, "the shrunk example did not fail again"
    model = machine.last_model
    ops = [line for line in model.trace if line != "s"]
    assert len(ops) <= 6, "not shrunk: %d operations\n%s" % (len(ops), "\n".join(model.trace))
    report = write_reproducer(str(tmp_path), "seeded", model, seeded, "profile=default", str(failure))
    c_file = Path(report).with_suffix(".c")
    broken = _compile_and_run(c_file, seeded, tmp_path)
    assert broken.returncode != 0 and "FAILED" in broken.stdout, broken.stdout + broken.stderr
    fine = _compile_and_run(c_file, _lib(), tmp_path)
    assert fine.returncode == 0, fine.stdout + fine.stderr


def _fuzz_cli(*args):
    return subprocess.run([sys.executable, "-m", "pyalloc", "fuzz", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_fuzz_command_runs_a_campaign(tmp_path):
    proc = _fuzz_cli("--duration", "8s", "--jobs", "1", "--profile", "default", "--targets", "preload", "misuse",
                     "--seed", "1", "--db", str(tmp_path / "db"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    total = [line.split() for line in proc.stdout.splitlines() if line.startswith("total")]
    assert total and int(total[0][1]) > 0 and int(total[0][2]) > 0 and total[0][3] == "0", proc.stdout
    assert (tmp_path / "db").is_dir(), "the example database was not kept"


def test_fuzz_command_rejects_a_bad_duration():
    proc = _fuzz_cli("--duration", "ten minutes")
    assert proc.returncode == 2
    assert "bad duration 'ten minutes'" in proc.stderr and "10m" in proc.stderr, proc.stderr
