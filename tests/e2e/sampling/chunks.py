"""Recursion deep enough that each pass takes new data-stack chunks and
gives them back (the interpreter unmaps a chunk when its first frame
returns), on three threads the sampler reads while they run, with
faulthandler on, as regrtest and pytest have it: the program runs on as
without pyscope."""
import faulthandler
import sys
import threading
import time

faulthandler.enable()
sys.setrecursionlimit(10000)


def down(n):
    if n:
        return down(n - 1)
    return 0


def work(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        down(3000)


threads = [threading.Thread(target=work, args=(1.0,)) for _ in range(2)]
for t in threads:
    t.start()
work(1.0)
for t in threads:
    t.join()
print("ok")
