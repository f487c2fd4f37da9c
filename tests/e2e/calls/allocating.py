"""Two functions called in turn, neither calling anything: one makes a new
bytes object at every step (a slice: no free list keeps bytes) and drops the
one made 64 steps before; the other only computes with small ints (which
are never allocated). Their call times stand in the same ratio with the
memory tracer on as without it."""
import itertools

DATA = b"pyscope" * 8


def allocating(n):
    keep = [None] * 64
    j = 0
    for _ in itertools.repeat(None, n):
        keep[j] = DATA[1:]
        j = (j + 1) & 63
    return j


def computing(n):
    x = 0
    for _ in itertools.repeat(None, n):
        x = (x * 5 + 3) & 31
    return x


for _ in range(200):
    allocating(3000)
    computing(4000)
