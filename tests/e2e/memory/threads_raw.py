"""Raw allocations without the GIL (zlib allocates through PyMem_RawMalloc
while it runs with the GIL released) on several threads, while the main
thread allocates and frees, and a forked child that takes its own
snapshot."""
import os
import threading
import zlib

import pyscope

data = os.urandom(1 << 16) * 8


def squeeze(n):
    for _ in range(n):
        zlib.compress(data, 6)


threads = [threading.Thread(target=squeeze, args=(20,)) for _ in range(3)]
for t in threads:
    t.start()
junk = []
for i in range(20000):
    junk.append(str(i) * 5)
    if len(junk) > 5000:
        junk.clear()
for t in threads:
    t.join()
pid = os.fork()
if pid == 0:
    child_kept = [bytes(1000) for _ in range(1000)]
    pyscope.snapshot("child")
    os._exit(0)
os.waitpid(pid, 0)
print(pyscope.snapshot("parent"))
