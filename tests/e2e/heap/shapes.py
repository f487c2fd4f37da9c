"""Known references of every kind, kept by module globals so the test can
find them: attributes in inline values and in a real __dict__, __slots__,
dict keys, list and tuple indexes, a closure's cell and a bound method."""
import gc

import pyscope


class Node:
    def __init__(self, name):
        self.name = name
        self.next = None


class WithDict:
    pass


class Slotted:
    __slots__ = ("peer", "tag")


def make_closure():
    def inner():
        return inner
    return inner


gc.disable()
ring = [Node(i) for i in range(3)]
for i, n in enumerate(ring):
    n.next = ring[(i + 1) % 3]
wd = WithDict()
vars(wd)["item"] = [1, 2]  # a real __dict__
table = {"key": [3], 7: [4]}
pair = ([5], [6])
slot = Slotted()
slot.peer = [7]
closure = make_closure()
method = ring[0].__init__
print(pyscope.snapshot("shapes"))
