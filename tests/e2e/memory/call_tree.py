"""A recursion whose call tree has a distinct traceback at every node, on two
threads: under --calls every call makes a frame object, so every node of the
tree is an allocation site of its own."""
import threading


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


results = []
threads = [threading.Thread(target=lambda: results.append(fib(24))) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(results)
