"""Recursion deeper than the sampler's depth limit, and a shallow function."""
import sys
import time

sys.setrecursionlimit(5000)


def down(n):
    if n == 0:
        end = time.thread_time() + 0.2
        while time.thread_time() < end:
            pass
        return 0
    return down(n - 1) + 1


def shallow():
    end = time.thread_time() + 0.1
    while time.thread_time() < end:
        pass


down(1000)
shallow()
print("ok")
