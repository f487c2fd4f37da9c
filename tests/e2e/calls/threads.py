"""Calls on the main thread, on threading and _thread threads, and in a
fork child: each place counts its own."""
import _thread
import os
import threading


def work(n):
    return n * 2


def loop(times):
    for i in range(times):
        work(i)


loop(10)
threads = [threading.Thread(target=loop, args=(100,), name=f"t{i}") for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
done = threading.Event()


def raw():
    loop(100)
    done.set()


_thread.start_new_thread(raw, ())
done.wait()
pid = os.fork()
if pid == 0:
    loop(7)
    os._exit(0)
os.waitpid(pid, 0)
loop(100)
