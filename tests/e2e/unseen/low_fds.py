"""The file descriptors a program gets are those it gets without pyscope:
pyscope's own (its socket, what its sampler reads) are out of the way, even
of a scan of every descriptor below the open-file limit (as CPython's
subprocess tests make with subprocessdata/fd_status.py). With an argument
N, N more threads run a little and stay alive (each one sampled with native
stacks costs pyscope descriptors of its own)."""
import errno
import os
import sys
import threading
import time
import zlib

stop = threading.Event()
sleeper = threading.Thread(target=stop.wait)  # idle: the sampler looks at it
sleeper.start()
blob = bytes(range(256)) * 256


def busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:  # running, in C code too: --native resolves its frames
        zlib.compress(blob, 9)


def worker():
    busy(0.01)
    stop.wait()


workers = [threading.Thread(target=worker) for _ in range(int(sys.argv[1]) if sys.argv[1:] else 0)]
for t in workers:
    t.start()
busy(0.3)
time.sleep(0.2)  # the samples are resolved meanwhile
low = sorted(int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) < 64)
r, w = os.pipe()
print("open below 64:", [fd for fd in low if fd != r and fd != w and fd > 2])
print("a new pipe:", r, w)
os.close(r)
os.close(w)
seen = []
for fd in range(os.sysconf("SC_OPEN_MAX")):
    try:
        os.fstat(fd)
    except OSError as e:
        if e.errno != errno.EBADF:
            raise
    else:
        seen.append(fd)
print("open below the limit:", seen)
stop.set()
sleeper.join()
for t in workers:
    t.join()
