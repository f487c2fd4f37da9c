"""64 fork children, one after another, each making a few hundred calls and
ending: by os._exit, by sys.exit, or by running off the end of the program."""
import os
import sys

CHILDREN = 64
CALLS = 300


def f(x):
    return x + 1


def work():
    t = 0
    for _ in range(CALLS):
        t = f(t)
    return t


statuses = []
for i in range(CHILDREN):
    pid = os.fork()
    if pid == 0:
        work()
        if i % 3 == 0:
            os._exit(i % 7)
        if i % 3 == 1:
            sys.exit(i % 7)
        break  # the child runs off the end, status 0
    _, status = os.waitpid(pid, 0)
    statuses.append(os.waitstatus_to_exitcode(status))
else:
    print(sum(statuses))
