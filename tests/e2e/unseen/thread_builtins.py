"""What the program sees of the functions threads start through: pyscope
puts its own in their place, which must look like the originals in every
way the program can ask (name, module, owner, documentation, signature,
pickling)."""
import inspect
import pickle
import threading

import _thread

for name in ("start_new_thread", "start_new", "start_joinable_thread"):
    f = getattr(_thread, name, None)
    if f is None:
        continue
    try:
        sig = str(inspect.signature(f))
    except ValueError as e:
        sig = f"ValueError: {e}"
    print(name, f.__name__, f.__qualname__, f.__module__, f.__self__ is _thread,
          repr(f.__text_signature__), repr(f.__doc__), sig,
          pickle.loads(pickle.dumps(f)) is f, repr(f).split(" at ")[0], sep="\n  ")
for name in ("_start_new_thread", "_start_joinable_thread"):
    f = getattr(threading, name, None)
    if f is not None:
        print(name, f is getattr(_thread, f.__name__))
t = threading.Thread(target=print, args=("in a thread",))
t.start()
t.join()
