"""Known shares of time in C: zlib.compress, json.dumps, re.sub and sorted,
each called from its own Python function, interleaved so that a slow moment
of the machine touches all four alike. The program measures each one's CPU
time on its own thread's clock and, given a path, writes the four times
there as JSON: what the samples' shares are held against."""
import json
import random
import re
import sys
import time
import zlib

rng = random.Random(7)
blob = bytes(rng.getrandbits(8) for _ in range(1 << 16)) + b"pyscope " * (1 << 14)
doc = [{"k%d" % i: [i, str(i), i * 0.5, None, True]} for i in range(2000)]
text = "the quick brown fox jumps over the lazy dog " * 2000
nums = [rng.random() for _ in range(40000)]


def compress_it():
    for _ in range(3):
        zlib.compress(blob, 9)


def dump_it():
    for _ in range(2):
        json.dumps(doc)


def substitute_it():
    re.sub(r"o(\w)", r"0\1", text)


def sort_it():
    sorted(nums)


spent = {f.__name__: 0.0 for f in (compress_it, dump_it, substitute_it, sort_it)}
for _ in range(250):
    for f in (compress_it, dump_it, substitute_it, sort_it):
        t0 = time.thread_time()
        f()
        spent[f.__name__] += time.thread_time() - t0
if len(sys.argv) > 1:
    with open(sys.argv[1], "w") as out:
        json.dump(spent, out)
print("ok")
