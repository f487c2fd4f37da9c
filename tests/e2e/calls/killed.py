"""A fork child does its work, then waits until it is killed with SIGKILL:
the calls it made are recorded all the same."""
import os
import signal
import time


def work(n):
    return n + 1


pid = os.fork()
if pid == 0:
    for i in range(50):
        work(i)
    time.sleep(30)
    os._exit(0)
time.sleep(0.6)
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
