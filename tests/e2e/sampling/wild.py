"""Spin under a C frame that links a wild pointer (tornext.wild_link), with
faulthandler on, as regrtest and pytest have it. argv[1]: "previous" or
"current"."""
import faulthandler
import sys

import tornext

faulthandler.enable()


def spin_under_it(which):
    tornext.wild_link(0.4, which)


spin_under_it(sys.argv[1])
print("ok")
