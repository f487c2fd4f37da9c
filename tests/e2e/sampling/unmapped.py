"""Spin with this thread's frame naming code that is mapped to nothing
(tornext.unmapped_code): the sampler's walk faults on it. faulthandler is
enabled after pyscope's fault guard, as regrtest and pytest enable it; the
fault is the walk's, not the program's, and must end only the walk."""
import faulthandler

import tornext

faulthandler.enable()


def spin_over_it():
    tornext.unmapped_code(0.4)


spin_over_it()
print("ok")
