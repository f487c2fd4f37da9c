"""The memory tracer's cost on eight shapes of real programs
(bench/workloads/shapes.py), beside tracemalloc's, side by side.

  /usr/bin/python3.11 bench/memory_shapes.py [--rounds N] [--scale S]
                                             [--python PATH] [--shape NAME ...]

Budget (issue: profiling that costs little): `pyscope profile --memory`, at
its default depth and with sampling on as a user runs it, at most 2.5x plain
on every shape, wall time and the CPU time of the whole process tree
(program and recorder); and two threads scale like one: `threads2` (two
threads running `numeric` each) costs what `numeric` costs. Peers in the
same rounds: `-X tracemalloc=1` and `-X tracemalloc=25`. Each round runs
every command of a shape once, in an order that rotates from round to
round; a figure is the median over rounds of the round's ratio to plain."""
import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SHAPES = ["churn", "cache", "cycles", "recursion", "numeric", "cheavy", "split", "threads2"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scale", default="1")
    ap.add_argument("--python", default=common.PYTHON)
    ap.add_argument("--shape", action="append", choices=SHAPES)
    args = ap.parse_args()
    common.check_binary()
    work = os.path.join(common.WORKLOADS, "shapes.py")
    tmp = tempfile.mkdtemp(prefix="pyscope-bench-")
    try:
        print(f"{args.python}, scale {args.scale}, {args.rounds} rounds: "
              "ratio to plain, wall / CPU of the process tree")
        print(f"{'shape':10s} {'plain':>8s}  {'--memory':>12s}  {'tracemalloc=1':>13s}  "
              f"{'tracemalloc=25':>14s}")
        for shape in args.shape or SHAPES:
            run = [work, shape, args.scale]
            cmds = {
                "plain": [args.python] + run,
                "memory": [common.PYSCOPE, "profile", "-q", "--force", "--memory", "--python",
                           args.python, "-o", os.path.join(tmp, "run.db")] + run,
                "tm1": [args.python, "-X", "tracemalloc=1"] + run,
                "tm25": [args.python, "-X", "tracemalloc=25"] + run,
            }
            times = common.rotating_rounds(cmds, args.rounds, tmp)
            cells = []
            for k in ("memory", "tm1", "tm25"):
                wall, cpu = common.ratios(times, k)
                cells.append(f"{wall:.2f} / {cpu:.2f}")
            plain = sorted(times["plain"])[len(times["plain"]) // 2] * 1000
            print(f"{shape:10s} {plain:6.0f}ms  {cells[0]:>12s}  {cells[1]:>13s}  {cells[2]:>14s}",
                  flush=True)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
