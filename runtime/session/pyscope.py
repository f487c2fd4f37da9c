"""pyscope's API for the program it records.

Under ``pyscope profile`` this module can be imported by the program::

    import pyscope
    pyscope.snapshot("after load")   # with --memory: a labelled snapshot

Outside pyscope it does not exist, so a program that must also run without
pyscope guards the import (``try: import pyscope / except ImportError``).
"""

from _pyscope import active, snapshot

__all__ = ["active", "snapshot"]
