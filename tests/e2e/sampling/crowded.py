"""A thread that wants a CPU and shares it with a busy process: about half
of the time it waits for the CPU, runnable, and never sleeps."""
import os
import subprocess
import time

cpu = min(os.sched_getaffinity(0))
os.sched_setaffinity(0, {cpu})  # this thread only: pyscope's are not moved
hog = subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"])
os.sched_setaffinity(hog.pid, {cpu})
end = time.monotonic() + 1.0
n = 0
while time.monotonic() < end:
    n += 1
hog.kill()
hog.wait()
print("ok")
