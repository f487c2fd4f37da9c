"""Memory-tracing overhead against tracemalloc's, and the live-block
table's cost per block, measured side by side.

  /usr/bin/python3.11 bench/memory.py [--rounds N]

Budgets (issue: allocation tracking): on an allocation-heavy benchmark,
`pyscope profile --memory` (whole tracebacks, up to 128 frames) takes less
wall time than `python3.11 -X tracemalloc=1`, and the time it adds to plain
python3.11 is at most one fifth of what `-X tracemalloc=25` adds. The
live-block table costs at most 48 bytes per tracked block, measured as the
peak RSS of a program that keeps millions of small blocks alive, against the
same program under plain python. Each round runs every command once, in an
order that rotates from round to round; the figures are medians over rounds."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def peak_rss(cmd, cwd):
    out = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout
    rss_kib, blocks = out.split()
    return int(rss_kib) * 1024, int(blocks)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--items", default="300000")
    args = ap.parse_args()
    common.check_binary()
    tmp = tempfile.mkdtemp(prefix="pyscope-bench-")
    try:
        work = os.path.join(common.WORKLOADS, "alloc.py")
        pyscope = [common.PYSCOPE, "profile", "-q", "--force", "--no-sample", "--memory",
                   "--python", common.PYTHON, "-o", os.path.join(tmp, "run.db")]
        cmds = {
            "plain": [common.PYTHON, work, args.items],
            "tracemalloc=1": [common.PYTHON, "-X", "tracemalloc=1", work, args.items],
            "tracemalloc=25": [common.PYTHON, "-X", "tracemalloc=25", work, args.items],
            "pyscope": pyscope + [work, args.items],
        }
        times = common.rotating_rounds(cmds, args.rounds, tmp)
        names = list(cmds)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(f"allocation-heavy workload ({args.items} records): rounds={args.rounds}")
        for k in names[1:]:
            print(f"  {k:15s} {med[k]:8.1f} ms  {common.ratio_text(times, k)} plain")
        print(f"  {'plain':15s} {med['plain']:8.1f} ms wall, "
              f"{statistics.median(t.cpu for t in times['plain']) * 1000:.1f} ms CPU")
        vs_tm1 = statistics.median(p / t for p, t in zip(times["pyscope"],
                                                          times["tracemalloc=1"]))
        share = statistics.median(
            (p - b) / (t - b) for p, t, b in zip(times["pyscope"], times["tracemalloc=25"],
                                                  times["plain"]))
        print(f"  pyscope --memory / tracemalloc=1 wall time: {vs_tm1:.3f} (budget < 1)")
        print(f"  pyscope's added time / tracemalloc=25's: {share:.3f} (budget <= 0.200)")

        live = os.path.join(common.WORKLOADS, "live_blocks.py")
        per_block = []
        for r in range(3):
            plain_rss, blocks = peak_rss([common.PYTHON, live], tmp)
            traced_rss, _ = peak_rss(pyscope + [live], tmp)
            per_block.append((traced_rss - plain_rss) / blocks)
        print(f"live-block table: {blocks} live blocks, peak RSS "
              f"+{statistics.median(per_block):.1f} bytes per block (budget <= 48)")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
