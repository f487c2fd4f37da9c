"""300 threads alive at once, each making a few hundred calls: every one is
counted on its own thread."""
import threading

THREADS = 300
CALLS = 200
ready = threading.Barrier(THREADS + 1)


def f(x):
    return x + 1


def work():
    ready.wait()
    t = 0
    for _ in range(CALLS):
        t = f(t)
    return t


threads = [threading.Thread(target=work, name=f"w{i}") for i in range(THREADS)]
for t in threads:
    t.start()
ready.wait()
for t in threads:
    t.join()
print(len(threads))
