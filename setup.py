"""Builds pyalloc's two native artifacts from csrc/ (see native_build.py):

  pyalloc/_native.*.so   the cffi extension (in-process heap), via `cffi_modules`;
  pyalloc/libpyalloc.so  the LD_PRELOAD library, via PreloadLibrary below.

Both go through build_ext, so `pip install .`, wheels and `pip install -e .` all get them,
with the same compiler and the same up-to-date checks.
"""
import copy
import os
import re
import shlex
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
# PEP 517 backends do not put the project directory on sys.path.
sys.path.insert(0, HERE)
import native_build  # noqa: E402


def _check_versions():
    """The version lives in pyproject.toml, pyalloc/__init__.py and csrc/pyalloc.h (which the
    C library reports at run time); refuse to build a package that disagrees with itself."""
    found = {}
    for path, pattern in (
        ("pyproject.toml", r'^version\s*=\s*"([^"]+)"'),
        (os.path.join("pyalloc", "__init__.py"), r'^__version__\s*=\s*"([^"]+)"'),
        (native_build.PUBLIC_HEADER, r'^#define\s+PYALLOC_VERSION\s+"([^"]+)"'),
    ):
        with open(os.path.join(HERE, path)) as f:
            m = re.search(pattern, f.read(), re.M)
        found[path] = m.group(1) if m else None
    if len(set(found.values())) != 1:
        raise SystemExit("pyalloc: inconsistent versions: %s" % found)


class PreloadLibrary(Extension):
    """A plain shared library that build_ext compiles and installs like an extension.

    Going through build_ext (rather than a separate command) gives it the build's
    compiler, output paths, in-place copies for editable installs and rebuild checks.
    """


class BuildExt(build_ext):
    def get_ext_filename(self, fullname):
        filename = super().get_ext_filename(fullname)
        if isinstance(self.ext_map.get(fullname), PreloadLibrary):
            # Loaded by ld.so through LD_PRELOAD, never imported: no interpreter tag.
            return os.path.join(os.path.dirname(filename), fullname.split(".")[-1] + ".so")
        return filename

    def copy_file(self, infile, outfile, *args, **kwargs):
        # Running programs map the in-place libraries; rewriting one in place would kill
        # them with SIGBUS, so a rebuild replaces the file instead.
        partial = outfile + ".partial"
        _, copied = super().copy_file(infile, partial, *args, **kwargs)
        os.replace(partial, outfile)
        return outfile, copied

    def build_extension(self, ext):
        if isinstance(ext, PreloadLibrary):
            self._build_preload(ext)
        else:
            super().build_extension(ext)

    def _build_preload(self, ext):
        output = self.get_ext_fullpath(ext.name)
        if not self.force and _up_to_date(output, ext.sources + ext.depends):
            return
        # Its own object directory: the cffi extension compiles the same sources with
        # different flags into build_temp.
        objects = self.compiler.compile(
            ext.sources,
            output_dir=os.path.join(self.build_temp, "preload"),
            macros=ext.define_macros,
            include_dirs=ext.include_dirs,
            extra_postargs=ext.extra_compile_args,
            depends=ext.depends,
            debug=self.debug,
        )
        # Link with the bare compiler driver: Python's LDSHARED carries -L/-rpath flags for
        # libpython, which a library preloaded into arbitrary programs must not inherit.
        linker = copy.copy(self.compiler)
        driver = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC"))
        linker.set_executable(
            "linker_so", driver + ["-shared"] + shlex.split(os.environ.get("LDFLAGS", ""))
        )
        linker.link_shared_object(
            objects,
            output,
            libraries=ext.libraries,
            extra_postargs=ext.extra_link_args,
            debug=self.debug,
        )


def _up_to_date(output, inputs):
    if not os.path.exists(output):
        return False
    built = os.path.getmtime(output)
    return all(os.path.getmtime(os.path.join(HERE, p)) <= built for p in inputs)


_check_versions()
setup(
    ext_modules=[
        PreloadLibrary(
            "pyalloc.libpyalloc",
            sources=native_build.SOURCES,
            depends=native_build.DEPENDS,
            include_dirs=[native_build.CSRC],
            define_macros=native_build.PRELOAD_MACROS,
            extra_compile_args=native_build.PRELOAD_CFLAGS,
            extra_link_args=native_build.PRELOAD_LDFLAGS,
            libraries=native_build.PRELOAD_LIBRARIES,
        )
    ],
    cffi_modules=["native_build.py:ffibuilder"],
    cmdclass={"build_ext": BuildExt},
)
