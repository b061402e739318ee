"""The `pyalloc` command."""
import argparse
import json
import os
import shutil
import sys
import textwrap

from . import __version__, bench, glibctests
from .fuzz import campaign
from .library import LibraryNotFoundError, library_path
from .preload import PreloadError, merge_options, preload_env
from .probe import ProbeError, query


def _add_library_options(parser):
    parser.add_argument(
        "--options", metavar="K=V,...",
        help="PYALLOC_OPTIONS items; they override the same names in the environment",
    )
    parser.add_argument(
        "--lib", metavar="PATH",
        help="libpyalloc.so to use (default: $PYALLOC_LIB, else the installed one)",
    )


def _run(args):
    command = args.command
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        args.parser.error("no program given (pyalloc run [--options K=V,...] -- PROG ARGS...)")
    env = preload_env(args.lib, args.options)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        print("pyalloc run: %s: command not found" % command[0], file=sys.stderr)
        return 127
    except OSError as e:
        # The shell's convention: 126 for a program found but not executable.
        print("pyalloc run: %s: %s" % (command[0], e.strerror), file=sys.stderr)
        return 126


def _add_run(subparsers):
    p = subparsers.add_parser(
        "run", help="run a program with libpyalloc.so preloaded",
        description="Run PROG with libpyalloc.so first in LD_PRELOAD. The program replaces "
        "this process, so its exit status and signals are its own.",
    )
    _add_library_options(p)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- PROG ARGS")
    p.set_defaults(handler=_run, parser=p)


def _path(args):
    print(library_path())
    return 0


def _add_path(subparsers):
    p = subparsers.add_parser("path", help="print the path of libpyalloc.so")
    p.set_defaults(handler=_path)


def _option_table(options, width):
    columns = ("name", "value", "source", "allowed")
    widths = [max(len(c), *(len(o[c]) for o in options)) for c in columns]
    indent = sum(widths) + 2 * len(widths)
    # Descriptions wrap in the last column, or under the row when the terminal is narrow.
    if width - indent < 30:
        indent = 4
    wrap = max(width - indent, 30)
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)) + "  DESCRIPTION"]
    for o in options:
        row = "  ".join(o[c].ljust(w) for c, w in zip(columns, widths))
        description = textwrap.wrap(o["description"], wrap) or [""]
        if indent == 4:
            lines.append(row.rstrip())
            lines.extend(" " * indent + d for d in description)
        else:
            lines.append(row + "  " + description[0])
            lines.extend(" " * indent + d for d in description[1:])
    return lines


def _info(args):
    library = os.path.abspath(args.lib) if args.lib else library_path()
    try:
        report = query(library, args.options)
    except ProbeError as e:
        print(e.message, file=sys.stderr)
        return 2 if e.aborted else 1
    if args.json:
        json.dump(dict(version=__version__, library=library, **report), sys.stdout, indent=2)
        print()
        return 0
    env_options = merge_options(os.environ.get("PYALLOC_OPTIONS"), args.options)
    print("pyalloc %s" % __version__)
    print("library: %s" % library)
    print("build: %s" % report["build_info"])
    print("guard pages: %s" % report["guard_pages"])
    print("PYALLOC_OPTIONS: %s" % (env_options or "(not set)"))
    print()
    width = shutil.get_terminal_size().columns
    print("\n".join(_option_table(report["options"], width)))
    return 0


def _add_info(subparsers):
    p = subparsers.add_parser(
        "info", help="show the library, its build and every option",
        description="Show libpyalloc.so's build and each option's value as a program started "
        "by `pyalloc run` with the same --options would see it. An invalid option value is "
        "reported and exits with status 2.",
    )
    _add_library_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=_info)


# Each function adds one subcommand whose parser sets `handler`, called with the parsed
# arguments and returning the exit status. A subcommand defined in another module exposes
# the same kind of function and is listed here.
SUBCOMMANDS = [_add_run, _add_path, _add_info, glibctests.add_parser, bench.add_parser, campaign.add_parser]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="pyalloc", description="A hardened heap allocator: run programs on it, inspect it."
    )
    parser.add_argument("--version", action="version", version="pyalloc %s" % __version__)
    subparsers = parser.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (LibraryNotFoundError, PreloadError) as e:
        print("pyalloc %s: %s" % (args.subcommand, e), file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`pyalloc info | head`): not an error worth a traceback.
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
