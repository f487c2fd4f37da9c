"""One thread calling a function for 1.5 s: a program whose counts change
all the time, so that the call profiler has something to send at every
flush. Prints the number of calls."""
import time


def work(n):
    return n + 1


calls = 0
deadline = time.perf_counter() + 1.5
while time.perf_counter() < deadline:
    work(1)
    calls += 1
print("ok" if calls else "none")
