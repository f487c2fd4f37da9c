"""How long the report and the exports take, and how large they are, on a
large real run.

  /usr/bin/python3.11 bench/report_speed.py [--seconds S] [--rate HZ] [--runs N] [--keep DIR]

Records bench/workloads/libraries.py (pygments and docutils in four
threads) for S seconds (default 25) at HZ (default 10,000) with --calls and
--memory and a snapshot every S/10 seconds: about 1,000,000 samples and 10
snapshots at the defaults. Then times `report`, `export --format pprof` and
`export --format chrome` on it (the median of --runs runs, wall and CPU
time), gives their sizes, and times the report in headless chromium
(bench/report_load.js): the load until the flame graph is drawn, and a
thread filter until it is drawn again. Budget (issue: results where people
look): report <= 2 s and <= 5 MB, drawn <= 2 s after the load starts;
pprof <= 1 s.

The run is recorded once per invocation in a temporary directory (or in
--keep DIR, reused when it is already there)."""
import argparse
import gzip
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

CHROMIUM = os.environ.get("PYSCOPE_TEST_CHROMIUM") or "/usr/bin/chromium"


def record(db, seconds, rate):
    script = os.path.join(common.WORKLOADS, "libraries.py")
    subprocess.run([common.PYSCOPE, "profile", "-q", "--force", "--python", common.PYTHON,
                    "--rate", str(rate), "--calls", "--memory",
                    "--snapshot-interval", str(seconds / 10), "-o", db, script, str(seconds)],
                   check=True, stdout=subprocess.DEVNULL)


def describe(db):
    c = sqlite3.connect(db)
    one = lambda sql: c.execute(sql).fetchone()[0]  # noqa: E731
    return {"samples": one("SELECT sum(ticks) FROM samples"),
            "sample rows": one("SELECT count(*) FROM samples"),
            "stacks": one("SELECT count(*) FROM stacks"),
            "call rows": one("SELECT count(*) FROM calls"),
            "snapshots": one("SELECT count(*) FROM snapshots"),
            "database MB": round(os.path.getsize(db) / 1e6, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=25)
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep")
    args = ap.parse_args()
    common.check_binary()
    where = args.keep or tempfile.mkdtemp(prefix="pyscope-bench-report-")
    os.makedirs(where, exist_ok=True)
    db = os.path.join(where, "run.db")
    try:
        if not os.path.exists(db):
            record(db, args.seconds, args.rate)
        for k, v in describe(db).items():
            print(f"{k:>14}  {v:,}")
        outs = {"report": (["report", db, "-o"], "report.html"),
                "pprof": (["export", db, "--format", "pprof", "-o"], "run.pb.gz"),
                "chrome": (["export", db, "--format", "chrome", "-o"], "run.trace.json")}
        print(f"\n{'command':>8}  {'wall s':>7}  {'cpu s':>7}  {'size MB':>8}  {'gzip MB':>8}")
        for name, (argv, out) in outs.items():
            path = os.path.join(where, out)
            times = [common.timed([common.PYSCOPE] + argv + [path], where)
                     for _ in range(args.runs)]
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                data = f.read()
            packed = len(data) if data[:2] == b"\x1f\x8b" else len(gzip.compress(data, 6))
            print(f"{name:>8}  {statistics.median(times):7.2f}  "
                  f"{statistics.median(t.cpu for t in times):7.2f}  {size / 1e6:8.2f}  "
                  f"{packed / 1e6:8.2f}")
        if shutil.which("node") and os.access(CHROMIUM, os.X_OK):
            driver = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report_load.js")
            runs = []
            for _ in range(args.runs):
                res = subprocess.run(["node", driver, CHROMIUM, os.path.join(where, "report.html")],
                                     capture_output=True, text=True, check=True)
                runs.append(json.loads(res.stdout))
            errors = [e for r in runs for e in r["errors"]]
            print(f"\nchromium: load {statistics.median(r['loadMs'] for r in runs)} ms, "
                  f"flame graph drawn {statistics.median(r['flameMs'] for r in runs)} ms "
                  f"after the load started, a thread filter "
                  f"{statistics.median(r['filterMs'] for r in runs)} ms; "
                  f"{len(errors)} page errors{': ' + errors[0] if errors else ''}")
    finally:
        if not args.keep:
            shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
