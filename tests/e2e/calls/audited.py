"""Threads that start while another thread is inside an audit hook of the
program's (regrtest installs one), for the audit event of a profile
function being installed: the hook lets the GIL go, as Python code may at
any point. Raw threads, whose start does not wait for them to run, as
test_thread starts them. Each thread's calls of work() must be counted."""
import _thread
import sys
import threading
import time


def hook(event, args):
    if event == "sys.setprofile":
        time.sleep(0.002)  # the GIL passes to another thread here


sys.addaudithook(hook)


def work(n):
    return n * 2


done = threading.Semaphore(0)


def loop(times):
    for i in range(times):
        work(i)
    done.release()


for _ in range(8):
    _thread.start_new_thread(loop, (10,))
for _ in range(8):
    done.acquire()
print("ok")
