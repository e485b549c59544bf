"""greenshim: run a program with its pthreads turned into green threads.

The wheel installs two files beside the Python package:

- the launcher as the ``greenshim`` command (``PREFIX/bin/greenshim``), and
- the preloaded library as ``PREFIX/lib/libgreenshim.so``, where the launcher
  looks for it (``../lib`` from its own directory).

``python -m greenshim script.py args...`` runs a Python script under the shim
(see ``greenshim.__main__``). :func:`launcher_path` and :func:`library_path`
give the installed files to programs that want to set ``LD_PRELOAD``
themselves.
"""

import os
import shutil

__all__ = ["launcher_path", "library_path", "__version__"]

_DIST = "greenshim"


def _distribution():
    try:
        from importlib.metadata import PackageNotFoundError, distribution
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return distribution(_DIST)
    except PackageNotFoundError:
        return None


def _version():
    dist = _distribution()
    return dist.version if dist is not None else "unknown"


__version__ = _version()


def _recorded(directory, name):
    """The installed file DIRECTORY/NAME from the wheel's RECORD, or None.

    The RECORD names the launcher and the library relative to site-packages
    (``../../../bin/greenshim``), so this works in a virtualenv, a ``--user``
    install and a system-wide one alike.
    """
    dist = _distribution()
    if dist is None:
        return None
    for f in dist.files or ():
        if f.name == name and f.parent.name == directory:
            path = os.path.realpath(str(dist.locate_file(f)))
            if os.path.isfile(path):
                return path
    return None


def launcher_path():
    """Absolute path of the ``greenshim`` launcher this package installed.

    Falls back to ``greenshim`` in ``PATH`` when the package was not installed
    from the wheel (for instance imported from a source tree). Raises
    ``FileNotFoundError`` if there is none.
    """
    path = _recorded("bin", "greenshim") or shutil.which("greenshim")
    if path is None:
        raise FileNotFoundError("greenshim launcher not found: install the greenshim wheel, or put greenshim in PATH")
    return os.path.realpath(path)


def library_path():
    """Absolute path of ``libgreenshim.so`` (for ``LD_PRELOAD``).

    The wheel's copy, else the one beside the launcher or in its ``../lib``
    (the places the launcher itself searches first). Raises
    ``FileNotFoundError`` if there is none.
    """
    path = _recorded("lib", "libgreenshim.so")
    if path is not None:
        return path
    bindir = os.path.dirname(launcher_path())
    for candidate in (os.path.join(bindir, "libgreenshim.so"), os.path.join(bindir, "..", "lib", "libgreenshim.so")):
        if os.path.isfile(candidate):
            return os.path.realpath(candidate)
    raise FileNotFoundError("libgreenshim.so not found beside " + bindir)
