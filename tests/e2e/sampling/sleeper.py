"""One function sleeps, another burns CPU, for about the same wall time."""
import time


def sleeper():
    time.sleep(0.05)


def burner():
    # by the wall clock: on a busy machine, 50 ms of CPU would take longer
    end = time.monotonic() + 0.05
    while time.monotonic() < end:
        pass


for _ in range(12):
    sleeper()
    burner()
