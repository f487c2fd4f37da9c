"""Run under `pyscope profile --memory` with PYTHONTRACEMALLOC=1: tracemalloc
traces from the interpreter's start, under pyscope's hooks; the program stops
it and starts it again. Prints, for each of pyscope's snapshots, its id and
tracemalloc's statistics by line of this file (none while it is stopped)."""
import json
import tracemalloc

import pyscope


def take(label):
    theirs = []
    if tracemalloc.is_tracing():
        theirs = [[s.traceback[0].lineno, s.size, s.count]
                  for s in tracemalloc.take_snapshot().statistics("lineno")
                  if s.traceback[0].filename == __file__]
    return {"id": pyscope.snapshot(label), "stats": theirs}


snapshots = []
first = [bytes(500) for _ in range(2000)]
snapshots.append(take("started with the interpreter"))
tracemalloc.stop()
second = [bytes(600) for _ in range(2000)]
snapshots.append(take("stopped"))
tracemalloc.start()
third = [bytes(700) for _ in range(2000)]
snapshots.append(take("started again"))
print(json.dumps(snapshots))
