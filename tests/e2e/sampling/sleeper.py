"""One function sleeps, another burns CPU, for about the same wall time."""
import time


def sleeper():
    time.sleep(0.05)


def burner():
    end = time.thread_time() + 0.05
    while time.thread_time() < end:
        pass


for _ in range(12):
    sleeper()
    burner()
