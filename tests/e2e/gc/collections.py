"""Collections with known places and counts: automatic ones set off by the
allocations of one line, then explicit gc.collect() calls with the garbage
they find known in advance. Prints what the program's own gc callback saw."""
import gc

seen = [0, 0, 0]


def watch(phase, info):
    if phase == "stop":
        seen[info["generation"]] += 1


class Node:
    pass


def churn(n):
    for _ in range(n):
        a = Node(); b = Node(); a.other = b; b.other = a  # noqa: E702  (automatic collections)


def garbage(n):
    for _ in range(n):
        a = Node()
        a.other = a


gc.callbacks.append(watch)
churn(50_000)
automatic = list(seen)
gc.disable()
garbage(100)
young = gc.collect(0)
garbage(50)
full = gc.collect()
gc.callbacks.remove(watch)
print(*automatic, young, full)
