"""Twenty threads waiting on an event while one thread computes: most of a
run's samples are idle repeats of the same stacks.

  python waiting_threads.py SECONDS [WAITERS]"""
import sys
import threading
import time


def step(i):
    return sum(j * j % 7 for j in range(i % 50 + 50))


def busy(seconds):
    end = time.monotonic() + seconds
    total = 0
    while time.monotonic() < end:
        for i in range(200):
            total += step(i)
    return total


def main(seconds, waiters):
    done = threading.Event()
    threads = [threading.Thread(target=done.wait, name=f"waiter-{k}") for k in range(waiters)]
    for t in threads:
        t.start()
    busy(seconds)
    done.set()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0,
         int(sys.argv[2]) if len(sys.argv) > 2 else 20)
