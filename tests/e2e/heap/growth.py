"""Cycles that leak: each round makes more rings than the last, with the
collector off, and takes a snapshot."""
import gc

import pyscope


class Link:
    def __init__(self):
        self.peer = None


def leak(n):
    for _ in range(n):
        a, b = Link(), Link()
        a.peer, b.peer = b, a


gc.disable()
steady = []
steady.append(steady)  # one garbage cycle that stays the same
del steady
for rounds in range(1, 4):
    leak(10)
    pyscope.snapshot(f"round {rounds}")
