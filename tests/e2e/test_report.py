"""`pyscope report`: the HTML page opened from disk in headless chromium
(report_page.js works every tab and control), and what it shows checked
against the commands' numbers for the same run: the flame graph's total
per clock, thread and state against `pyscope top`, its search against a
function's total, the first hot line against `pyscope hot`, the call
statistics against `top`'s. A function named `</script>` is shown as its
name and cannot end the page's script.

Needs Debian's chromium and the npm packages of tests/e2e/node, as
test_speedscope_app.py does; skips without them unless
PYSCOPE_TEST_REQUIRE_BROWSER=1."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import harness
from harness import E2ETestCase

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = shutil.which("chromium")
NODE = shutil.which("node")
MODULES = os.path.join(HERE, "node", "node_modules", "playwright-core")
REQUIRED = os.environ.get("PYSCOPE_TEST_REQUIRE_BROWSER") == "1"

# Two threads burn CPU while the main thread waits, then calls a function
# whose name would end a <script> element, then keeps 3 MB between two
# snapshots.
PROGRAM = '''
import threading, time, pyscope

def burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

def work():
    burn(0.25)

def evil():
    burn(0.05)

evil.__code__ = evil.__code__.replace(co_name="</script>", co_qualname="</script><b>x")
threads = [threading.Thread(target=work, name=f"burner-{i}") for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
evil()
pyscope.snapshot("before")
kept = [bytes(1000) for _ in range(3000)]
pyscope.snapshot("after")
'''


class Report(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        missing = [what for what, have in (("chromium", CHROMIUM), ("node", NODE),
                                           ("playwright-core", os.path.isdir(MODULES))) if not have]
        if missing:
            if REQUIRED:
                raise AssertionError(f"PYSCOPE_TEST_REQUIRE_BROWSER=1 but no {', '.join(missing)}")
            raise unittest.SkipTest(f"no {', '.join(missing)}")
        cls.dir = tempfile.mkdtemp(prefix="pyscope-e2e-report-")
        script = os.path.join(cls.dir, "app.py")
        with open(script, "w") as f:
            f.write(PROGRAM)
        cls.db = os.path.join(cls.dir, "run.db")
        res = harness.run_pyscope(["--calls", "--memory", script], cls.db, cwd=cls.dir)
        if res.returncode != 0:
            raise AssertionError(res)
        cls.html = os.path.join(cls.dir, "report.html")
        res = harness.run_viewer(["report", cls.db, "-o", cls.html])
        if res.returncode != 0:
            raise AssertionError(res)
        shots = os.environ.get("PYSCOPE_TEST_REPORT_SHOTS")
        page = subprocess.run([NODE, os.path.join(HERE, "report_page.js"), CHROMIUM, cls.html]
                              + ([shots] if shots else []),
                              capture_output=True, text=True, timeout=180)
        if page.returncode != 0:
            raise AssertionError(page.stderr)
        cls.page = json.loads(page.stdout)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "dir") and not os.environ.get("PYSCOPE_TEST_KEEP"):
            shutil.rmtree(cls.dir, ignore_errors=True)
        super().tearDownClass()

    def viewer_json(self, *args):
        res = harness.run_viewer(list(args[:1]) + [self.db, "--json", "--limit", "0"]
                                 + list(args[1:]))
        self.assertEqual(res.returncode, 0, res)
        return json.loads(res.stdout)

    def test_loads_clean_and_self_contained(self):
        self.assertEqual(self.page["pageErrors"], [])
        self.assertEqual(self.page["consoleErrors"], [])
        self.assertEqual(self.page["requests"], [])  # nothing but the file itself
        self.assertIn("app.py", self.page["title"])
        with open(self.html, encoding="utf-8") as f:
            text = f.read()
        # the data element's end and the script's, nothing the program named
        self.assertEqual(text.count("</script>"), 2)
        self.assertNotIn('src="http', text)

    def test_every_tab_renders(self):
        steps = self.page["steps"]
        for tab in ("summary", "flame", "lines", "calls", "timeline", "memory"):
            self.assertTrue(steps[tab]["visible"], tab)
            self.assertTrue(steps[tab]["text"].strip(), tab)
        facts = dict(steps["summaryFacts"])
        self.assertIn("app.py", facts["program"])
        self.assertEqual(facts["ended"], "exit 0")
        self.assertIn("burner-0", steps["summary"]["text"])

    def test_flame_graph_agrees_with_top(self):
        steps = self.page["steps"]
        top = self.viewer_json("top")
        self.assertEqual(steps["flameAll"]["weight"], top["time_ns"])
        self.assertEqual(steps["flameAll"]["samples"], top["samples"])
        self.assertIn("burn", steps["flameAll"]["names"])
        self.assertIn("</script><b>x", steps["flameAll"]["names"])  # as text
        for thread in steps["byThread"]:
            want = self.viewer_json("top", "--thread", thread["value"])
            self.assertEqual(thread["state"]["weight"], want["time_ns"], thread["label"])
        # the two burners used the most CPU
        heaviest = sorted(steps["byThread"], key=lambda t: -t["state"]["weight"])[:2]
        self.assertEqual({t["label"].split(" ")[0] for t in heaviest}, {"burner-0", "burner-1"})
        wall = self.viewer_json("top", "--clock", "wall")
        self.assertEqual(steps["wall"]["weight"], wall["time_ns"])
        busy = self.viewer_json("top", "--clock", "wall", "--state", "running,native,gil,runnable")
        self.assertEqual(steps["wallNotIdle"]["weight"], busy["time_ns"])
        self.assertLess(steps["wallNotIdle"]["weight"], steps["wall"]["weight"])

    def test_zoom_and_search_change_what_is_shown(self):
        steps = self.page["steps"]
        self.assertTrue(steps["zoomed"]["zoom"])
        self.assertIn("zoomed to", steps["zoomed"]["text"])
        self.assertNotEqual(steps["zoomed"]["top"], steps["flameAll"]["top"])
        self.assertEqual(steps["unzoomed"]["zoom"], "")
        self.assertEqual(steps["unzoomed"]["nodes"], steps["flameAll"]["nodes"])
        burn = next(f for f in self.viewer_json("top")["functions"] if f["qualname"] == "burn")
        self.assertEqual(steps["search"]["matched"], burn["sampled"]["total_ns"])
        self.assertIn("burn", steps["search"]["matches"])

    def test_time_order_shows_each_thread_from_its_start(self):
        steps = self.page["steps"]
        by_label = {t["label"].split(" ")[0]: t["state"] for t in steps["timeOrder"]}
        for name in ("burner-0", "burner-1"):
            self.assertGreater(by_label[name]["nodes"], 0, name)
            self.assertIn("burn", by_label[name]["names"], name)
            # a thread's outermost frame is where threading starts it
            self.assertIn("Thread._bootstrap", by_label[name]["rootNames"], name)
        self.assertIn("<module>", by_label["MainThread"]["rootNames"])
        self.assertTrue(steps["timeZoomed"]["zoom"])
        self.assertIn("zoomed", steps["timeZoomed"]["text"])

    def test_hot_lines_agree_with_hot(self):
        rows = self.page["steps"]["lineRows"]
        hot = self.viewer_json("hot")["lines"]
        # every row shown, ties included: the page ranks as hot does
        self.assertEqual([(r["name"], r["line"], r["self"]) for r in rows],
                         [(h["function"], h["line"], h["self_ns"]) for h in hot[:len(rows)]])
        self.assertIn("time.thread_time() < end", " ".join(c for r in rows for c in r["cells"]))

    def test_call_statistics_agree_with_top(self):
        steps = self.page["steps"]
        calls = dict(steps["callRows"])
        top = {f["qualname"]: f["called"] for f in self.viewer_json("top")["functions"]
               if f.get("called")}
        self.assertEqual(calls["burn"], top["burn"]["ncalls"])
        self.assertEqual(calls["burn"], 3)
        self.assertIn("</script><b>x", calls)
        self.assertIn("called by", steps["callsDetail"])

    def test_timeline_has_every_sample_of_each_thread(self):
        rows = self.page["steps"]["timelineRows"]
        ticks = {r["thread_id"]: r["n"] for r in harness.db_rows(
            self.db, "SELECT thread_id, sum(ticks) n FROM samples GROUP BY thread_id")}
        self.assertEqual({r["thread"]: r["ticks"] for r in rows if r["thread"] is not None}, ticks)
        burners = [r for r in rows if r["label"].startswith("burner-")]
        self.assertEqual(len(burners), 2)
        for r in burners:
            self.assertIn("running", r["states"])
        main = next(r for r in rows if r["label"].startswith("MainThread"))
        self.assertIn("idle", main["states"])  # in join()
        labels = [r["label"] for r in rows]
        self.assertTrue(any(l.startswith("snapshots (") for l in labels), labels)
        self.assertIn("processes", labels)

    def test_memory_agrees_with_stats_and_diff(self):
        steps = self.page["steps"]
        snaps = self.viewer_json("snapshots")["snapshots"]
        self.assertEqual(steps["memFlame"]["points"], len(snaps))
        self.assertEqual(sorted(steps["memFlame"]["snaps"]), sorted(str(s["id"]) for s in snaps))
        shown = int(steps["memFlame"]["snap"])  # the peak's, at first
        self.assertEqual(next(s for s in snaps if s["id"] == shown)["trigger"], "peak")
        live = harness.db_rows(self.db, "SELECT sum(size) size, sum(count) n FROM snapshot_traces "
                                        "WHERE snapshot_id = ?", (shown,))[0]
        self.assertEqual((steps["memFlame"]["weight"], steps["memFlame"]["samples"]),
                         (live["size"], live["n"]))

        def key(stat):
            f = stat["frames"][0]
            return f"{f['filename']}:{f['line']}" + (f" ({f['function']})" if f["function"] else "")
        stats = self.viewer_json("stats", str(shown))["stats"]
        # the rows shown (the first 20) in stats' order, ties in size and
        # count broken by the traceback as tracemalloc breaks them
        self.assertEqual([(r["key"], r["size"]) for r in steps["memLine"]],
                         [(key(r), r["size"]) for r in stats[:20]])
        res = harness.run_viewer(["diff", self.db, steps["memBase"], str(shown), "--json",
                                  "--limit", "20"])
        self.assertEqual(res.returncode, 0, res)
        diff = json.loads(res.stdout)["stats"]
        self.assertEqual([(r["key"], r["sizeDiff"]) for r in steps["memDiff"]],
                         [(key(r), r["size_diff"]) for r in diff[:20]])
        # by traceback: the rows are the page's lists of both snapshots,
        # each made from what changed since its process's snapshot before
        res = harness.run_viewer(["diff", self.db, steps["memBase"], str(shown), "--json",
                                  "--by", "traceback", "--limit", "20"])
        self.assertEqual(res.returncode, 0, res)
        diff = json.loads(res.stdout)["stats"]

        def tb_key(stat):
            return ("[truncated] > " if stat["truncated"] else "") + " > ".join(
                key({"frames": [f]}) for f in stat["frames"])
        self.assertEqual([(r["key"], r["sizeDiff"]) for r in steps["memDiffTb"]],
                         [(tb_key(r), r["size_diff"]) for r in diff[:20]])


CYCLES = '''
import gc, pyscope

class Pair:
    pass

def make(n):
    for _ in range(n):
        a, b = Pair(), Pair()
        a.other, b.other = b, a

gc.disable()
make(500)
pyscope.snapshot("cycles")
make(700)
pyscope.snapshot("more cycles")
'''


class HeapReport(E2ETestCase):
    def test_garbage_cycles_and_their_growth(self):
        if not (CHROMIUM and NODE and os.path.isdir(MODULES)):
            if REQUIRED:
                raise AssertionError("PYSCOPE_TEST_REQUIRE_BROWSER=1 but no browser")
            self.skipTest("no browser")
        script = os.path.join(self.tmp, "cycles.py")
        with open(script, "w") as f:
            f.write(CYCLES)
        db, html = os.path.join(self.tmp, "run.db"), os.path.join(self.tmp, "report.html")
        res = harness.run_pyscope(["--heap", script], db, cwd=self.tmp)
        self.assertEqual(res.returncode, 0, res)
        res = harness.run_viewer(["report", db, "-o", html])
        self.assertEqual(res.returncode, 0, res)
        page = subprocess.run([NODE, os.path.join(HERE, "report_page.js"), CHROMIUM, html],
                              capture_output=True, text=True, timeout=180)
        self.assertEqual(page.returncode, 0, page.stderr)
        out = json.loads(page.stdout)
        self.assertEqual((out["pageErrors"], out["consoleErrors"]), ([], []))
        res = harness.run_viewer(["cycles", db, "--json"])
        self.assertEqual(res.returncode, 0, res)
        group = json.loads(res.stdout)["groups"][0]
        self.assertGreaterEqual(group["cycles"], 1200)
        text = out["steps"]["summary"]["text"]
        self.assertIn("Garbage cycles", text)
        self.assertIn(f"{group['cycles']:,}\t{group['objects']:,}", text)
        self.assertIn("__main__.Pair", text)
        # the Cycles tab: the last graph's groups as cycles --json has them,
        # and their growth as cycles --growth --json
        groups = json.loads(res.stdout)["groups"]
        self.assertTrue(out["steps"]["cycles"]["visible"])
        self.assertEqual(out["steps"]["cycleGroups"], [g["cycles"] for g in groups])
        self.assertGreaterEqual(groups[0]["cycles"], 1200)
        res = harness.run_viewer(["cycles", db, "--growth", "--json"])
        self.assertEqual(res.returncode, 0, res)
        growth = json.loads(res.stdout)["groups"]
        self.assertEqual(out["steps"]["cycleGrowth"],
                         [["true" if g["grows"] else "false", " -> ".join(f"{c:,}" for c in g["cycles"])]
                          for g in growth])
        self.assertEqual(out["steps"]["cycleGrowth"][0][0], "true")


# A parent keeps 2,000 lists and forks three children; each keeps some of
# its own and snapshots twice, as the parent does.
FORKS = '''
import os, pyscope

def keep(n, size):
    return [bytes(size) for _ in range(n)]

kept = keep(2000, 100)
pyscope.snapshot("parent")
for k in range(3):
    if os.fork() == 0:
        mine = keep(300 * (k + 1), 50)
        pyscope.snapshot(f"child {k}")
        mine += keep(100, 70)
        pyscope.snapshot(f"child {k} more")
        os._exit(0)
    os.wait()
kept += keep(500, 30)
pyscope.snapshot("parent more")
'''


class MemoryData(E2ETestCase):
    """The page's memory data, decoded as the page decodes it (each list
    from what changed since its base), against `pyscope stats` for every
    snapshot of every process."""

    @staticmethod
    def page_data(html):
        with open(html) as f:
            s = f.read()
        start = s.index(">", s.index('type="application/json"')) + 1
        return json.loads(s[start:s.index("</script>", start)])

    @staticmethod
    def decode(part, snap, done):
        if snap in done:
            return done[snap]
        e = part[snap]
        rows = {} if e["base"] is None else {
            r[0]: r for r in MemoryData.decode(part, str(e["base"]), done)}
        for k in e["gone"]:
            del rows[k]
        for r in e["rows"]:
            rows[r[0]] = r
        done[snap] = list(rows.values())
        return done[snap]

    def test_every_snapshot_of_every_process(self):
        script = os.path.join(self.tmp, "forks.py")
        with open(script, "w") as f:
            f.write(FORKS)
        db, html = os.path.join(self.tmp, "run.db"), os.path.join(self.tmp, "report.html")
        res = harness.run_pyscope(["--no-sample", "--memory", script], db, cwd=self.tmp)
        self.assertEqual(res.returncode, 0, res)
        res = harness.run_viewer(["report", db, "-o", html])
        self.assertEqual(res.returncode, 0, res)
        data = self.page_data(html)
        memory = data["memory"]
        snaps = memory["snapshots"]
        self.assertEqual(len({s["pid"] for s in snaps}), 4)
        done = {}
        for snap in snaps:
            sid = str(snap["id"])
            rows = self.decode(memory["by_line"], sid, done)
            page = sorted((data["mframes"][k][0], data["mframes"][k][1], size, count)
                          for k, size, count in rows)
            res = harness.run_viewer(["stats", db, sid, "--by", "lineno", "--json",
                                      "--limit", "0"])
            self.assertEqual(res.returncode, 0, res)
            stats = sorted((r["frames"][0]["filename"], r["frames"][0]["line"], r["size"],
                            r["count"]) for r in json.loads(res.stdout)["stats"])
            self.assertEqual(page, stats, snap)
        # a child's first snapshot is written against its family's, not whole
        first = {}
        for snap in snaps:
            first.setdefault(snap["pid"], snap)
        parent = snaps[0]["pid"]
        for pid, snap in first.items():
            if pid != parent:
                self.assertIsNotNone(memory["by_line"][str(snap["id"])]["base"], snap)


if __name__ == "__main__":
    unittest.main()
