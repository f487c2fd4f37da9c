"""Call-statistics overhead against cProfile's, measured side by side.

  /usr/bin/python3.11 bench/calls.py [--rounds N]

Budgets (issue: call statistics): on a call-heavy recursive benchmark and
on a loop dominated by builtin calls, the overhead `pyscope profile --calls`
adds is at most 85 % of the overhead cProfile adds, and `--calls=python`'s
at most 50 %, overhead being the ratio to plain python3.11 minus one. Each
round runs plain python, `python3.11 -m cProfile -o FILE` and pyscope with
each option (sampling off) once each, in an order that rotates from round to
round; the figures are medians over rounds of (pyscope - plain) /
(cProfile - plain)."""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

WORKLOADS = [
    ("call-heavy recursion (fib)", "calls_recursive.py", "30"),
    ("loop of builtin calls", "calls_builtins.py", "2000000"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    common.check_binary()
    tmp = tempfile.mkdtemp(prefix="pyscope-bench-")
    try:
        for title, script, arg in WORKLOADS:
            path = os.path.join(common.WORKLOADS, script)
            cmds = {
                "plain": [common.PYTHON, path, arg],
                "cProfile": [common.PYTHON, "-m", "cProfile", "-o",
                             os.path.join(tmp, "run.prof"), path, arg],
                "pyscope": [common.PYSCOPE, "profile", "-q", "--force", "--calls", "--no-sample",
                            "--python", common.PYTHON, "-o", os.path.join(tmp, "run.db"), path,
                            arg],
                "pyscope_py": [common.PYSCOPE, "profile", "-q", "--force", "--calls=python",
                               "--no-sample", "--python", common.PYTHON, "-o",
                               os.path.join(tmp, "run.db"), path, arg],
            }
            times = common.rotating_rounds(cmds, args.rounds, tmp)
            med = {k: statistics.median(v) * 1000 for k, v in times.items()}
            print(f"{title}: rounds={args.rounds} plain {med['plain']:.1f} ms, "
                  f"cProfile {med['cProfile']:.1f} ms ({common.ratio_text(times, 'cProfile')})")
            for key, option, budget in (("pyscope", "--calls", 0.85),
                                        ("pyscope_py", "--calls=python", 0.50)):
                shares = [(s - p) / (c - p) for p, c, s in
                          zip(times["plain"], times["cProfile"], times[key]) if c > p]
                cpu_shares = [(s.cpu - p.cpu) / (c.cpu - p.cpu) for p, c, s in
                              zip(times["plain"], times["cProfile"], times[key])
                              if c.cpu > p.cpu]
                print(f"  pyscope {option}: {med[key]:.1f} ms ({common.ratio_text(times, key)}); "
                      f"its overhead / cProfile's: median {statistics.median(shares):.2f} "
                      f"(min {min(shares):.2f}, max {max(shares):.2f}; budget {budget}), "
                      f"in CPU time {statistics.median(cpu_shares):.2f}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
