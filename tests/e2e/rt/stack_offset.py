"""Where, within a 4 KiB page of its stack, a thread's Python code runs:
through threading, through _thread, and with a small stack the program
chose. Prints the offsets and the pad pyscope sets aside (0 outside pyscope)."""
import _thread
import threading

import pyscope

_pyscope = pyscope.active.__self__  # the extension, kept out of sys.modules


def offset():
    return _pyscope._stack_probe() % 4096


def via_threading():
    out = []
    t = threading.Thread(target=lambda: out.append(offset()))
    t.start()
    t.join()
    return out[0]


def via_thread():
    out = []
    done = _thread.allocate_lock()
    done.acquire()

    def run():
        out.append(offset())
        done.release()

    _thread.start_new_thread(run, ())
    done.acquire()
    return out[0]


def small_stack():
    old = threading.stack_size(256 * 1024)
    try:
        return via_threading()
    finally:
        threading.stack_size(old)


print(via_threading(), via_thread(), small_stack(), _pyscope._boot_pad())
