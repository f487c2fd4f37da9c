"""End-to-end tests of `pyscope cycles`: the objects it calls cyclic garbage
are the ones CPython's collector frees at the same point of the same script
(gc.DEBUG_SAVEALL under plain python), no reachable object is called
garbage, each cycle is reported where it was allocated, and cycles that
grow from snapshot to snapshot are found."""
import json
import os
import unittest

import harness
from harness import E2ETestCase

HERE = os.path.join(harness.HERE, "heap")
SCRIPT = os.path.join(HERE, "cycles.py")


def line_of(path, text):
    with open(path) as f:
        return next(i for i, line in enumerate(f, 1) if text in line)


def cycles_json(db, *args):
    res = harness.run_viewer(["cycles", db, "--json", *args])
    if res.returncode != 0:
        raise AssertionError(res)
    return json.loads(res.stdout)


class Cycles(E2ETestCase):

    def record(self, script, *options):
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "--heap", *options, script], db, timeout=120)
        self.assertEqual(res.returncode, 0, res)
        return db, res

    def test_garbage_equals_the_collectors(self):
        plain = harness.run_python([SCRIPT])
        self.assertEqual(plain.returncode, 0, plain)
        expected = int(plain.stdout)
        self.assertGreater(expected, 100)
        db, res = self.record(SCRIPT)
        report = cycles_json(db, res.stdout.decode().strip())
        self.assertEqual(report["garbage"], expected)
        self.assertEqual(sum(g["objects"] for g in report["groups"]), expected)
        self.assertEqual(report["garbage_cycles"], 60)

    def test_reachable_cycle_is_not_garbage(self):
        db, res = self.record(SCRIPT)
        snap = res.stdout.decode().strip()
        garbage = cycles_json(db, snap)
        everything = cycles_json(db, snap, "--all")
        self.assertEqual(everything["garbage"], garbage["garbage"])
        kept = [g for g in everything["groups"] if not g["garbage"]
                and g["types"] == [{"type": "__main__.Node", "count": 2}]]
        self.assertEqual(len(kept), 1)
        self.assertEqual(kept[0]["cycles"], 1)
        for g in garbage["groups"]:
            self.assertTrue(g["garbage"])

    def test_cycles_at_their_lines(self):
        db, res = self.record(SCRIPT, "--memory")
        report = cycles_json(db, res.stdout.decode().strip())
        by_types = {}
        for g in report["groups"]:
            key = tuple(sorted(t["type"] for t in g["types"]))
            lines = {a["line"] for a in g["allocated"] if a["filename"] == SCRIPT}
            by_types.setdefault(key, []).append((g, lines))

        def only(types):
            found = by_types[types]
            return max(found, key=lambda gl: gl[0]["cycles"])

        ring, lines = only(("__main__.Node",))
        self.assertEqual((ring["cycles"], ring["objects_per_cycle"]), (10, 3))
        self.assertEqual(lines, {line_of(SCRIPT, "nodes = [Node()")})
        tree, lines = only(("__main__.Tree", "list"))
        self.assertEqual((tree["cycles"], tree["objects"]), (10, 140))
        self.assertEqual(lines, {line_of(SCRIPT, "root = Tree()"),
                                 line_of(SCRIPT, "child = Tree(root)"),
                                 line_of(SCRIPT, "        Tree(child)")})
        slots, lines = only(("__main__.Slotted",))
        self.assertEqual(lines, {line_of(SCRIPT, "a, b = Slotted()")})
        closure, lines = only(("cell", "function", "tuple"))
        self.assertIn(line_of(SCRIPT, "def again"), lines)
        self.assertEqual(closure["cycles"], 10)
        example = [step["reference"] for step in closure["example"]][:-1]
        self.assertEqual(sorted(example), [".__closure__", ".cell_contents", "[0]"])
        lists, lines = only(("list",))
        self.assertEqual(lines, {line_of(SCRIPT, "x = []")})
        dicts, lines = only(("dict",))
        self.assertIn(line_of(SCRIPT, "a, b = {}, {}"), lines)
        self.assertEqual(sorted(s["reference"] for s in dicts["example"][:-1]), ["['a']", "['b']"])

    def test_text_and_dot(self):
        db, res = self.record(SCRIPT)
        dot = os.path.join(self.tmp, "cycle.dot")
        out = harness.run_viewer(["cycles", db, "--dot", dot, "--group", "1"])
        self.assertEqual(out.returncode, 0, out)
        text = out.stdout.decode()
        self.assertIn("250 garbage (the collector would free them), 60 garbage cycles", text)
        self.assertIn("example    __main__.Tree --", text)
        with open(dot) as f:
            graph = f.read()
        self.assertTrue(graph.startswith("digraph cycle {"))
        self.assertIn('[label="__main__.Tree"]', graph)
        self.assertIn('[label=".parent"]', graph)

    def test_summary(self):
        db, _ = self.record(SCRIPT)
        text = harness.run_viewer(["summary", db]).stdout.decode()
        self.assertIn("250 garbage objects in 60 cycles", text)
        self.assertIn("10 cycles (7 x __main__.Tree, 4 x list)", text)
        report = json.loads(harness.run_viewer(["summary", db, "--json"]).stdout)
        self.assertEqual(report["cycles"]["garbage"], 250)
        self.assertEqual(report["cycles"]["groups"][0]["objects"], 140)
        plain_db = self.new_db_path()
        harness.run_pyscope(["--no-sample", "-c", "pass"], plain_db)
        self.assertIsNone(json.loads(harness.run_viewer(["summary", plain_db, "--json"])
                                     .stdout)["cycles"])

    def test_growth(self):
        db, _ = self.record(os.path.join(HERE, "growth.py"))
        report = cycles_json(db, "--growth")
        self.assertEqual(len(report["snapshots"]), 4)  # three rounds and the exit
        grows = [g for g in report["groups"] if g["grows"]]
        self.assertEqual(len(grows), 1)
        self.assertEqual(grows[0]["cycles"], [10, 20, 30, 30])
        self.assertIn("__main__.Link", grows[0]["types"])
        steady = [g for g in report["groups"] if not g["grows"]]
        self.assertEqual([g["cycles"] for g in steady], [[1, 1, 1, 1]])

    def test_two_snapshots(self):
        db, _ = self.record(os.path.join(HERE, "growth.py"))
        ids = [r["id"] for r in harness.db_rows(
            db, "select id from snapshots where label like 'round %' order by id")]
        report = cycles_json(db, str(ids[0]), str(ids[2]))
        self.assertEqual(report["snapshots"], [ids[0], ids[2]])
        grows = [g for g in report["groups"] if g["grows"]]
        self.assertEqual([g["cycles"] for g in grows], [[10, 30]])
        out = harness.run_viewer(["cycles", db, str(ids[0]), "99"])
        self.assertEqual(out.returncode, 2)
        self.assertIn(b"no snapshot 99", out.stderr)

    def test_errors(self):
        db, res = self.record(SCRIPT)
        plain_db = self.new_db_path()
        harness.run_pyscope(["--no-sample", "-c", "pass"], plain_db)
        for args, text in ((["cycles", plain_db], b"no object graph"),
                           (["cycles", db, "99"], b"no snapshot 99"),
                           (["cycles", db, "x"], b"is not a snapshot id"),
                           (["cycles", db, "--dot", os.path.join(self.tmp, "g.dot"), "--group",
                             "500"], b"no group 500"),
                           (["cycles", os.path.join(self.tmp, "none.db")], b"cannot open"),
                           (["cycles", db, "--bogus"], b"unknown option")):
            out = harness.run_viewer(args)
            self.assertEqual(out.returncode, 2, (args, out))
            self.assertIn(text, out.stderr)
            self.assertEqual(len(out.stderr.splitlines()), 1, out)


if __name__ == "__main__":
    unittest.main()
