"""Memory viewer speed on large snapshots.

  /usr/bin/python3.11 bench/memory_viewer.py [--traces N] [--runs N] [--keep DIR]

Builds a pyscope-shaped database with sqlite3: two snapshots of 200,000
distinct allocation tracebacks each by default (160,000 shared, the rest in
one snapshot only), tracebacks 10-30 frames deep drawn from a call graph of
3,000 functions in 300 files, with a skewed choice of callee at each call
site so that, as in a real program, the outer frames are shared widely and
the tracebacks part ways towards their allocating line. A few blocks have
no Python frame and some tracebacks are cut at the depth limit. Then it
times `stats --by lineno`, `--by filename`, `--by traceback`,
`--cumulative` and `diff` (by lineno, by traceback, cumulative), each the
median of --runs runs after one warm-up run, with the text output thrown
away; the CPU time (user + system) is shown beside. Budget: each
<= 1 s for 200,000 tracebacks.

The database is made once per invocation in a temporary directory (or in
--keep DIR, reused when it is already there with the same parameters)."""
import argparse
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

NFUNCS = 3000
NFILES = 300
SITES = 8  # call sites per function
ALLOCS = 4  # allocating lines per function


def build(path, ntraces, seed=1):
    rnd = random.Random(seed)
    common.empty_run_db(path)
    db = sqlite3.connect(path)
    db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
    db.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("pyscope_version", "0.1.0"), ("argv", "bench.py"), ("cwd", "/srv/app")])
    db.execute("INSERT INTO processes (id, pid, argv, started_ns) VALUES (1, 4242, 'bench.py', 0)")

    funcs = []
    for i in range(NFUNCS):
        first = 10 + (i // NFILES) * 40
        funcs.append((i + 1, "python", f"/srv/app/pkg/mod{i % NFILES:03d}.py", f"f{i}",
                      f"Class{i % 7}.f{i}", first))
    unknown = NFUNCS + 1
    marker = NFUNCS + 2
    funcs.append((unknown, "python", "<unknown>", "<unknown>", None, None))
    funcs.append((marker, "python", None, "[truncated]", None, None))
    db.executemany("INSERT INTO functions VALUES (?, ?, ?, ?, ?, ?)", funcs)

    frames = {}

    def frame(fn, line):
        return frames.setdefault((fn, line), len(frames) + 1)

    nodes = {}  # (parent, frame) -> id; a parent is always made before its children

    def node(parent, fr):
        return nodes.setdefault((parent, fr), len(nodes) + 1)

    # Each call site calls one function; the first sites are the busy ones.
    callees = {fn: [rnd.randint(1, NFUNCS) for _ in range(SITES)] for fn in range(1, NFUNCS + 1)}
    site_weights = [1.0 / (k + 1) ** 2 for k in range(SITES)]
    entries = [rnd.randint(1, NFUNCS) for _ in range(4)]
    target = ntraces + ntraces // 4
    leaves = []
    seen = set()
    while len(leaves) < target:
        depth = rnd.randint(10, 30)
        truncated = depth == 30 and rnd.random() < 0.5
        parent = node(None, frame(marker, None)) if truncated else None
        fn = rnd.choice(entries)
        for _ in range(depth - 1):
            k = rnd.choices(range(SITES), weights=site_weights)[0]
            parent = node(parent, frame(fn, funcs[fn - 1][5] + 1 + k))
            fn = callees[fn][k]
        leaf = node(parent, frame(fn, funcs[fn - 1][5] + 1 + SITES + rnd.randrange(ALLOCS)))
        if leaf not in seen:
            seen.add(leaf)
            leaves.append(leaf)
    leaves.append(node(None, frame(unknown, None)))
    db.executemany("INSERT INTO frames VALUES (?, ?, ?)",
                   [(fid, fn, line) for (fn, line), fid in frames.items()])
    db.executemany("INSERT INTO stacks VALUES (?, ?, ?)",
                   [(nid, parent, fr) for (parent, fr), nid in nodes.items()])

    def blocks(stack):
        count = max(1, int(rnd.paretovariate(1.2)))
        return (stack, count * rnd.choice((16, 32, 48, 64, 96, 128, 512, 4096)), count)

    old = leaves[:ntraces - 1] + [leaves[-1]]
    new = leaves[ntraces // 5:ntraces // 5 + ntraces - 1] + [leaves[-1]]
    db.executemany("INSERT INTO snapshots (id, process_id, label, t_ns, trigger, traced_bytes,"
        " traced_blocks, peak_bytes, rss_bytes) VALUES (?, 1, ?, ?, ?, NULL, NULL, NULL, NULL)",
                   [(1, "start", 1_000_000_000, "api"), (2, None, 9_000_000_000, "exit")])
    for sid, stacks in ((1, old), (2, new)):
        rows = [blocks(s) for s in stacks]
        db.executemany(f"INSERT INTO snapshot_traces VALUES ({sid}, ?, ?, ?)", rows)
        db.execute("UPDATE snapshots SET traced_bytes = ?, traced_blocks = ? WHERE id = ?",
                   (sum(r[1] for r in rows), sum(r[2] for r in rows), sid))
    db.commit()
    db.close()
    return len(nodes), len(frames)


def time_cmd(args, runs):
    """Median wall and CPU (user + system) seconds of runs runs, after one
    run that brings the database into the page cache."""
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", help="directory for the database, kept and reused")
    args = ap.parse_args()
    common.check_binary()

    tmp = args.keep or tempfile.mkdtemp(prefix="pyscope-bench-memory-")
    os.makedirs(tmp, exist_ok=True)
    db = os.path.join(tmp, f"memory-{args.traces}.db")
    try:
        if not os.path.exists(db):
            start = time.perf_counter()
            nnodes, nframes = build(db + ".tmp", args.traces)
            os.replace(db + ".tmp", db)
            print(f"built {db}: 2 snapshots of {args.traces:,} tracebacks, {nnodes:,} stack "
                  f"nodes, {nframes:,} frames, {os.path.getsize(db) / 2**20:.1f} MiB "
                  f"in {time.perf_counter() - start:.1f} s")
        cases = [
            ("stats --by lineno", ["stats", db, "2"]),
            ("stats --by filename", ["stats", db, "2", "--by", "filename"]),
            ("stats --by traceback", ["stats", db, "2", "--by", "traceback"]),
            ("stats --cumulative", ["stats", db, "2", "--cumulative"]),
            ("diff --by lineno", ["diff", db, "1", "2"]),
            ("diff --by traceback", ["diff", db, "1", "2", "--by", "traceback"]),
            ("diff --cumulative", ["diff", db, "1", "2", "--cumulative"]),
        ]
        worst = 0.0
        for name, cmd in cases:
            wall, cpu = time_cmd([common.PYSCOPE] + cmd, args.runs)
            worst = max(worst, wall)
            print(f"{name:24s} median {wall * 1000:7.1f} ms, cpu {cpu * 1000:7.1f} ms"
                  "  (budget 1000 ms)")
        print("within budget" if worst <= 1.0 else "OVER BUDGET")
    finally:
        if not args.keep:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
