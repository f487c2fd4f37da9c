"""Ends in the way argv[1] says."""
import ctypes
import os
import signal
import sys
import time

how = sys.argv[1]
print("ready", flush=True)
if how == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
elif how == "segv":
    ctypes.string_at(0)
elif how == "os_exit":
    os._exit(7)
elif how == "child_sigkill":
    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.5)  # leave the zombie for the recorder to read
    os.waitpid(pid, 0)
elif how == "child_segv":
    pid = os.fork()
    if pid == 0:
        ctypes.string_at(0)
    time.sleep(0.5)
    os.waitpid(pid, 0)
elif how == "children_sigterm":
    # Each child is sent SIGTERM as soon as it exists, before the
    # interpreter has finished setting itself up in it.
    codes = []
    for _ in range(10):
        pid = os.fork()
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        os.kill(pid, signal.SIGTERM)
        codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    print(codes)
