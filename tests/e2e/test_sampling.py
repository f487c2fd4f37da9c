"""End-to-end tests of the sampler with known answers: CPU shares, wall
versus CPU time, threads, idle threads, the depth limit, and safety under
code-object churn. Fixtures live in sampling/."""
import json
import os
import unittest

import harness
from harness import E2ETestCase, db_integrity, db_rows

HERE = os.path.join(harness.HERE, "sampling")

# Self time per function (the leaf frame of each sample), by clock.
LEAF_SQL = """
select f.qualname as fn, count(*) as n, sum(s.cpu_ns) as cpu
from samples s join stacks st on st.id = s.stack_id
join frames fr on fr.id = st.frame_id join functions f on f.id = fr.function_id
{where} group by f.qualname
"""


def shares(db, key, where=""):
    """Self share of each function: the leaf frame of each sample."""
    rows = db_rows(db, LEAF_SQL.format(where=where))
    total = sum(r[key] for r in rows) or 1
    return {r["fn"]: 100.0 * r[key] / total for r in rows}


def inclusive(db, key):
    """Total share of each function: samples whose stack holds it (once)."""
    stacks = {r["id"]: (r["parent_id"], r["fn"]) for r in db_rows(
        db, """select st.id, st.parent_id, f.qualname fn from stacks st
               join frames fr on fr.id = st.frame_id join functions f on f.id = fr.function_id""")}
    totals, grand = {}, 0
    for r in db_rows(db, "select stack_id, count(*) n, sum(cpu_ns) cpu from samples "
                         "group by stack_id"):
        grand += r[key]
        seen, sid = set(), r["stack_id"]
        while sid:
            parent, fn = stacks[sid]
            seen.add(fn)
            sid = parent
        for fn in seen:
            totals[fn] = totals.get(fn, 0) + r[key]
    return {fn: 100.0 * v / (grand or 1) for fn, v in totals.items()}


# Timing answers need the real speed of the handler and the emitter; under
# the sanitizers the tests of safety still run, those of accuracy do not.
accuracy = unittest.skipIf(os.environ.get("PYSCOPE_TEST_SANITIZED"),
                           "sanitizer builds distort timing")


class Sampling(E2ETestCase):
    def profile(self, script, *extra):
        db = self.new_db_path()
        res = harness.run_pyscope(["--rate", "1000", *extra, os.path.join(HERE, script)], db,
                                  cwd=self.tmp)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(db_integrity(db), "ok")
        return db

    @accuracy
    def test_cpu_shares_three_to_one(self):
        db = self.profile("ratio.py")
        cpu = inclusive(db, "cpu")
        heavy, light = cpu.get("heavy", 0), cpu.get("light", 0)
        self.assertAlmostEqual(100 * heavy / (heavy + light), 75.0, delta=3.0, msg=cpu)
        self.assertGreater(heavy + light, 90.0, cpu)

    @accuracy
    def test_sleep_is_wall_time_not_cpu_time(self):
        db = self.profile("sleeper.py")
        wall = inclusive(db, "n")
        cpu = inclusive(db, "cpu")
        self.assertGreater(wall.get("sleeper", 0), 30.0, wall)
        self.assertLess(cpu.get("sleeper", 0), 5.0, cpu)
        self.assertGreater(cpu.get("burner", 0), 90.0, cpu)
        idle = db_rows(db, "select count(*) n from samples where state = 2")[0]["n"]
        self.assertGreater(idle, 100)

    @accuracy
    def test_two_threads_share_evenly_and_join_is_idle(self):
        db = self.profile("two_threads.py")
        rows = db_rows(db, """select t.name, sum(s.cpu_ns) cpu, count(*) n,
                              sum(s.state = 2) idle from samples s
                              join threads t on t.id = s.thread_id group by t.name""")
        by = {r["name"]: r for r in rows}
        a, b = by["burner-0"]["cpu"], by["burner-1"]["cpu"]
        self.assertAlmostEqual(100.0 * a / (a + b), 50.0, delta=5.0, msg=rows)
        main = by["MainThread"]
        self.assertGreater(main["idle"], 0.8 * main["n"], rows)
        # where the main thread waits: in join
        waits = db_rows(db, LEAF_SQL.format(where="where s.state = 2 and s.thread_id = "
                                            "(select id from threads where name = 'MainThread')"))
        top = max(waits, key=lambda r: r["n"])["fn"]
        self.assertIn(top, ("Thread.join", "Thread._wait_for_tstate_lock"))

    def test_states_tell_gil_waits_from_sleep(self):
        db = self.profile("gil.py")
        rows = db_rows(db, """select t.name, s.state, count(*) n from samples s
                              join threads t on t.id = s.thread_id group by 1, 2""")
        by = {}
        for r in rows:
            by.setdefault(r["name"], {})[r["state"]] = r["n"]
        for name in ("spinner-0", "spinner-1"):
            states = by[name]
            n = sum(states.values())
            # two threads that want the GIL all the time hold it half the time
            self.assertGreater(states.get(0, 0), 0.25 * n, by)
            self.assertGreater(states.get(3, 0), 0.25 * n, by)
            self.assertLess(states.get(2, 0), 0.1 * n, by)
        for name in ("napper", "MainThread"):
            states = by[name]
            self.assertGreater(states.get(2, 0), 0.75 * sum(states.values()), by)
        # the viewer picks states out
        res = harness.run_viewer(["hot", db, "--clock", "wall", "--state", "gil", "--json"])
        self.assertEqual(res.returncode, 0, res)
        top = json.loads(res.stdout)["lines"][0]
        self.assertEqual(top["function"], "spin", top)
        res = harness.run_viewer(["top", db, "--state", "gil,bogus"])
        self.assertEqual(res.returncode, 2, res)
        self.assertEqual(res.stderr.count(b"\n"), 1, res)
        res = harness.run_viewer(["summary", db])
        self.assertRegex(res.stdout.decode(), r"wall time .*% running Python.*% waiting for the "
                                               r"GIL.*% idle")

    def test_line_is_exact(self):
        db = self.profile("ratio.py")
        rows = db_rows(db, """select fr.line, count(*) n from samples s
                              join stacks st on st.id = s.stack_id
                              join frames fr on fr.id = st.frame_id
                              join functions f on f.id = fr.function_id
                              where f.qualname = 'burn' group by fr.line""")
        lines = {r["line"]: r["n"] for r in rows}
        # the loop of burn() is lines 7-8; the def line never runs
        self.assertTrue(set(lines) <= {6, 7, 8}, lines)
        self.assertGreater(lines.get(7, 0) + lines.get(8, 0), 0.9 * sum(lines.values()), lines)

    def test_deep_recursion_is_truncated_and_marked(self):
        db = self.profile("deep.py")
        rows = db_rows(db, """select count(*) n from samples s join stacks st on st.id = s.stack_id
                              where exists (with recursive up(id, parent, frame) as (
                                  select st.id, st.parent_id, st.frame_id
                                  union all select p.id, p.parent_id, p.frame_id from stacks p
                                  join up on p.id = up.parent)
                                select 1 from up join frames fr on fr.id = up.frame
                                join functions f on f.id = fr.function_id
                                where f.name = '[truncated]')""")
        self.assertGreater(rows[0]["n"], 50)
        cpu = inclusive(db, "cpu")
        self.assertGreater(cpu.get("down", 0), 50.0, cpu)

    def test_no_sample(self):
        db = self.profile("ratio.py", "--no-sample")
        self.assertEqual(db_rows(db, "select count(*) n from samples")[0]["n"], 0)

    def test_churn_under_fast_sampling(self):
        for _ in range(int(os.environ.get("PYSCOPE_STRESS_RUNS", "3"))):
            db = self.new_db_path()
            res = harness.run_pyscope(["--rate", "10000", os.path.join(HERE, "churn.py")], db,
                                      cwd=self.tmp)
            self.assertEqual(res.returncode, 0, res)
            self.assertEqual(res.stdout, b"ok\n")
            self.assertEqual(db_integrity(db), "ok")
            procs = db_rows(db, "select exit_code from processes order by id")
            self.assertEqual([p["exit_code"] for p in procs], [0, 0])
            unknown = db_rows(db, "select count(*) n from functions where name = '<unknown>'")
            self.assertEqual(unknown[0]["n"], 0)
            # every sampled line lies within its function's source lines
            bad = db_rows(db, """select f.qualname, f.firstlineno, fr.line from frames fr
                                 join functions f on f.id = fr.function_id
                                 where fr.line < f.firstlineno and f.firstlineno > 0""")
            self.assertEqual(bad, [])


if __name__ == "__main__":
    unittest.main()
