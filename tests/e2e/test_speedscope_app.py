"""End-to-end test of `pyscope export --format speedscope` against the
speedscope app itself: the files pyscope writes are opened in speedscope
(the npm package's built app, pinned in node/package.json) in headless
chromium, through the app's own `#profileURL=` loading, and what the app then
shows is checked against the run's known answer: one profile per thread,
named as pyscope names threads, in the toolbar's profile selector, and the
sandwich view's table of functions with their files, total and self times.
Two files: a run database built here from SQL with exact answers and names
that need escaping (the one of test_viewer_samples.py), and a run recorded by
pyscope of a program with two threads, exported as speedscope's format and as
a Chrome trace (which the app imports too). Two broken files check that the
driver does see the app refuse a file.

Needs node, chromium and the npm packages of tests/e2e/node (scripts/deps.sh
installs all three); skipped when one is missing, unless
PYSCOPE_TEST_REQUIRE_BROWSER=1 (scripts/test.sh sets it, so that CI fails
instead). PYSCOPE_TEST_CHROMIUM names another chromium than
/usr/bin/chromium."""
import json
import os
import shutil
import tempfile
import unittest

import harness
from harness import E2ETestCase
from test_viewer_samples import APP_PY, EVIL, MIXED, SPEEDSCOPE_SCHEMA, build, samples_sql

DRIVER = os.path.join(harness.HERE, "speedscope_app.js")
NODE_MODULES = os.path.join(harness.HERE, "node", "node_modules")
CHROMIUM = os.environ.get("PYSCOPE_TEST_CHROMIUM") or "/usr/bin/chromium"
NODE = shutil.which("node")


def _missing():
    """What the test needs and does not find, as a sentence, or ""."""
    missing = []
    if not NODE:
        missing.append("node (apt-get install nodejs npm)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    for package in ("playwright-core", "speedscope"):
        if not os.path.isfile(os.path.join(NODE_MODULES, package, "package.json")):
            missing.append(f"the npm package {package} (cd tests/e2e/node && npm ci)")
    return "; ".join(missing)


MISSING = _missing()

# Two threads that each burn CPU in a function of their own while the other
# does the same; the main thread then waits in join(), which costs no CPU.
# The worker burns more: the export makes the heaviest thread, the second,
# the one the app opens on, and the driver must step back to the first.
THREADS_PY = """\
import threading
import time


def burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def crunch_in_worker():
    burn(0.35)


def spin_in_main():
    burn(0.15)


worker = threading.Thread(target=crunch_in_worker, name="cruncher")
worker.start()
spin_in_main()
worker.join()
"""


REQUIRED = os.environ.get("PYSCOPE_TEST_REQUIRE_BROWSER") == "1"


@unittest.skipIf(MISSING and not REQUIRED, f"needs {MISSING} (scripts/deps.sh installs them)")
class SpeedscopeApp(E2ETestCase):
    """The files are made, and opened in one browser, once for all tests."""

    @classmethod
    def setUpClass(cls):
        if MISSING:
            raise AssertionError(f"PYSCOPE_TEST_REQUIRE_BROWSER=1 but no {MISSING}")
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix="pyscope-e2e-speedscope-app-")
        if not os.environ.get("PYSCOPE_TEST_KEEP"):
            cls.addClassCleanup(shutil.rmtree, cls.dir, ignore_errors=True)
        files = {}

        # The run with known answers: see test_viewer_samples.MIXED.
        cls.app = os.path.join(cls.dir, "app.py")
        with open(cls.app, "w") as f:
            f.write(APP_PY)
        cls.known_db = os.path.join(cls.dir, "known.db")
        build(cls.known_db, cls.app, samples_sql(MIXED))
        files["known"] = cls.export(cls.known_db, "known.json")

        # A recorded run.
        cls.script = os.path.join(cls.dir, "threads.py")
        with open(cls.script, "w") as f:
            f.write(THREADS_PY)
        cls.recorded_db = os.path.join(cls.dir, "recorded.db")
        res = harness.run_pyscope([cls.script], cls.recorded_db, cwd=cls.dir)
        if res.returncode != 0:
            raise AssertionError(f"pyscope profile failed: {res}")
        files["recorded"] = cls.export(cls.recorded_db, "recorded.json")
        # The same run's timeline as a Chrome trace, which the app imports.
        files["chrome"] = cls.export(cls.recorded_db, "recorded.trace.json", "chrome")

        # Broken files, made from one the app takes: cut short, and with a
        # sample of a frame the file lacks.
        good = {"$schema": SPEEDSCOPE_SCHEMA, "shared": {"frames": [{"name": "f"}]},
                "profiles": [{"type": "sampled", "name": "t", "unit": "none", "startValue": 0,
                              "endValue": 1, "samples": [[0]], "weights": [1]}]}
        files["cut"] = os.path.join(cls.dir, "cut.json")
        with open(files["cut"], "w") as f:
            f.write(json.dumps(good)[:-20])
        good["profiles"][0]["samples"] = [[1]]
        files["bad_frame"] = os.path.join(cls.dir, "bad_frame.json")
        with open(files["bad_frame"], "w") as f:
            json.dump(good, f)

        cls.files = files
        names = list(files)
        # Run as the programs under test are: in a process group of its own,
        # all of it killed on a timeout (chromium included).
        res = harness._run([NODE, DRIVER, CHROMIUM] + [files[n] for n in names], cwd=cls.dir)
        if res.returncode != 0:
            raise AssertionError(f"{DRIVER} exited {res.returncode}:\n"
                                 f"{res.stderr.decode(errors='replace')}")
        cls.reports = dict(zip(names, json.loads(res.stdout)))

    @classmethod
    def export(cls, db, name, form="speedscope"):
        out = os.path.join(cls.dir, name)
        res = harness.run_viewer(["export", db, "--format", form, "-o", out],
                                 cwd=cls.dir)
        if res.returncode != 0 or res.stderr:
            raise AssertionError(f"pyscope export failed: {res}")
        return out

    def loaded(self, name):
        """The report for one file, after checking the app took it without
        a complaint of any kind."""
        report = self.reports[name]
        for key in ("pageErrors", "consoleErrors", "dialogs", "failedRequests", "driverErrors"):
            self.assertEqual(report[key], [], f"{key} while speedscope loaded {name}")
        self.assertFalse(report["failed"], f"speedscope showed its error screen for {name}")
        return report

    @staticmethod
    def table(profile):
        """The sandwich view's rows as {(name, file): (total, self)}."""
        return {(r["name"], r["file"] or ""): (r["total"], r["self"]) for r in profile["rows"]}

    def test_known_run(self):
        report = self.loaded("known")
        self.assertEqual(report["title"], f"{self.known_db} (cpu time) - speedscope")
        main, worker = "MainThread (pid 100, tid 100)", "worker (pid 100, tid 101)"
        self.assertEqual([p["name"] for p in report["profiles"]],
                         [f"{main} (1/2)", f"{worker} (2/2)"])
        for p in report["profiles"]:
            self.assertEqual(p["selector"], [["1", main, "8.00ms"], ["2", worker, "1.50ms"]])
        app = self.app
        self.assertEqual([len(p["rows"]) for p in report["profiles"]], [4, 4])
        # MainThread: a 3 ms, b 1 ms, rec 4 ms (recursing, counted once), all under main.
        self.assertEqual(self.table(report["profiles"][0]), {
            ("main", app): ("8.00ms (100%)", "0.00ns (<0.01%)"),
            ("a", app): ("3.00ms (38%)", "3.00ms (38%)"),
            ("b", app): ("1.00ms (13%)", "1.00ms (13%)"),
            ("rec", app): ("4.00ms (50%)", "4.00ms (50%)"),
        })
        # worker: the name to escape 0.5 ms under main, a 1 ms under [truncated];
        # its samples without CPU time are not there.
        self.assertEqual(self.table(report["profiles"][1]), {
            ("main", app): ("500.00\u00b5s (33%)", "0.00ns (<0.01%)"),
            (EVIL, "/tmp/evil&.py"): ("500.00\u00b5s (33%)", "500.00\u00b5s (33%)"),
            ("[truncated]", ""): ("1.00ms (67%)", "0.00ns (<0.01%)"),
            ("a", app): ("1.00ms (67%)", "1.00ms (67%)"),
        })

    def test_recorded_run(self):
        report = self.loaded("recorded")
        self.assertEqual(report["title"], f"{self.recorded_db} (cpu time) - speedscope")
        threads = harness.db_rows(self.recorded_db,
                                  "SELECT t.name, t.os_tid, p.pid FROM threads t"
                                  " JOIN processes p ON p.id = t.process_id")
        self.assertEqual(sorted(t["name"] for t in threads), ["MainThread", "cruncher"])
        expected = {f"{t['name']} (pid {t['pid']}, tid {t['os_tid']})" for t in threads}
        with open(self.files["recorded"]) as f:
            doc = json.load(f)
        names = [p["name"] for p in doc["profiles"]]
        self.assertEqual(set(names), expected)
        self.assertTrue(names[doc["activeProfileIndex"]].startswith("cruncher "),
                        doc["activeProfileIndex"])
        self.assertEqual([p["name"] for p in report["profiles"]],
                         [f"{n} ({i}/2)" for i, n in enumerate(names, 1)])
        for shown, written in zip(report["profiles"], doc["profiles"]):
            self.assertEqual([row[1] for row in shown["selector"]], names)
            # The app lists exactly the functions the file gives the thread,
            # one row each.
            frames = doc["shared"]["frames"]
            used = {i for stack in written["samples"] for i in stack}
            self.assertEqual(len(shown["rows"]), len(used), written["name"])
            table = self.table(shown)
            self.assertEqual(set(table), {(frames[i]["name"], frames[i].get("file", ""))
                                          for i in used}, written["name"])
            # And each thread's own functions, with time, not the other's.
            if written["name"].startswith("MainThread "):
                own, other = ["<module>", "spin_in_main", "burn"], "crunch_in_worker"
            else:
                own, other = ["crunch_in_worker", "burn"], "spin_in_main"
            for name in own:
                self.assertIn((name, self.script), table)
                self.assertNotEqual(table[(name, self.script)][0], "0.00ns (<0.01%)")
            self.assertNotIn((other, self.script), table)

    def test_chrome_trace(self):
        # speedscope imports a Chrome trace's events per thread: one profile
        # for each thread, named by its process and itself, holding its
        # states and, under them, its functions
        report = self.loaded("chrome")
        rows = harness.db_rows(self.recorded_db,
                               "SELECT t.name, t.os_tid, p.pid, p.argv FROM threads t"
                               " JOIN processes p ON p.id = t.process_id")
        argv, pid = rows[0]["argv"], rows[0]["pid"]
        expected = {f"{argv} (pid {pid}), {t['name']} (tid {t['os_tid']})" for t in rows}
        expected.add(f"{argv} (pid {pid}), process (tid {0x40000000})")
        shown = [p["name"].rsplit(" (", 1)[0] for p in report["profiles"]]
        self.assertEqual(set(shown), expected)
        for profile, name in zip(report["profiles"], shown):
            functions = {r["name"].split(" {", 1)[0]: r["total"] for r in profile["rows"]}
            if name.endswith(" (tid 1073741824)"):
                self.assertEqual(set(functions), {argv})  # the process's lifetime
                continue
            self.assertIn("running", functions, name)
            self.assertIn("burn", functions, name)
            self.assertNotEqual(functions["burn"], "0.00ns (<0.01%)", name)
            other = "crunch_in_worker" if "MainThread" in name else "spin_in_main"
            self.assertNotIn(other, functions, name)

    def test_broken_files_are_refused(self):
        # What the driver reports when the app cannot take a file, so that
        # the tests above would see it: an alert, or the app's error screen.
        cut = self.reports["cut"]
        self.assertEqual(cut["profiles"], [])
        self.assertEqual(len(cut["dialogs"]), 1, cut)
        self.assertIn("Unrecognized format", cut["dialogs"][0])
        bad = self.reports["bad_frame"]
        self.assertEqual(bad["profiles"], [])
        self.assertTrue(bad["failed"], bad)


if __name__ == "__main__":
    unittest.main()
