"""The environment that runs a program on libpyalloc.so."""
import os

from .library import LibraryNotFoundError, library_path


class PreloadError(Exception):
    """The library cannot be named in LD_PRELOAD."""


def merge_options(*option_strings):
    """Merge PYALLOC_OPTIONS strings (`name=value,...`); a later string wins per name.

    Items are otherwise passed through untouched, so a malformed one still reaches the
    library, which reports it.
    """
    merged = {}
    for options in option_strings:
        for item in (options or "").split(","):
            if item:
                name = item.partition("=")[0]
                merged.pop(name, None)
                merged[name] = item
    return ",".join(merged.values())


def preload_env(library=None, options=None, env=None):
    """Return a copy of `env` (default: os.environ) that preloads the library.

    library: path of the library to preload (default: library_path()).
    options: PYALLOC_OPTIONS items that override those already in `env`.
    The library goes first in LD_PRELOAD so that its malloc wins over any other preload.
    """
    env = dict(os.environ if env is None else env)
    if library is None:
        library = library_path()
    else:
        library = os.path.abspath(library)
        if not os.path.isfile(library):
            raise LibraryNotFoundError("%s: no such file" % library)
    # ld.so splits LD_PRELOAD on spaces and colons and has no quoting.
    if any(c in library for c in " :"):
        raise PreloadError("cannot preload %r: LD_PRELOAD paths may not contain spaces or colons" % library)
    others = env.get("LD_PRELOAD", "").strip()
    env["LD_PRELOAD"] = library + (":" + others if others else "")
    merged = merge_options(env.get("PYALLOC_OPTIONS"), options)
    if merged:
        env["PYALLOC_OPTIONS"] = merged
    return env
