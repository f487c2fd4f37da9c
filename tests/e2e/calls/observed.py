"""Recursion that allocates: a tree built and summed, again and again."""


def build(depth):
    if depth == 0:
        return [depth]
    return [build(depth - 1), build(depth - 1)]


def total(node):
    if len(node) == 1:
        return node[0] + 1
    return total(node[0]) + total(node[1])


for _ in range(16):
    total(build(14))
