"""Build description of pyalloc's native code, shared by setup.py and cffi.

The same csrc/*.c sources are compiled twice:
  * pyalloc/libpyalloc.so, with PA_PRELOAD: the unprefixed malloc family, for LD_PRELOAD;
  * pyalloc._native, a cffi extension exporting pyalloc_malloc & co. so Python gets a
    private heap while its own allocator stays glibc's.

cffi runs this file as the `cffi_modules` build script (it looks up `ffibuilder`);
setup.py imports it for the source list and flags, so both builds cannot drift apart.
"""
import glob
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = "csrc"
PUBLIC_HEADER = os.path.join(CSRC, "pyalloc.h")

# Relative to HERE: setuptools wants relative source paths, and pip runs the build there.
SOURCES = sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, CSRC, "*.c")))
HEADERS = sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, CSRC, "*.h")))
# A change to the flags below must rebuild both libraries, not only a change to csrc/.
DEPENDS = HEADERS + ["native_build.py", "setup.py"]

# -fdata-sections lets the linker place each global on its own, so the page-aligned
# read-only block does not drag its neighbours onto extra pages of .bss: every page of
# globals written at start-up is resident in every program the library is preloaded into.
CFLAGS = ["-O2", "-g", "-fPIC", "-fvisibility=hidden", "-fdata-sections", "-Wall", "-Wextra", "-std=gnu11"]
# The preload library is always loaded at startup, so its TLS can use the static block;
# the in-process build is dlopen'ed by Python and must keep the default dynamic model.
PRELOAD_CFLAGS = CFLAGS + ["-ftls-model=initial-exec"]
PRELOAD_MACROS = [("PA_PRELOAD", None)]
PRELOAD_LIBRARIES = ["pthread"]
# An unresolved symbol in an LD_PRELOAD library would break every program it is loaded
# into, so make it a link error instead.
PRELOAD_LDFLAGS = ["-Wl,-z,defs"]

_DIRECTIVE = re.compile(r"^\s*#\s*(\w+)\s*(.*?)\s*$")
_INT_DEFINE = re.compile(r"^(\w+)\s+(\d+[uUlL]*)$")


def cdef_from_header(text):
    """Turn pyalloc.h into a cffi cdef.

    The header is plain C declarations wrapped in a few preprocessor lines; this keeps the
    declarations that the in-process build sees (PA_PRELOAD and __cplusplus undefined) and
    the integer #defines, which cffi understands. Any other directive is an error, so a
    header change the cdef cannot follow breaks the build instead of silently diverging.
    """
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = text.replace("\\\n", " ")
    defined = set()
    active = [True]
    out = []
    for line in text.splitlines():
        m = _DIRECTIVE.match(line)
        if not m:
            if all(active):
                out.append(line)
            continue
        directive, arg = m.groups()
        if directive in ("ifdef", "ifndef"):
            active.append((arg in defined) == (directive == "ifdef"))
        elif directive == "else":
            active[-1] = not active[-1]
        elif directive == "endif":
            active.pop()
        elif not all(active):
            continue
        elif directive == "include":
            continue
        elif directive == "define":
            name = arg.split()[0]
            defined.add(name)
            m = _INT_DEFINE.match(arg)
            if m:
                out.append("#define %s %s" % (m.group(1), m.group(2).rstrip("uUlL")))
        else:
            raise ValueError("%s: unsupported directive #%s" % (PUBLIC_HEADER, directive))
    if len(active) != 1:
        raise ValueError("%s: unbalanced #if/#endif" % PUBLIC_HEADER)
    return "\n".join(line for line in out if line.strip())


def _make_ffibuilder():
    from cffi import FFI

    with open(os.path.join(HERE, PUBLIC_HEADER)) as f:
        cdef = cdef_from_header(f.read())
    ffi = FFI()
    ffi.cdef(cdef)
    ffi.set_source(
        "pyalloc._native",
        '#include "pyalloc.h"',
        sources=SOURCES,
        include_dirs=[CSRC],
        depends=DEPENDS,
        extra_compile_args=CFLAGS,
        libraries=["pthread"],
    )
    return ffi


ffibuilder = _make_ffibuilder()
