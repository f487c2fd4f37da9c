"""Stress: code objects made and freed quickly, generators, coroutines,
deep recursion, short-lived threads and fork, all while being sampled."""
import asyncio
import os
import sys
import threading


def churn(n):
    for i in range(n):
        f = eval(compile(f"lambda x: x + {i}", f"<gen{i}>", "eval"))
        f(i)
        exec(f"def g{i}():\n    return {i}\ng{i}()", {})


def deep(n):
    return 0 if n == 0 else 1 + deep(n - 1)


def gen():
    yield from range(50000)


async def co(n):
    for _ in range(n):
        await asyncio.sleep(0)


def threads(n):
    for _ in range(n):
        t = threading.Thread(target=sum, args=(range(2000),))
        t.start()
        t.join()


sys.setrecursionlimit(5000)
churn(4000)
for _ in range(10):
    deep(1000)
sum(gen())
asyncio.run(co(5000))
threads(100)
pid = os.fork()
if pid == 0:
    churn(500)
    os._exit(0)
os.waitpid(pid, 0)
print("ok")
