"""Spin under a half-built C frame that names never_called (tornext): no
sample may name it. argv[1]: "garbage" or "stale"."""
import sys

import tornext


def never_called():
    return 1


def spin_under_it(stale):
    tornext.half_built(never_called.__code__, 0.4, stale)


spin_under_it(sys.argv[1] == "stale")
print("ok")
