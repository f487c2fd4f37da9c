"""Known times: a sleep, a busy loop without calls, and many small calls.
Prints how long run() took by its own clock, and each phase."""
import sys
import time


def tiny():
    pass


def many_calls(n):
    for _ in range(n):
        tiny()


def busy(seconds):
    end = time.perf_counter() + seconds
    x = 0
    while True:
        for _ in range(10000):
            x += 1
        if time.perf_counter() >= end:
            return x


def run():
    t0 = time.perf_counter_ns()
    time.sleep(0.15)
    t1 = time.perf_counter_ns()
    busy(0.15)
    t2 = time.perf_counter_ns()
    many_calls(300_000)
    t3 = time.perf_counter_ns()
    print(t3 - t0, t1 - t0, t2 - t1, t3 - t2)


run()
