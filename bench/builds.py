"""Two builds of pyscope side by side: whether a change costs anything.

  /usr/bin/python3.11 bench/builds.py OLD_PYSCOPE NEW_PYSCOPE [--rounds N] [--only TEXT]

For each workload and recording mode, plain python, the old build and the
new one run in rotating rounds (each round starts one later, so that drift
hits all three alike). Printed: the median wall and process-tree CPU time
of each, each build against plain, and new against old (1.000: no change).
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

# (name, workload and its arguments, pyscope options)
CASES = [
    ("start-up, empty script", ["empty.py"], []),
    ("sampling 1 kHz, cpu", ["cpu.py", "40"], []),
    ("sampling 1 kHz, four threads", ["threads4.py"], []),
    ("--calls, recursion", ["calls_recursive.py"], ["--calls"]),
    ("--calls, builtins", ["calls_builtins.py"], ["--calls"]),
    ("--memory, allocations", ["alloc.py"], ["--memory"]),
    ("--heap, allocations", ["alloc.py"], ["--heap"]),
    ("--native, cpu", ["cpu.py", "40"], ["--native"]),
]


def median_ms(times, cpu=False):
    return statistics.median((t.cpu if cpu else t) for t in times) * 1000


def ratio(a, b, cpu=False):
    pairs = [((x.cpu, y.cpu) if cpu else (x, y)) for x, y in zip(a, b)]
    return statistics.median(x / y for x, y in pairs if y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--only", default="", help="the cases whose name holds this text")
    args = ap.parse_args()
    for binary in (args.old, args.new):
        if not os.access(binary, os.X_OK):
            sys.exit(f"bench: no pyscope binary at {binary}")
    tmp = tempfile.mkdtemp(prefix="pyscope-bench-")
    try:
        print(f"{'':32} {'plain':>9} {'old':>9} {'new':>9}   old/plain new/plain  new/old")
        for name, workload, opts in CASES:
            if args.only not in name:
                continue
            script = [os.path.join(common.WORKLOADS, workload[0])] + workload[1:]
            db = os.path.join(tmp, "run.db")
            cmds = {"plain": [common.PYTHON] + script}
            for side in ("old", "new"):
                cmds[side] = [getattr(args, side), "profile", "-q", "--force", "--python",
                              common.PYTHON, "-o", db] + opts + script
            times = common.rotating_rounds(cmds, args.rounds, tmp)
            for what, cpu in (("wall", False), ("cpu", True)):
                label = f"{name} ({what})"
                print(f"{label:32} {median_ms(times['plain'], cpu):8.1f}m "
                      f"{median_ms(times['old'], cpu):8.1f}m {median_ms(times['new'], cpu):8.1f}m"
                      f"   {ratio(times['old'], times['plain'], cpu):9.3f} "
                      f"{ratio(times['new'], times['plain'], cpu):9.3f} "
                      f"{ratio(times['new'], times['old'], cpu):8.3f}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
