"""Allocations of several kinds at known lines: small objects, large
buffers (which pymalloc hands to the raw allocator), buffers grown by
realloc, containers, and blocks freed again."""
import array

import snap


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


def small_objects(n):
    return [Point(i, -i) for i in range(n)]


def large_buffers(n):
    return [bytes(64 * 1024) for _ in range(n)]


def grown_buffer(n):
    buf = bytearray()
    for i in range(n):
        buf += b"0123456789abcdef"
    return buf


def table(n):
    return {f"k{i}": i for i in range(n)}


def numbers(n):
    return array.array("d", range(n))


def freed(n):
    junk = [str(i) * 10 for i in range(n)]
    return len(junk)


snap.take("start")
kept = [small_objects(50_000), large_buffers(40), grown_buffer(100_000), table(30_000),
        numbers(200_000), freed(100_000)]
snap.take("kept")
del kept[0]
snap.take("points freed")
