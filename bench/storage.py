"""What a run's database costs on disk, and how it grows with time.

  /usr/bin/python3.11 bench/storage.py [--seconds S] [--rounds N]

Budgets (issue: storage that grows with events): twenty threads waiting on
an event and one busy thread, 10 s at the default rate, in at most 300 KB;
an hour of a 200-thread pool server under light load in at most 100 MB. The
pool server runs for S and 3*S seconds: the difference is what time adds,
and the hour is extrapolated from it. Each run's samples (ticks) and rows
are counted, and each workload is also timed plain and under pyscope side by
side (wall, and CPU of the whole process tree), in rounds whose order
rotates."""
import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def stored(db):
    con = sqlite3.connect(db)
    has_ticks = any(c[1] == "ticks" for c in con.execute("PRAGMA table_info(samples)"))
    ticks, rows = con.execute(f"SELECT coalesce(sum({'ticks' if has_ticks else 1}), 0), count(*)"
                              " FROM samples").fetchone()  # a row was one sample before ticks
    con.close()
    return ticks, rows, os.path.getsize(db)


def measure(name, args, tmp, rounds):
    """Time the workload plain and under pyscope in rotating rounds; report
    the medians and what the last pyscope run stored."""
    db = os.path.join(tmp, name + ".db")
    cmds = {"plain": [common.PYTHON] + args,
            "pyscope": [common.PYSCOPE, "profile", "-q", "--force", "--python", common.PYTHON,
                        "-o", db] + args}
    times = common.rotating_rounds(cmds, rounds, tmp)
    wall = statistics.median(t / p for p, t in zip(times["plain"], times["pyscope"]))
    cpu = statistics.median(t.cpu / p.cpu for p, t in zip(times["plain"], times["pyscope"]))
    ticks, rows, size = stored(db)
    print(f"{name}: {ticks:,} samples in {rows:,} rows, {size / 1024:,.0f} KiB "
          f"({size / max(ticks, 1):.2f} bytes per sample); pyscope/plain wall {wall:.3f}, "
          f"CPU {cpu:.3f} (plain {statistics.median(times['plain']):.2f} s wall, "
          f"{statistics.median(p.cpu for p in times['plain']):.2f} s CPU)")
    return size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    common.check_binary()
    tmp = tempfile.mkdtemp(prefix="pyscope-bench-")
    try:
        waiting = os.path.join(common.WORKLOADS, "waiting_threads.py")
        pool = os.path.join(common.WORKLOADS, "pool_server.py")
        s = args.seconds
        measure(f"20 waiting + 1 busy thread, {s:g} s", [waiting, str(s), "20"], tmp, args.rounds)
        short = measure(f"pool server, 200 threads, {s:g} s", [pool, str(s), "200"], tmp,
                        args.rounds)
        long = measure(f"pool server, 200 threads, {3 * s:g} s", [pool, str(3 * s), "200"], tmp,
                       args.rounds)
        per_s = (long - short) / (2 * s)
        print(f"pool server: {per_s / 1024:,.1f} KiB more per second of run, "
              f"{(short + per_s * (3600 - s)) / 2**20:,.1f} MiB for an hour")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
