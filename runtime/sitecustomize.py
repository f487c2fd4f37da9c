# pyscope's bootstrap. `pyscope profile` puts this file's directory first on
# PYTHONPATH, so the site module imports it while the interpreter starts,
# before the program's first line. It starts the recorder session, loads the
# `pyscope` module the program may import, takes its directory back off
# sys.path, and hands over to the sitecustomize the
# program would have had without pyscope.


def _pyscope_boot():
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    import _pyscope
    import pyscope  # noqa: F401  (the program's API, importable once the path is gone)

    # The extension is reached through pyscope from here on: a program that
    # lists its extension modules (faulthandler does, in its crash report)
    # sees the ones it imported itself.
    del sys.modules["_pyscope"]

    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path_importer_cache.pop(here, None)
    _pyscope.start()
    return sys.modules.pop("sitecustomize")


_pyscope_self = _pyscope_boot()
try:
    import sitecustomize  # noqa: F401  (the next one on sys.path, if any)
except ImportError as exc:
    if exc.name != "sitecustomize":
        raise
    # None further on: the import system expects to find this module here.
    __import__("sys").modules["sitecustomize"] = _pyscope_self
del _pyscope_boot, _pyscope_self
