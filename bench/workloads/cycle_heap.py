"""About N tracked objects, a tenth of them in garbage cycles, then one
snapshot: the input of bench/cycles.py."""
import gc
import sys

import pyscope


class Pair:
    def __init__(self):
        self.other = None


n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
gc.disable()
live = [[i] for i in range(n * 9 // 10)]
for _ in range(n // 20):
    a, b = Pair(), Pair()
    a.other, b.other = b, a
print(pyscope.snapshot("heap"))
