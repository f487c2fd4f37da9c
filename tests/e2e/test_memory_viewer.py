"""End-to-end tests of the memory viewer: `pyscope snapshots`, `stats` and
`diff` on run databases built here from SQL with known answers (a
traceback cut at the depth limit, a block with no Python frame, a frame
with no line, two functions on one line, recursion, blocks kept or left out
by --include/--exclude, groups found in one snapshot only), their text and
JSON checked, and a diff across two databases. A second database of random
tracebacks is checked against tracemalloc itself: its Snapshot class is fed
the same blocks, and statistics() and compare_to() must give the same
groups in the same order. Also the errors: bad arguments, missing
snapshots, files that are not runs."""
import json
import os
import random
import sqlite3
import tracemalloc
import unittest

import harness
from harness import E2ETestCase

APP_PY = """\
import helper

def main():
    data = load()
    cache = build()
    return data, cache

def load():
    return [bytes(100) for _ in range(10)]

def build():
    return {i: str(i) for i in range(5)}

def rec(n):
    if n:
        return rec(n - 1)
    return bytearray(64)
"""

HELPER_PY = """\
def work():
    pass
    return list(range(50))
"""


def build(path, where):
    """The known run: app.py and lib/helper.py written under where (the
    run's directory), processes 100 and 200, snapshots 1 ('start', pid
    100), 2 ('end', pid 100) and 3 (pid 200, no blocks)."""
    app = os.path.join(where, "app.py")
    helper = os.path.join(where, "lib", "helper.py")
    os.makedirs(os.path.dirname(helper), exist_ok=True)
    with open(app, "w") as f:
        f.write(APP_PY)
    with open(helper, "w") as f:
        f.write(HELPER_PY)
    harness.empty_run_db(path)
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("cwd", where), ("argv", "app.py")])
    db.execute("INSERT INTO processes (id, pid, started_ns) VALUES (1, 100, 0), (2, 200, 0)")
    db.executemany("INSERT INTO functions VALUES (?, ?, ?, ?, ?, ?)", [
        (1, "python", app, "main", "main", 3),
        (2, "python", app, "load", "load", 8),
        (3, "python", app, "build", "build", 11),
        (4, "python", app, "rec", "rec", 14),
        (5, "python", helper, "work", "work", 1),
        (6, "python", "<unknown>", "<unknown>", None, None),
        (7, "python", None, "[truncated]", None, None),
        (8, "python", app, "<lambda>", "main.<locals>.<lambda>", 4),
    ])
    db.executemany("INSERT INTO frames VALUES (?, ?, ?)", [
        (1, 1, 4), (2, 1, 5), (3, 2, 9), (4, 3, 12), (5, 4, 16), (6, 4, 17), (7, 5, 3),
        (8, 6, None), (9, 7, None), (10, 8, 4), (11, 1, None)])
    # outermost first: 2 main@4>load@9  4 main@5>build@12  7 main@4>rec@16>rec@16>rec@17
    # 8 <unknown>  10 [truncated]>load@9  11 load@9  12 lambda@4  13 main@5>build@12>work@3
    # 14 main@(no line)
    db.executemany("INSERT INTO stacks VALUES (?, ?, ?)", [
        (1, None, 1), (2, 1, 3), (3, None, 2), (4, 3, 4), (5, 1, 5), (6, 5, 5), (7, 6, 6),
        (8, None, 8), (9, None, 9), (10, 9, 3), (11, None, 3), (12, None, 10), (13, 4, 7),
        (14, None, 11)])
    db.executemany("INSERT INTO snapshots (id, process_id, label, t_ns, trigger, traced_bytes,"
        " traced_blocks, peak_bytes, rss_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        (1, 1, "start", 100_000_000, "api", 2064, 21, 2064, 30 << 20),
        (2, 1, "end", 2_500_000_000, "exit", 3462, 38, 4000, None),
        (3, 2, None, 3_000_000_000, "peak", 0, 0, 0, None)])
    db.executemany("INSERT INTO snapshot_traces VALUES (?, ?, ?, ?)", [
        (1, 2, 1000, 10), (1, 4, 500, 5), (1, 7, 64, 1), (1, 8, 300, 3), (1, 13, 200, 2),
        (2, 2, 3000, 30), (2, 10, 100, 1), (2, 11, 50, 1), (2, 7, 64, 1), (2, 12, 40, 2),
        (2, 14, 8, 1), (2, 13, 200, 2)])
    db.commit()
    db.close()
    return app, helper


class MemoryViewerTest(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.db = os.path.join(self.tmp, "run.db")
        self.app, self.helper = build(self.db, self.tmp)

    def viewer(self, *args, rc=0):
        res = harness.run_viewer([str(a) for a in args])
        self.assertEqual(res.returncode, rc, f"{args}: {res}")
        if rc == 0:
            self.assertEqual(res.stderr, b"", f"{args}: {res}")
        return res.stdout.decode()

    def json(self, *args):
        return json.loads(self.viewer(*args, "--json"))

    def error(self, *args, rc=2):
        res = harness.run_viewer([str(a) for a in args])
        self.assertEqual(res.returncode, rc, f"{args}: {res}")
        self.assertEqual(res.stdout, b"", f"{args}: {res}")
        err = res.stderr.decode()
        return err

    def rows(self, doc):
        """(location, size, count) of each stat, or with size_diff and count_diff."""
        out = []
        for s in doc["stats"]:
            frames = tuple((os.path.relpath(f["filename"], self.tmp)
                            if f["filename"].startswith(self.tmp) else f["filename"],
                            f["line"]) for f in s["frames"])
            key = frames[0] if len(frames) == 1 else frames
            if "size_diff" in s:
                out.append((key, s["size"], s["size_diff"], s["count"], s["count_diff"]))
            else:
                out.append((key, s["size"], s["count"]))
        return out

    # ---- snapshots ----

    def test_snapshots_text(self):
        out = self.viewer("snapshots", self.db)
        lines = out.splitlines()
        self.assertEqual(lines[0], f"memory snapshots of '{self.db}': 3 in 2 processes")
        self.assertEqual(lines[1].split(), ["id", "pid", "label", "trigger", "time", "traced",
                                            "blocks", "peak", "RSS"])
        self.assertEqual(lines[2].split(), ["1", "100", "start", "api", "100.0", "ms", "2.0",
                                            "KiB", "21", "2.0", "KiB", "30.0", "MiB"])
        self.assertEqual(lines[3].split(), ["2", "100", "end", "exit", "2.50", "s", "3.4", "KiB",
                                            "38", "3.9", "KiB", "-"])
        self.assertEqual(lines[4].split(), ["3", "200", "peak", "3.00", "s", "0", "B", "0", "0",
                                            "B", "-"])
        self.assertEqual(len(lines), 5)

    def test_snapshots_json_and_process(self):
        doc = self.json("snapshots", self.db)
        self.assertEqual(doc["count"], 3)
        self.assertIsNone(doc["pid"])
        self.assertEqual(doc["snapshots"][0], {
            "id": 1, "process_id": 1, "pid": 100, "label": "start", "trigger": "api",
            "t_ns": 100_000_000, "traced_bytes": 2064, "traced_blocks": 21, "peak_bytes": 2064,
            "rss_bytes": 30 << 20})
        self.assertIsNone(doc["snapshots"][2]["label"])
        self.assertIsNone(doc["snapshots"][1]["rss_bytes"])
        doc = self.json("snapshots", "--process", "200", self.db)
        self.assertEqual([s["id"] for s in doc["snapshots"]], [3])
        self.assertEqual(doc["pid"], 200)
        out = self.viewer("snapshots", self.db, "--limit", "1")
        self.assertIn("(showing 1 of 3 snapshots; --limit 0 shows all)", out)

    def test_snapshots_none(self):
        empty = os.path.join(self.tmp, "empty.db")
        harness.empty_run_db(empty)
        conn = sqlite3.connect(empty)
        conn.execute("INSERT INTO processes (id, pid, started_ns) VALUES (1, 7, 0)")
        conn.commit()
        conn.close()
        out = self.viewer("snapshots", empty)
        self.assertEqual(out, f"memory snapshots of '{empty}': none "
                              "(record them with 'pyscope profile --memory')\n")
        self.assertEqual(self.json("snapshots", empty)["snapshots"], [])
        out = self.viewer("snapshots", "--process", "7", empty)
        self.assertIn("pid 7: none (record them", out)
        err = self.error("stats", empty, "1")
        self.assertEqual(err, f"pyscope: no snapshot 1 in '{empty}'; it has none "
                              "(record them with 'pyscope profile --memory')\n")

    # ---- stats ----

    def test_stats_lineno(self):
        doc = self.json("stats", self.db, "2")
        self.assertEqual(self.rows(doc), [
            (("app.py", 9), 3150, 32), (("lib/helper.py", 3), 200, 2), (("app.py", 17), 64, 1),
            (("app.py", 4), 40, 2), (("app.py", 0), 8, 1)])
        self.assertEqual(doc["total"], {"size": 3462, "count": 38})
        self.assertEqual(doc["selected"], doc["total"])
        self.assertEqual(doc["by"], "lineno")
        self.assertFalse(doc["cumulative"])
        self.assertEqual(doc["snapshot"]["label"], "end")
        self.assertEqual(doc["count"], 5)
        self.assertEqual(doc["stats"][0]["frames"],
                         [{"filename": self.app, "line": 9, "function": "load",
                           "native": False}])
        # two functions on line 4: one key, named after the first one seen
        self.assertIn(doc["stats"][3]["frames"][0]["function"],
                      ("main", "main.<locals>.<lambda>"))

        out = self.viewer("stats", self.db, "2")
        lines = out.splitlines()
        self.assertEqual(lines[0], f"snapshot 2 'end' of '{self.db}' (pid 100, exit at 2.50 s): "
                                   "3.4 KiB in 38 blocks")
        self.assertEqual(lines[1].split(), ["size", "count", "average", "line", "code"])
        self.assertEqual(lines[2].split(), ["3.1", "KiB", "32", "98", "B", "app.py:9",
                                            "return", "[bytes(100)", "for", "_", "in",
                                            "range(10)]"])
        self.assertEqual(lines[3].split(), ["200", "B", "2", "100", "B", "lib/helper.py:3",
                                            "return", "list(range(50))"])
        self.assertEqual(lines[6].split(), ["8", "B", "1", "8", "B", "app.py:0"])
        self.assertEqual(len(lines), 7)
        out = self.viewer("stats", self.db, "2", "--limit", "2")
        self.assertIn("(showing 2 of 5 lines; --limit 0 shows all)", out)

    def test_stats_filename(self):
        doc = self.json("stats", self.db, "2", "--by", "filename")
        self.assertEqual(self.rows(doc), [(("app.py", 0), 3262, 36),
                                          (("lib/helper.py", 0), 200, 2)])
        self.assertIsNone(doc["stats"][0]["frames"][0]["function"])
        out = self.viewer("stats", self.db, "2", "--by=filename")
        lines = out.splitlines()
        self.assertEqual(lines[1].split(), ["size", "count", "average", "file"])
        self.assertEqual(lines[2].split(), ["3.2", "KiB", "36", "90", "B", "app.py"])

    def test_stats_traceback(self):
        doc = self.json("stats", self.db, "2", "--by", "traceback")
        rec = (("app.py", 4), ("app.py", 16), ("app.py", 16), ("app.py", 17))
        self.assertEqual(self.rows(doc), [
            ((("app.py", 4), ("app.py", 9)), 3000, 30),
            ((("app.py", 5), ("app.py", 12), ("lib/helper.py", 3)), 200, 2),
            (("app.py", 9), 150, 2),  # [truncated]>load@9 and load@9: one key
            (rec, 64, 1), (("app.py", 4), 40, 2), (("app.py", 0), 8, 1)])
        self.assertEqual([s["truncated"] for s in doc["stats"]],
                         [False, False, True, False, False, False])
        self.assertEqual(doc["stats"][1]["frames"][2],
                         {"filename": self.helper, "line": 3, "function": "work",
                          "native": False})
        out = self.viewer("stats", self.db, "2", "--by", "traceback", "--limit", "3")
        blocks = out.split("\n\n")
        self.assertEqual(blocks[0].splitlines(), [
            f"snapshot 2 'end' of '{self.db}' (pid 100, exit at 2.50 s): 3.4 KiB in 38 blocks",
            "#1: 2.9 KiB in 30 blocks, average 100 B",
            '  File "app.py", line 4',
            "    data = load()",
            '  File "app.py", line 9',
            "    return [bytes(100) for _ in range(10)]"])
        self.assertEqual(blocks[1].splitlines(), [
            "#2: 200 B in 2 blocks, average 100 B",
            '  File "app.py", line 5',
            "    cache = build()",
            '  File "app.py", line 12',
            "    return {i: str(i) for i in range(5)}",
            '  File "lib/helper.py", line 3',
            "    return list(range(50))"])
        self.assertEqual(blocks[2].splitlines(), [
            "#3: 150 B in 2 blocks, average 75 B",
            "  [truncated: older frames were not recorded]",
            '  File "app.py", line 9',
            "    return [bytes(100) for _ in range(10)]"])
        self.assertEqual(blocks[3], "(showing 3 of 6 tracebacks; --limit 0 shows all)\n")

    def test_stats_cumulative(self):
        doc = self.json("stats", self.db, "2", "--cumulative")
        self.assertTrue(doc["cumulative"])
        self.assertEqual(self.rows(doc), [
            (("app.py", 9), 3150, 32), (("app.py", 4), 3104, 33),
            (("lib/helper.py", 3), 200, 2), (("app.py", 12), 200, 2), (("app.py", 5), 200, 2),
            (("app.py", 16), 128, 2),  # rec@16 twice in one traceback: counted twice
            (("app.py", 17), 64, 1), (("app.py", 0), 8, 1)])
        doc = self.json("stats", self.db, "2", "--cumulative", "--by", "filename")
        self.assertEqual(self.rows(doc), [(("app.py", 0), 6854, 73),
                                          (("lib/helper.py", 0), 200, 2)])
        out = self.viewer("stats", self.db, "2", "--cumulative")
        self.assertIn("cumulative: the blocks of a traceback count in each of its frames",
                      out.splitlines()[1])

    def test_stats_filters(self):
        doc = self.json("stats", self.db, "2", "--include", "*/lib/*")
        self.assertEqual(self.rows(doc), [(("lib/helper.py", 3), 200, 2)])
        self.assertEqual(doc["selected"], {"size": 200, "count": 2})
        self.assertEqual(doc["total"], {"size": 3462, "count": 38})
        self.assertEqual(doc["include"], ["*/lib/*"])
        # .pyc patterns are read as .py, as tracemalloc.Filter does
        doc = self.json("stats", self.db, "2", "--include", "*/helper.pyc")
        self.assertEqual(self.rows(doc), [(("lib/helper.py", 3), 200, 2)])
        # the most recent frame decides: helper's blocks went through app.py too
        doc = self.json("stats", self.db, "2", "--exclude", "*/lib/*")
        self.assertEqual([r[0] for r in self.rows(doc)],
                         [("app.py", 9), ("app.py", 17), ("app.py", 4), ("app.py", 0)])
        doc = self.json("stats", self.db, "1", "--exclude", "<unknown>", "--exclude=*/lib/*",
                        "--include", "*.py")
        self.assertEqual(self.rows(doc), [(("app.py", 9), 1000, 10), (("app.py", 12), 500, 5),
                                          (("app.py", 17), 64, 1)])
        self.assertEqual(doc["exclude"], ["<unknown>", "*/lib/*"])
        out = self.viewer("stats", self.db, "2", "--include", "*/nothing/*")
        self.assertEqual(out.splitlines()[1:], ["(no blocks kept by the filters)"])
        self.assertIn("; 0 B in 0 blocks kept by the filters", out.splitlines()[0])
        out = self.viewer("stats", self.db, "3")
        self.assertEqual(out.splitlines(), [
            f"snapshot 3 of '{self.db}' (pid 200, peak at 3.00 s): 0 B in 0 blocks",
            "(no blocks)"])

    # ---- diff ----

    def test_diff_lineno(self):
        doc = self.json("diff", self.db, "1", "2")
        self.assertEqual(self.rows(doc), [
            (("app.py", 9), 3150, 2150, 32, 22), (("app.py", 12), 0, -500, 0, -5),
            (("<unknown>", 0), 0, -300, 0, -3), (("app.py", 4), 40, 40, 2, 2),
            (("app.py", 0), 8, 8, 1, 1), (("lib/helper.py", 3), 200, 0, 2, 0),
            (("app.py", 17), 64, 0, 1, 0)])
        self.assertEqual(doc["old"]["snapshot"]["id"], 1)
        self.assertEqual(doc["new"]["snapshot"]["id"], 2)
        self.assertEqual(doc["old"]["total"], {"size": 2064, "count": 21})
        self.assertEqual(doc["new"]["database"], self.db)
        out = self.viewer("diff", self.db, "1", "2")
        lines = out.splitlines()
        self.assertEqual(lines[0], f"old: snapshot 1 'start' of '{self.db}' "
                                   "(pid 100, api at 100.0 ms): 2.0 KiB in 21 blocks")
        self.assertEqual(lines[1], f"new: snapshot 2 'end' of '{self.db}' "
                                   "(pid 100, exit at 2.50 s): 3.4 KiB in 38 blocks")
        self.assertEqual(lines[2], "change: +1.4 KiB in +17 blocks")
        self.assertEqual(lines[3].split(), ["size", "change", "count", "change", "average",
                                            "line", "code"])
        self.assertEqual(lines[4].split()[:8], ["3.1", "KiB", "+2.1", "KiB", "32", "+22", "98",
                                                "B"])
        self.assertEqual(lines[5].split(), ["0", "B", "-500", "B", "0", "-5", "app.py:12",
                                            "return", "{i:", "str(i)", "for", "i", "in",
                                            "range(5)}"])
        self.assertEqual(lines[6].split(), ["0", "B", "-300", "B", "0", "-3", "<unknown>:0"])
        self.assertEqual(lines[9].split(), ["200", "B", "0", "B", "2", "0", "100", "B",
                                            "lib/helper.py:3", "return", "list(range(50))"])

    def test_diff_traceback_and_cumulative(self):
        doc = self.json("diff", self.db, "1", "2", "--by", "traceback")
        rows = self.rows(doc)
        self.assertEqual(rows[0], ((("app.py", 4), ("app.py", 9)), 3000, 2000, 30, 20))
        self.assertEqual(rows[1], ((("app.py", 5), ("app.py", 12)), 0, -500, 0, -5))
        self.assertEqual(rows[2], (("<unknown>", 0), 0, -300, 0, -3))
        self.assertEqual(rows[3], (("app.py", 9), 150, 150, 2, 2))
        self.assertEqual(len(rows), 8)
        out = self.viewer("diff", self.db, "1", "2", "--by", "traceback", "--limit", "1")
        self.assertIn("#1: 2.9 KiB (+2.0 KiB) in 30 blocks (+20), average 100 B\n"
                      '  File "app.py", line 4\n', out)
        doc = self.json("diff", self.db, "1", "2", "--cumulative", "--by", "filename")
        self.assertEqual(self.rows(doc), [
            (("app.py", 0), 6854, 3198, 73, 35),
            (("<unknown>", 0), 0, -300, 0, -3), (("lib/helper.py", 0), 200, 0, 2, 0)])

    def test_diff_two_databases(self):
        other = os.path.join(self.tmp, "other.db")
        build(other, self.tmp)
        conn = sqlite3.connect(other)
        # the same code under other ids: keys match by file and line
        conn.execute("UPDATE snapshot_traces SET size = size * 2 WHERE snapshot_id = 2")
        conn.execute("UPDATE frames SET id = id + 100")
        conn.execute("UPDATE stacks SET frame_id = frame_id + 100")
        conn.commit()
        conn.close()
        doc = self.json("diff", f"{self.db}:2", f"{other}:2")
        self.assertEqual(self.rows(doc)[:2], [(("app.py", 9), 6300, 3150, 32, 0),
                                              (("lib/helper.py", 3), 400, 200, 2, 0)])
        self.assertEqual(doc["old"]["database"], self.db)
        self.assertEqual(doc["new"]["database"], other)
        out = self.viewer("diff", f"{self.db}:2", f"{other}:2")
        self.assertTrue(out.startswith(f"old: snapshot 2 'end' of '{self.db}' "))
        self.assertIn(f"\nnew: snapshot 2 'end' of '{other}' ", out)
        # one database named twice, and a path with a ':' in it
        colon = os.path.join(self.tmp, "a:b.db")
        os.link(self.db, colon)
        self.assertEqual(self.json("diff", f"{colon}:1", f"{self.db}:2")["stats"],
                         self.json("diff", self.db, "1", "2")["stats"])

    # ---- errors ----

    def test_errors(self):
        notdb = os.path.join(self.tmp, "notes.txt")
        with open(notdb, "w") as f:
            f.write("hello\n")
        missing = os.path.join(self.tmp, "missing.db")
        cases = [
            (("snapshots", missing), f"cannot open '{missing}': No such file or directory"),
            (("stats", notdb, "1"), f"'{notdb}' is not a pyscope database (not an SQLite file)"),
            (("diff", self.db, "1", "9"), f"no snapshot 9 in '{self.db}' "
                                          "(see 'pyscope snapshots')"),
            (("stats", self.db, "x"), "'x' is not a snapshot id (see 'pyscope snapshots')"),
            (("stats", self.db, "2", "--by", "line"),
             "'--by' is lineno, filename or traceback, not 'line'"),
            (("stats", self.db, "2", "--by", "traceback", "--cumulative"),
             "'--cumulative' groups by lineno or filename, not by traceback"),
            (("stats", self.db, "2", "--limit", "-1"),
             "'--limit' needs a number of rows (0 for all), not '-1'"),
            (("stats", self.db, "2", "--include", ""), "'--include' needs a file name pattern"),
            (("stats", self.db, "2", "--exclude"), "'--exclude' needs a value"),
            (("stats", self.db, "2", "--frobnicate"),
             "unknown option '--frobnicate'; see 'pyscope stats --help'"),
            (("diff", self.db, "1"),
             f"'{self.db}' is not DATABASE:SNAPSHOT (as in 'run.db:2'); "
             "see 'pyscope diff --help'"),
            (("diff", f"{self.db}:1", f"{missing}:1"),
             f"cannot open '{missing}': No such file or directory"),
            (("snapshots", "--process", "9", self.db), f"no process with pid 9 in '{self.db}'"),
            (("snapshots", "--process", "abc", self.db),
             "'--process' needs a process id (pid), not 'abc'"),
        ]
        for args, msg in cases:
            with self.subTest(args=args):
                self.assertEqual(self.error(*args), f"pyscope: {msg}\n")
        for args in (("stats", self.db), ("stats",), ("diff", self.db, "1", "2", "3"),
                     ("snapshots",), ("snapshots", self.db, self.db)):
            with self.subTest(args=args):
                self.assertTrue(self.error(*args).startswith(f"usage: pyscope {args[0]} "))
        for cmd in ("snapshots", "stats", "diff"):
            out = self.viewer(cmd, "--help")
            self.assertTrue(out.startswith(f"usage: pyscope {cmd} [options] "))
            self.assertIn("--json", out)


def random_run(path, seed, reorder=False):
    """A run of random tracebacks with many ties; returns, per snapshot, its
    rows as (traceback most recent first, size, count). With reorder, the
    stack ids are reversed and spread out: parents come after children."""
    rnd = random.Random(seed)
    harness.empty_run_db(path)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO processes (id, pid, started_ns) VALUES (1, 1, 0)")
    files = ["/a/x.py", "/a/y.py", "/b/x.pyc", "/a/é.py", "<frozen z>", "<unknown>"]
    funcs = [(i + 1, "python", files[i % len(files)], f"f{i}", f"f{i}", 1) for i in range(12)]
    funcs.append((13, "python", None, "[truncated]", None, None))
    db.executemany("INSERT INTO functions VALUES (?, ?, ?, ?, ?, ?)", funcs)
    frames = {}
    for fn in range(1, 13):
        for line in (None, 1, 2, 3):
            frames[len(frames) + 1] = (fn, line)
    frames[len(frames) + 1] = (13, None)
    marker = len(frames)
    db.executemany("INSERT INTO frames VALUES (?, ?, ?)",
                   [(i, fn, line) for i, (fn, line) in frames.items()])
    nodes = {}

    def node(parent, frame):
        return nodes.setdefault((parent, frame), len(nodes) + 1)

    def key(frame):
        fn, line = frames[frame]
        name = funcs[fn - 1][2]
        return (name if name is not None else "<unknown>", line or 0)

    stacks = {}
    while len(stacks) < 300:
        depth = rnd.randint(1, 6)
        parent = node(None, marker) if rnd.random() < 0.2 else None
        tb = []
        for _ in range(depth):
            frame = rnd.randint(1, marker - 1)
            parent = node(parent, frame)
            tb.insert(0, key(frame))
        stacks[parent] = tuple(tb)
    top = len(nodes) + 1

    def sid(i):
        return None if i is None else (top - i) * 3 if reorder else i

    db.executemany("INSERT INTO stacks VALUES (?, ?, ?)",
                   [(sid(i), sid(p), f) for (p, f), i in nodes.items()])
    snaps = {}
    for snap in (1, 2):
        db.execute("INSERT INTO snapshots (id, process_id, label, t_ns, trigger, traced_bytes,"
        " traced_blocks, peak_bytes, rss_bytes) VALUES (?, 1, NULL, ?, 'api', 0, 0, 0, NULL)",
                   (snap, snap))
        rows = []
        for stack, tb in rnd.sample(sorted(stacks.items()), 200):
            count = rnd.choice((1, 1, 2, 3))
            size = count * rnd.choice((8, 16, 16, 32))
            rows.append((tb, size, count))
            db.execute("INSERT INTO snapshot_traces VALUES (?, ?, ?, ?)",
                       (snap, sid(stack), size, count))
        snaps[snap] = rows
    db.commit()
    db.close()
    return snaps


def tm_snapshot(rows, filters):
    """tracemalloc's own Snapshot of rows, one trace per block, filtered."""
    traces = []
    for tb, size, count in rows:
        for k in range(count):
            part = size // count + (size % count if k == 0 else 0)
            traces.append((0, part, tb, len(tb)))
    return tracemalloc.Snapshot(traces, 10).filter_traces(filters)


class AgainstTracemallocTest(E2ETestCase):
    """The same blocks through tracemalloc.Snapshot and through pyscope."""

    def setUp(self):
        super().setUp()
        self.db = os.path.join(self.tmp, "random.db")
        self.snaps = random_run(self.db, 7)
        self.reordered = os.path.join(self.tmp, "reordered.db")
        self.assertEqual(random_run(self.reordered, 7, reorder=True), self.snaps)

    def ours(self, *args):
        res = harness.run_viewer([str(a) for a in args] + ["--json"])
        self.assertEqual(res.returncode, 0, res)
        doc = json.loads(res.stdout)
        out = []
        for s in doc["stats"]:
            tb = tuple((f["filename"], f["line"]) for f in s["frames"])
            if "size_diff" in s:
                out.append((tb, s["size"], s["size_diff"], s["count"], s["count_diff"]))
            else:
                out.append((tb, s["size"], s["count"]))
        return out

    def test_statistics_and_compare_to(self):
        filter_sets = [
            ([], []),
            (["/a/*"], []),
            ([], ["*.py"]),  # /b/x.pyc is read as /b/x.py: left out too
            (["*", "<*"], ["/a/[x-y].py", "<unknown>"]),
            (["/?/é.py", "/b/*"], ["/b/[!a-w]*"]),
        ]
        modes = [("lineno", False), ("filename", False), ("traceback", False),
                 ("lineno", True), ("filename", True)]
        for include, exclude in filter_sets:
            filters = ([tracemalloc.Filter(True, p) for p in include]
                       + [tracemalloc.Filter(False, p) for p in exclude])
            args = [a for p in include for a in ("--include", p)]
            args += [a for p in exclude for a in ("--exclude", p)]
            old = tm_snapshot(self.snaps[1], filters)
            new = tm_snapshot(self.snaps[2], filters)
            for by, cumulative in modes:
                extra = args + ["--by", by] + (["--cumulative"] if cumulative else [])
                with self.subTest(by=by, cumulative=cumulative, include=include,
                                  exclude=exclude):
                    expect = [(tuple(f._frame for f in s.traceback), s.size, s.count)
                              for s in new.statistics(by, cumulative)]
                    self.assertEqual(self.ours("stats", self.db, 2, *extra), expect)
                    self.assertEqual(self.ours("stats", self.reordered, 2, *extra), expect)
                    expect = [(tuple(f._frame for f in s.traceback), s.size, s.size_diff,
                               s.count, s.count_diff)
                              for s in new.compare_to(old, by, cumulative)]
                    self.assertEqual(self.ours("diff", self.db, 1, 2, *extra), expect)
                    self.assertEqual(
                        self.ours("diff", f"{self.reordered}:1", f"{self.db}:2", *extra),
                        expect)


if __name__ == "__main__":
    unittest.main()
