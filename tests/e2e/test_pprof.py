"""`pyscope export --format pprof` read by the real pprof tool: its -top,
-traces and -raw output agree with `pyscope top` and with the database on
the same run, for CPU and wall time, per thread and per state, and for a
memory snapshot's live bytes.

The tool is built from Debian's sources of it (golang-github-google-pprof-dev)
with Go, by the build (tests/CMakeLists.txt), and named by PYSCOPE_TEST_PPROF.
Where it is missing the tests skip, unless PYSCOPE_TEST_REQUIRE_PPROF=1
(scripts/test.sh sets it, so that CI fails rather than skips)."""
import collections
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness
from harness import E2ETestCase, db_rows

PPROF = os.environ.get("PYSCOPE_TEST_PPROF")
REQUIRED = os.environ.get("PYSCOPE_TEST_REQUIRE_PPROF") == "1"

# Two threads burn CPU while the main thread waits; a third allocates and
# keeps what it made, and takes a snapshot.
PROGRAM = '''
import threading, time, pyscope

def burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

def keep(n):
    return [bytes(1000) for _ in range(n)]

def work():
    burn(0.3)

threads = [threading.Thread(target=work, name=f"burner-{i}") for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
kept = keep(2000)
print(pyscope.snapshot("kept"))
'''


def have_pprof():
    return bool(PPROF) and os.access(PPROF, os.X_OK)


class PprofTool(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not have_pprof():
            if REQUIRED:
                raise AssertionError(f"PYSCOPE_TEST_REQUIRE_PPROF=1 but no pprof tool at {PPROF!r}")
            raise unittest.SkipTest("no pprof tool (PYSCOPE_TEST_PPROF)")
        cls.dir = tempfile.mkdtemp(prefix="pyscope-e2e-pprof-")
        script = os.path.join(cls.dir, "app.py")
        with open(script, "w") as f:
            f.write(PROGRAM)
        cls.db = os.path.join(cls.dir, "run.db")
        res = harness.run_pyscope(["--memory", script], cls.db, cwd=cls.dir)
        if res.returncode != 0:
            raise AssertionError(res)
        cls.snapshot = int(res.stdout)
        cls.pb = os.path.join(cls.dir, "run.pb.gz")
        cls.heap_pb = os.path.join(cls.dir, "heap.pb.gz")
        for extra, out in (([], cls.pb), (["--memory", str(cls.snapshot)], cls.heap_pb)):
            res = harness.run_viewer(["export", cls.db, "--format", "pprof", "-o", out] + extra)
            if res.returncode != 0:
                raise AssertionError(res)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "dir") and not os.environ.get("PYSCOPE_TEST_KEEP"):
            shutil.rmtree(cls.dir, ignore_errors=True)
        super().tearDownClass()

    def pprof(self, *args, profile=None):
        env = dict(os.environ, HOME=self.tmp, PPROF_TMPDIR=self.tmp)
        res = subprocess.run([PPROF] + list(args) + [profile or self.pb], env=env,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(res.returncode, 0, res.stderr)
        return res.stdout

    def top_json(self, *args):
        res = harness.run_viewer(["top", self.db, "--json", "--limit", "0"] + list(args))
        self.assertEqual(res.returncode, 0, res)
        import json
        return json.loads(res.stdout)

    def pprof_top(self, index, *args, profile=None, unit="ns"):
        """pprof -top by function name: {name: (flat, cum)} in ns (bytes)."""
        out = self.pprof("-top", f"-unit={unit}", "-nodefraction=0", "-edgefraction=0",
                         "-nodecount=1000000", f"-sample_index={index}", *args, profile=profile)
        rows = {}
        number = rf"(\d+)(?:{unit})?\s+[\d.]+%"
        for line in out.splitlines():
            m = re.match(rf"^\s*{number}\s+[\d.]+%\s+{number}\s+(.+)$", line)
            if m:
                rows[m.group(3)] = (int(m.group(1)), int(m.group(2)))
        return rows

    def pyscope_top(self, clock, *args):
        """pyscope top by function name, as pprof names them: {name: [self,
        total, functions of that name]} in ns, and the total."""
        data = self.top_json("--clock", clock, *args)
        rows = {}
        for f in data["functions"]:
            row = rows.setdefault(f["qualname"] or f["name"], [0, 0, 0])
            row[0] += f["sampled"]["self_ns"]
            row[1] += f["sampled"]["total_ns"]
            row[2] += 1
        return rows, data["time_ns"]

    def test_top_agrees_with_pyscope_top(self):
        for clock in ("cpu", "wall"):
            ours, total = self.pyscope_top(clock)
            theirs = self.pprof_top(clock)
            self.assertEqual({name: flat for name, (flat, _) in theirs.items() if flat},
                             {name: row[0] for name, row in ours.items() if row[0]}, clock)
            # A sample counts once in a name's cumulative time, however many
            # functions of that name its stack has: compared where pyscope
            # has one function of the name.
            self.assertEqual({name: theirs[name][1] for name, row in ours.items()
                              if row[2] == 1 and row[1]},
                             {name: row[1] for name, row in ours.items()
                              if row[2] == 1 and row[1]}, clock)
            self.assertEqual(sum(flat for flat, _ in theirs.values()), total, clock)
        burn = self.pprof_top("cpu")["burn"]
        self.assertGreater(burn[0], 0.4e9)  # two threads, 0.3 s of CPU each

    def test_threads_slice_as_pyscope_selects_them(self):
        for name in ("burner-0", "burner-1", "MainThread"):
            ours, total = self.pyscope_top("cpu", "--thread", name)
            theirs = self.pprof_top("cpu", f"-tagfocus=thread={name}")
            self.assertEqual(sum(flat for flat, _ in theirs.values()), total, name)

    def test_raw_samples_and_labels(self):
        out = self.pprof("-raw")
        self.assertIn("samples/count cpu/nanoseconds[dflt] wall/nanoseconds", out)
        section = out.split("Samples:", 1)[1].split("Locations", 1)[0]
        sums = collections.Counter()
        by_state = collections.Counter()
        threads = {}
        current = None
        for line in section.splitlines():
            m = re.match(r"^\s*(\d+)\s+(\d+)\s+(\d+): [\d ]+$", line)
            if m:
                current = [int(m.group(i)) for i in (1, 2, 3)]
                sums.update(samples=current[0], cpu=current[1], wall=current[2])
                continue
            for key, value in re.findall(r"(\w+):\[([^\]]*)\]", line):
                if key == "state":
                    by_state[value] += current[0]
                elif key in ("thread", "thread_id", "pid"):
                    threads.setdefault(key, set()).add(value)
        # What top selects (without pyscope's own samples), in each clock.
        wall = self.top_json("--clock", "wall")
        self.assertEqual(sums["samples"], wall["samples"])
        self.assertEqual(sums["wall"], wall["time_ns"])
        self.assertEqual(sums["wall"], wall["samples"] * wall["interval_ns"])
        self.assertEqual(sums["cpu"], self.top_json()["time_ns"])
        expected = {}
        for state in ("running", "native", "idle", "gil", "runnable"):
            n = self.top_json("--clock", "wall", "--state", state)["samples"]
            if n:
                expected[state] = n
        self.assertEqual(dict(by_state), expected)
        self.assertGreater(expected["running"], 500)
        self.assertGreater(expected["idle"], 200)  # the main thread in join()
        db_threads = db_rows(self.db, "SELECT t.name, t.os_tid, p.pid FROM threads t "
                                      "JOIN processes p ON p.id = t.process_id "
                                      "WHERE t.id IN (SELECT DISTINCT thread_id FROM samples)")
        self.assertEqual(threads["thread"], {t["name"] for t in db_threads})
        self.assertEqual(threads["thread_id"], {str(t["os_tid"]) for t in db_threads})
        self.assertEqual(threads["pid"], {str(t["pid"]) for t in db_threads})

    def test_traces_add_up(self):
        out = self.pprof("-traces", "-unit=ns", "-sample_index=cpu")
        total = sum(int(v) for v in re.findall(r"^\s*(\d+)ns\s", out, re.M))
        self.assertEqual(total, self.top_json()["time_ns"])
        # Each trace ends in the thread's outermost frame: <module> for the
        # main thread, Thread._bootstrap for the burners.
        self.assertIn("<module>", out)
        self.assertIn("burn", out)

    def test_snapshot_live_bytes(self):
        rows = db_rows(self.db, "SELECT sum(size) bytes, sum(count) blocks FROM snapshot_traces "
                                "WHERE snapshot_id = ?", (self.snapshot,))[0]
        out = self.pprof("-raw", profile=self.heap_pb)
        self.assertIn("inuse_objects/count inuse_space/bytes[dflt]", out)
        section = out.split("Samples:", 1)[1].split("Locations", 1)[0]
        values = [tuple(map(int, m)) for m in re.findall(r"^\s*(\d+)\s+(\d+): ", section, re.M)]
        self.assertEqual(sum(v[0] for v in values), rows["blocks"])
        self.assertEqual(sum(v[1] for v in values), rows["bytes"])
        top = self.pprof_top("inuse_space", profile=self.heap_pb, unit="B")
        # 3.12 runs a comprehension in its function's frame (PEP 709)
        kept = sum(top.get(name, (0, 0))[0] for name in ("keep", "keep.<locals>.<listcomp>"))
        self.assertGreaterEqual(kept, 2000 * 1000)
        self.assertEqual(sum(flat for flat, _ in top.values()), rows["bytes"])


if __name__ == "__main__":
    unittest.main()
