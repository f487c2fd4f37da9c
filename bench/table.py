"""The README's overhead table: each recording mode and its stdlib peer on
three workloads, as the larger of two ratios to plain python, wall time and
the CPU time of the whole process tree (program, recorder, children).

  /usr/bin/python3.11 bench/table.py [--rounds N] [--python PATH ...]

Workloads: pure-Python CPU work (bench/workloads/cpu.py), call-heavy
recursion (calls_recursive.py, fib) and allocation churn (alloc.py). Modes:
pyscope's default (sampling at 1 kHz), --calls, --calls=python, --memory,
--native; peers: cProfile and tracemalloc with one frame and with 25. Each
round runs every command of a workload once, in an order that rotates from
round to round; a cell compares the best round of each command. Prints one
markdown table per interpreter."""
import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

WORKLOADS = [
    ("pure-Python CPU", "cpu.py", "40"),
    ("call-heavy (fib)", "calls_recursive.py", "33"),
    ("allocation churn", "alloc.py", "1200000"),
]

MODES = [
    ("sampling (default)", []),
    ("`--calls`", ["--calls"]),
    ("`--calls=python`", ["--calls=python"]),
    ("`--memory`", ["--memory"]),
    ("`--native`", ["--native"]),
]

PEERS = [
    ("cProfile", ["-m", "cProfile", "-o", "{tmp}/run.prof"]),
    ("tracemalloc, 1 frame", ["-X", "tracemalloc=1"]),
    ("tracemalloc, 25 frames", ["-X", "tracemalloc=25"]),
]


def larger(times, key):
    """The larger of the wall and CPU ratios to plain, each of the best
    round of either command: on a shared machine, other work only ever adds
    time to a run, and a median of three rounds still moved by a fifth."""
    wall = min(times[key]) / min(times["plain"])
    cpu = min(t.cpu for t in times[key]) / min(t.cpu for t in times["plain"])
    return max(wall, cpu)


def table(python, rounds, tmp):
    rows = {name: [] for name, _ in MODES + PEERS}
    for _title, script, arg in WORKLOADS:
        path = os.path.join(common.WORKLOADS, script)
        cmds = {"plain": [python, path, arg]}
        for name, opts in MODES:
            cmds[name] = [common.PYSCOPE, "profile", "-q", "--force", "-o",
                          os.path.join(tmp, "run.db")] + opts + ["--python", python, path, arg]
        for name, opts in PEERS:
            cmds[name] = [python] + [o.format(tmp=tmp) for o in opts] + [path, arg]
        times = common.rotating_rounds(cmds, rounds, tmp)
        for name in rows:
            rows[name].append(larger(times, name))
    head = "| | " + " | ".join(t for t, _, _ in WORKLOADS) + " |"
    lines = [head, "|---" * (len(WORKLOADS) + 1) + "|"]
    for name, cells in rows.items():
        who = name if name in dict(PEERS) else f"pyscope {name}"
        lines.append(f"| {who} | " + " | ".join(f"{c:.2f}x" for c in cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--python", action="append",
                    help="an interpreter to measure (again for more); default the bench's")
    args = ap.parse_args()
    common.check_binary()
    tmp = tempfile.mkdtemp(prefix="pyscope-bench-")
    try:
        for python in args.python or [common.PYTHON]:
            print(f"{python} ({args.rounds} rounds; the larger of wall and CPU time, "
                  f"over plain):\n")
            print(table(python, args.rounds, tmp))
            print()
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
