"""Stress: threads starting and ending all the time, four at once, through
threading and through _thread, while being sampled."""
import _thread
import threading


def short():
    sum(range(3000))


def spawner(n):
    for _ in range(n):
        t = threading.Thread(target=short)
        t.start()
        t.join()


def raw(n):
    done = threading.Semaphore(0)

    def run():
        short()
        done.release()

    for _ in range(n):
        _thread.start_new_thread(run, ())
    for _ in range(n):
        done.acquire()


spawners = [threading.Thread(target=spawner, args=(150,)) for _ in range(3)]
spawners.append(threading.Thread(target=raw, args=(150,)))
for t in spawners:
    t.start()
for t in spawners:
    t.join()
print("ok")
