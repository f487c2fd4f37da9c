"""Snapshots from every trigger: the API (ids returned), the snapshot
signal, the interval, and the peak of a large block freed again."""
import os
import signal
import sys
import time

import pyscope


def big():
    block = bytearray(40 * 1024 * 1024)  # the peak
    return len(block)


ids = [pyscope.snapshot("first"), pyscope.snapshot()]
print(big())
os.kill(os.getpid(), signal.SIGUSR2)
deadline = time.monotonic() + float(sys.argv[1])
keep = []
while time.monotonic() < deadline:
    keep.append(bytes(1000))
    time.sleep(0.001)
ids.append(pyscope.snapshot("last"))
print(*ids)
