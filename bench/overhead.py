"""Runtime overhead with every recorder off, and start-up cost.

  /usr/bin/python3.11 bench/overhead.py [--pairs N]

Budgets (issue: runtime): pure-Python CPU benchmark <= 1.01x plain
python3.11 (median of >= 5 pairs); an empty script adds <= 30 ms."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--scale", type=int, default=60)
    args = ap.parse_args()
    common.check_binary()
    cpu = os.path.join(common.WORKLOADS, "cpu.py")
    empty = os.path.join(common.WORKLOADS, "empty.py")
    off = ["--no-sample"]
    plain, traced = common.pairs([common.PYTHON, cpu, str(args.scale)],
                                 off + [cpu, str(args.scale)], args.pairs)
    common.report("cpu workload, recorders off", plain, traced)
    plain, traced = common.pairs([common.PYTHON, empty], off + [empty], max(args.pairs, 20))
    common.report("empty script (start-up), recorders off", plain, traced)
    plain, traced = common.pairs([common.PYTHON, empty], [empty], max(args.pairs, 20))
    common.report("empty script (start-up), sampling on", plain, traced)


if __name__ == "__main__":
    main()
