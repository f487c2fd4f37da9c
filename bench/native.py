"""Native-stack sampling overhead, side by side.

  /usr/bin/python3.11 bench/native.py [--pairs N]

Budget (issue: native stacks): `--native` at 1 kHz on a single-threaded
workload at most 1.06x plain python3.11. Each round runs plain python,
pyscope without and with --native, in an order that rotates; the figures
are medians over rounds of the time ratios to plain.

Also measured, without a budget: what --native adds to --memory (every
allocation then takes its native stack too) on the allocation-heavy
workload of bench/memory.py, against --memory alone."""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--scale", type=int, default=60)
    ap.add_argument("--items", type=int, default=300000)
    args = ap.parse_args()
    common.check_binary()
    tmp = tempfile.mkdtemp(prefix="pyscope-bench-")
    try:
        work = os.path.join(common.WORKLOADS, "cpu.py")
        base = [common.PYSCOPE, "profile", "-q", "--force", "--python", common.PYTHON, "-o",
                os.path.join(tmp, "run.db")]
        scale = str(args.scale)
        cmds = {"plain": [common.PYTHON, work, scale], "python stacks": base + [work, scale],
                "--native": base + ["--native", work, scale]}
        times = common.rotating_rounds(cmds, args.pairs, tmp)
        names = list(cmds)
        for k in names[1:]:
            wall, cpu = common.ratios(times, k)
            print(f"{k:14s} median {statistics.median(times[k])*1000:.0f} ms, "
                  f"{wall:.3f}x plain wall, {cpu:.3f}x CPU "
                  f"(plain {statistics.median(times['plain'])*1000:.0f} ms)")
        print("budget: --native <= 1.06x plain wall and <= 1.15x CPU at 1 kHz")

        alloc = os.path.join(common.WORKLOADS, "alloc.py")
        items = str(args.items)
        memory = base + ["--no-sample", "--memory"]
        cmds = {"plain": [common.PYTHON, alloc, items], "--memory": memory + [alloc, items],
                "--memory --native": memory + ["--native", alloc, items]}
        times = common.rotating_rounds(cmds, args.pairs, tmp)
        for k in list(cmds)[1:]:
            print(f"{k:18s} median {statistics.median(times[k])*1000:.0f} ms, "
                  f"{common.ratio_text(times, k)} plain "
                  f"(plain {statistics.median(times['plain'])*1000:.0f} ms, {items} records)")
        both = statistics.median(n / m for n, m in zip(times["--memory --native"],
                                                        times["--memory"]))
        print(f"--memory --native / --memory: {both:.2f}x")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
