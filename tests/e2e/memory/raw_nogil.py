"""Raw blocks allocated, resized and freed by threads that do not hold the
GIL (a ctypes.CDLL call lets it go), across threads, while the main thread
allocates with it. Prints what should be live at the marked line: blocks
and bytes."""
import ctypes
import sys
import threading

import pyscope

lib = ctypes.CDLL(None)  # the interpreter's own symbols, called without the GIL
raw_malloc = lib.PyMem_RawMalloc
raw_malloc.restype = ctypes.c_void_p
raw_malloc.argtypes = [ctypes.c_size_t]
raw_realloc = lib.PyMem_RawRealloc
raw_realloc.restype = ctypes.c_void_p
raw_realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
raw_free = lib.PyMem_RawFree
raw_free.restype = None
raw_free.argtypes = [ctypes.c_void_p]

THREADS, N = 4, 3000
blocks = [(ctypes.c_void_p * N)() for _ in range(THREADS)]
made = threading.Barrier(THREADS)


def work(k):
    mine = blocks[k]
    for i in range(N):
        mine[i] = raw_malloc(1000)  # ALLOCATED
    made.wait()
    # Free every other block of the next thread's, and grow every fourth of
    # its remaining ones (realloc: the new block keeps this line's place).
    theirs = blocks[(k + 1) % THREADS]
    for i in range(0, N, 2):
        raw_free(theirs[i])
    for i in range(1, N, 4):
        theirs[i] = raw_realloc(theirs[i], 3000)  # RESIZED


junk = []
threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
for t in threads:
    t.start()
while any(t.is_alive() for t in threads):
    junk.append(str(len(junk)) * 3)  # the GIL side allocates meanwhile
    if len(junk) > 1000:
        junk.clear()
for t in threads:
    t.join()
per_thread_left = N // 2
resized = len(range(1, N, 4))
print(THREADS * (per_thread_left - resized), THREADS * (per_thread_left - resized) * 1000,
      THREADS * resized, THREADS * resized * 3000)
sys.stdout.flush()
pyscope.snapshot("raw")
