"""tracemalloc started by the program under `pyscope profile --memory`: its
snapshot and pyscope's, taken one after the other, by line of this file.
Prints pyscope's snapshot id and tracemalloc's statistics as JSON."""
import json
import tracemalloc

import pyscope

tracemalloc.start()
buffers = [bytes(1000) for _ in range(1000)]
words = [str(i) * 20 for i in range(5000)]
numbers = list(range(100_000, 150_000))
table = {i: str(i) for i in range(20_000)}
snapshot = tracemalloc.take_snapshot()
sid = pyscope.snapshot("with tracemalloc")
stats = [[s.traceback[0].lineno, s.size, s.count]
         for s in snapshot.statistics("lineno") if s.traceback[0].filename == __file__]
print(json.dumps({"id": sid, "stats": stats}))
