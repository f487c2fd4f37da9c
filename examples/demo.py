"""A small program to try pyscope on: a few threads, a child process, some work."""
import multiprocessing
import threading


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def crunch(name, n, results):
    results[name] = fib(n)


def main():
    results = {}
    workers = [threading.Thread(target=crunch, args=(f"fib{n}", n, results), name=f"worker-{n}")
               for n in (20, 22, 24)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        squares = pool.map(fib, range(18, 22))
    print("threads:", dict(sorted(results.items())))
    print("processes:", squares)


if __name__ == "__main__":
    main()
