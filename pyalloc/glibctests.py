"""Run glibc's own malloc testsuite against a preloaded allocator.

``pyalloc glibc-tests`` fetches the glibc source matching the installed C
library (or takes a given one), applies the distribution's patches to the
parts the tests use, builds glibc's ``support/`` helpers and the
``malloc/`` tests against the installed glibc, and runs every test with the
allocator under test in ``LD_PRELOAD``.  No part of glibc itself is built.

The tests are classified in ``glibc_tests.json``: GENERIC and CLIENT tests
must pass for any drop-in malloc replacement; GLIBC-SPECIFIC ones are run
for information; N/A ones cannot reach a preloaded allocator at all.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import operator
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

DATA_FILE = Path(__file__).with_name("glibc_tests.json")
SHIM_DIR = Path(__file__).with_name("glibc_support")

# Bump when the way the tree is prepared or built changes, so that caches
# made by an older runner are not reused.
BUILD_REVISION = "1"

STATUS_PASS = "PASS"
STATUS_FAIL = "FAIL"
STATUS_UNSUPPORTED = "UNSUPPORTED"
STATUSES = (STATUS_PASS, STATUS_FAIL, STATUS_UNSUPPORTED)
UNCLASSIFIED = "UNCLASSIFIED"

# What the tests and support/ read from the source tree.  sysdeps/generic
# supplies malloc-size.h and malloc-alignment.h (only i386 overrides the
# latter, see SYSDEP_HEADER_DIRS).
SOURCE_DIRS = ("malloc", "support", "include", "sysdeps/generic")
SOURCE_FILES = ("test-skeleton.c",)
SYSDEP_HEADER_DIRS = {
    "i386": ("sysdeps/i386", "sysdeps/generic"),
    "i486": ("sysdeps/i386", "sysdeps/generic"),
    "i586": ("sysdeps/i386", "sysdeps/generic"),
    "i686": ("sysdeps/i386", "sysdeps/generic"),
}
DEFAULT_SYSDEP_HEADER_DIRS = ("sysdeps/generic",)

# The compiler flags glibc's Makeconfig gives every object (+cflags,
# +gccwarn, +gccwarn-c, +merge-constants, +math-flags, Debian's
# --enable-stack-protector=strong).  configure adds -U_FORTIFY_SOURCE
# (CPPUNDEFS) when the compiler enables fortification by default.
BASE_CFLAGS = (
    "-std=gnu11", "-fgnu89-inline", "-g", "-O2",
    "-Wall", "-Wwrite-strings", "-Wundef", "-Wstrict-prototypes",
    "-Wold-style-definition", "-fmerge-all-constants", "-frounding-math",
    "-fmath-errno", "-fstack-protector-strong", "-fno-common",
    "-U_FORTIFY_SOURCE", "-pthread",
)
# Makeconfig's run-program-env without the paths into a glibc build tree:
# the tests run against the installed libc, with its own locale and gconv
# data.
RUN_PROGRAM_ENV = {"LC_ALL": "C"}
# Variables of the caller's environment that would change how a malloc
# behaves; each test gets only what malloc/Makefile gives it.
SCRUBBED_ENV_PREFIXES = ("MALLOC_", "LD_PRELOAD", "GLIBC_TUNABLES")
# Extra time the runner allows beyond a test's own timeout, for the test
# driver to kill its child and report before the runner kills everything.
HARD_TIMEOUT_GRACE = 30
OUTPUT_LIMIT = 20000
APT_UPDATE_TIMEOUT = 600
APT_SOURCE_TIMEOUT = 1200
COMPILE_TIMEOUT = 300
# Products of a glibc build that malloc/Makefile refers to under $(objpfx),
# and the names under which the installed glibc provides them.
INSTALLED_PRODUCTS = {"libc_malloc_debug.so": "libc_malloc_debug.so.0"}


class GlibcTestsError(Exception):
    """A problem that stops the run before any test result exists."""


# --------------------------------------------------------------------------
# Classification data


@dataclasses.dataclass(frozen=True)
class TestClass:
    name: str
    required: bool
    run: bool
    reason: str


@dataclasses.dataclass(frozen=True)
class Classification:
    classes: dict[str, TestClass]
    tests: dict[str, tuple[str, str]]  # name -> (class, reason)

    def of(self, test: str) -> tuple[str, str]:
        return self.tests.get(test, (UNCLASSIFIED, f"{test} is not listed in {DATA_FILE.name}"))


def load_classification(path: Path = DATA_FILE) -> Classification:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GlibcTestsError(f"cannot read the test classification {path}: {exc}") from exc
    classes = {
        name: TestClass(name, bool(spec["required"]), bool(spec["run"]), spec["reason"])
        for name, spec in raw["classes"].items()
    }
    tests = {}
    for name, spec in raw["tests"].items():
        if spec["class"] not in classes:
            raise GlibcTestsError(f"{path}: {name} has unknown class {spec['class']!r}")
        tests[name] = (spec["class"], spec.get("reason", classes[spec["class"]].reason))
    return Classification(classes, tests)


# --------------------------------------------------------------------------
# Small process helpers


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise GlibcTestsError(f"{name} is required but was not found on PATH")
    return path


def _run_tool(cmd: Sequence[str], what: str, timeout: float, cwd: Path | None = None) -> str:
    """Run a setup command; any failure becomes one GlibcTestsError."""
    try:
        proc = subprocess.run(
            list(cmd), cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, errors="replace", timeout=timeout,
        )
    except FileNotFoundError as exc:
        raise GlibcTestsError(f"{what}: {cmd[0]} not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise GlibcTestsError(f"{what}: {shlex.join(cmd)} did not finish in {timeout:.0f} s") from exc
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise GlibcTestsError(f"{what} failed ({shlex.join(cmd)} exited {proc.returncode}):\n{detail}")
    return proc.stdout


# --------------------------------------------------------------------------
# Obtaining the source


@dataclasses.dataclass(frozen=True)
class SourceBundle:
    """An upstream source tarball plus, for a Debian source, its debian/ tarball."""

    label: str          # names the cache directory
    description: str    # for reports
    orig: Path
    debian: Path | None


def installed_glibc_version() -> str:
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        value = None
    if not value or not value.startswith("glibc "):
        raise GlibcTestsError("the C library is not glibc; the glibc malloc testsuite does not apply")
    return value.split()[1]


def debian_glibc_source_version(upstream: str) -> str:
    """The Debian source version of the installed libc6, checked against the running glibc."""
    if shutil.which("dpkg-query") is None or shutil.which("dpkg") is None:
        raise GlibcTestsError(
            "cannot find the glibc source for this system: it is not Debian-based "
            "(no dpkg-query); pass --glibc-source"
        )
    arch = _run_tool(["dpkg", "--print-architecture"], "dpkg --print-architecture", 60).strip()
    out = _run_tool(
        ["dpkg-query", "-W", "-f", "${source:Package} ${source:Version}", f"libc6:{arch}"],
        "looking up the installed libc6 package", 60,
    ).split()
    if len(out) != 2 or out[0] != "glibc":
        raise GlibcTestsError(f"unexpected dpkg answer for libc6:{arch}: {' '.join(out)!r}")
    version = out[1]
    upstream_part = version.split(":", 1)[-1].rsplit("-", 1)[0]
    if upstream_part != upstream:
        raise GlibcTestsError(
            f"the running glibc is {upstream} but libc6:{arch} is {version}; "
            "pass --glibc-source"
        )
    return version


def _apt_config_paths() -> tuple[Path, Path]:
    out = _run_tool(
        ["apt-config", "shell", "SL", "Dir::Etc::sourcelist/f", "SP", "Dir::Etc::sourceparts/d"],
        "reading apt's configuration", 60,
    )
    values = dict(shlex.split(line)[0].split("=", 1) for line in out.splitlines() if "=" in line)
    return Path(values["SL"]), Path(values["SP"])


def _deb_src_one_line(text: str) -> list[str]:
    """deb-src twins of the active 'deb' lines of a one-line-style sources list."""
    lines = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] == "deb":
            lines.append(" ".join(["deb-src", *words[1:]]))
    return lines


def _deb_src_deb822(text: str) -> list[str]:
    """deb-src twins of the enabled stanzas of a deb822 .sources file."""
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields: list[list[str]] = []
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            if line[:1].isspace() and fields:
                fields[-1].append(line)
            elif ":" in line:
                fields.append([line])
        values = {f[0].split(":", 1)[0].strip().lower(): f[0].split(":", 1)[1].strip() for f in fields}
        if "deb" not in values.get("types", "").split() or values.get("enabled", "yes").lower() == "no":
            continue
        out = []
        for field in fields:
            name = field[0].split(":", 1)[0].strip()
            out.append("Types: deb-src" if name.lower() == "types" else "\n".join(field))
        stanzas.append("\n".join(out))
    return stanzas


def fetch_debian_source(version: str, workdir: Path) -> SourceBundle:
    """Download glibc=<version> with apt-get, leaving the system's apt state untouched.

    apt reads a private copy of the system's repositories turned into deb-src
    entries and keeps its lists and caches in WORKDIR, so this needs neither
    deb-src lines in the system configuration nor write access to it.
    """
    _require_tool("apt-get")
    _require_tool("apt-config")
    source_list, source_parts = _apt_config_paths()
    one_line: list[str] = []
    deb822: list[str] = []
    if source_list.is_file():
        one_line += _deb_src_one_line(source_list.read_text(errors="replace"))
    if source_parts.is_dir():
        for part in sorted(source_parts.iterdir()):
            if part.suffix == ".list":
                one_line += _deb_src_one_line(part.read_text(errors="replace"))
            elif part.suffix == ".sources":
                deb822 += _deb_src_deb822(part.read_text(errors="replace"))
    if not one_line and not deb822:
        raise GlibcTestsError(f"no apt repositories are configured in {source_list} or {source_parts}")

    apt_dir = workdir / "apt"
    parts = apt_dir / "sources.list.d"
    for sub in (parts, apt_dir / "lists" / "partial", apt_dir / "cache" / "archives" / "partial"):
        sub.mkdir(parents=True)
    (apt_dir / "sources.list").write_text("".join(line + "\n" for line in dict.fromkeys(one_line)))
    (parts / "deb-src.sources").write_text("\n\n".join(dict.fromkeys(deb822)) + "\n")
    options = [
        "-o", f"Dir::Etc::SourceList={apt_dir / 'sources.list'}",
        "-o", f"Dir::Etc::SourceParts={parts}",
        "-o", f"Dir::State::Lists={apt_dir / 'lists'}",
        "-o", f"Dir::Cache={apt_dir / 'cache'}",
    ]
    if os.geteuid() == 0:
        # apt drops to the _apt user for downloads, which cannot write to
        # a private directory under root's home.
        options += ["-o", "APT::Sandbox::User=root"]

    # Some configured repositories may not carry sources or be reachable;
    # that only matters if glibc cannot be found afterwards.
    try:
        update_log = subprocess.run(
            ["apt-get", *options, "-q", "update"], stdin=subprocess.DEVNULL,
            capture_output=True, text=True, errors="replace", timeout=APT_UPDATE_TIMEOUT,
        ).stderr
    except subprocess.TimeoutExpired:
        update_log = f"apt-get update did not finish in {APT_UPDATE_TIMEOUT} s"
    download = apt_dir / "download"
    download.mkdir()
    try:
        _run_tool(
            ["apt-get", *options, "-q", "source", "--download-only", f"glibc={version}"],
            f"downloading the glibc {version} source", APT_SOURCE_TIMEOUT, cwd=download,
        )
    except GlibcTestsError as exc:
        hint = update_log.strip()[-1500:]
        raise GlibcTestsError(f"{exc}\napt-get update said:\n{hint}" if hint else str(exc)) from exc
    dscs = sorted(download.glob("*.dsc"))
    if len(dscs) != 1:
        raise GlibcTestsError(f"apt-get source left {len(dscs)} .dsc files in {download}")
    return bundle_from_dsc(dscs[0], label=f"glibc-{version}", description=f"Debian glibc {version}")


def bundle_from_dsc(dsc: Path, label: str, description: str) -> SourceBundle:
    # Files and each Checksums-* field list the same names.
    names = list(dict.fromkeys(re.findall(r"^ [0-9a-f]{32,} \d+ (\S+)$", dsc.read_text(errors="replace"), re.M)))
    orig = [n for n in names if ".orig.tar." in n]
    debian = [n for n in names if ".debian.tar." in n]
    if len(orig) != 1 or len(debian) != 1:
        raise GlibcTestsError(f"{dsc} does not name one .orig and one .debian tarball")
    for name in orig + debian:
        if not (dsc.parent / name).is_file():
            raise GlibcTestsError(f"{dsc} names {name}, which is not next to it")
    return SourceBundle(label, description, dsc.parent / orig[0], dsc.parent / debian[0])


def bundle_from_argument(path: Path) -> SourceBundle:
    if not path.is_file():
        raise GlibcTestsError(f"--glibc-source {path}: no such file")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    if path.suffix == ".dsc":
        return bundle_from_dsc(path, f"{path.stem}-{digest}", f"Debian source {path.name}")
    stem = re.sub(r"\.tar(\.\w+)?$", "", path.name)
    return SourceBundle(f"{stem}-{digest}", f"tarball {path.name}", path, None)


# --------------------------------------------------------------------------
# Preparing the source tree


def _wanted(rel: str) -> bool:
    return rel in SOURCE_FILES or any(rel.startswith(d + "/") for d in SOURCE_DIRS)


def _strip_top(name: str) -> str | None:
    parts = name.split("/", 1)
    return parts[1] if len(parts) == 2 and parts[1] else None


def extract_tree(orig: Path, dest: Path) -> None:
    """Extract the parts of glibc the tests need (see SOURCE_DIRS)."""
    try:
        with tarfile.open(orig, "r:*") as tar:
            for member in tar:
                rel = _strip_top(member.name)
                if (rel is None or not _wanted(rel) or ".." in Path(rel).parts
                        or not (member.isfile() or member.isdir())):
                    continue
                target = dest / rel
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise GlibcTestsError(f"cannot read {orig}: {exc}") from exc
    if not (dest / "malloc" / "Makefile").is_file() or not (dest / "support" / "test-driver.c").is_file():
        raise GlibcTestsError(f"{orig} is not a glibc source tarball (no malloc/Makefile or support/)")


@dataclasses.dataclass
class _FilePatch:
    header: list[str]
    body: list[str]
    old: str | None = None
    new: str | None = None


_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def split_patch(text: str) -> list[_FilePatch]:
    """Split a unified diff into per-file patches.

    Hunks are consumed by their line counts, so removed lines that happen
    to start with '--' are not mistaken for a new file header.
    """
    lines = text.splitlines(keepends=True)
    patches: list[_FilePatch] = []
    preamble: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            current = _FilePatch(header=preamble + [line, lines[i + 1]], body=[])
            current.old = line[4:].split("\t")[0].strip()
            current.new = lines[i + 1][4:].split("\t")[0].strip()
            preamble = []
            i += 2
            while i < len(lines):
                match = _HUNK.match(lines[i])
                if not match:
                    break
                old_count = int(match.group(1) or 1)
                new_count = int(match.group(2) or 1)
                current.body.append(lines[i])
                i += 1
                while (old_count > 0 or new_count > 0) and i < len(lines):
                    hunk_line = lines[i]
                    if hunk_line.startswith("\\"):
                        current.body.append(hunk_line)
                        i += 1
                        continue
                    tag = hunk_line[:1]
                    if tag in (" ", "\n", "\r"):
                        old_count -= 1
                        new_count -= 1
                    elif tag == "-":
                        old_count -= 1
                    elif tag == "+":
                        new_count -= 1
                    current.body.append(hunk_line)
                    i += 1
                while i < len(lines) and lines[i].startswith("\\"):
                    current.body.append(lines[i])
                    i += 1
            patches.append(current)
            continue
        if line.startswith(("diff ", "Index: ")):
            preamble = [line]
        elif preamble:
            preamble.append(line)
        i += 1
    return patches


def _patch_target(fp: _FilePatch, strip: int) -> str | None:
    path = fp.new if fp.new != "/dev/null" else fp.old
    if path is None:
        return None
    parts = path.split("/")[strip:]
    return "/".join(parts) if parts else None


def apply_debian_patches(debian_tar: Path, tree: Path) -> list[str]:
    """Apply debian/patches/series to the extracted parts of the tree.

    Only the file sections touching extracted files (or creating files in
    extracted directories) are applied; the rest patch parts of glibc the
    tests do not use.  Returns the names of the patches that applied.
    """
    try:
        with tarfile.open(debian_tar, "r:*") as tar:
            texts = {
                m.name.split("debian/patches/", 1)[1]: tar.extractfile(m).read().decode("utf-8", "surrogateescape")
                for m in tar if m.isfile() and "debian/patches/" in m.name
            }
    except (OSError, tarfile.TarError, EOFError, AttributeError) as exc:
        raise GlibcTestsError(f"cannot read {debian_tar}: {exc}") from exc
    if "series" not in texts:
        raise GlibcTestsError(f"{debian_tar} has no debian/patches/series")
    patch_tool = _require_tool("patch")
    applied = []
    for entry in texts["series"].splitlines():
        words = entry.split("#", 1)[0].split()
        if not words:
            continue
        name = words[0]
        strip = next((int(w[2:]) for w in words[1:] if re.fullmatch(r"-p\d+", w)), 1)
        if name not in texts:
            raise GlibcTestsError(f"{debian_tar}: the series names {name}, which is missing")
        selected = []
        for fp in split_patch(texts[name]):
            target = _patch_target(fp, strip)
            if target and _wanted(target) and ((tree / target).exists() or fp.old == "/dev/null"):
                selected.append("".join(fp.header + fp.body))
        if not selected:
            continue
        proc = subprocess.run(
            [patch_tool, f"-p{strip}", "--batch", "--forward", "--silent", "-d", str(tree)],
            input="".join(selected).encode("utf-8", "surrogateescape"),
            capture_output=True, timeout=COMPILE_TIMEOUT,
        )
        if proc.returncode != 0:
            detail = (proc.stdout + proc.stderr).decode(errors="replace").strip()[-2000:]
            raise GlibcTestsError(f"Debian patch {name} does not apply to the malloc/support sources:\n{detail}")
        applied.append(name)
    return applied


# --------------------------------------------------------------------------
# Reading glibc's makefiles


_ASSIGN = re.compile(r"^([\w.%/$()-]+?)\s*(:=|\+=|\?=|=)\s*(.*)$")
_OBJ_CPPFLAGS = re.compile(r"^\$\(([\w-]+):%=\$\(objpfx\)%\.o\)\s*:\s*CPPFLAGS\s*\+=\s*(.*)$")
_PROGRAM_DEPS = re.compile(r"^\$\(objpfx\)([\w-]+)\s*:(?![:=])\s*(.*)$")


@dataclasses.dataclass
class Makefile:
    """The subset of a glibc subdirectory Makefile that the runner acts on.

    Conditional blocks are taken as for a native shared build with
    tunables (the first branch of each ifeq/ifneq; else-branches skipped).
    """

    variables: dict[str, str]
    list_cppflags: dict[str, list[str]]  # list variable -> CPPFLAGS for its objects
    program_deps: dict[str, list[str]]   # program -> what it is linked with

    @classmethod
    def parse(cls, path: Path) -> "Makefile":
        logical: list[str] = []
        pending = ""
        for raw in path.read_text(errors="replace").splitlines():
            # A tab-indented line that does not continue the previous one is
            # a recipe: shell, not make syntax.
            line = "" if raw.startswith("\t") and not pending else raw.split("#", 1)[0]
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            logical.append(pending + line)
            pending = ""
        variables: dict[str, str] = {}
        list_cppflags: dict[str, list[str]] = {}
        program_deps: dict[str, list[str]] = {}
        skipping: list[bool] = []
        in_define = False
        for line in logical:
            stripped = line.strip()
            keyword = stripped.split(None, 1)[0] if stripped else ""
            if in_define or keyword == "define":
                in_define = keyword != "endef"
                continue
            if keyword in ("ifeq", "ifneq", "ifdef", "ifndef"):
                skipping.append(False)
                continue
            if keyword == "else":
                if skipping:
                    skipping[-1] = True
                continue
            if keyword == "endif":
                if skipping:
                    skipping.pop()
                continue
            if any(skipping) or not stripped:
                continue
            rule = _OBJ_CPPFLAGS.match(stripped)
            if rule:
                list_cppflags.setdefault(rule.group(1), []).extend(rule.group(2).split())
                continue
            deps = _PROGRAM_DEPS.match(stripped)
            if deps:
                # A target-specific variable is not a prerequisite.
                if not re.match(r"[\w-]+\s*[:+?]?=", deps.group(2)):
                    program_deps.setdefault(deps.group(1), []).extend(deps.group(2).split())
                continue
            match = _ASSIGN.match(stripped)
            if not match or "$(" in match.group(1):
                continue
            name, op, value = match.groups()
            value = " ".join(value.split())
            if op == "+=" and name in variables:
                variables[name] = f"{variables[name]} {value}".strip()
            elif op != "?=" or name not in variables:
                variables[name] = value
        return cls(variables, list_cppflags, program_deps)

    def expand_list(self, name: str, depth: int = 0) -> list[str]:
        """A whitespace list, expanding references to variables of this file."""
        if depth > 20:
            raise GlibcTestsError(f"recursive variable {name}")
        out: list[str] = []
        for word in self.variables.get(name, "").split():
            ref = re.fullmatch(r"\$\(([\w-]+)\)", word)
            if ref:
                out += self.expand_list(ref.group(1), depth + 1)
            elif "$(" not in word:
                out.append(word)
        return out

    def per_file_flags(self, source_name: str) -> list[str]:
        return [
            *self.variables.get(f"CPPFLAGS-{source_name}", "").split(),
            *self.variables.get(f"CFLAGS-{source_name}", "").split(),
        ]


# --------------------------------------------------------------------------
# The source tree in the cache


@dataclasses.dataclass(frozen=True)
class SourceRequest:
    """Where the glibc source comes from; fetched only when the cache lacks it."""

    label: str
    description: str
    obtain: Callable[[Path], SourceBundle]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise runs that prepare or build the same cache directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_source(request: SourceRequest, root: Path) -> tuple[Path, dict]:
    """The extracted and patched tree for REQUEST under ROOT, made once and kept."""
    src = root / "source"
    stamp = root / "source.json"
    if stamp.is_file():
        try:
            info = json.loads(stamp.read_text())
        except ValueError:
            info = {}
        if info.get("revision") == BUILD_REVISION and src.is_dir():
            return src, info
    shutil.rmtree(src, ignore_errors=True)
    stamp.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="fetch-", dir=root) as work:
        bundle = request.obtain(Path(work))
        staging = Path(work) / "source"
        staging.mkdir()
        extract_tree(bundle.orig, staging)
        patches = apply_debian_patches(bundle.debian, staging) if bundle.debian else []
        staging.rename(src)
    info = {
        "revision": BUILD_REVISION,
        "description": request.description,
        "orig": bundle.orig.name,
        "debian": bundle.debian.name if bundle.debian else None,
        "patches": patches,
    }
    stamp.write_text(json.dumps(info, indent=2) + "\n")
    return src, info


# --------------------------------------------------------------------------
# The tests of malloc/


@dataclasses.dataclass(frozen=True)
class TestSpec:
    name: str
    kind: str                 # the malloc/Makefile list that names it
    klass: str
    reason: str               # why the class applies
    env: tuple[str, ...]      # NAME=value words of <name>-ENV / <name>-ENV-only
    env_only: bool
    args: tuple[str, ...]
    timeout: int              # seconds, before TIMEOUTFACTOR
    cppflags: tuple[str, ...]
    stdin: Path | None        # malloc/<name>.input, which glibc feeds the test
    link_deps: tuple[str, ...]  # prerequisites of the program in malloc/Makefile

    @property
    def source(self) -> str:
        return f"malloc/{self.name}.c"


# The lists of malloc/Makefile whose programs are run as plain tests, and
# why the others are not.
RUNNABLE_KINDS = ("tests", "tests-internal")
OTHER_KINDS = {
    "tests-static": "a static binary: LD_PRELOAD does not apply",
    "test-srcs": "run by its own Makefile rule, not as a plain test",
}


def _eval_timeout(expr: str, default_timeout: int) -> int:
    """Evaluate a TIMEOUT macro such as '100' or '(2 * DEFAULT_TIMEOUT)'."""
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.FloorDiv: operator.floordiv, ast.Div: operator.floordiv}

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id == "DEFAULT_TIMEOUT":
            return default_timeout
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(expr)

    return walk(ast.parse(expr.strip(), mode="eval"))


def discover_tests(src: Path, classification: Classification) -> list[TestSpec]:
    makefile = Makefile.parse(src / "malloc" / "Makefile")
    driver = (src / "support" / "test-driver.h").read_text(errors="replace")
    match = re.search(r"DEFAULT_TIMEOUT\s*=\s*(\d+)", driver)
    if not match:
        raise GlibcTestsError("support/test-driver.h does not define DEFAULT_TIMEOUT")
    default_timeout = int(match.group(1))

    lists = {kind: makefile.expand_list(kind) for kind in (*RUNNABLE_KINDS, *OTHER_KINDS)}
    specs: list[TestSpec] = []
    seen: set[str] = set()
    for names in lists.values():
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            # malloc/Makefile adds tests-static to tests; the narrower list says how it is built.
            kind = next(k for k in (*OTHER_KINDS, *reversed(RUNNABLE_KINDS)) if name in lists[k])
            cppflags = [f for k, members in lists.items() if name in members for f in makefile.list_cppflags.get(k, ())]
            klass, reason = classification.of(name)
            timeout = default_timeout
            source = src / "malloc" / f"{name}.c"
            if source.is_file():
                found = re.search(r"^#\s*define\s+TIMEOUT\s+(.+?)\s*$", source.read_text(errors="replace"), re.M)
                if found:
                    try:
                        timeout = _eval_timeout(found.group(1), default_timeout)
                    except (ValueError, SyntaxError) as exc:
                        raise GlibcTestsError(f"{source}: cannot evaluate TIMEOUT {found.group(1)!r}") from exc
            env_only = f"{name}-ENV-only" in makefile.variables
            env = makefile.variables.get(f"{name}-ENV-only" if env_only else f"{name}-ENV", "")
            specs.append(TestSpec(
                name=name, kind=kind, klass=klass, reason=reason,
                env=tuple(env.split()), env_only=env_only,
                args=tuple(makefile.variables.get(f"{name}-ARGS", "").split()),
                timeout=timeout,
                cppflags=tuple(cppflags + makefile.per_file_flags(f"{name}.c")),
                stdin=src / "malloc" / f"{name}.input" if (src / "malloc" / f"{name}.input").is_file() else None,
                link_deps=tuple(makefile.program_deps.get(name, ())),
            ))
    missing = sorted(set(classification.tests) - seen)
    for name in missing:
        klass, reason = classification.of(name)
        specs.append(TestSpec(name, "absent", klass, reason, (), False, (), default_timeout, (), None, ()))
    return specs


# --------------------------------------------------------------------------
# Building


def _compiler_identity(cc: str) -> str:
    return _run_tool([cc, "--version"], f"running {cc}", 60).splitlines()[0]


def installed_glibc_paths() -> tuple[Path, Path]:
    """The running libc.so.6 and dynamic loader."""
    libc = ldso = None
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(None, 5)
            if len(fields) < 6:
                continue
            path = Path(fields[5].strip())
            if path.name == "libc.so.6":
                libc = path
            elif re.fullmatch(r"ld(-linux[\w.-]*|64)?\.so\.\d+", path.name):
                ldso = path
    if libc is None or ldso is None:
        raise GlibcTestsError("cannot locate the running libc.so.6 and dynamic loader in /proc/self/maps")
    return libc, ldso


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.split(r"[._]", name.split("_", 1)[1]))


def abi_versions_header(libc: Path, referenced: Iterable[str]) -> str:
    """abi-versions.h for libc, as scripts/abi-versions.awk makes it, from the installed libc.

    A version set older than the ABI baseline, or one that defines no
    symbols, is subsumed by the next version set the library defines.
    """
    out = _run_tool(["objdump", "-p", str(libc)], f"reading the version definitions of {libc}", 60)
    block = out.split("Version definitions:", 1)[-1].split("Version References:", 1)[0]
    defined = sorted({m for m in re.findall(r"^\d+ 0x\w+ 0x\w+ (GLIBC_2[\d.]+)$", block, re.M)}, key=_version_key)
    if not defined:
        raise GlibcTestsError(f"{libc} defines no GLIBC_2.* symbol versions")
    names = {name.replace("_", ".").replace("GLIBC.", "GLIBC_", 1) for name in referenced} | set(defined)
    lines = ["/* Generated by pyalloc's glibc test runner from the installed libc.so.6.  */"]
    for name in sorted(names, key=_version_key):
        subsuming = next((d for d in defined if _version_key(d) >= _version_key(name)), None)
        if subsuming is None:
            continue
        macro = name.replace(".", "_")
        lines.append(f"#define ABI_libc_{macro} {defined.index(subsuming) + 1}")
        lines.append(f"#define VERSION_libc_{macro} {subsuming}")
    return "\n".join(lines) + "\n"


def _sysdep_dirs(src: Path) -> list[Path]:
    machine = os.uname().machine
    return [src / d for d in SYSDEP_HEADER_DIRS.get(machine, DEFAULT_SYSDEP_HEADER_DIRS)]


class Builder:
    """Compiles support/ and the tests into a cache directory keyed by the toolchain and shim."""

    def __init__(self, src: Path, cache_root: Path, cc: str, jobs: int):
        self.src = src
        self.cc = cc
        self.jobs = jobs
        self.support_make = Makefile.parse(src / "support" / "Makefile")
        key = hashlib.sha256()
        for part in (BUILD_REVISION, _compiler_identity(cc), *BASE_CFLAGS, os.uname().machine):
            key.update(part.encode() + b"\0")
        for shim in sorted(SHIM_DIR.glob("*.h")):
            key.update(shim.name.encode() + b"\0" + shim.read_bytes())
        self.dir = cache_root / f"build-{key.hexdigest()[:16]}"
        self.support_dir = self.dir / "support"
        self.tests_dir = self.dir / "tests"
        self.generated_dir = self.dir / "generated"
        for directory in (self.support_dir, self.tests_dir, self.generated_dir):
            directory.mkdir(parents=True, exist_ok=True)

    def _includes(self, subdir_include: Path | None) -> list[str]:
        # glibc's order is include/, the build directory (config.h,
        # abi-versions.h), sysdeps, the top directory, then the subdirectory.
        # Here the shim and generated_dir stand for the first two; include/
        # and sysdeps come after the
        # system headers (-idirafter), so that the installed glibc's headers
        # are used and the tree only supplies its internal headers.
        flags = ["-include", str(SHIM_DIR / "libc-symbols.h"), "-I", str(SHIM_DIR),
                 "-I", str(self.generated_dir), "-I", str(self.src)]
        if subdir_include is not None:
            flags += ["-I", str(subdir_include)]
        flags += ["-idirafter", str(self.src / "include")]
        for directory in _sysdep_dirs(self.src):
            flags += ["-idirafter", str(directory)]
        return flags

    @staticmethod
    def _produce(cmd: Sequence[str], tmp: Path, output: Path) -> str | None:
        """Run a compile or link command writing TMP, then move it to OUTPUT.

        None on success, else the command and its output.  The rename keeps
        an interrupted build from leaving a truncated file in the cache.
        """
        try:
            proc = subprocess.run(list(cmd), capture_output=True, text=True, errors="replace",
                                  timeout=COMPILE_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            return f"{shlex.join(cmd)}\ntimed out after {COMPILE_TIMEOUT} s"
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            return f"{shlex.join(cmd)}\n{proc.stdout}{proc.stderr}"
        tmp.replace(output)
        return None

    def _compile(self, source: Path, output: Path, flags: Sequence[str]) -> str | None:
        tmp = output.with_suffix(".o.tmp")
        return self._produce([self.cc, *BASE_CFLAGS, *flags, "-c", str(source), "-o", str(tmp)], tmp, output)

    def _parallel(self, jobs: Iterable[tuple[str, Callable[[], str | None]]]) -> dict[str, str]:
        """Run compile jobs on the worker pool; the failures by name."""
        failures: dict[str, str] = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futures = {pool.submit(job): name for name, job in jobs}
            for future in concurrent.futures.as_completed(futures):
                error = future.result()
                if error is not None:
                    failures[futures[future]] = error
        return failures

    @staticmethod
    def _symbols(obj: Path, undefined: bool) -> set[str]:
        cmd = ["nm", "-u" if undefined else "--defined-only", str(obj)]
        out = _run_tool(cmd, f"reading the symbols of {obj.name}", 60)
        if undefined:
            return {line.split()[-1] for line in out.splitlines() if line.strip()}
        return {parts[2] for parts in (line.split() for line in out.splitlines())
                if len(parts) == 3 and parts[1] in "TDBRVWCG"}

    def _support_index(self) -> dict[str, set[str]]:
        """Which libsupport routine sources may define each global name.

        glibc code puts the name of a defined function or object at the
        start of a line (GNU style), so a line-start scan finds the
        candidates; the compiled object's symbol table has the final word.
        """
        definition = re.compile(r"^(?!static\b|extern\b|typedef\b|struct\b|union\b|enum\b|#)"
                                r"(?:[A-Za-z_][\w \t*]*?[\s*])?([A-Za-z_]\w*)\s*(?:\(|=|;|\[)", re.M)
        index: dict[str, set[str]] = {}
        for routine in self.support_make.expand_list("libsupport-routines"):
            path = self.src / "support" / f"{routine}.c"
            if path.is_file():
                # Some routines define their function through a macro in a
                # shared template, but every file is named after its function.
                index.setdefault(routine, set()).add(routine)
                for match in definition.finditer(path.read_text(errors="replace")):
                    index.setdefault(match.group(1), set()).add(routine)
        return index

    def _support_flags(self, routine: str) -> list[str]:
        if routine != "support_paths":
            return self.support_make.per_file_flags(f"{routine}.c")
        # support/Makefile computes these from the glibc build's
        # configuration with shell commands; outside a glibc build they
        # describe the installed glibc (and this tree and build directory).
        libc, ldso = installed_glibc_paths()
        libdir = libc.parent
        paths = {
            "SRCDIR_PATH": self.src, "OBJDIR_PATH": self.dir, "OBJDIR_ELF_LDSO_PATH": ldso,
            "INSTDIR_PATH": "/usr", "LIBDIR_PATH": libdir, "BINDIR_PATH": "/usr/bin",
            "SBINDIR_PATH": "/usr/sbin", "SLIBDIR_PATH": libdir, "ROOTSBINDIR_PATH": "/sbin",
            "COMPLOCALEDIR_PATH": "/usr/lib/locale",
        }
        return [f"-D{name}={json.dumps(str(value))}" for name, value in paths.items()]

    def build_support(self, needed: set[str]) -> Path:
        """libsupport.a with the support routines that NEEDED symbols pull in, transitively."""
        index = self._support_index()
        defined: set[str] = set()
        compiled: set[str] = set()
        pending = set(needed)
        while True:
            routines = {r for name in pending - defined for r in index.get(name, ())} - compiled
            if not routines:
                break
            jobs = []
            for routine in sorted(routines):
                obj = self.support_dir / f"{routine}.o"
                if not obj.is_file():
                    flags = self._includes(self.src / "support") + self._support_flags(routine)
                    if any("$(" in flag or "`" in flag for flag in flags):
                        raise GlibcTestsError(f"support/Makefile gives {routine}.c flags the runner cannot evaluate")
                    jobs.append((routine, lambda s=self.src / "support" / f"{routine}.c", o=obj, f=flags: self._compile(s, o, f)))
            failures = self._parallel(jobs)
            if failures:
                name, error = sorted(failures.items())[0]
                raise GlibcTestsError(f"cannot compile support/{name}.c:\n{error[-3000:]}")
            for routine in routines:
                obj = self.support_dir / f"{routine}.o"
                defined |= self._symbols(obj, undefined=False)
                pending |= self._symbols(obj, undefined=True)
            compiled |= routines
        archive = self.dir / "libsupport.a"
        members = sorted(self.support_dir / f"{r}.o" for r in compiled)
        manifest = self.dir / "libsupport.members"
        listing = "\n".join(m.name for m in members)
        if not archive.is_file() or not manifest.is_file() or manifest.read_text() != listing:
            tmp = self.dir / "libsupport.a.tmp"
            tmp.unlink(missing_ok=True)
            _run_tool(["ar", "rcs", str(tmp), *map(str, members)], "archiving libsupport.a", 120)
            tmp.replace(archive)
            manifest.write_text(listing)
            # Programs linked against an older archive stay valid: members are only ever added.
        return archive

    def build_tests(self, specs: Sequence[TestSpec]) -> tuple[dict[str, Path], dict[str, str]]:
        """Compile and link SPECS; returns the programs and the build failures by test name."""
        referenced: set[str] = set()
        for source in sorted((self.src / "malloc").glob("*.c")):
            referenced |= set(re.findall(r"\bGLIBC_2(?:_\d+)+\b", source.read_text(errors="replace")))
        header = abi_versions_header(installed_glibc_paths()[0], referenced)
        abi_versions = self.generated_dir / "abi-versions.h"
        if not abi_versions.is_file() or abi_versions.read_text() != header:
            abi_versions.write_text(header)

        failures: dict[str, str] = {}
        jobs = []
        for spec in specs:
            obj = self.tests_dir / f"{spec.name}.o"
            if obj.is_file():
                continue
            flags = list(spec.cppflags)
            if spec.kind == "tests":
                # The testsuite module of glibc's build: installed headers only.
                flags.append("-D_ISOMAC")
            if any("$(" in flag or "`" in flag for flag in flags):
                failures[spec.name] = f"malloc/Makefile gives {spec.name}.c flags the runner cannot evaluate: {flags}"
                continue
            jobs.append((spec.name, lambda s=self.src / spec.source, o=obj, f=self._includes(None) + flags: self._compile(s, o, f)))
        failures.update(self._parallel(jobs))

        built = [s for s in specs if s.name not in failures]
        needed: set[str] = set()
        for spec in built:
            needed |= self._symbols(self.tests_dir / f"{spec.name}.o", undefined=True)
        archive = self.build_support(needed)

        def link(spec: TestSpec) -> str | None:
            program = self.tests_dir / spec.name
            if program.is_file():
                return None
            extra = []
            for dep in spec.link_deps:
                if dep == "$(shared-thread-library)":
                    continue  # every program is linked with -pthread
                product = dep.replace("$(objpfx)", "", 1).lstrip("/")
                if dep.startswith("$(objpfx)") and product in INSTALLED_PRODUCTS:
                    installed = installed_product(product, self.cc)
                    if installed is None:
                        return f"needs {INSTALLED_PRODUCTS[product]} from the installed glibc, which is missing"
                    extra.append(str(installed))
                else:
                    return f"malloc/Makefile links it with {dep}, which the runner does not build"
            tmp = self.tests_dir / f"{spec.name}.tmp"
            cmd = [self.cc, "-pthread", "-o", str(tmp), str(self.tests_dir / f"{spec.name}.o"), str(archive), *extra]
            return self._produce(cmd, tmp, program)

        failures.update(self._parallel((spec.name, lambda s=spec: link(s)) for spec in built))
        programs = {s.name: self.tests_dir / s.name for s in built if s.name not in failures}
        return programs, failures


# --------------------------------------------------------------------------
# Running


@dataclasses.dataclass
class TestResult:
    name: str
    klass: str
    status: str
    reason: str
    duration: float = 0.0
    output: str = ""
    env: dict[str, str] = dataclasses.field(default_factory=dict)


class TestNotRunnable(Exception):
    """The test cannot be run here; the message is the UNSUPPORTED reason."""


def installed_product(product: str, cc: str) -> Path | None:
    """Where the installed glibc keeps PRODUCT (a key of INSTALLED_PRODUCTS), if it does."""
    proc = subprocess.run([cc, f"-print-file-name={INSTALLED_PRODUCTS[product]}"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    found = Path(proc.stdout.strip())
    return found.resolve() if proc.returncode == 0 and found.is_absolute() and found.is_file() else None


def test_environment(spec: TestSpec, objpfx: Path, products: dict[str, Path | None]) -> dict[str, str]:
    """The variables malloc/Makefile sets for SPEC, with build-tree paths made real."""
    env: dict[str, str] = {}
    for word in spec.env:
        name, sep, value = word.partition("=")
        if not sep:
            raise TestNotRunnable(f"malloc/Makefile gives it an environment word the runner cannot read: {word}")
        value = value.replace("$(objpfx)", f"{objpfx}/")
        if "$(" in value:
            raise TestNotRunnable(f"malloc/Makefile sets {name}={value}, which refers to the glibc build")
        paths = []
        for item in re.split(r"[:\s]+", value) if name == "LD_PRELOAD" else [value]:
            path = Path(os.path.normpath(item)) if item.startswith("/") else None
            if path is not None and path.parent == objpfx and path.name in products:
                installed = products[path.name]
                if installed is None:
                    raise TestNotRunnable(f"needs {INSTALLED_PRODUCTS[path.name]} from the installed glibc, which is missing")
                item = str(installed)
            elif path is not None and path.parent == objpfx:
                item = str(path)
            paths.append(item)
        env[name] = " ".join(paths) if name == "LD_PRELOAD" else paths[0]
    return env


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


_DRIVER_VERDICT = re.compile(
    r"^(Timed out: .*|Didn't expect signal .*|Expected signal .*|Incorrect signal .*|Expected status .*)$", re.M)
_ERROR_LINE = re.compile(r"^error: .*$", re.M)


def _failure_reason(output: str, returncode: int) -> str:
    verdict = _DRIVER_VERDICT.search(output)
    if verdict:
        return verdict.group(1)
    errors = [e for e in _ERROR_LINE.findall(output) if not re.match(r"error: \d+ test failures$", e)]
    if errors:
        return errors[0]
    if returncode < 0:
        return f"killed by {_signal_name(-returncode)}"
    lines = [line for line in output.splitlines() if line.strip()]
    return f"exit status {returncode}" + (f": {lines[-1].strip()}" if lines else "")


class _LiveProcesses:
    """Process groups of running tests, so an interrupted run can end them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: set[int] = set()

    def add(self, pgid: int) -> None:
        with self._lock:
            self._groups.add(pgid)

    def discard(self, pgid: int) -> None:
        with self._lock:
            self._groups.discard(pgid)

    def kill_all(self) -> None:
        with self._lock:
            for pgid in self._groups:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._groups.clear()


LIVE = _LiveProcesses()


def run_test(spec: TestSpec, program: Path, library: Path | None, scratch: Path,
             products: dict[str, Path | None], timeout_factor: int) -> TestResult:
    result = TestResult(spec.name, spec.klass, STATUS_FAIL, "")
    objpfx = scratch / spec.name
    objpfx.mkdir()
    try:
        test_env = test_environment(spec, objpfx, products)
    except TestNotRunnable as exc:
        result.status, result.reason = STATUS_UNSUPPORTED, str(exc)
        return result
    preload = ([str(library)] if library else []) + test_env.pop("LD_PRELOAD", "").split()
    if preload:
        test_env["LD_PRELOAD"] = " ".join(preload)
    test_env["TIMEOUTFACTOR"] = str(timeout_factor)
    result.env = dict(test_env)

    if spec.env_only:
        env = {}
    else:
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV_PREFIXES)}
        env.update(RUN_PROGRAM_ENV)
        env["TMPDIR"] = str(objpfx)
    env.update(test_env)

    hard_timeout = spec.timeout * timeout_factor + HARD_TIMEOUT_GRACE
    log = objpfx / "output"
    start = time.monotonic()
    with open(log, "wb") as out, open(spec.stdin or os.devnull, "rb") as stdin:
        proc = subprocess.Popen(
            [str(program), *spec.args], cwd=objpfx, env=env, stdin=stdin,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        LIVE.add(proc.pid)
        try:
            returncode = proc.wait(timeout=hard_timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            returncode = None
        finally:
            # Reap whatever the test left behind in its session, including
            # stray children of a test that has exited.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            LIVE.discard(proc.pid)
    result.duration = time.monotonic() - start
    text = log.read_bytes().decode("utf-8", "replace")
    result.output = text[-OUTPUT_LIMIT:]
    if timed_out:
        result.reason = f"no result after {hard_timeout} s (test timeout {spec.timeout * timeout_factor} s); killed"
    elif returncode == 0:
        result.status = STATUS_PASS
    elif returncode == 77:
        result.status = STATUS_UNSUPPORTED
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        result.reason = lines[-1] if lines else "the test reported itself unsupported"
    else:
        result.reason = _failure_reason(text, returncode)
    return result



# --------------------------------------------------------------------------
# The whole run


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pyalloc"


def resolve_library(value: str | None) -> Path | None:
    """The allocator to preload; None for the system's (glibc's own) malloc."""
    if value in ("system", "none"):
        return None
    if value is None:
        from .library import LibraryNotFoundError, library_path
        try:
            value = library_path()
        except LibraryNotFoundError as exc:
            raise GlibcTestsError(f"{exc}; or pass --lib") from exc
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise GlibcTestsError(f"--lib {value}: no such file")
    return path


def check_library(library: Path) -> None:
    """Refuse a library that is not an allocator or that ld.so would skip.

    ld.so only warns about a preload it cannot load, and every test would
    then pass on glibc's malloc.
    """
    symbols = _run_tool(["nm", "-D", "--defined-only", str(library)], f"reading the symbols of {library}", 60)
    if not re.search(r"^\S+\s+[TWi]\s+malloc(@\S*)?$", symbols, re.M):
        raise GlibcTestsError(f"{library} does not export malloc")
    probe = subprocess.run(
        [sys.executable, "-c", ""], env={**os.environ, "LD_PRELOAD": str(library)},
        capture_output=True, text=True, errors="replace", timeout=60, stdin=subprocess.DEVNULL,
    )
    if probe.returncode != 0 or "LD_PRELOAD" in probe.stderr:
        raise GlibcTestsError(f"{library} cannot be preloaded:\n{probe.stderr.strip()[-2000:]}")


def source_request(glibc_source: Path | None) -> tuple[SourceRequest, str]:
    """Where the source comes from, and the glibc version it is for."""
    upstream = installed_glibc_version()
    if glibc_source is not None:
        bundle = bundle_from_argument(glibc_source.expanduser().resolve())
        return SourceRequest(bundle.label, bundle.description, lambda _work: bundle), upstream
    version = debian_glibc_source_version(upstream)
    return (
        SourceRequest(f"glibc-{version}", f"Debian glibc {version} (apt-get source)",
                      lambda work: fetch_debian_source(version, work)),
        version,
    )


def select_tests(specs: Sequence[TestSpec], classification: Classification,
                 classes: Sequence[str] | None, names: Sequence[str]) -> list[TestSpec]:
    known = {s.name for s in specs}
    unknown = sorted(set(names) - known)
    if unknown:
        raise GlibcTestsError(f"no such test in malloc/: {', '.join(unknown)}")
    chosen = [s for s in specs if (not names or s.name in names) and (not classes or s.klass in classes)]
    order = {name: i for i, name in enumerate([*classification.classes, UNCLASSIFIED])}
    return sorted(chosen, key=lambda s: order[s.klass])


def why_not_run(spec: TestSpec, classification: Classification) -> str | None:
    klass = classification.classes.get(spec.klass)
    if klass is not None and not klass.run:
        return spec.reason
    if spec.kind == "absent":
        return "not in this glibc's malloc/Makefile"
    return OTHER_KINDS.get(spec.kind)


class Progress:
    """One line per finished test, in the order they finish."""

    def __init__(self, total: int, stream=sys.stdout):
        self.total = total
        self.done = 0
        self.stream = stream
        self.lock = threading.Lock()

    def report(self, result: TestResult) -> None:
        with self.lock:
            self.done += 1
            width = len(str(self.total))
            line = (f"[{self.done:>{width}}/{self.total}] {result.status:<11} {result.klass:<14} "
                    f"{result.name:<30} {result.duration:6.1f}s")
            if result.status != STATUS_PASS and result.reason:
                line += f"  {result.reason}"
            print(line, file=self.stream, flush=True)


def run_tests(specs: Sequence[TestSpec], programs: dict[str, Path], build_failures: dict[str, str],
              classification: Classification, library: Path | None, jobs: int, timeout_factor: int,
              cc: str) -> list[TestResult]:
    progress = Progress(len(specs))
    results: dict[str, TestResult] = {}
    runnable = []
    for spec in specs:
        reason = why_not_run(spec, classification)
        if reason is not None:
            results[spec.name] = TestResult(spec.name, spec.klass, STATUS_UNSUPPORTED, reason)
        elif spec.name in build_failures:
            error = build_failures[spec.name]
            results[spec.name] = TestResult(spec.name, spec.klass, STATUS_FAIL,
                                            "could not be built (see output)", output=error[-OUTPUT_LIMIT:])
        else:
            runnable.append(spec)
            continue
        progress.report(results[spec.name])

    products = {name: installed_product(name, cc) for name in INSTALLED_PRODUCTS}
    with tempfile.TemporaryDirectory(prefix="pyalloc-glibc-tests-") as scratch:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_test, spec, programs[spec.name], library, Path(scratch),
                                   products, timeout_factor) for spec in runnable]
            try:
                for future in concurrent.futures.as_completed(futures):
                    result = future.result()
                    results[result.name] = result
                    progress.report(result)
            except BaseException:
                for future in futures:
                    future.cancel()
                LIVE.kill_all()
                raise
    return [results[spec.name] for spec in specs]


def summarize(results: Sequence[TestResult]) -> dict[str, dict[str, int]]:
    summary: dict[str, dict[str, int]] = {}
    for result in results:
        counts = summary.setdefault(result.klass, dict.fromkeys(STATUSES, 0))
        counts[result.status] += 1
    return summary


def exit_status(results: Sequence[TestResult], classification: Classification) -> int:
    required = {name for name, c in classification.classes.items() if c.required}
    return 1 if any(r.status == STATUS_FAIL and r.klass in required for r in results) else 0


def collapse_repeats(lines: Sequence[str]) -> list[str]:
    """Fold runs of one line (a stuck test's repeated warning) into one line and a count."""
    out: list[str] = []
    count = 0
    for i, line in enumerate(lines):
        count += 1
        if i + 1 < len(lines) and lines[i + 1] == line:
            continue
        out.append(line if count == 1 else f"{line}  [{count} times]")
        count = 0
    return out


def print_report(results: Sequence[TestResult], classification: Classification, title: str) -> None:
    summary = summarize(results)
    print()
    print(title)
    header = f"{'class':<16}{'total':>7}" + "".join(f"{s:>13}" for s in STATUSES)
    print(header)
    print("-" * len(header))
    for klass, counts in summary.items():
        print(f"{klass:<16}{sum(counts.values()):>7}" + "".join(f"{counts[s]:>13}" for s in STATUSES))
    required = {name for name, c in classification.classes.items() if c.required}
    failed = [r for r in results if r.status == STATUS_FAIL and r.klass in required]
    for result in failed:
        print()
        print(f"--- {result.name} ({result.klass}) FAILED: {result.reason}")
        if result.env:
            print("environment: " + " ".join(f"{k}={v}" for k, v in result.env.items()))
        print("\n".join(collapse_repeats(result.output.splitlines())[-40:]) or "(no output)")


def write_json(path: Path, results: Sequence[TestResult], classification: Classification,
               glibc: dict, library: Path | None, timeout_factor: int, status: int) -> None:
    document = {
        "glibc": glibc,
        "library": str(library) if library else "system",
        "timeout_factor": timeout_factor,
        "classes": {name: dataclasses.asdict(c) for name, c in classification.classes.items()},
        "summary": summarize(results),
        "exit_status": status,
        "results": [
            {"name": r.name, "class": r.klass, "status": r.status, "reason": r.reason,
             "duration": round(r.duration, 3), "env": r.env, "output": r.output}
            for r in results
        ],
    }
    try:
        path.write_text(json.dumps(document, indent=2) + "\n")
    except OSError as exc:
        raise GlibcTestsError(f"cannot write {path}: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    classification = load_classification()
    unknown_classes = sorted(set(args.classes or ()) - set(classification.classes))
    if unknown_classes:
        raise GlibcTestsError(f"unknown class {', '.join(unknown_classes)}; "
                              f"the classes are {', '.join(classification.classes)}")
    timeout_factor = args.timeout_factor
    if timeout_factor is None:
        try:
            timeout_factor = _positive_int(os.environ.get("TIMEOUTFACTOR", "1"))
        except argparse.ArgumentTypeError as exc:
            raise GlibcTestsError(f"TIMEOUTFACTOR: {exc}") from exc
    cc = os.environ.get("CC", "gcc")
    for tool in (cc, "nm", "ar", "objdump", "patch"):
        _require_tool(tool)
    library = resolve_library(args.lib)
    if library is not None:
        check_library(library)

    request, version = source_request(args.glibc_source)
    cache_root = (args.cache_dir or default_cache_dir()) / request.label
    with _locked(cache_root / "lock"):
        print(f"glibc-tests: preparing {request.description} in {cache_root}", flush=True)
        src, info = prepare_source(request, cache_root)
        specs = select_tests(discover_tests(src, classification), classification, args.classes, args.tests)
        builder = Builder(src, cache_root, cc, args.jobs)
        for stale in cache_root.glob("build-*"):
            if stale != builder.dir:
                shutil.rmtree(stale, ignore_errors=True)
        to_build = [s for s in specs if why_not_run(s, classification) is None]
        print(f"glibc-tests: building {len(to_build)} tests in {builder.dir}", flush=True)
        programs, build_failures = builder.build_tests(to_build)

    target = str(library) if library else "the system allocator (glibc)"
    print(f"glibc-tests: running {len(to_build)} of {len(specs)} tests against {target}", flush=True)
    results = run_tests(specs, programs, build_failures, classification, library,
                        args.jobs, timeout_factor, cc)
    status = exit_status(results, classification)
    print_report(results, classification, f"glibc {version} malloc tests, allocator: {target}")
    if args.json:
        glibc = {"version": version, "source": info["description"], "patches": info["patches"]}
        write_json(args.json, results, classification, glibc, library, timeout_factor, status)
    return status


# --------------------------------------------------------------------------
# Command line


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lib", metavar="PATH",
        help="allocator library to preload, or 'system' (also 'none') for glibc's own malloc "
             "(default: $PYALLOC_LIB, else the installed libpyalloc.so)",
    )
    parser.add_argument(
        "--glibc-source", metavar="TARBALL", type=Path,
        help="glibc source to use instead of fetching the installed version's with apt-get: "
             "a Debian .dsc (its patches are applied) or an upstream tarball",
    )
    parser.add_argument(
        "--jobs", "-j", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
        help="compile and run N at a time (default: the number of CPUs)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE as JSON")
    parser.add_argument(
        "--class", dest="classes", action="append", metavar="CLASS",
        help="run only tests of CLASS (GENERIC, CLIENT, GLIBC-SPECIFIC, N/A); repeatable",
    )
    parser.add_argument(
        "--timeout-factor", type=_positive_int, metavar="N",
        help="scale every test's timeout by N, as glibc's TIMEOUTFACTOR does (default: $TIMEOUTFACTOR or 1)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, metavar="DIR",
        help="where sources and builds are kept between runs (default: $XDG_CACHE_HOME/pyalloc "
             "or ~/.cache/pyalloc)",
    )
    parser.add_argument("tests", nargs="*", metavar="TEST", help="run only these tests (e.g. tst-mallocfork2)")


DESCRIPTION = (
    "Build glibc's malloc testsuite against the installed glibc and run it with an allocator "
    "preloaded. The source matching the installed libc is fetched with apt-get (into a private "
    "apt state; the system's configuration is not changed) and kept in the cache. Exits 1 when a "
    "GENERIC or CLIENT test fails, 2 when the tests cannot be built or run."
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the glibc-tests subcommand; its handler returns the exit status."""
    parser = subparsers.add_parser(
        "glibc-tests", help="run glibc's malloc testsuite against an allocator", description=DESCRIPTION,
    )
    configure_parser(parser)
    parser.set_defaults(handler=main)
    return parser


def main(args: argparse.Namespace) -> int:
    try:
        return run(args)
    except GlibcTestsError as exc:
        print(f"pyalloc glibc-tests: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        LIVE.kill_all()
        print("pyalloc glibc-tests: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m pyalloc.glibctests", description=DESCRIPTION)
    configure_parser(_parser)
    sys.exit(main(_parser.parse_args()))
