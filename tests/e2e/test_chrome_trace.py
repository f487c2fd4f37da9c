"""`pyscope export --format chrome`: the run's timeline as a Chrome trace
event file, checked against the database it comes from. At the time of
each sample, the events open on the thread's track are the sample's state
and then its stack, outermost first; the events of a track nest; each
process has its lifetime (with how it ended), its snapshots and its
collections. The speedscope app, which imports Chrome traces, opens the
file too (test_speedscope_app.py)."""
import collections
import json
import os
import shutil
import tempfile
import unittest

import harness
from harness import E2ETestCase, db_rows

# Two threads burn CPU while the main thread waits in join(); the main
# thread collects garbage and takes a snapshot; a forked child burns and
# exits 3.
PROGRAM = '''
import gc, os, threading, time, pyscope

def burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

def work():
    burn(0.2)

def garbage():
    for _ in range(3):
        a = []
        a.append(a)
        del a
        gc.collect()

threads = [threading.Thread(target=work, name=f"burner-{i}") for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
garbage()
kept = [bytes(1000) for _ in range(500)]
pyscope.snapshot("kept")
pid = os.fork()
if pid == 0:
    burn(0.05)
    os._exit(3)
os.waitpid(pid, 0)
'''

TRACK_PROCESS = 0x40000000
TRACK_GC = TRACK_PROCESS + 1


def us(ns):
    """A time of the database (ns) as the file writes it: whole
    microseconds, rounded down."""
    return ns // 1000


class ChromeTrace(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix="pyscope-e2e-chrome-")
        if not os.environ.get("PYSCOPE_TEST_KEEP"):
            cls.addClassCleanup(shutil.rmtree, cls.dir, ignore_errors=True)
        script = os.path.join(cls.dir, "app.py")
        with open(script, "w") as f:
            f.write(PROGRAM)
        cls.db = os.path.join(cls.dir, "run.db")
        res = harness.run_pyscope(["--gc", "--memory", script], cls.db, cwd=cls.dir)
        if res.returncode != 0:
            raise AssertionError(res)
        cls.out = os.path.join(cls.dir, "run.json")
        res = harness.run_viewer(["export", cls.db, "--format", "chrome", "-o", cls.out])
        if res.returncode != 0 or res.stderr:
            raise AssertionError(res)
        with open(cls.out) as f:
            cls.doc = json.load(f)
        cls.events = cls.doc["traceEvents"]

    def tracks(self):
        """The complete events of each (pid, tid), in the order a viewer
        stacks them: by start, the longer first, then as the file has them
        (catapult's tie-break: the parent comes first)."""
        tracks = collections.defaultdict(list)
        for i, e in enumerate(self.events):
            if e["ph"] == "X":
                tracks[(e["pid"], e["tid"])].append((e["ts"], -e["dur"], i, e))
        for key, events in tracks.items():
            tracks[key] = [e for *_, e in sorted(events, key=lambda x: x[:3])]
        return tracks

    def thread_tracks(self):
        """{threads.id: (pid, tid)} as the database gives them."""
        return {t["id"]: (t["pid"], t["os_tid"]) for t in db_rows(
            self.db, "SELECT t.id, p.pid, t.os_tid FROM threads t "
                     "JOIN processes p ON p.id = t.process_id")}

    def test_the_file_is_well_formed(self):
        self.assertEqual(self.doc["otherData"]["producer"], "pyscope")
        phases = collections.Counter(e["ph"] for e in self.events)
        self.assertEqual(set(phases), {"X", "M", "i", "C"})
        for e in self.events:
            self.assertIsInstance(e["pid"], int)
            self.assertIsInstance(e["tid"], int)
            self.assertTrue(0 <= e["pid"] < 2**32 and 0 <= e["tid"] < 2**32, e)
            if e["ph"] != "M":
                self.assertIsInstance(e["ts"], int)
            if e["ph"] == "X":
                self.assertIsInstance(e["dur"], int)
                self.assertGreaterEqual(e["dur"], 0, e)
        # events of one track nest: one that starts inside another ends in
        # it, also with the ends a viewer computes as floating point numbers
        # (speedscope drops an end that comes before a child's)
        for key, events in self.tracks().items():
            open_ends = []
            for e in events:
                start, end = float(e["ts"]), float(e["ts"]) + float(e["dur"])
                while open_ends and open_ends[-1] <= start:
                    open_ends.pop()
                if open_ends:
                    self.assertLessEqual(end, open_ends[-1], (key, e))
                open_ends.append(end)

    def test_each_sample_is_its_state_and_stack(self):
        interval = 10**9 // int(db_rows(self.db, "SELECT value FROM meta "
                                                 "WHERE key = 'sample_rate_hz'")[0]["value"])
        names = {"running": 0, "native": 1, "idle": 2, "gil": 3, "runnable": 4}
        where = self.thread_tracks()
        tracks = self.tracks()
        stacks = {}
        for row in db_rows(self.db, """
                WITH RECURSIVE up(id, node, depth) AS (
                    SELECT id, id, 0 FROM stacks
                    UNION ALL SELECT up.id, s.parent_id, up.depth + 1 FROM up
                    JOIN stacks s ON s.id = up.node WHERE s.parent_id IS NOT NULL)
                SELECT up.id, up.depth, coalesce(f.qualname, f.name) name FROM up
                JOIN stacks s ON s.id = up.node JOIN frames fr ON fr.id = s.frame_id
                JOIN functions f ON f.id = fr.function_id ORDER BY up.id, up.depth DESC"""):
            stacks.setdefault(row["id"], []).append(row["name"])
        samples = db_rows(self.db, "SELECT thread_id, t_ns, ticks, state, stack_id "
                                   "FROM samples ORDER BY thread_id, t_ns")
        self.assertGreater(len(samples), 200)
        by_state = collections.Counter()
        alone = 0
        for s, after in zip(samples, samples[1:] + [None]):
            events = tracks[where[s["thread_id"]]]
            at = [e for e in events if e["ts"] <= us(s["t_ns"]) < e["ts"] + e["dur"]]
            if (not at and after and after["thread_id"] == s["thread_id"]
                    and us(after["t_ns"]) == us(s["t_ns"])):
                alone += 1  # the next sample in the same microsecond: events of no length
                continue
            expected = [s["state"]] + stacks.get(s["stack_id"], [])
            self.assertEqual([names.get(at[0]["name"])] + [e["name"] for e in at[1:]],
                             expected, s)
            self.assertEqual(at[0]["cat"], "state")
            by_state[s["state"]] += s["ticks"]
        self.assertLess(alone, len(samples) / 100)
        # a sample's events last until the next sample of its thread, or for
        # its ticks when the next comes later than one more interval
        for a, b in zip(samples, samples[1:] + [None]):
            events = tracks[where[a["thread_id"]]]
            state = next((e for e in events if e["ts"] <= us(a["t_ns"]) < e["ts"] + e["dur"]),
                         None)
            if not state:
                continue  # one of no length, above
            end = state["ts"] + state["dur"]
            mine = a["t_ns"] + a["ticks"] * interval
            if b and b["thread_id"] == a["thread_id"] and b["t_ns"] - mine <= interval:
                self.assertGreaterEqual(end, us(b["t_ns"]), a)
            else:
                self.assertEqual(end, us(mine), a)
        self.assertGreater(by_state[0], 100)  # the burners
        self.assertGreater(by_state[2], 50)  # the main thread in join()

    def test_threads_and_processes_are_named(self):
        names = {(e["pid"], e["tid"]): e["args"]["name"] for e in self.events
                 if e["ph"] == "M" and e["name"] == "thread_name"}
        threads = db_rows(self.db, "SELECT t.name, t.os_tid, p.pid FROM threads t "
                                   "JOIN processes p ON p.id = t.process_id")
        for t in threads:
            self.assertEqual(names[(t["pid"], t["os_tid"])], t["name"])
        self.assertEqual(sorted(t["name"] for t in threads),
                         ["MainThread", "MainThread", "burner-0", "burner-1"])
        processes = db_rows(self.db, "SELECT pid, argv, started_ns, ended_ns, exit_code "
                                     "FROM processes")
        self.assertEqual(len(processes), 2)
        lives = {e["pid"]: e for e in self.events
                 if e["ph"] == "X" and e["tid"] == TRACK_PROCESS}
        for p in processes:
            self.assertEqual(names[(p["pid"], TRACK_PROCESS)], "process")
            life = lives[p["pid"]]
            self.assertEqual(life["name"], p["argv"])
            self.assertEqual((life["ts"], life["ts"] + life["dur"]),
                             (us(p["started_ns"]), us(p["ended_ns"])))
            self.assertEqual(life["args"]["exit_code"], p["exit_code"])
        self.assertEqual(sorted(p["exit_code"] for p in processes), [0, 3])

    def test_collections_and_snapshots(self):
        main = db_rows(self.db, "SELECT id, pid FROM processes WHERE parent_id IS NULL")[0]
        gcs = db_rows(self.db, "SELECT t_ns, duration_ns, generation FROM gc_collections "
                               "WHERE process_id = ? ORDER BY t_ns", (main["id"],))
        self.assertGreaterEqual(len(gcs), 3)
        shown = [e for e in self.tracks()[(main["pid"], TRACK_GC)]]
        self.assertEqual([(e["name"], e["ts"]) for e in shown],
                         [(f"gc gen {g['generation']}", us(g["t_ns"])) for g in gcs])
        snaps = db_rows(self.db, "SELECT s.id, s.t_ns, s.label, s.traced_bytes, p.pid "
                                 "FROM snapshots s JOIN processes p ON p.id = s.process_id")
        instants = {(e["pid"], e["ts"]): e for e in self.events if e["ph"] == "i"}
        counters = {(e["pid"], e["ts"]): e for e in self.events if e["ph"] == "C"}
        self.assertEqual(len(instants), len(snaps))
        for s in snaps:
            e = instants[(s["pid"], us(s["t_ns"]))]
            self.assertTrue(e["name"].startswith(f"snapshot {s['id']} ("), e)
            self.assertEqual(e["args"]["label"], s["label"])
            self.assertEqual(counters[(s["pid"], us(s["t_ns"]))]["args"]["traced"],
                             s["traced_bytes"])
        self.assertIn("kept", [s["label"] for s in snaps])

    def test_selecting_a_process_and_bad_use(self):
        child = db_rows(self.db, "SELECT pid FROM processes WHERE parent_id IS NOT NULL")[0]["pid"]
        res = harness.run_viewer(["export", self.db, "--format", "chrome",
                                  "--process", str(child)])
        self.assertEqual(res.returncode, 0, res)
        doc = json.loads(res.stdout)
        self.assertEqual({e["pid"] for e in doc["traceEvents"]}, {child})
        res = harness.run_viewer(["export", self.db, "--format", "chrome", "--memory", "1"])
        self.assertEqual(res.returncode, 2, res)
        self.assertEqual(len(res.stderr.strip().splitlines()), 1, res)


if __name__ == "__main__":
    unittest.main()
