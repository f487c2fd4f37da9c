"""A heap of N small objects with references between them, then one
snapshot: prints its id, CLOCK_MONOTONIC when it began, and how long
pyscope.snapshot() kept the program (the walk; the graph is sent from a
thread of pyscope's own), in ns. The exit snapshot records the graph again."""
import sys
import time

import pyscope


class Item:
    def __init__(self, i, prev):
        self.i = i
        self.prev = prev
        self.tags = [i]


n = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
prev = None
items = []
for i in range(n):
    prev = Item(i, prev)
    items.append(prev)
index = {i: items[i] for i in range(0, n, 4)}
began = time.monotonic_ns()
start = time.perf_counter_ns()
snap = pyscope.snapshot("heap")
print(snap, began, time.perf_counter_ns() - start)
