"""`pyscope cycles` on a large snapshot: time and peak memory.

  /usr/bin/python3.11 bench/cycles.py [--objects N] [--runs R]

Budget (issue: object graph): on a snapshot of 1,000,000 objects, at most
3 s and 1 GiB. The database is recorded once (pyscope profile --heap on a
program with N tracked objects, a tenth of them in garbage cycles); each run
times `pyscope cycles` on it and reads its peak RSS from wait4()."""
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
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    common.check_binary()
    tmp = tempfile.mkdtemp(prefix="pyscope-bench-")
    try:
        db = os.path.join(tmp, "heap.db")
        work = os.path.join(common.WORKLOADS, "cycle_heap.py")
        snap = subprocess.run([common.PYSCOPE, "profile", "-q", "--no-sample", "--heap",
                               "--python", common.PYTHON, "-o", db, work, str(args.objects)],
                              check=True, capture_output=True, text=True).stdout.strip()
        conn = sqlite3.connect(db)
        objs, = conn.execute("select count(*) from heap_objects where snapshot_id = ?",
                             (snap,)).fetchone()
        edges, = conn.execute("select count(*) from heap_edges where snapshot_id = ?",
                              (snap,)).fetchone()
        conn.close()
        times, rss = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            proc = subprocess.Popen([common.PYSCOPE, "cycles", db, snap],
                                    stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            times.append(time.perf_counter() - start)
            if status:
                sys.exit(f"bench: pyscope cycles failed ({status})")
            rss.append(usage.ru_maxrss * 1024)
        print(f"pyscope cycles on {objs:,} objects and {edges:,} references: median "
              f"{statistics.median(times)*1000:.0f} ms (budget 3000 ms), peak RSS "
              f"{max(rss)/2**20:.0f} MiB (budget 1024 MiB)")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
