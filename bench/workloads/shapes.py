"""Eight shapes of real programs, one per run, for the memory tracer's cost:

  python3 shapes.py SHAPE [SCALE]

churn      small objects made and dropped at a moderate stack depth
cache      a dict cache that grows and keeps what it is given
cycles     reference cycles made and left to the collector
recursion  recursive calls that build and return small lists
numeric    loops of integer and float arithmetic
cheavy     calls of C functions and methods (sorted, str.join, re, json)
split      two CPU functions in a 3:1 ratio beside a sleeping thread
threads2   two threads doing the same pure-Python work
"""
import json
import re
import sys
import threading
import time


class Node:
    def __init__(self, key):
        self.key = key
        self.peer = None
        self.items = [key]


def churn(scale):
    def make(i):
        return {"id": i, "name": "n%d" % i, "tags": [i, i + 1]}

    def step(i):
        return len(make(i)["name"])

    total = 0
    for i in range(scale * 2_000_000):
        total += step(i)
    return total


def cache(scale):
    store = {}
    for i in range(scale * 200_000):
        key = "k%d" % i
        store[key] = (i, key.upper(), [i] * 3)
    return len(store)


def cycles(scale):
    made = 0
    for i in range(scale * 600_000):
        a, b = Node(i), Node(-i)
        a.peer, b.peer = b, a
        made += 1
    return made


def recursion(scale):
    def build(n):
        if n < 2:
            return [n]
        return build(n - 1) + build(n - 2)[:1]

    return sum(len(build(18)) for _ in range(scale * 500))


def numeric(scale):
    total, x = 0, 0.5
    for i in range(scale * 6_000_000):
        total += i * i % 7
        x = x * 1.0000001 + 0.25
    return total, x


def cheavy(scale):
    words = ["w%d" % (i % 977) for i in range(2000)]
    pat = re.compile(r"w(\d+)")
    n = 0
    for i in range(scale * 7500):
        n += len(sorted(words))
        n += len(",".join(words))
        n += len(pat.findall(" ".join(words[:200])))
        n += len(json.dumps(words[:100]))
    return n


def spin(n):
    total = 0
    for i in range(n):
        total += i % 3
    return total


def split(scale):
    stop = threading.Event()
    sleeper = threading.Thread(target=stop.wait)
    sleeper.start()
    for _ in range(scale * 15):
        spin(900_000)  # three quarters
        spin(300_000)  # one quarter
    stop.set()
    sleeper.join()


def threads2(scale):
    ts = [threading.Thread(target=numeric, args=(scale,)) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


SHAPES = {f.__name__: f for f in (churn, cache, cycles, recursion, numeric, cheavy, split,
                                   threads2)}

if __name__ == "__main__":
    SHAPES[sys.argv[1]](int(sys.argv[2]) if len(sys.argv) > 2 else 1)
