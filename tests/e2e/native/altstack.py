"""A handler of the program's runs on an alternate signal stack, as
faulthandler sets one up (16 KiB or so, from the heap) and Python's own
handlers use it, and the sampler's signal arrives while it runs: the
sampler's handler runs on that stack too. The alternate stack here sits at
the top of a buffer filled with a pattern; what was written below it is
memory of the program's that a signal handler overwrote."""
import ctypes
import faulthandler
import mmap
import os
import signal
import threading
import time


class stack_t(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int),
                ("ss_size", ctypes.c_size_t)]


libc = ctypes.CDLL(None, use_errno=True)
faulthandler.enable()  # for the size of the stack it makes
current = stack_t()
libc.sigaltstack(None, ctypes.byref(current))
size = current.ss_size
TOTAL = 1 << 16
PATTERN = b"\xa5"
buf = mmap.mmap(-1, TOTAL)
buf.write(PATTERN * TOTAL)
base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
if libc.sigaltstack(ctypes.byref(stack_t(base + TOTAL - size, 0, size)), None) != 0:
    raise OSError(ctypes.get_errno(), "sigaltstack")

handled = 0


def on_usr1(sig, frame):
    global handled
    handled += 1


signal.signal(signal.SIGUSR1, on_usr1)
# Both signals pending for the thread at once: the lower-numbered SIGUSR1 is
# delivered first, onto the alternate stack, and SIGPROF on top of it.
both = {signal.SIGUSR1, signal.SIGPROF}
for _ in range(100):
    signal.pthread_sigmask(signal.SIG_BLOCK, both)
    end = time.monotonic() + 0.003
    while time.monotonic() < end:
        pass
    signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, both)
below = buf[:TOTAL - size]
reached = len(below.lstrip(PATTERN))  # from the deepest byte written up to the stack
print(f"{handled} handled; bytes reached below the alternate stack: {reached}")
