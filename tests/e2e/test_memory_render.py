"""End-to-end tests of the memory views that reuse the sampled-stack
renderers: `pyscope flamegraph --memory SNAP`, `pyscope export --format
folded|speedscope --memory SNAP`, and the memory section of `pyscope
summary` (text and JSON). The run database is a real, emptied one, filled
here from SQL text with snapshots whose answers are known: live bytes by
allocation stack that add up to the snapshot's traced bytes, a function
called <script>& and a label that need escaping, an allocation without a
Python frame, a traceback cut at the depth limit, two processes whose peak
and RSS differ. Also the errors: an unknown snapshot, a run without
snapshots, and --memory with options that only samples have."""
import json
import os
import re
import sqlite3
import unittest
import xml.etree.ElementTree as ET

import harness
from harness import E2ETestCase
from test_viewer_samples import validate_speedscope

SVG_NS = "{http://www.w3.org/2000/svg}"
FG_NS = "{urn:pyscope:flamegraph}"
MIB = 1 << 20

EVIL = "<script>&"
LABEL = "after <load>"

# Snapshot 2, the peak of process 1: 10,000 bytes in 26 blocks.
PEAK_TRACES = [  # (stack, size, count)
    (2, 4000, 8),   # main@3 > load@12
    (6, 500, 2),    # [truncated] > load@12
    (3, 2000, 5),   # main@3 > <script>&@22
    (8, 1500, 3),   # main@3 > load@12 > parse@31
    (7, 1000, 1),   # main@3 > load@13
    (9, 400, 4),    # ... > parse@32
    (4, 300, 2),    # <unknown>: no Python frame
    (10, 300, 1),   # ... > parse@33
]


def build(path, app, snapshots=True):
    """A run of two processes (pids 100 and 200) with functions of app; with
    snapshots, four of them: 1 'after <load>' (api), 2 the peak of pid 100,
    3 its exit, 4 the peak of pid 200, smaller but with the larger RSS."""
    harness.empty_run_db(path)
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO meta VALUES (?, ?)",
                   [("cwd", os.path.dirname(app)), ("argv", "app.py"),
                    ("options", "--memory")])
    db.execute("INSERT INTO processes (id, pid, started_ns) VALUES (1, 100, 0)")
    db.execute("INSERT INTO processes (id, pid, parent_id, started_ns) VALUES (2, 200, 1, 0)")
    db.executemany("INSERT INTO functions VALUES (?, ?, ?, ?, ?, ?)", [
        (1, "python", app, "main", "main", 1),
        (2, "python", app, "load", "load", 10),
        (3, "python", app, EVIL, EVIL, 20),
        (4, "python", "<unknown>", "<unknown>", "<unknown>", None),
        (5, "python", None, "[truncated]", None, None),
        (6, "python", app, "parse", "parse", 30),
    ])
    db.executemany("INSERT INTO frames VALUES (?, ?, ?)", [
        (1, 1, 3), (2, 2, 12), (3, 3, 22), (4, 4, None), (5, 5, None), (6, 2, 13),
        (7, 6, 31), (8, 6, 32), (9, 6, 33)])
    db.executemany("INSERT INTO stacks VALUES (?, ?, ?)", [
        (1, None, 1), (2, 1, 2), (3, 1, 3), (4, None, 4), (5, None, 5), (6, 5, 2),
        (7, 1, 6), (8, 2, 7), (9, 2, 8), (10, 2, 9)])
    if snapshots:
        db.executemany("INSERT INTO snapshots (id, process_id, label, t_ns, trigger, traced_bytes,"
        " traced_blocks, peak_bytes, rss_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (1, 1, LABEL, 1_000_000_000, "api", 7000, 10, 7000, 50 * MIB),
            (2, 1, None, 1_500_000_000, "peak", 10000, 26, 10000, 60 * MIB),
            (3, 1, None, 2_000_000_000, "exit", 1000, 2, 10000, 40 * MIB),
            (4, 2, None, 1_200_000_000, "peak", 3000, 3, 3000, 80 * MIB),
        ])
        db.executemany("INSERT INTO snapshot_traces VALUES (?, ?, ?, ?)",
                       [(1, 2, 4000, 5), (1, 3, 2000, 3), (1, 4, 1000, 2)]
                       + [(2,) + t for t in PEAK_TRACES]
                       + [(3, 4, 1000, 2), (4, 7, 3000, 3)])
    db.commit()
    db.close()


def folded(text):
    """Folded text as {stack: value}, checking each line's shape."""
    out = {}
    for line in text.splitlines():
        stack, _, value = line.rpartition(" ")
        if not stack or not value.isdigit():
            raise AssertionError(f"bad folded line {line!r}")
        out[stack] = int(value)
    return out


class MemoryTestCase(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.app = os.path.join(self.tmp, "app.py")
        with open(self.app, "w") as f:
            f.write("def main():\n    load()\n")
        self.db = os.path.join(self.tmp, "run.db")
        build(self.db, self.app)

    def pyscope(self, *args):
        return harness.run_viewer(args, cwd=self.tmp)

    def ok(self, *args):
        res = self.pyscope(*args)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertEqual(res.stderr, b"")
        return res.stdout.decode()

    def assert_refused(self, res, message, status=2):
        self.assertEqual(res.returncode, status, res)
        lines = res.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertIn(message, lines[0])
        self.assertEqual(res.stdout, b"")

    def traced_sum(self, snapshot):
        return harness.db_rows(self.db, "SELECT sum(size) AS s FROM snapshot_traces"
                                        " WHERE snapshot_id = ?", (snapshot,))[0]["s"]


class Folded(MemoryTestCase):
    def test_bytes_by_stack(self):
        got = folded(self.ok("export", self.db, "--format", "folded", "--memory", "2"))
        self.assertEqual(got, {
            "<unknown> (<unknown>)": 300,
            "[truncated];load (app.py:10)": 500,
            f"main (app.py:1);{EVIL} (app.py:20)": 2000,
            "main (app.py:1);load (app.py:10)": 5000,
            "main (app.py:1);load (app.py:10);parse (app.py:30)": 2200,
        })
        self.assertEqual(sum(got.values()), self.traced_sum(2))
        self.assertEqual(sum(got.values()), 10000)

    def test_lines_and_output_file(self):
        out = os.path.join(self.tmp, "mem.folded")
        self.assertEqual(self.ok("export", self.db, "--format=folded", "--memory=2", "--lines",
                                 "-o", out), "")
        with open(out) as f:
            got = folded(f.read())
        self.assertEqual(got["main (app.py:3);load (app.py:12)"], 4000)
        self.assertEqual(got["main (app.py:3);load (app.py:13)"], 1000)
        self.assertEqual(got["main (app.py:3);load (app.py:12);parse (app.py:31)"], 1500)
        self.assertEqual(sum(got.values()), 10000)

    def test_each_snapshot_adds_up(self):
        for snap in (1, 3, 4):
            got = folded(self.ok("export", self.db, "--format", "folded", "--memory", str(snap)))
            self.assertEqual(sum(got.values()), self.traced_sum(snap), snap)

    def test_function_filter(self):
        got = folded(self.ok("export", self.db, "--format", "folded", "--memory", "2",
                             "--function", "parse"))
        self.assertEqual(got, {"main (app.py:1);load (app.py:10);parse (app.py:30)": 2200})


class Speedscope(MemoryTestCase):
    def test_one_profile_in_bytes(self):
        text = self.ok("export", self.db, "--format", "speedscope", "--memory", "2")
        self.assertNotIn("<", text)  # every name escaped for HTML
        doc = json.loads(text)
        validate_speedscope(self, doc)
        self.assertEqual(doc["name"], f"{self.db} (snapshot 2)")
        self.assertEqual(len(doc["profiles"]), 1)
        prof = doc["profiles"][0]
        self.assertEqual(prof["type"], "sampled")
        self.assertEqual(prof["unit"], "bytes")
        self.assertEqual(prof["name"], "snapshot 2 (peak), pid 100")
        self.assertEqual(prof["startValue"], 0)
        self.assertEqual(prof["endValue"], 10000)
        self.assertEqual(sum(prof["weights"]), 10000)
        frames = doc["shared"]["frames"]
        names = [fr["name"] for fr in frames]
        self.assertIn(EVIL, names)
        self.assertIn("<unknown>", names)
        self.assertIn("[truncated]", names)
        stacks = {tuple(frames[i]["name"] for i in s): w
                  for s, w in zip(prof["samples"], prof["weights"])}
        self.assertEqual(stacks[("main", "load", "parse")], 2200)
        self.assertEqual(stacks[("main", EVIL)], 2000)
        self.assertEqual(stacks[("[truncated]", "load")], 500)

    def test_label_escaped(self):
        text = self.ok("export", self.db, "--format", "speedscope", "--memory", "1")
        self.assertNotIn("<", text)
        doc = json.loads(text)
        validate_speedscope(self, doc)
        self.assertEqual(doc["profiles"][0]["name"], f"snapshot 1 '{LABEL}' (api), pid 100")
        self.assertEqual(sum(doc["profiles"][0]["weights"]), 7000)


class Flamegraph(MemoryTestCase):
    def svg(self, *args):
        out = os.path.join(self.tmp, "mem.svg")
        self.assertEqual(self.ok("flamegraph", self.db, *args, "-o", out), "")
        with open(out, encoding="utf-8") as f:
            text = f.read()
        return text, ET.fromstring(text)

    @staticmethod
    def frames(root):
        """{name: [tooltip lines after the name]} of every frame."""
        out = {}
        for g in root.iter(SVG_NS + "g"):
            if g.get("class") != "f":
                continue
            lines = g.find(SVG_NS + "title").text.split("\n")
            out.setdefault(lines[0], []).append((int(g.get(FG_NS + "w")), lines[1:]))
        return out

    def test_peak(self):
        text, root = self.svg("--memory", "2")
        self.assertEqual(root.get(FG_NS + "total"), "10000")
        title = root.find(f".//{SVG_NS}text[@id='title']").text
        self.assertEqual(title, "Flame graph: live memory of snapshot 2 (peak)")
        subtitle = root.find(f".//{SVG_NS}text[@id='subtitle']").text
        self.assertIn("9.8 KiB live in 26 blocks of pid 100 at 1.50 s", subtitle)
        frames = self.frames(root)
        self.assertEqual(frames["all"], [(10000, ["9.8 KiB in 26 blocks, 100.00%"])])
        self.assertEqual(frames["main"], [(9200, ["app.py:1", "9.0 KiB in 22 blocks, 92.00%"])])
        self.assertEqual(frames[EVIL], [(2000, ["app.py:20", "2.0 KiB in 5 blocks, 20.00%"])])
        self.assertEqual(frames["parse"], [(2200, ["app.py:30", "2.1 KiB in 8 blocks, 22.00%"])])
        self.assertEqual(sorted(w for w, _ in frames["load"]), [500, 7200])
        self.assertEqual(frames["<unknown>"],
                         [(300, ["<unknown>", "300 B in 2 blocks, 3.00%"])])
        self.assertIn("[truncated]", frames)
        # The name and the file's marks appear only escaped.
        self.assertNotIn("<script>&", text)
        self.assertIn("&lt;script&gt;&amp;", text)
        self.assertEqual(len(root.findall(f".//{SVG_NS}script")), 1)

    def test_label_in_title(self):
        text, root = self.svg("--memory", "1", "--lines")
        title = root.find(f".//{SVG_NS}text[@id='title']").text
        self.assertEqual(title, f"Flame graph: live memory of snapshot 1 '{LABEL}' (api)")
        self.assertNotIn("<load>", text)
        frames = self.frames(root)
        self.assertEqual(frames["load"], [(4000, ["app.py:12", "3.9 KiB in 5 blocks, 57.14%"])])

    def test_empty_snapshot(self):
        conn = sqlite3.connect(self.db)
        conn.execute("INSERT INTO snapshots (id, process_id, label, t_ns, trigger, traced_bytes,"
        " traced_blocks, peak_bytes, rss_bytes) VALUES (5, 1, NULL, 5, 'interval', 0, 0, 0, NULL)")
        conn.commit()
        conn.close()
        text, root = self.svg("--memory", "5")
        self.assertIn(">no live allocations</text>", text)
        self.assertEqual(self.frames(root), {})


class Summary(MemoryTestCase):
    def test_text(self):
        out = self.ok("summary", self.db)
        lines = out.splitlines()
        self.assertIn("  recorded     4 snapshots; no samples, call records, heap objects or"
                      " gc collections", lines)
        self.assertIn("  memory       peak traced 9.8 KiB (pid 100), 4 snapshots;"
                      " 'pyscope snapshots' lists them", lines)
        self.assertIn("  rss          80.0 MiB at most (pid 200)", lines)
        at = lines.index("  peak sites   snapshot 2 (peak) at 1.50 s, by line")
        rows = [re.split(r"\s{2,}", l.strip()) for l in lines[at + 1:]]
        self.assertEqual(rows, [
            ["45.0%", "4.4 KiB", "10 blocks", "app.py:12", "load"],
            ["20.0%", "2.0 KiB", "5 blocks", "app.py:22", EVIL],
            ["15.0%", "1.5 KiB", "3 blocks", "app.py:31", "parse"],
            ["10.0%", "1000 B", "1 block", "app.py:13", "load"],
            ["4.0%", "400 B", "4 blocks", "app.py:32", "parse"],
        ])

    def test_text_rss_at_exit(self):
        conn = sqlite3.connect(self.db)
        conn.execute("UPDATE snapshots SET rss_bytes = NULL WHERE process_id = 2")
        conn.commit()
        conn.close()
        self.assertIn("  rss          60.0 MiB at most, 40.0 MiB at exit (pid 100)",
                      self.ok("summary", self.db).splitlines())

    def test_json(self):
        text = self.ok("summary", self.db, "--json")
        self.assertNotIn("<", text)
        doc = json.loads(text)
        self.assertIsNone(doc["calls"])
        self.assertEqual(doc["counts"]["snapshots"], 4)
        mem = doc["memory"]
        self.assertEqual(mem["snapshots"], 4)
        self.assertEqual(mem["peak_bytes"], 10000)
        self.assertEqual(mem["peak_pid"], 100)
        self.assertEqual(mem["peak_process_id"], 1)
        self.assertEqual(mem["rss_max_bytes"], 80 * MIB)
        self.assertEqual(mem["rss_pid"], 200)
        self.assertIsNone(mem["rss_exit_bytes"])  # pid 200 has no exit snapshot
        self.assertEqual(mem["peak_snapshot"], {
            "id": 2, "label": None, "trigger": "peak", "t_ns": 1_500_000_000,
            "traced_bytes": 10000, "traced_blocks": 26})
        self.assertEqual(
            [(s["filename"], s["line"], s["function"], s["size"], s["count"], s["pct"])
             for s in mem["peak_sites"]],
            [(self.app, 12, "load", 4500, 10, 45.0),
             (self.app, 22, EVIL, 2000, 5, 20.0),
             (self.app, 31, "parse", 1500, 3, 15.0),
             (self.app, 13, "load", 1000, 1, 10.0),
             (self.app, 32, "parse", 400, 4, 4.0)])

    def test_sites_are_stats_by_lineno(self):
        """The peak sites are the first lines of `pyscope stats SNAP --by
        lineno`: a block allocated in C under a Python line (--memory
        --native) counts for that line, and two functions on one line (a
        lambda beside its caller) are one line."""
        conn = sqlite3.connect(self.db)
        conn.executemany("INSERT INTO functions VALUES (?, ?, ?, ?, ?, ?)", [
            (7, "native", "/usr/lib/libc.so.6", "malloc", None, None),
            (8, "python", self.app, "<lambda>", "load.<locals>.<lambda>", 22)])
        conn.executemany("INSERT INTO frames VALUES (?, ?, ?)", [(10, 7, None), (11, 8, 22)])
        conn.executemany("INSERT INTO stacks VALUES (?, ?, ?)", [
            (11, 2, 10),   # main@3 > load@12 > malloc
            (12, 7, 10),   # main@3 > load@13 > malloc
            (13, 1, 11)])  # main@3 > <lambda>@22
        conn.executemany("INSERT INTO snapshot_traces VALUES (2, ?, ?, ?)", [
            (11, 3000, 6), (12, 2800, 2), (13, 1900, 7)])
        conn.execute("UPDATE snapshots SET traced_bytes = 17700, traced_blocks = 41 WHERE id = 2")
        conn.commit()
        conn.close()
        stats = json.loads(self.ok("stats", self.db, "2", "--by", "lineno", "--json"))["stats"]
        want = [(s["frames"][0]["filename"], s["frames"][0]["line"], s["frames"][0]["function"],
                 s["size"], s["count"]) for s in stats[:5]]
        self.assertEqual(want[:3], [(self.app, 12, "load", 7500, 16),
                                    (self.app, 22, EVIL, 3900, 12),
                                    (self.app, 13, "load", 3800, 3)])
        sites = json.loads(self.ok("summary", self.db, "--json"))["memory"]["peak_sites"]
        self.assertEqual([(s["filename"], s["line"], s["function"], s["size"], s["count"])
                          for s in sites], want)
        lines = self.ok("summary", self.db).splitlines()
        at = lines.index("  peak sites   snapshot 2 (peak) at 1.50 s, by line")
        rows = [re.split(r"\s{2,}", l.strip()) for l in lines[at + 1:at + 4]]
        self.assertEqual(rows, [["42.4%", "7.3 KiB", "16 blocks", "app.py:12", "load"],
                                ["22.0%", "3.8 KiB", "12 blocks", "app.py:22", EVIL],
                                ["21.5%", "3.7 KiB", "3 blocks", "app.py:13", "load"]])

    def test_without_snapshots(self):
        db = os.path.join(self.tmp, "plain.db")
        build(db, self.app, snapshots=False)
        lines = self.ok("summary", db).splitlines()
        self.assertFalse([l for l in lines if l.startswith(("  memory", "  rss", "  peak sites"))],
                         lines)
        doc = json.loads(self.ok("summary", db, "--json"))
        self.assertIn("memory", doc)
        self.assertIsNone(doc["memory"])

    def test_without_traced_memory(self):
        conn = sqlite3.connect(self.db)
        conn.execute("UPDATE snapshots SET traced_bytes = NULL, traced_blocks = NULL,"
                     " peak_bytes = NULL")
        conn.execute("DELETE FROM snapshot_traces")
        conn.commit()
        conn.close()
        lines = self.ok("summary", self.db).splitlines()
        self.assertIn("  memory       4 snapshots, allocations not traced", lines)
        self.assertFalse([l for l in lines if "peak sites" in l])
        mem = json.loads(self.ok("summary", self.db, "--json"))["memory"]
        self.assertIsNone(mem["peak_bytes"])
        self.assertEqual(mem["peak_sites"], [])


class Errors(MemoryTestCase):
    def test_unknown_snapshot(self):
        for cmd in (("flamegraph",), ("export", "--format", "folded")):
            self.assert_refused(self.pyscope(*cmd, self.db, "--memory", "9"),
                                f"pyscope: no snapshot 9 in '{self.db}'"
                                " (see 'pyscope snapshots')")

    def test_run_without_snapshots(self):
        db = os.path.join(self.tmp, "plain.db")
        build(db, self.app, snapshots=False)
        out = os.path.join(self.tmp, "never.svg")
        self.assert_refused(self.pyscope("flamegraph", db, "--memory", "1", "-o", out),
                            f"pyscope: no snapshot 1 in '{db}'; it has none (record them"
                            " with 'pyscope profile --memory')")
        self.assertFalse(os.path.exists(out))
        self.assert_refused(self.pyscope("export", db, "--format", "speedscope", "--memory", "1"),
                            f"no snapshot 1 in '{db}'; it has none")

    def test_sampling_options(self):
        for opt in (("--clock", "wall"), ("--state", "idle"), ("--thread", "MainThread"),
                    ("--process", "100"), ("--by-thread",)):
            for cmd in (("flamegraph",), ("export", "--format", "folded")):
                with self.subTest(cmd=cmd, opt=opt):
                    self.assert_refused(
                        self.pyscope(*cmd, self.db, "--memory", "2", *opt),
                        f"pyscope: '{opt[0]}' is for sampled stacks and cannot be used with"
                        " '--memory'")
                    self.assert_refused(
                        self.pyscope(*cmd, *opt, self.db, "--memory", "2"),
                        f"'{opt[0]}' is for sampled stacks")

    def test_bad_values(self):
        for value in ("0", "-1", "x", ""):
            self.assert_refused(self.pyscope("flamegraph", self.db, "--memory", value),
                                f"pyscope: '--memory' needs a snapshot id, not '{value}'")
        self.assert_refused(self.pyscope("flamegraph", self.db, "--memory"),
                            "'--memory' needs a value")
        self.assert_refused(self.pyscope("export", self.db, "--format", "pstats", "--memory",
                                         "2", "-o", os.path.join(self.tmp, "x.prof")),
                            "'--format pstats' writes call statistics")


if __name__ == "__main__":
    unittest.main()
