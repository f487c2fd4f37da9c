"""Stress: os.fork and multiprocessing (fork and spawn) while another thread
runs, all while being sampled."""
import multiprocessing
import os
import threading


def squares(n):
    return sum(i * i for i in range(n))


def background(stop):
    while not stop.is_set():
        squares(1000)


def forks(n):
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            squares(20_000)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


def pool(method, tasks):
    p = multiprocessing.get_context(method).Pool(2)
    try:
        assert p.map(squares, [3000] * tasks) == [squares(3000)] * tasks
    finally:
        p.close()
        p.join()


if __name__ == "__main__":
    stop = threading.Event()
    bg = threading.Thread(target=background, args=(stop,))
    bg.start()
    forks(20)
    pool("fork", 200)
    pool("spawn", 20)
    stop.set()
    bg.join()
    print("ok")
