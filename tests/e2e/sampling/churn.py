"""Two functions the program times itself on its own CPU clock: churn()
calls a Python function from C thousands of times a millisecond (the
stack under it changes all the time), steady() runs one C call. Interleaved
so that a slow moment of the machine touches both alike; prints the share
of churn() in their sum."""
import re
import time

text = "the quick brown fox jumps over the lazy dog " * 500
nums = [((i * 7919) % 10007) / 10007 for i in range(20000)]


def swap(m):
    return m.group(2) + m.group(1)


def churn():
    re.sub(r"(o)(\w)", swap, text)


def steady():
    sorted(nums)


spent = {churn: 0.0, steady: 0.0}
end = time.thread_time() + 2.0
while time.thread_time() < end:
    for f in (churn, steady):
        t = time.thread_time()
        f()
        spent[f] += time.thread_time() - t
print(round(100 * spent[churn] / (spent[churn] + spent[steady]), 1))
