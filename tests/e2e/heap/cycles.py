"""Known garbage cycles, made with the collector off, and one cycle kept
reachable. Under pyscope: a snapshot (its id is printed). Under plain
python: what the collector frees at the same point, with DEBUG_SAVEALL (the
number of objects in gc.garbage is printed)."""
import gc

try:
    import pyscope
except ImportError:
    pyscope = None


class Node:
    def __init__(self):
        self.next = None


class Tree:
    def __init__(self, parent=None):
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)


class Slotted:
    __slots__ = ("other",)


def two_dicts():
    a, b = {}, {}
    a["b"], b["a"] = b, a


def self_list():
    x = []
    x.append(x)


def ring_of_three():
    nodes = [Node(), Node(), Node()]
    for i in range(3):
        nodes[i].next = nodes[(i + 1) % 3]


def tree():
    root = Tree()
    for _ in range(3):
        child = Tree(root)
        Tree(child)


def self_closure():
    def again():
        return again
    return again


def slotted_pair():
    a, b = Slotted(), Slotted()
    a.other, b.other = b, a


gc.collect()
gc.disable()
for _ in range(10):
    two_dicts()
    self_list()
    ring_of_three()
    tree()
    self_closure()
    slotted_pair()
kept = [Node(), Node()]
kept[0].next, kept[1].next = kept[1], kept[0]
if pyscope is not None:
    print(pyscope.snapshot("cycles"))
else:
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    print(len(gc.garbage))
