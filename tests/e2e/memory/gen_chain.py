"""A chain of 10,000 generators, each yielding from the next, that makes a
list at the bottom for every value; then allocations whose tracebacks share
their innermost frames and differ further out, and allocations from code
objects made one after another (a new one may take a dead one's address).
Prints the snapshot's id."""
import sys

import pyscope

sys.setrecursionlimit(50_000)


def leaf(n):
    for i in range(n):
        yield [i] * 4  # the bottom of the chain


def chain(depth, n):
    if depth == 0:
        yield from leaf(n)
    else:
        yield from chain(depth - 1, n)


bottom = list(chain(10_000, 500))


def make(n):
    return [n] * 8  # made from two callers in turn


def via_a(n):
    return make(n)


def via_b(n):
    return make(n)


from_a, from_b = [], []
for i in range(5000):
    from_a.append(via_a(i))
    from_b.append(via_b(i))

made = []
for i in range(200):
    space = {}
    exec(compile("def f():\n    return [0] * 16\n", f"made{i}.py", "exec"), space)
    made.append(space["f"]())
    del space
print(pyscope.snapshot("chain"))
