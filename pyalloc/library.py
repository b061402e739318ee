"""Where the LD_PRELOAD library is."""
import os

_INSTALLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libpyalloc.so")


class LibraryNotFoundError(FileNotFoundError):
    """libpyalloc.so is not where pyalloc expects it."""


def library_path():
    """Absolute path of libpyalloc.so.

    The PYALLOC_LIB environment variable, when set, names the library to use instead of
    the installed one (a development build, say).
    """
    override = os.environ.get("PYALLOC_LIB")
    if override:
        path = os.path.abspath(override)
        if not os.path.isfile(path):
            raise LibraryNotFoundError("PYALLOC_LIB=%s: no such file" % override)
        return path
    if not os.path.isfile(_INSTALLED):
        raise LibraryNotFoundError(
            "%s is missing: pyalloc was not built; install it with `pip install .`" % _INSTALLED
        )
    return _INSTALLED
