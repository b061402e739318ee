"""`pyalloc fuzz`: a time-boxed fuzzing campaign over profiles and targets.

Targets:
  inprocess  the in-process heap of the worker (pyalloc._native), called through cffi;
  preload    libpyalloc.so preloaded into driver.c, one thread;
  threads    the same with --threads threads, blocks handed between them;
  misuse     preload plus double frees, interior frees and overflows, each of which must
             abort the driver with pyalloc's one-line message.
Each worker process takes (target, profile) pairs in turn and runs a few examples of
each until the time is up. Examples that failed are kept in the example database, so the
next campaign (a later CI run) tries them first. A failure is shrunk by hypothesis and
written out as a script (.ops) and as a C program with that script built in (.c).
"""
import argparse
import importlib.util
import multiprocessing
import os
import re
import sys
import time

PROFILES = ("fast", "default", "hardened")
TARGETS = ("inprocess", "preload", "threads", "misuse")
EXAMPLES_PER_TURN = 10
DEFAULT_DB = os.path.join(os.path.expanduser("~"), ".cache", "pyalloc", "fuzz-db")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smh]?)$")


def parse_duration(text):
    """Seconds in '90', '90s', '10m' or '1h'."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            "bad duration %r (expected a positive number with an optional unit s, m or h: 90s, 10m, 1h)" % text)
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _machine(target, profile, library, threads, on_example):
    from .backends import DriverBackend, InProcessBackend
    from .machine import machine_class

    name = "%s_%s" % (target, profile)
    options = "profile=" + profile
    if target == "inprocess":
        return machine_class(name, InProcessBackend, on_example=on_example)
    n = threads if target == "threads" else 1
    return machine_class(name, lambda: DriverBackend(library, options, threads=n), threads=n,
                         misuse=target == "misuse", on_example=on_example)


def write_reproducer(out_dir, stem, model, library, options, message):
    """Writes STEM.ops, STEM.c and STEM.txt to out_dir; returns the .txt path."""
    from .backends import DRIVER_SOURCE

    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, stem)
    script = "\n".join(model.trace) + "\n"
    with open(base + ".ops", "w") as f:
        f.write(script)
    with open(DRIVER_SOURCE) as f:
        driver = f.read()
    literal = "".join('"%s\\n"\n' % line.replace("\\", "\\\\").replace('"', '\\"') for line in model.trace)
    with open(base + ".c", "w") as f:
        f.write("/* pyalloc fuzz reproducer: %s */\n#define PAF_THREADS %d\n#define PAF_SCRIPT \\\n%s\n%s" % (
            stem, model.threads, literal.replace("\n", " \\\n").rstrip(" \\\n"), driver))
    commands = ("cc -O1 -g -pthread -o {b} {b}.c -ldl\n"
                "LD_PRELOAD={lib} PYALLOC_OPTIONS={opt} {b}\n"
                "# or: LD_PRELOAD={lib} PYALLOC_OPTIONS={opt} <driver> {t} < {b}.ops\n").format(
        b=base, lib=library, opt=options, t=model.threads)
    with open(base + ".txt", "w") as f:
        f.write(message.rstrip() + "\n\nReproduce with:\n" + commands)
    return base + ".txt"


def _worker(index, deadline, profiles, targets, library, threads, seed, db_dir, out_dir, queue):
    """One worker process: (target, profile) turns until the deadline; reports to queue."""
    # The in-process heap reads PYALLOC_OPTIONS once, when first used: this worker's
    # in-process turns all run under one profile, the workers between them cover all.
    inprocess_profile = profiles[index % len(profiles)]
    os.environ["PYALLOC_OPTIONS"] = "profile=" + inprocess_profile
    from hypothesis import seed as fixed_seed
    from hypothesis import settings
    from hypothesis.database import DirectoryBasedExampleDatabase
    from hypothesis.stateful import run_state_machine_as_test

    from .machine import minimize, profile_settings

    database = DirectoryBasedExampleDatabase(db_dir)
    pairs = [(t, p) for t in targets for p in profiles if t != "inprocess" or p == inprocess_profile]
    turn = index
    while pairs and time.monotonic() < deadline:
        target, profile = pairs[turn % len(pairs)]
        turn += 1
        counts = {"examples": 0, "ops": 0}

        def on_example(model, counts=counts):
            counts["examples"] += 1
            counts["ops"] += model.ops_run

        machine = _machine(target, profile, library, threads, on_example)
        if seed is not None:
            machine = fixed_seed(seed * 1000003 + turn)(machine)
        failure = None
        try:
            run_state_machine_as_test(machine, settings=settings(
                profile_settings("campaign"), max_examples=EXAMPLES_PER_TURN, database=database))
        except Exception as exc:  # a property broke: hypothesis has shrunk it already
            exc = minimize(machine) or exc
            model = machine.last_model
            stem = "%s-%s-w%d-%d" % (target, profile, index, turn)
            message = "%s under profile=%s: %s" % (target, profile, exc)
            path = write_reproducer(out_dir, stem, model, library, "profile=" + profile, message) if model else None
            failure = (target, profile, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, path,
                       len([line for line in model.trace if line != "s"]) if model else 0)
            # Found and shrunk: more turns would find the same bug again.
            pairs.remove((target, profile))
        queue.put((target, profile, counts["examples"], counts["ops"], failure))
    queue.put(None)


def _bar(fraction, width=30):
    done = int(fraction * width)
    return "[" + "#" * done + "." * (width - done) + "]"


def run(args):
    if importlib.util.find_spec("hypothesis") is None:
        print("pyalloc fuzz: needs hypothesis (pip install 'pyalloc[test]')", file=sys.stderr)
        return 2
    from ..library import library_path

    library = os.path.abspath(args.lib or library_path())
    profiles = [args.profile] if args.profile else list(PROFILES)
    targets = args.targets or list(TARGETS)
    os.makedirs(args.db, exist_ok=True)
    start = time.monotonic()
    deadline = start + args.duration
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_worker, args=(i, deadline, profiles, targets, library, args.threads, args.seed,
                                              args.db, args.out, queue), daemon=True)
        for i in range(args.jobs)
    ]
    for w in workers:
        w.start()
    totals, failures, running = {}, [], len(workers)
    examples = ops = 0
    interactive = sys.stderr.isatty()
    last_line = 0.0
    while running:
        item = queue.get()
        if item is None:
            running -= 1
            continue
        target, profile, n_examples, n_ops, failure = item
        row = totals.setdefault((target, profile), [0, 0, 0])
        row[0] += n_examples
        row[1] += n_ops
        examples += n_examples
        ops += n_ops
        if failure:
            row[2] += 1
            failures.append(failure)
        now = time.monotonic()
        if interactive or now - last_line >= 30:
            last_line = now
            line = "%s %s/%s  examples %d  ops %d  failures %d" % (
                _bar(min(1.0, (now - start) / args.duration)), _clock(now - start), _clock(args.duration),
                examples, ops, len(failures))
            print(("\r" + line) if interactive else line, end="" if interactive else "\n", file=sys.stderr, flush=True)
    for w in workers:
        w.join()
    if interactive:
        print(file=sys.stderr)
    elapsed = time.monotonic() - start
    print("pyalloc fuzz: %s, %d job(s), profiles %s, library %s, database %s" % (
        _clock(elapsed), args.jobs, ",".join(profiles), library, args.db))
    print("%-10s %-9s %9s %11s %9s" % ("target", "profile", "examples", "ops", "failures"))
    for (target, profile), (n_examples, n_ops, n_failures) in sorted(totals.items()):
        print("%-10s %-9s %9d %11d %9d" % (target, profile, n_examples, n_ops, n_failures))
    print("%-10s %-9s %9d %11d %9d" % ("total", "", examples, ops, len(failures)))
    for target, profile, message, path, length in failures:
        print("FAILED %s profile=%s: %s\n  shrunk to %d operations; reproducer: %s" % (
            target, profile, message, length, path))
    return 1 if failures else 0


def _clock(seconds):
    seconds = int(round(seconds))
    return "%dm%02ds" % (seconds // 60, seconds % 60)


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("expected a positive integer, got %r" % text)
    return value


def add_parser(subparsers):
    p = subparsers.add_parser(
        "fuzz", help="property-based fuzzing of the allocator for a fixed time",
        description="Run hypothesis state machines against the allocator (in-process, preloaded, "
        "multi-threaded, and with deliberate misuse) until --duration is up; exit 1 if a property "
        "broke, with a shrunk reproducer (.ops script and .c program) in --out.",
    )
    p.add_argument("--duration", type=parse_duration, default=60.0, metavar="TIME",
                   help="how long to fuzz: 90s, 10m, 1h (default 60s)")
    p.add_argument("--profile", choices=PROFILES, help="fuzz only this profile (default: %s)" % ", ".join(PROFILES))
    p.add_argument("--targets", nargs="+", choices=TARGETS, metavar="TARGET",
                   help="targets to fuzz: %s (default: all)" % ", ".join(TARGETS))
    p.add_argument("--threads", type=_positive, default=4, metavar="N", help="threads of the threads target (default 4)")
    p.add_argument("--seed", type=int, help="seed, for a repeatable campaign (default: random)")
    p.add_argument("--jobs", type=_positive, default=os.cpu_count() or 1, metavar="J",
                   help="worker processes (default: the number of CPUs)")
    p.add_argument("--db", default=DEFAULT_DB, metavar="DIR",
                   help="hypothesis example database, kept between runs (default %s)" % DEFAULT_DB)
    p.add_argument("--out", default="pyalloc-fuzz-failures", metavar="DIR",
                   help="where reproducers of failures go (default ./pyalloc-fuzz-failures)")
    p.add_argument("--lib", metavar="PATH", help="libpyalloc.so to fuzz (default: $PYALLOC_LIB, else the installed one)")
    p.set_defaults(handler=run)
    return p
