"""Short waits between bits of work, each made through libc as C code makes
it, without Python's retry on EINTR: nanosleep, select, poll, epoll_wait
and sigtimedwait, each for 2 ms after 1 ms of work. A wait a signal cuts
short returns -1 with EINTR; the program counts them, per call."""
import ctypes
import ctypes.util
import os
import select
import signal
import time

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
EINTR = 4


class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class pollfd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


r, w = os.pipe()
ep = select.epoll()
ep.register(r, select.EPOLLIN)
blocked = (ctypes.c_ulong * 16)()
libc.sigemptyset(blocked)
libc.sigaddset(blocked, signal.SIGUSR2)  # never sent: a plain timed wait
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])

WAIT_NS = 2_000_000


def nanosleep():
    left = timespec()
    return libc.nanosleep(ctypes.byref(timespec(0, WAIT_NS)), ctypes.byref(left))


def select_():
    return libc.select(0, None, None, None, ctypes.byref(timeval(0, WAIT_NS // 1000)))


def poll():
    fds = pollfd(r, select.POLLIN, 0)
    return libc.poll(ctypes.byref(fds), 1, WAIT_NS // 1_000_000)


def epoll_wait():
    events = (ctypes.c_uint64 * 4)()
    return libc.epoll_wait(ep.fileno(), events, 1, WAIT_NS // 1_000_000)


def sigtimedwait():
    ret = libc.sigtimedwait(blocked, None, ctypes.byref(timespec(0, WAIT_NS)))
    # a timed wait that expires also says -1, with EAGAIN
    return 0 if ret == -1 and ctypes.get_errno() != EINTR else ret


def work():
    end = time.thread_time() + 0.001
    while time.thread_time() < end:
        pass


calls = (nanosleep, select_, poll, epoll_wait, sigtimedwait)
cut = {f.__name__.rstrip("_"): 0 for f in calls}
for _ in range(60):
    for f in calls:
        work()
        ctypes.set_errno(0)
        if f() == -1 or ctypes.get_errno() == EINTR:
            cut[f.__name__.rstrip("_")] += 1
print(" ".join(f"{name}={n}" for name, n in cut.items()))
