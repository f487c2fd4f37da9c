"""Sampling overhead and capacity, as ratios against plain python3.11.

  /usr/bin/python3.11 bench/sampling.py [--pairs N]

Budgets (issue: sampling): single-threaded pure-Python CPU work <= 1.03x at
1 kHz and <= 1.01x at 100 Hz; four busy threads at 1 kHz <= 1.05x; the
recorder keeps up with 10 kHz on four threads without drops; the cost of one
sample against the cost of a bare signal on this machine; database bytes per
sample."""
import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def run_db(args, tmp, name):
    db = os.path.join(tmp, name)
    start = time.perf_counter()
    subprocess.run([common.PYSCOPE, "profile", "-q", "--force", "--python", common.PYTHON,
                    "-o", db] + args, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, db


def meta(db, key):
    row = sqlite3.connect(db).execute("select value from meta where key = ?", (key,)).fetchone()
    return row[0] if row else None


def count(db, sql):
    return sqlite3.connect(db).execute(sql).fetchone()[0]


def signal_floor(tmp):
    exe = os.path.join(tmp, "signal_floor")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "signal_floor.c")
    subprocess.run(["cc", "-O2", "-pthread", "-o", exe, src], check=True)
    return float(subprocess.run([exe, "10000"], check=True, capture_output=True,
                                text=True).stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--scale", type=int, default=60)
    args = ap.parse_args()
    common.check_binary()
    cpu = os.path.join(common.WORKLOADS, "cpu.py")
    threads4 = os.path.join(common.WORKLOADS, "threads4.py")
    scale = str(args.scale)

    for rate in ("1000", "100"):
        plain, traced = common.pairs([common.PYTHON, cpu, scale], ["--rate", rate, cpu, scale],
                                     args.pairs)
        common.report(f"cpu workload, sampling at {rate} Hz", plain, traced)
    plain, traced = common.pairs([common.PYTHON, threads4, "8"],
                                 ["--rate", "1000", threads4, "8"], args.pairs)
    common.report("four busy threads, sampling at 1000 Hz", plain, traced)

    tmp = tempfile.mkdtemp(prefix="pyscope-bench-")
    try:
        t_off, _ = run_db(["--no-sample", cpu, scale], tmp, "off.db")
        t_on, db = run_db(["--rate", "10000", cpu, scale], tmp, "on.db")
        n = count(db, "select sum(ticks) from samples where state != 2")
        per_sample = (t_on - t_off) / max(n, 1) * 1e6
        print(f"cost of one sample at 10 kHz: {per_sample:.1f} us "
              f"({n} samples, {t_on:.2f} s against {t_off:.2f} s unsampled)")
        try:
            floor = signal_floor(tmp)
            print(f"floor: one bare signal to a spinning thread costs it {floor:.1f} us "
                  f"(sample / floor = {per_sample / floor:.1f})")
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"floor: could not measure ({e})")

        _, db = run_db(["--rate", "10000", threads4, "4"], tmp, "ten.db")
        n = count(db, "select sum(ticks) from samples")
        rows = count(db, "select count(*) from samples")
        print(f"10 kHz on four threads: {n} samples stored, "
              f"dropped {meta(db, 'dropped_samples')}, missed ticks {meta(db, 'missed_ticks')}, "
              f"{os.path.getsize(db) / max(n, 1):.1f} bytes per sample in the database "
              f"({rows} rows)")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
