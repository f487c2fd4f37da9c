"""How fast the object graph is recorded, end to end.

  /usr/bin/python3.11 bench/heap.py [--objects N] [--runs R]

Budget (issue: object graph): at least 1,000,000 objects with their edges
per second end to end, the program blocked no longer than the walk. The
workload builds N instances (each with a list), linked to each other, then
calls pyscope.snapshot() and exits, which takes the exit snapshot's graph
too. End to end: every object and edge stored (both graphs) over the time
from the first snapshot's start until `pyscope profile` returned, the
database committed and closed. Blocked: how long pyscope.snapshot() held the
program. Medians over runs."""
import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    common.check_binary()
    tmp = tempfile.mkdtemp(prefix="pyscope-bench-")
    try:
        work = os.path.join(common.WORKLOADS, "heap_graph.py")
        rates, blocked = [], []
        for r in range(args.runs):
            db = os.path.join(tmp, f"run{r}.db")
            out = subprocess.run([common.PYSCOPE, "profile", "-q", "--no-sample", "--heap",
                                  "--python", common.PYTHON, "-o", db, work, str(args.objects)],
                                 check=True, capture_output=True, text=True).stdout
            done = time.monotonic_ns()
            snap, began, ns = map(int, out.split())
            conn = sqlite3.connect(db)
            objs = conn.execute("select count(*) from heap_objects where snapshot_id = ?",
                                (snap,)).fetchone()[0]
            edges = conn.execute("select count(*) from heap_edges where snapshot_id = ?",
                                 (snap,)).fetchone()[0]
            rows = conn.execute("select (select count(*) from heap_objects)"
                                " + (select count(*) from heap_edges)").fetchone()[0]
            conn.close()
            rates.append(rows / ((done - began) / 1e9))
            blocked.append(ns / 1e9)
        print(f"object graph: {objs:,} objects, {edges:,} edges per snapshot; "
              f"the program blocked median {statistics.median(blocked)*1000:.0f} ms per snapshot "
              f"(the walk); end to end {statistics.median(rates)/1e6:.2f} M objects+edges "
              f"per second (budget >= 1.00 M)")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
