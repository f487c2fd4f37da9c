"""Objects the interpreter hands out again from its free lists: each kept
object is made right after one of its kind died, so that plain CPython
gives it the dead one's memory. tracemalloc charges such an object to the
line that made it, not to the line that first allocated its memory.
(Frames have no free list in 3.11; they are here to stay that way.)"""
import contextvars
import gc
import sys

import snap

N = 10_000


def frame_of():
    return sys._getframe()


async def agen():
    yield 1


lists, dicts, tuples, floats, frames, contexts, slices, sends = [], [], [], [], [], [], [], []
gen = agen()
for i in range(N):
    tmp = [i]
    del tmp
    lists.append([i])
    tmp = {"a": i}
    del tmp
    dicts.append({"b": i})
    tmp = (i, i)
    del tmp
    tuples.append((i, -i))
    if i % 1000 == 0:
        gc.collect()  # a full collection clears the free lists and resets their counts
    x = i * 0.5
    floats.append(x * 3.0 + 1.0)  # the eval loop's float arithmetic frees x * 3.0 itself
    tmp = frame_of()
    del tmp
    frames.append(frame_of())
    tmp = contextvars.copy_context()
    del tmp
    contexts.append(contextvars.copy_context())
    tmp = slice(i, 0)
    del tmp
    slices.append(slice(i, 1))
    tmp = gen.asend(None)
    del tmp
    sends.append(gen.asend(None))
snap.take("kept")
