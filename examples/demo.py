"""A small program to try pyscope on: threads, child processes, some CPU work
and some waiting."""
import multiprocessing
import threading
import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def crunch(name, n, results):
    results[name] = fib(n)


def wait_for_io():
    time.sleep(0.2)


def main():
    results = {}
    workers = [threading.Thread(target=crunch, args=(f"fib{n}", n, results), name=f"worker-{n}")
               for n in (22, 24, 26)]
    for w in workers:
        w.start()
    wait_for_io()
    for w in workers:
        w.join()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        squares = pool.map(fib, range(20, 25))
    print("threads:", dict(sorted(results.items())))
    print("processes:", squares)


if __name__ == "__main__":
    main()
