"""Viewer speed on a large run database.

  /usr/bin/python3.11 bench/viewer_speed.py [--samples N] [--stacks N] [--runs N] [--keep DIR]

Builds a pyscope-shaped database with sqlite3 (1,000,000 samples by
default: about 2,000 distinct stacks of depth 10-40 drawn from a call tree
of 400 functions in 40 files, 4 threads, a skewed popularity like a real
profile, a tenth of the samples idle) and times `hot`, `top`, `flamegraph`
and `export --format speedscope` on it, each the median of --runs runs
with the output thrown away. Budget (issue: viewer, sampling half): each
<= 1 s for 1,000,000 samples.

The database is made once per invocation in a temporary directory (or in
--keep DIR, reused when it is already there with the same parameters)."""
import argparse
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

INTERVAL_NS = 1_000_000  # 1 kHz


def build(path, nsamples, nstacks, seed=1):
    rnd = random.Random(seed)
    common.empty_run_db(path)
    db = sqlite3.connect(path)
    db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
    db.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("pyscope_version", "0.1.0"), ("argv", "bench.py"), ("cwd", "/srv/app"),
        ("sample_rate_hz", str(1_000_000_000 // INTERVAL_NS))])
    db.execute("INSERT INTO processes (id, pid, argv, started_ns) VALUES (1, 4242, 'bench.py', 0)")
    nthreads = 4
    db.executemany("INSERT INTO threads (id, process_id, os_tid, name, is_main, started_ns)"
                   " VALUES (?, 1, ?, ?, ?, 0)",
                   [(t, 4242 + t, "MainThread" if t == 1 else f"worker-{t - 1}", t == 1)
                    for t in range(1, nthreads + 1)])

    # 400 functions in 40 modules; each has a few lines that are sampled.
    funcs = []
    for i in range(400):
        mod = i % 40
        first = 10 + (i // 40) * 30
        funcs.append((i + 1, "python", f"/srv/app/pkg/mod{mod:02d}.py", f"f{i}",
                      f"Class{i % 7}.f{i}", first))
    db.executemany("INSERT INTO functions VALUES (?, ?, ?, ?, ?, ?)", funcs)
    frames = {}

    def frame(fn, line):
        key = (fn, line)
        if key not in frames:
            frames[key] = len(frames) + 1
        return frames[key]

    # Stack paths: random walks down a call tree, so prefixes are shared.
    nodes = {}  # (parent, frame) -> id

    def node(parent, fr):
        key = (parent, fr)
        if key not in nodes:
            nodes[key] = len(nodes) + 1
        return nodes[key]

    # A call graph: each function calls a handful of others.
    callees = {f[0]: rnd.sample(range(1, 401), 6) for f in funcs}
    leaves = set()
    attempts = 0
    while len(leaves) < nstacks and attempts < nstacks * 20:
        attempts += 1
        depth = rnd.randint(10, 40)
        fn = rnd.randint(1, 8)  # a few entry points
        parent = None
        for _ in range(depth):
            first = funcs[fn - 1][5]
            parent = node(parent, frame(fn, first + rnd.choice((1, 2, 3, 5, 8))))
            fn = rnd.choice(callees[fn][:3] if rnd.random() < 0.8 else callees[fn])
        leaves.add(parent)
    db.executemany("INSERT INTO frames VALUES (?, ?, ?)",
                   [(fid, fn, line) for (fn, line), fid in frames.items()])
    db.executemany("INSERT INTO stacks VALUES (?, ?, ?)",
                   [(nid, parent, fr) for (parent, fr), nid in nodes.items()])

    # Popularity: a Zipf-like skew over the distinct stacks.
    leaves = sorted(leaves)
    rnd.shuffle(leaves)
    weights = [1.0 / (k + 1) ** 0.9 for k in range(len(leaves))]
    per_thread = nsamples // nthreads
    for t in range(1, nthreads + 1):
        picks = rnd.choices(leaves, weights=weights, k=per_thread)
        rows = []
        for k, stack in enumerate(picks):
            idle = rnd.random() < 0.1
            cpu = 0 if idle else rnd.randint(INTERVAL_NS // 2, INTERVAL_NS)
            rows.append((t, stack, k * INTERVAL_NS + t, cpu, 2 if idle else 0))
        db.executemany("INSERT INTO samples (thread_id, stack_id, t_ns, cpu_ns, state)"
                       " VALUES (?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    return len(leaves), len(nodes)


def time_cmd(args, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--stacks", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", help="directory for the database, kept and reused")
    args = ap.parse_args()
    common.check_binary()

    tmp = args.keep or tempfile.mkdtemp(prefix="pyscope-bench-viewer-")
    os.makedirs(tmp, exist_ok=True)
    db = os.path.join(tmp, f"viewer-{args.samples}-{args.stacks}.db")
    try:
        if not os.path.exists(db):
            start = time.perf_counter()
            nleaves, nnodes = build(db + ".tmp", args.samples, args.stacks)
            os.replace(db + ".tmp", db)
            print(f"built {db}: {args.samples:,} samples, {nleaves:,} distinct stacks, "
                  f"{nnodes:,} stack nodes, {os.path.getsize(db) / 2**20:.1f} MiB "
                  f"in {time.perf_counter() - start:.1f} s")
        out = os.path.join(tmp, "out")
        cases = [
            ("hot", ["hot", db]),
            ("hot --clock wall", ["hot", "--clock", "wall", db]),
            ("top", ["top", db]),
            ("flamegraph", ["flamegraph", db, "-o", out + ".svg"]),
            ("export --format speedscope", ["export", db, "--format", "speedscope",
                                            "-o", out + ".json"]),
            ("export --format folded", ["export", db, "--format", "folded", "-o", out + ".txt"]),
        ]
        worst = 0.0
        for name, cmd in cases:
            t = time_cmd([common.PYSCOPE] + cmd, args.runs)
            worst = max(worst, t)
            print(f"{name:28s} median {t * 1000:7.1f} ms  (budget 1000 ms)")
        for ext in (".svg", ".json", ".txt"):
            if os.path.exists(out + ext):
                print(f"  output {ext}: {os.path.getsize(out + ext) / 1024:.0f} KiB")
        print("within budget" if worst <= 1.0 else "OVER BUDGET")
    finally:
        if not args.keep:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
