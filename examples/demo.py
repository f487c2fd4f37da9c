"""A small program to try pyscope on: threads, child processes, some CPU work,
some waiting, and memory kept on purpose."""
import multiprocessing
import threading
import time

try:
    import pyscope  # present under `pyscope profile`
except ImportError:
    pyscope = None


def snapshot(label):
    if pyscope is not None:
        pyscope.snapshot(label)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def crunch(name, n, results):
    results[name] = fib(n)


def wait_for_io():
    time.sleep(0.2)


def remember(results, n):
    """A cache that only grows: what `pyscope diff` is for."""
    return {f"{name}-{i}": [value] * 10 for name, value in results.items() for i in range(n)}


def main():
    snapshot("start")
    results = {}
    workers = [threading.Thread(target=crunch, args=(f"fib{n}", n, results), name=f"worker-{n}")
               for n in (22, 24, 26)]
    for w in workers:
        w.start()
    wait_for_io()
    for w in workers:
        w.join()
    cache = remember(results, 5000)
    snapshot("after cache")
    with multiprocessing.get_context("fork").Pool(2) as pool:
        squares = pool.map(fib, range(20, 25))
    print("threads:", dict(sorted(results.items())))
    print("processes:", squares)
    print("cached:", len(cache))


if __name__ == "__main__":
    main()
