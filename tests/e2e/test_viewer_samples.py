"""End-to-end tests of the sampling-profile viewer: `pyscope top`, `hot`,
`flamegraph` and `export` on run databases built here from SQL text with
known answers (a 3:1 split, cpu against wall, recursion counted once, names
that need escaping), their outputs checked structurally: the SVG parses as
XML and its script behaves (when node is installed), the speedscope file
passes a validator of speedscope's published file-format schema, folded
counts add up. Also the errors: unknown options, bad databases, missing
threads, unwritable outputs."""
import json
import math
import os
import shutil
import sqlite3
import stat
import subprocess
import unittest
import xml.etree.ElementTree as ET

import harness
from harness import E2ETestCase

SVG_NS = "{http://www.w3.org/2000/svg}"
FG_NS = "{urn:pyscope:flamegraph}"
SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"

APP_PY = """\
def main():
    while True:
        a()
        b()

def a():
    x = 1
    return [i * i for i in range(10 ** 6)]

def b():
    y = 2
    return sum(range(10 ** 5))

def rec(n):
    if n:
        return rec(n - 1)
    return 0
"""

EVIL = '<script>&"x"'


def build(path, app, sql):
    """A run database at path: two threads of pid 100, functions of the file
    app (main, a, b, rec) and one called <script>&"x"; then sql."""
    harness.empty_run_db(path)
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO meta VALUES (?, ?)",
                   [("cwd", os.path.dirname(app)), ("argv", "app.py")])
    db.execute("INSERT INTO processes (id, pid, started_ns) VALUES (1, 100, 0)")
    db.executemany("INSERT INTO threads (id, process_id, os_tid, name, is_main, started_ns)"
                   " VALUES (?, 1, ?, ?, ?, 0)",
                   [(1, 100, "MainThread", 1), (2, 101, "worker", 0)])
    db.executemany("INSERT INTO functions VALUES (?, ?, ?, ?, ?, ?)", [
        (1, "python", app, "main", "main", 1),
        (2, "python", app, "a", "a", 6),
        (3, "python", app, "b", "b", 10),
        (4, "python", app, "rec", "rec", 14),
        (5, "python", "/tmp/evil&.py", EVIL, EVIL, 1),
        (6, "python", None, "[truncated]", None, None),
    ])
    # main@3 (calls a), main@4 (calls b), a@8, b@12, rec@16, rec@17, evil@2
    db.executemany("INSERT INTO frames VALUES (?, ?, ?)", [
        (1, 1, 3), (2, 1, 4), (3, 2, 8), (4, 3, 12), (5, 4, 16), (6, 4, 17), (7, 5, 2),
        (8, 6, None)])
    # 1 main@3  2 main@3>a@8  3 main@4  4 main@4>b@12  5 main@3>rec@16
    # 6 ..>rec@16>rec@16  7 ..>rec@16>rec@16>rec@17  8 main@3>evil  9 [truncated]  10 [tr]>a
    db.executemany("INSERT INTO stacks VALUES (?, ?, ?)", [
        (1, None, 1), (2, 1, 3), (3, None, 2), (4, 3, 4), (5, 1, 5), (6, 5, 5), (7, 6, 6),
        (8, 1, 7), (9, None, 8), (10, 9, 3)])
    db.executescript(sql)
    db.commit()
    db.close()


def samples_sql(rows):
    """INSERT for (thread, stack, cpu_ns, state) rows, 1 ms apart per thread."""
    t = {}
    values = []
    for thread, stack, cpu, state in rows:
        t[thread] = t.get(thread, 0) + 1_000_000
        values.append(f"({thread}, {'NULL' if stack is None else stack}, {t[thread]}, {cpu},"
                      f" {state})")
    return ("INSERT INTO samples (thread_id, stack_id, t_ns, cpu_ns, state) VALUES "
            + ", ".join(values) + ";")


# a three times as often as b, all running; one stack that recursed; a name to escape.
SPLIT = [(1, 2, 1_000_000, 0)] * 3 + [(1, 4, 1_000_000, 0)]
MIXED = (SPLIT + [(1, 7, 2_000_000, 0), (1, 7, 2_000_000, 0), (2, 8, 500_000, 0),
                  (2, 4, 0, 2), (2, 4, 0, 2), (2, None, 0, 2), (2, 10, 1_000_000, 0)])


def validate_speedscope(test, doc):
    """Check doc against speedscope's file-format schema: required members,
    their types, the enums, frame indices in range, one weight per sample."""
    test.assertIsInstance(doc, dict)
    allowed = {"$schema", "shared", "profiles", "name", "activeProfileIndex", "exporter"}
    test.assertLessEqual(set(doc), allowed)
    test.assertEqual(doc["$schema"], SPEEDSCOPE_SCHEMA)
    test.assertIsInstance(doc["shared"], dict)
    frames = doc["shared"]["frames"]
    test.assertIsInstance(frames, list)
    for fr in frames:
        test.assertIsInstance(fr, dict)
        test.assertLessEqual(set(fr), {"name", "file", "line", "col"})
        test.assertIsInstance(fr["name"], str)
        if "file" in fr:
            test.assertIsInstance(fr["file"], str)
        for key in ("line", "col"):
            if key in fr:
                test.assertIsInstance(fr[key], (int, float))
                test.assertNotIsInstance(fr[key], bool)
    for key, kind in (("name", str), ("exporter", str), ("activeProfileIndex", int)):
        if key in doc:
            test.assertIsInstance(doc[key], kind)
    profiles = doc["profiles"]
    test.assertIsInstance(profiles, list)
    if "activeProfileIndex" in doc and profiles:
        test.assertTrue(0 <= doc["activeProfileIndex"] < len(profiles))
    units = {"none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"}
    for p in profiles:
        test.assertEqual(p["type"], "sampled")
        test.assertLessEqual({"type", "name", "unit", "startValue", "endValue", "samples",
                              "weights"}, set(p))
        test.assertIsInstance(p["name"], str)
        test.assertIn(p["unit"], units)
        for key in ("startValue", "endValue"):
            test.assertIsInstance(p[key], (int, float))
            test.assertTrue(math.isfinite(p[key]))
        test.assertGreaterEqual(p["endValue"], p["startValue"])
        test.assertIsInstance(p["samples"], list)
        test.assertIsInstance(p["weights"], list)
        test.assertEqual(len(p["samples"]), len(p["weights"]))
        for stack in p["samples"]:
            test.assertIsInstance(stack, list)
            test.assertTrue(stack)
            for i in stack:
                test.assertIsInstance(i, int)
                test.assertTrue(0 <= i < len(frames), (i, len(frames)))
        for w in p["weights"]:
            test.assertIsInstance(w, (int, float))
            test.assertGreater(w, 0)
        test.assertLessEqual(sum(p["weights"]), p["endValue"] - p["startValue"])


class ViewerTestCase(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.app = os.path.join(self.tmp, "app.py")
        with open(self.app, "w") as f:
            f.write(APP_PY)

    def run_db(self, rows, name="run.db"):
        path = os.path.join(self.tmp, name)
        build(path, self.app, samples_sql(rows))
        return path

    def pyscope(self, *args):
        return harness.run_viewer(args, cwd=self.tmp)

    def ok(self, *args):
        res = self.pyscope(*args)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertEqual(res.stderr, b"")
        return res.stdout.decode()

    def json(self, *args):
        return json.loads(self.ok(*args, "--json"))

    def assert_refused(self, res, message, status=2):
        self.assertEqual(res.returncode, status, res)
        lines = res.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertIn(message, lines[0])
        self.assertEqual(res.stdout, b"")


class Top(ViewerTestCase):
    def test_three_to_one(self):
        db = self.run_db(SPLIT)
        for clock in ("cpu", "wall"):
            out = self.ok("top", db, "--clock", clock)
            lines = out.splitlines()
            self.assertIn(f"{clock} time of '{db}'", lines[0])
            self.assertIn("4 samples", lines[0])
            rows = [l.split() for l in lines[2:]]
            self.assertEqual(rows[0][:2], ["75.0%", "75.0%"])
            self.assertTrue(lines[2].endswith("app.py:6 (a)"), lines[2])
            self.assertEqual(rows[1][:2], ["25.0%", "25.0%"])
            self.assertTrue(lines[3].endswith("app.py:10 (b)"), lines[3])
            self.assertEqual(rows[2][:2], ["0.0%", "100.0%"])
            doc = self.json("top", db, "--clock", clock)
            fns = {f["qualname"]: f for f in doc["functions"]}
            self.assertEqual(fns["a"]["sampled"]["self_pct"], 75.0)
            self.assertEqual(fns["b"]["sampled"]["self_pct"], 25.0)
            self.assertEqual(fns["main"]["sampled"]["total_pct"], 100.0)
            self.assertEqual(fns["a"]["sampled"]["self_samples"], 3)
            self.assertEqual(fns["a"]["sampled"]["self_ns"], 3_000_000)
            self.assertEqual(doc["interval_ns"], 1_000_000)
            self.assertEqual(doc["samples"], 4)

    def test_cpu_against_wall(self):
        db = self.run_db(MIXED)
        cpu = {f["qualname"]: f["sampled"] for f in self.json("top", db)["functions"]}
        wall = {f["qualname"]: f["sampled"] for f in
                self.json("top", db, "--clock", "wall")["functions"]}
        # b: 1 ms of CPU in 1 sample; 2 more idle samples count for wall only
        self.assertEqual(cpu["b"]["self_samples"], 1)
        self.assertEqual(cpu["b"]["self_ns"], 1_000_000)
        self.assertEqual(wall["b"]["self_samples"], 3)
        self.assertEqual(wall["b"]["self_ns"], 3_000_000)
        self.assertNotIn("[no Python frame]", cpu)
        self.assertEqual(wall["[no Python frame]"]["self_samples"], 1)
        # recursion: rec counted once per sample
        self.assertEqual(wall["rec"]["total_samples"], 2)
        total_cpu = 3 + 1 + 2 + 2 + 0.5 + 1
        # a: 3 ms under main and 1 ms under [truncated]
        self.assertAlmostEqual(cpu["a"]["self_pct"], round(100 * 4 / total_cpu, 2))

    def test_sort_limit_filters(self):
        db = self.run_db(MIXED)
        doc = self.json("top", db, "--clock", "wall", "--sort", "name", "--limit", "3")
        # byte order: '<' before '[' before lower case
        self.assertEqual([f["qualname"] for f in doc["functions"]],
                         [EVIL, "[no Python frame]", "[truncated]"])
        self.assertEqual(doc["count"], 7)
        doc = self.json("top", db, "--sort", "total")
        totals = [f["sampled"]["total_ns"] for f in doc["functions"]]
        self.assertEqual(totals, sorted(totals, reverse=True))
        doc = self.json("top", db, "--thread", "worker", "--clock", "wall")
        self.assertEqual(doc["samples"], 5)
        self.assertEqual(doc["filter"]["thread"], "worker")
        doc = self.json("top", db, "--process", "100", "--function", "b")
        self.assertEqual({f["qualname"] for f in doc["functions"]}, {"main", "b"})
        self.assertEqual(doc["samples"], 1)  # cpu: the idle b samples weigh nothing
        out = self.ok("top", db, "--limit", "2")
        self.assertIn("(showing 2 of 6 functions; --limit 0 shows all)", out)
        self.assertIn("note: 10.5% of the CPU time is in stacks cut at the depth limit", out)

    def test_escaped_in_json_and_text(self):
        db = self.run_db(MIXED)
        raw = self.ok("top", db, "--json")
        self.assertNotIn("<script>", raw)
        self.assertIn("\\u003cscript\\u003e\\u0026\\\"x\\\"", raw)
        self.assertIn(EVIL, self.ok("top", db))

    def test_no_samples(self):
        db = self.run_db([(2, 4, 0, 2)])
        out = self.ok("top", db)
        self.assertIn(": no samples with CPU time (see --clock wall)", out)
        self.assertEqual(len(out.splitlines()), 1)
        doc = self.json("top", db)
        self.assertEqual(doc["functions"], [])
        out = self.ok("top", db, "--function", "nothing", "--clock", "wall")
        self.assertIn("no samples pass the function filter", out)


class Hot(ViewerTestCase):
    def test_lines_with_code(self):
        db = self.run_db(MIXED)
        out = self.ok("hot", db, "--clock", "wall")
        lines = out.splitlines()
        header = lines[1].split()
        self.assertEqual(header, ["self%", "total%", "self", "total", "line", "function", "code"])
        first = lines[2]
        self.assertIn("app.py:8", first)
        self.assertTrue(first.endswith("return [i * i for i in range(10 ** 6)]"), first)
        doc = self.json("hot", db, "--clock", "wall")
        byline = {(l["function"], l["line"]): l for l in doc["lines"]}
        self.assertEqual(byline[("a", 8)]["self_samples"], 4)
        self.assertEqual(byline[("a", 8)]["code"], "return [i * i for i in range(10 ** 6)]")
        self.assertEqual(byline[("b", 12)]["code"], "return sum(range(10 ** 5))")
        # recursion: rec@16 is on the stack twice in each of 2 samples
        self.assertEqual(byline[("rec", 16)]["total_samples"], 2)
        self.assertEqual(byline[("rec", 16)]["self_samples"], 0)
        self.assertEqual(byline[("rec", 17)]["self_samples"], 2)
        self.assertEqual(byline[("main", 3)]["total_samples"], 6)
        self.assertNotIn(("[truncated]", None), byline)
        self.assertEqual(byline[(EVIL, 2)]["code"], None)  # no such file

    def test_function_filter_like_line_profiler(self):
        db = self.run_db(MIXED)
        doc = self.json("hot", db, "--clock", "wall", "--function", "rec")
        self.assertEqual([(l["function"], l["line"]) for l in doc["lines"]],
                         [("rec", 17), ("rec", 16)])
        self.assertEqual(doc["lines"][0]["self_pct"], 100.0)
        self.assertEqual(doc["samples"], 2)
        self.assertEqual(doc["all_samples"], 11)
        out = self.ok("hot", db, "--clock", "wall", "--function", "re?", "--sort", "total")
        self.assertIn("stacks through 're?'", out.splitlines()[0])
        self.assertIn("(18.2% of the samples)", out.splitlines()[0])

    def test_source_unreadable(self):
        db = self.run_db(SPLIT)
        os.unlink(self.app)
        doc = self.json("hot", db)
        self.assertTrue(all(l["code"] is None for l in doc["lines"]))
        self.ok("hot", db)


class Flamegraph(ViewerTestCase):
    def svg(self, db, *args):
        out = os.path.join(self.tmp, "out.svg")
        self.assertEqual(self.ok("flamegraph", db, "-o", out, *args), "")
        with open(out, "rb") as f:
            data = f.read()
        root = ET.fromstring(data)
        return data, root

    def frames(self, root):
        out = []
        for g in root.iter(SVG_NS + "g"):
            if g.get("class") != "f":
                continue
            title = g.find(SVG_NS + "title").text.split("\n")
            rect = g.find(SVG_NS + "rect")
            out.append({"title": title, "x": int(g.get(FG_NS + "x")), "w": int(g.get(FG_NS + "w")),
                        "px": float(rect.get("x")), "pw": float(rect.get("width")),
                        "y": float(rect.get("y")), "text": g.find(SVG_NS + "text").text or ""})
        return out

    def test_svg_structure(self):
        db = self.run_db(MIXED)
        data, root = self.svg(db, "--clock", "wall")
        self.assertEqual(root.tag, SVG_NS + "svg")
        self.assertEqual(len(root.findall(SVG_NS + "script")), 1)
        self.assertEqual(data.count(b"<script"), 1)
        self.assertIn(b"&lt;script&gt;&amp;&quot;x&quot;", data)
        total = int(root.get(FG_NS + "total"))
        self.assertEqual(total, 11)
        frames = self.frames(root)
        names = [f["title"][0] for f in frames]
        self.assertEqual(names[0], "all")
        self.assertIn(EVIL, names)  # unescaped by the XML parser: the name survives intact
        self.assertIn("[truncated]", names)
        self.assertIn("[no Python frame]", names)
        evil = frames[names.index(EVIL)]
        self.assertEqual(evil["title"][1], "/tmp/evil&.py:1")
        self.assertTrue(evil["title"][2].startswith("1 sample, 1.0 ms, 9.09%"))
        width = float(root.get("width"))
        by_y = {}
        for f in frames:
            # pixels follow weights
            self.assertAlmostEqual(f["pw"], f["w"] / total * (width - 20), delta=0.01)
            self.assertAlmostEqual(f["px"], 10 + f["x"] / total * (width - 20), delta=0.01)
            by_y.setdefault(f["y"], []).append((f["x"], f["x"] + f["w"]))
        # no two frames overlap on a level; the root is at the bottom
        for spans in by_y.values():
            spans.sort()
            for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
                self.assertLessEqual(a1, b0)
        self.assertEqual(max(by_y), frames[0]["y"])
        main = [f for f in frames if f["title"][0] == "main"]
        self.assertEqual(sum(f["w"] for f in main), 9)

    def test_by_thread_and_lines(self):
        db = self.run_db(MIXED)
        _, root = self.svg(db, "--clock", "wall", "--by-thread", "--lines", "--title", "T&T")
        names = [f["title"][0] for f in self.frames(root)]
        self.assertIn("MainThread (pid 100, tid 100)", names)
        self.assertIn("worker (pid 100, tid 101)", names)
        self.assertEqual(names.count("main"), 4)  # main@3 and main@4 in each thread
        title = [t for t in root.iter(SVG_NS + "text") if t.get("id") == "title"][0]
        self.assertEqual(title.text, "T&T")

    def test_stdout_and_empty(self):
        db = self.run_db([(2, 4, 0, 2)])
        out = self.ok("flamegraph", db)
        root = ET.fromstring(out)
        self.assertEqual(root.get(FG_NS + "total"), "0")
        self.assertIn(">no samples</text>", out)

    def test_output_refused(self):
        db = self.run_db(SPLIT)
        res = self.pyscope("flamegraph", db, "-o", "/nonexistent/dir/x.svg")
        self.assert_refused(res, "cannot write '/nonexistent/dir/x.svg': No such file or directory")
        res = self.pyscope("flamegraph", db, "-o", self.tmp)
        self.assert_refused(res, f"cannot write '{self.tmp}': Is a directory")
        res = self.pyscope("flamegraph", db, "-o", db)
        self.assert_refused(res, "is the database")
        self.assertEqual(sqlite3.connect(db).execute("select sum(ticks) from samples").fetchone(),
                         (4,))
        if os.geteuid() != 0:
            ro = os.path.join(self.tmp, "ro")
            os.mkdir(ro)
            os.chmod(ro, stat.S_IRUSR | stat.S_IXUSR)
            self.addCleanup(os.chmod, ro, 0o700)
            res = self.pyscope("flamegraph", db, "-o", os.path.join(ro, "x.svg"))
            self.assert_refused(res, "Permission denied")
        # a bad database is named before the output is touched, and no file is left
        bad = os.path.join(self.tmp, "bad.db")
        with open(bad, "w") as f:
            f.write("not a database\n")
        res = self.pyscope("flamegraph", bad, "-o", os.path.join(self.tmp, "new.svg"))
        self.assert_refused(res, "is not a pyscope database")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "new.svg")))
        res = self.pyscope("flamegraph", db, "--thread", "nope", "-o", "new.svg")
        self.assert_refused(res, f"no thread 'nope' in '{db}'")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "new.svg")))

    @unittest.skipUnless(os.geteuid() == 0, "makes a device node: needs root")
    def test_a_failed_write_removes_only_what_it_made(self):
        # A device that refuses every write, as /dev/full: the failed write
        # is one line and status 1, and the node stays (it was removed, and
        # the next run wrote a regular file in its place).
        db = self.run_db(SPLIT)
        full = os.path.join(self.tmp, "full")
        os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        for args in (("export", db, "--format", "folded"), ("flamegraph", db),
                     ("report", db), ("export", db, "--format", "pprof")):
            res = self.pyscope(*args, "-o", full)
            self.assert_refused(res, f"cannot write '{full}': No space left on device", 1)
            self.assertTrue(stat.S_ISCHR(os.lstat(full).st_mode), args)
        # a file made by the run is removed, not left half written
        made = os.path.join(self.tmp, "made.svg")
        self.ok("flamegraph", db, "-o", made)
        self.assertTrue(os.path.exists(made))

    @unittest.skipUnless(shutil.which("node"), "node is not installed")
    def test_script_zoom_and_search(self):
        db = self.run_db(MIXED)
        out = os.path.join(self.tmp, "out.svg")
        self.ok("flamegraph", db, "-o", out, "--clock", "wall")
        frames = self.frames(ET.parse(out).getroot())
        names = [f["title"][0] for f in frames]
        # the a under main (the other one is under [truncated]), main, b, the root
        ia = max((f["w"], i) for i, f in enumerate(frames) if f["title"][0] == "a")[1]
        main_of_a, ib, iall = names.index("main"), names.index("b"), names.index("all")
        itrunc = names.index("[truncated]")
        actions = [{"click": ia}, {"unzoom": True}, {"search": "^b "}, {"search": "ignored"},
                   {"search": "^(a|rec) "}, {"hover": ib}]
        res = subprocess.run(["node", os.path.join(harness.HERE, "flamegraph_dom.js"), out,
                              json.dumps(actions)], capture_output=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        start, zoomed, unzoomed, searched, reset, searched2, hovered = json.loads(res.stdout)
        # zoom into a: a and its ancestors span the width, the rest is hidden
        za = zoomed["frames"]
        self.assertEqual((za[ia]["x"], za[ia]["width"]), (10, 1180))
        self.assertEqual(za[ia]["label"], "a")
        for i in (iall, main_of_a):
            self.assertTrue(za[i]["shown"])
            self.assertEqual((za[i]["x"], za[i]["width"]), (10, 1180))
        self.assertFalse(za[ib]["shown"])
        self.assertFalse(za[itrunc]["shown"])
        self.assertEqual(zoomed["unzoom"], "ctl")
        # reset: every frame back where it was drawn
        for before, after in zip(start["frames"], unzoomed["frames"]):
            self.assertTrue(after["shown"])
            self.assertAlmostEqual(before["x"], after["x"], places=2)
            self.assertAlmostEqual(before["width"], after["width"], places=2)
            self.assertEqual(before["label"], after["label"])
        self.assertEqual(unzoomed["unzoom"], "ctl hide")
        # search (on "name location"): b's frames are 3 of 11 samples
        self.assertEqual(searched["matched"], "Matched: 27.3%")
        self.assertEqual(searched["frames"][ib]["fill"], "rgb(230,0,230)")
        self.assertEqual(searched["search"], "Reset Search")
        self.assertEqual(reset["matched"], " ")  # the second click resets
        self.assertEqual(reset["frames"][ib]["fill"], start["frames"][ib]["fill"])
        # a (3 under main, 1 under [truncated]) and rec (2, nested rec counted once): 6 of 11
        self.assertEqual(searched2["matched"], "Matched: 54.5%")
        self.assertIn("b", hovered["details"])
        self.assertIn("app.py:10", hovered["details"])


class Export(ViewerTestCase):
    def folded(self, db, *args):
        out = self.ok("export", db, "--format", "folded", *args)
        total = 0
        for line in out.splitlines():
            stack, _, count = line.rpartition(" ")
            self.assertTrue(stack)
            self.assertGreater(int(count), 0)
            total += int(count)
        return out, total

    def test_folded(self):
        db = self.run_db(MIXED)
        out, total = self.folded(db, "--clock", "wall")
        self.assertEqual(total, 11)  # the sample count
        self.assertIn("main (app.py:1);a (app.py:6) 3\n", out)
        self.assertIn("main (app.py:1);rec (app.py:14);rec (app.py:14);rec (app.py:14) 2\n", out)
        self.assertIn(f"main (app.py:1);{EVIL} (/tmp/evil&.py:1) 1\n", out)
        self.assertIn("[truncated];a (app.py:6) 1\n", out)
        self.assertIn("[no Python frame] 1\n", out)
        out, total = self.folded(db)
        self.assertEqual(total, 9500)  # CPU microseconds
        out, total = self.folded(db, "--by-thread", "--lines", "--thread", "worker")
        self.assertEqual(total, 1500)
        self.assertIn("worker (pid 100, tid 101);main (app.py:3);", out)

    def test_speedscope(self):
        db = self.run_db(MIXED)
        for clock in ("cpu", "wall"):
            out = os.path.join(self.tmp, f"{clock}.speedscope.json")
            self.assertEqual(self.ok("export", db, "--format", "speedscope", "--clock", clock,
                                     "-o", out), "")
            with open(out, "rb") as f:
                raw = f.read()
            self.assertNotIn(b"<script>", raw)
            doc = json.loads(raw)
            validate_speedscope(self, doc)
            self.assertEqual(doc["exporter"].split()[0], "pyscope")
            profiles = {p["name"]: p for p in doc["profiles"]}
            self.assertEqual(set(profiles), {"MainThread (pid 100, tid 100)",
                                             "worker (pid 100, tid 101)"})
            frames = doc["shared"]["frames"]
            self.assertIn({"name": EVIL, "file": "/tmp/evil&.py", "line": 1}, frames)
            self.assertIn({"name": "[truncated]"}, frames)
            main = profiles["MainThread (pid 100, tid 100)"]
            self.assertEqual(main["unit"], "nanoseconds")
            stacks = {tuple(frames[i]["name"] for i in s): w
                      for s, w in zip(main["samples"], main["weights"])}
            if clock == "cpu":
                self.assertEqual(sum(main["weights"]), 8_000_000)
                self.assertEqual(stacks[("main", "a")], 3_000_000)
            else:
                self.assertEqual(sum(main["weights"]), 6_000_000)  # 6 samples x 1 ms
                self.assertEqual(stacks[("main", "rec", "rec", "rec")], 2_000_000)
            self.assertEqual(doc["activeProfileIndex"], 0)

    def test_speedscope_counts_without_interval(self):
        db = os.path.join(self.tmp, "one.db")
        build(db, self.app, "INSERT INTO samples VALUES (1, 2, 5, 0, 2, 1);")
        doc = json.loads(self.ok("export", db, "--format", "speedscope", "--clock", "wall"))
        validate_speedscope(self, doc)
        self.assertEqual(doc["profiles"][0]["unit"], "none")
        self.assertEqual(doc["profiles"][0]["weights"], [1])

    def test_validator_catches_mistakes(self):
        good = {"$schema": SPEEDSCOPE_SCHEMA, "shared": {"frames": [{"name": "f"}]},
                "profiles": [{"type": "sampled", "name": "t", "unit": "none", "startValue": 0,
                              "endValue": 2, "samples": [[0], [0]], "weights": [1, 1]}]}
        validate_speedscope(self, good)
        for bad in ({"profiles": [{"samples": [[1], [0]]}]},
                    {"profiles": [{"weights": [1]}]},
                    {"profiles": [{"unit": "ticks"}]},
                    {"$schema": "x"}):
            doc = json.loads(json.dumps(good))
            for key, value in bad.items():
                if key == "profiles":
                    doc["profiles"][0].update(value[0])
                else:
                    doc[key] = value
            with self.assertRaises(AssertionError):
                validate_speedscope(self, doc)


class Errors(ViewerTestCase):
    COMMANDS = ("top", "hot", "flamegraph", "export")

    def test_help(self):
        for cmd in self.COMMANDS:
            for args in ((cmd, "--help"), ("help", cmd), (cmd, "x.db", "-h")):
                res = self.pyscope(*args)
                self.assertEqual(res.returncode, 0, args)
                self.assertTrue(res.stdout.startswith(f"usage: pyscope {cmd} ".encode()), res)
        res = self.pyscope("--help")
        for cmd in self.COMMANDS:
            self.assertIn(f"   {cmd} ".encode(), res.stdout)

    def test_bad_arguments(self):
        db = self.run_db(SPLIT)
        for cmd in self.COMMANDS:
            extra = ("--format", "folded") if cmd == "export" else ()
            self.assert_refused(self.pyscope(cmd, db, "--bogus", *extra),
                                f"unknown option '--bogus'; see 'pyscope {cmd} --help'")
            self.assert_refused(self.pyscope(cmd, db, "--clock", "gpu", *extra),
                                "'--clock' is cpu or wall, not 'gpu'")
            self.assert_refused(self.pyscope(cmd, db, "--process", "abc", *extra),
                                "'--process' needs a process id (pid), not 'abc'")
            self.assert_refused(self.pyscope(cmd, db, "--process", "999", *extra),
                                f"no process with pid 999 in '{db}'")
            self.assert_refused(self.pyscope(cmd, db, "--thread", "nope", *extra),
                                f"no thread 'nope' in '{db}'")
            self.assert_refused(self.pyscope(cmd, db, "--thread", *extra[:0]),
                                "'--thread' needs a value")
            self.assert_refused(self.pyscope(cmd, "missing.db", *extra),
                                "cannot open 'missing.db': No such file or directory")
            res = self.pyscope(cmd, *extra)
            self.assertEqual(res.returncode, 2)
            self.assertTrue(res.stderr.startswith(f"usage: pyscope {cmd} ".encode()), res)
            res = self.pyscope(cmd, db, db, *extra)
            self.assertEqual(res.returncode, 2)
        self.assert_refused(self.pyscope("top", db, "--limit", "-1"),
                            "'--limit' needs a number of rows (0 for all), not '-1'")
        self.assert_refused(self.pyscope("top", db, "--sort", "age"),
                            "'--sort' is tottime, cumtime, ncalls, pcalls, percall, self, total, samples, name or file, not 'age'")
        self.assert_refused(self.pyscope("hot", db, "--sort", "name"),
                            "'--sort' is self or total, not 'name'")
        self.assert_refused(self.pyscope("export", db), "'--format' is required")
        self.assert_refused(self.pyscope("export", db, "--format", "pdf"),
                            "'--format' is folded, speedscope, pprof, pstats or chrome, not 'pdf'")
        self.assert_refused(self.pyscope("flamegraph", db, "--width", "5"),
                            "'--width' needs a number of pixels")
        self.assert_refused(self.pyscope("top", db, "--json", "-o", "x"),
                            "unknown option '-o'")

    def test_not_a_database(self):
        text = os.path.join(self.tmp, "notes.txt")
        with open(text, "w") as f:
            f.write("hello\n")
        for cmd in self.COMMANDS:
            extra = ("--format", "speedscope") if cmd == "export" else ()
            self.assert_refused(self.pyscope(cmd, text, *extra),
                                f"'{text}' is not a pyscope database (not an SQLite file)")


class RealRun(ViewerTestCase):
    """On a database the recorder wrote: whatever the sampler put in it, the
    commands succeed and their outputs are well formed."""

    def test_commands_on_a_recorded_run(self):
        script = os.path.join(self.tmp, "work.py")
        with open(script, "w") as f:
            f.write("def spin(n):\n    return sum(i * i for i in range(n))\n\n"
                    "for _ in range(20):\n    spin(20000)\n")
        db = os.path.join(self.tmp, "real.db")
        res = harness.run_pyscope([script], db, cwd=self.tmp)
        self.assertEqual(res.returncode, 0, res)
        for clock in ("cpu", "wall"):
            self.ok("top", db, "--clock", clock)
            self.ok("hot", db, "--clock", clock)
            json.loads(self.ok("top", db, "--json", "--clock", clock))
            ET.fromstring(self.ok("flamegraph", db, "--clock", clock))
            validate_speedscope(self, json.loads(
                self.ok("export", db, "--format", "speedscope", "--clock", clock)))
            self.ok("export", db, "--format", "folded", "--clock", clock)


if __name__ == "__main__":
    unittest.main()
