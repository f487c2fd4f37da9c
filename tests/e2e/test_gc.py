"""End-to-end tests of `pyscope profile --gc` and `pyscope gc`: every
collection recorded with its generation, what it collected and the line that
set it off, as the program's own gc callback and gc.collect() see them."""
import json
import os
import unittest

import harness
from harness import E2ETestCase, db_integrity, db_rows

HERE = os.path.join(harness.HERE, "gc")
SCRIPT = os.path.join(HERE, "collections.py")


def line_of(text):
    with open(SCRIPT) as f:
        return next(i for i, line in enumerate(f, 1) if text in line)


class GcActivity(E2ETestCase):

    def record(self):
        db = self.new_db_path()
        res = harness.run_pyscope(["--gc", "--no-sample", SCRIPT], db, timeout=120)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(db_integrity(db), "ok")
        return db, [int(x) for x in res.stdout.split()]

    def test_collections_match_the_program(self):
        db, (g0, g1, g2, young, full) = self.record()
        self.assertGreater(g0, 10)
        rows = db_rows(db, """
            select g.generation as gen, g.collected as collected, g.duration_ns as d,
                   f.line as line, fn.name as fn
            from gc_collections g left join stacks s on s.id = g.stack_id
            left join frames f on f.id = s.frame_id left join functions fn on fn.id = f.function_id
            order by g.t_ns""")
        churn = line_of("automatic collections")
        auto = [0, 0, 0]
        for r in rows:
            if r["line"] == churn:
                self.assertEqual(r["fn"], "churn")
                auto[r["gen"]] += 1
            self.assertGreaterEqual(r["d"], 0)
        self.assertEqual(auto, [g0, g1, g2])
        explicit = [(r["gen"], r["collected"]) for r in rows
                    if r["line"] in (line_of("young = "), line_of("full = "))]
        self.assertEqual(explicit, [(0, young), (2, full)])
        self.assertGreaterEqual(young, 100)  # and what churn left in generation 0
        self.assertGreaterEqual(full, 50)
        # Every other collection happened after the program's last line, at exit.
        others = [r for r in rows if r["line"] not in (churn, line_of("young = "),
                                                        line_of("full = "))]
        self.assertLessEqual(len(others), 2, others)

    def test_viewer(self):
        db, (g0, g1, g2, young, full) = self.record()
        res = harness.run_viewer(["gc", db, "--json"])
        self.assertEqual(res.returncode, 0, res)
        report = json.loads(res.stdout)
        gens = report["generations"]
        total = sum(g["collections"] for g in gens)
        self.assertEqual(report["collections"], total)
        self.assertGreaterEqual(gens[0]["collections"], g0 + 1)
        self.assertGreaterEqual(gens[2]["collections"], g2 + 1)
        self.assertEqual(report["paused_ns"], sum(g["paused_ns"] for g in gens))
        sites = {(s["filename"], s["line"]): s for s in report["sites"]}
        churn = sites[(SCRIPT, line_of("automatic collections"))]
        self.assertEqual(churn["by_generation"], [g0, g1, g2])
        self.assertEqual(churn["function"], "churn")
        self.assertEqual(sites[(SCRIPT, line_of("full = "))]["collected"], full)
        longest = report["longest"]
        self.assertEqual(len(longest), total)
        self.assertEqual([p["duration_ns"] for p in longest],
                         sorted((p["duration_ns"] for p in longest), reverse=True))
        text = harness.run_viewer(["gc", db]).stdout.decode()
        self.assertIn(f"{SCRIPT}:{line_of('automatic collections')}", text)
        self.assertIn("a = Node(); b = Node()", text)  # the source line
        summary = harness.run_viewer(["summary", db, "--json"])
        self.assertEqual(json.loads(summary.stdout)["gc"]["collections"], total)
        self.assertIn(b"'pyscope gc' shows where", harness.run_viewer(["summary", db]).stdout)

    def test_without_gc(self):
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "-c", "import gc; gc.collect(); "
                                   "print(gc.callbacks)"], db)
        self.assertEqual(res.stdout, b"[]\n")
        out = harness.run_viewer(["gc", db])
        self.assertEqual(out.returncode, 0)
        self.assertIn(b"none (record them with 'pyscope profile --gc')", out.stdout)
        self.assertIsNone(json.loads(harness.run_viewer(["summary", db, "--json"]).stdout)["gc"])

    def test_bad_input(self):
        db, _ = self.record()
        for args in (["gc"], ["gc", os.path.join(self.tmp, "missing.db")],
                     ["gc", db, "--process", "x"], ["gc", db, "--process", "1"],
                     ["gc", db, "--limit", "-1"], ["gc", db, "--bogus"]):
            res = harness.run_viewer(args)
            self.assertEqual(res.returncode, 2, (args, res))
            self.assertLessEqual(len(res.stderr.splitlines()), 2, res)


if __name__ == "__main__":
    unittest.main()
