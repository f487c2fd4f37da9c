"""Threads that run with every signal blocked: half block them themselves,
half are started by a thread that has them all blocked."""
import signal
import threading

CALLS = 20000


def f(x):
    return x + 1


def work(block):
    if block:
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    t = 0
    for _ in range(CALLS):
        t = f(t)
    return t


threads = [threading.Thread(target=work, args=(True,), name=f"self{i}") for i in range(4)]
old = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
threads += [threading.Thread(target=work, args=(False,), name=f"born{i}") for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
signal.pthread_sigmask(signal.SIG_SETMASK, old)
print(len(threads))
