"""A recursion that allocates and keeps what it makes, calling itself twice
on one line: 2^10 call paths, but tracemalloc tells frames apart by file
and line, so it has one traceback per depth. Under plain python the
tracebacks tracemalloc has at the snapshot (frames outermost first) are
written as JSON to the file $TM_OUT names."""
import json
import os

try:
    import pyscope
except ImportError:
    pyscope = None
    import tracemalloc

    tracemalloc.start(64)


def tree(depth, keep):
    keep.append([depth] * 8)
    if depth:
        tree(depth - 1, keep), tree(depth - 1, keep)


kept = []
tree(10, kept)
if pyscope is not None:
    pyscope.snapshot("tree")
else:
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, __file__)])
    tracebacks = [[[f.filename, f.lineno] for f in s.traceback]  # outermost first
                  for s in snap.statistics("traceback")]
    with open(os.environ["TM_OUT"], "w") as f:
        json.dump(tracebacks, f)
print(len(kept))
