"""Shared helpers for the benchmarks: paths, timing pairs, medians.

Every figure is a ratio or a difference measured side by side in one run:
the runs of a pair alternate so that machine noise hits both alike."""
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.environ.get("PYSCOPE_BENCH_PYTHON", "/usr/bin/python3.11")
PYSCOPE = os.environ.get("PYSCOPE_BIN", os.path.join(ROOT, "build", "pyscope"))
WORKLOADS = os.path.join(ROOT, "bench", "workloads")


def check_binary():
    if not os.access(PYSCOPE, os.X_OK):
        sys.exit(f"bench: no pyscope binary at {PYSCOPE}; build first or set PYSCOPE_BIN")


def empty_run_db(path):
    """A database at path with pyscope's own schema and no rows: a run of
    nothing, recorded and emptied."""
    subprocess.run([PYSCOPE, "profile", "-q", "--force", "--no-sample", "--python", PYTHON,
                    "-o", path, "-c", "pass"], check=True)
    db = sqlite3.connect(path)
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        db.execute(f'DELETE FROM "{table}"')
    db.commit()
    db.close()


class Timing(float):
    """A run's wall time in seconds, with .cpu: the CPU time (user and
    system) of its whole process tree, every process it waited for."""
    cpu = 0.0


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, cwd):
    cpu0 = _children_cpu()
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    t = Timing(time.perf_counter() - start)
    t.cpu = _children_cpu() - cpu0
    return t


def rotating_rounds(cmds, rounds, cwd):
    """Run every command of the dict cmds once per round, starting each round
    one command later, so that drift hits all alike; the times per name."""
    times = {k: [] for k in cmds}
    names = list(cmds)
    for r in range(rounds):
        k0 = r % len(names)
        for k in names[k0:] + names[:k0]:
            times[k].append(timed(cmds[k], cwd))
    return times


def ratios(times, key, base="plain"):
    """The medians over rounds of times[key] / times[base]: wall time and the
    CPU time of the whole process tree (program, recorder, children)."""
    wall = statistics.median(t / b for t, b in zip(times[key], times[base]))
    cpu = statistics.median(t.cpu / b.cpu for t, b in zip(times[key], times[base]) if b.cpu)
    return wall, cpu


def ratio_text(times, key, base="plain"):
    """'1.23x wall, 1.31x CPU' for times[key] against times[base]."""
    wall, cpu = ratios(times, key, base)
    return f"{wall:.2f}x wall, {cpu:.2f}x CPU"


def pairs(plain_cmd, pyscope_args, n):
    """Run plain and pyscope alternately n times; return the two time lists."""
    tmp = tempfile.mkdtemp(prefix="pyscope-bench-")
    plain, traced = [], []
    try:
        for i in range(n):
            db = os.path.join(tmp, f"run{i}.db")
            cmd = [PYSCOPE, "profile", "-q", "--python", PYTHON, "-o", db] + pyscope_args
            if i % 2:
                traced.append(timed(cmd, tmp))
                plain.append(timed(plain_cmd, tmp))
            else:
                plain.append(timed(plain_cmd, tmp))
                traced.append(timed(cmd, tmp))
    finally:
        shutil.rmtree(tmp)
    return plain, traced


def report(name, plain, traced):
    """Print the median of the pairs' ratios (the budgets' figure) and, as a
    check on noise, the ratio of the fastest run of each side: noise only
    ever slows a run down."""
    ratios = [t / p for p, t in zip(plain, traced)]
    diffs = [(t - p) * 1000 for p, t in zip(plain, traced)]
    print(f"{name}: pairs={len(ratios)} plain median={statistics.median(plain)*1000:.1f} ms "
          f"pyscope median={statistics.median(traced)*1000:.1f} ms "
          f"ratio median={statistics.median(ratios):.3f} "
          f"added median={statistics.median(diffs):.1f} ms "
          f"(fastest of each: {min(traced) / min(plain):.3f})")
    if all(isinstance(t, Timing) for t in plain + traced):
        cpu = [t.cpu / p.cpu for p, t in zip(plain, traced) if p.cpu]
        print(f"{'':{len(name)}}  cpu of the process tree: plain median="
              f"{statistics.median(p.cpu for p in plain)*1000:.1f} ms pyscope median="
              f"{statistics.median(t.cpu for t in traced)*1000:.1f} ms"
              + (f" ratio median={statistics.median(cpu):.3f}" if cpu else ""))
    return statistics.median(ratios), statistics.median(diffs)
