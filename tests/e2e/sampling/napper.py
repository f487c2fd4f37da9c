"""A thread that sleeps 0.4 s and ends, then the main thread sleeps 0.2 s:
both are idle at every tick of their lives, their last idle ticks held by
the sampler when the thread ends and when sampling stops."""
import threading
import time

t = threading.Thread(target=time.sleep, args=(0.4,), name="napper")
t.start()
t.join()
time.sleep(0.2)
print("ok")
