"""Two threads run Python and take turns on the GIL while a third sleeps and
the main thread waits in join(): each state of a sample has a known owner."""
import threading
import time


def spin():
    end = time.thread_time() + 0.4
    while time.thread_time() < end:
        pass


def nap():
    time.sleep(0.6)


threads = [threading.Thread(target=spin, name=f"spinner-{i}") for i in range(2)]
threads.append(threading.Thread(target=nap, name="napper"))
for t in threads:
    t.start()
for t in threads:
    t.join()
