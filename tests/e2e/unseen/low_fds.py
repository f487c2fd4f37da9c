"""The file descriptors a program gets are those it gets without pyscope:
pyscope's own (its socket, what its sampler reads) are out of the way."""
import os
import threading
import time

stop = threading.Event()
sleeper = threading.Thread(target=stop.wait)  # idle: the sampler looks at it
sleeper.start()
end = time.monotonic() + 0.3
n = 0
while time.monotonic() < end:  # running: the sampler signals this thread
    n += 1
low = sorted(int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) < 64)
r, w = os.pipe()
print("open below 64:", [fd for fd in low if fd != r and fd != w and fd > 2])
print("a new pipe:", r, w)
stop.set()
sleeper.join()
