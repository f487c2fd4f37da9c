"""A fault signal sent to the program, not caused by it: it must die of it
as plain python does (argv[1]: how the signal arrives)."""
import faulthandler
import os
import signal
import sys
import threading
import time


def spin(seconds):
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


mode = sys.argv[1]
spin(0.05)  # running: the sampler is signalling this thread
print("before", mode, flush=True)
if mode == "kill-segv":
    os.kill(os.getpid(), signal.SIGSEGV)
elif mode == "kill-bus":
    os.kill(os.getpid(), signal.SIGBUS)
elif mode == "raise-segv":
    signal.raise_signal(signal.SIGSEGV)
elif mode == "thread-kill-segv":
    # sent from another thread while this one keeps running
    threading.Thread(target=lambda: (time.sleep(0.05),
                                     os.kill(os.getpid(), signal.SIGSEGV))).start()
    spin(5)
elif mode == "faulthandler":
    # faulthandler enabled after pyscope's handlers, as a test runner does:
    # it dumps the traceback, then hands the signal on
    faulthandler.enable(all_threads=False)
    faulthandler._sigsegv()
elif mode == "handled":
    # the program's own handler still sees it
    signal.signal(signal.SIGSEGV, lambda s, f: print("handled", s, flush=True))
    os.kill(os.getpid(), signal.SIGSEGV)
    spin(0.05)
spin(0.2)
print("after", mode, "(plain python never gets here)", flush=True)
