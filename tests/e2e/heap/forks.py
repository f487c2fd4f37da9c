"""Fork children with the parent's 200,000 objects: one that ends at once,
one that asks for a snapshot and ends at once, one that lives two seconds.
Prints each child's pid, in that order."""
import os
import sys
import time

import pyscope

data = [[i] for i in range(200_000)]  # lists: always tracked


def child(i):
    pid = os.fork()
    if pid == 0:
        if i == 1:
            pyscope.snapshot("asked")
        if i == 2:
            time.sleep(2.0)
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


print(*[child(i) for i in range(3)])
sys.stdout.flush()
