"""End-to-end tests of the sampler with known answers: CPU shares, wall
versus CPU time, threads, idle threads, the depth limit, and safety under
code-object churn. Fixtures live in sampling/."""
import ast
import json
import os
import sqlite3
import unittest

import harness
from harness import E2ETestCase, db_integrity, db_rows

HERE = os.path.join(harness.HERE, "sampling")

# Self time per function (the leaf frame of each sample), by clock.
LEAF_SQL = """
select f.qualname as fn, sum(s.ticks) as n, sum(s.cpu_ns) as cpu
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
    for r in db_rows(db, "select stack_id, sum(ticks) n, sum(cpu_ns) cpu from samples "
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


def described(db):
    """What a run recorded, for the message of a failed test: samples by
    state, with their CPU time and how many have no stack, and the heaviest
    leaves."""
    return {
        "by state": db_rows(db, "select state, sum(ticks) n, sum(cpu_ns) cpu,"
                                " sum((stack_id is null) * ticks) stackless from samples group by state"),
        "leaves": sorted(shares(db, "n").items(), key=lambda kv: -kv[1])[:6],
        "threads": db_rows(db, "select * from threads"),
    }


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
        if not heavy + light > 90.0:
            self.fail((cpu, described(db)))
        self.assertAlmostEqual(100 * heavy / (heavy + light), 75.0, delta=3.0, msg=cpu)

    @accuracy
    def test_a_stack_that_changes_all_the_time_keeps_its_share(self):
        # churn() calls a lambda from C for every match: the sampler reads
        # its stack while it changes, and must not lose those samples
        for extra in ([], ["--native"]):
            db = self.new_db_path()
            res = harness.run_pyscope(["--rate", "1000", *extra, os.path.join(HERE, "churn.py")],
                                      db, cwd=self.tmp)
            self.assertEqual(res.returncode, 0, res)
            measured = float(res.stdout)
            cpu = inclusive(db, "cpu")
            churn, steady = cpu.get("churn", 0), cpu.get("steady", 0)
            self.assertGreater(churn + steady, 80.0, (extra, cpu))
            self.assertAlmostEqual(100 * churn / (churn + steady), measured, delta=5.0,
                                   msg=(extra, cpu))

    @accuracy
    def test_sleep_is_wall_time_not_cpu_time(self):
        db = self.profile("sleeper.py")
        wall = inclusive(db, "n")
        cpu = inclusive(db, "cpu")
        self.assertGreater(wall.get("sleeper", 0), 30.0, wall)
        self.assertLess(cpu.get("sleeper", 0), 5.0, cpu)
        self.assertGreater(cpu.get("burner", 0), 90.0, cpu)
        idle = db_rows(db, "select sum(ticks) n from samples where state = 2")[0]["n"]
        self.assertGreater(idle, 100)

    @accuracy
    def test_two_threads_share_evenly_and_join_is_idle(self):
        db = self.profile("two_threads.py")
        rows = db_rows(db, """select t.name, sum(s.cpu_ns) cpu, sum(s.ticks) n,
                              sum((s.state = 2) * s.ticks) idle from samples s
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
        rows = db_rows(db, """select t.name, s.state, sum(s.ticks) n from samples s
                              join threads t on t.id = s.thread_id group by 1, 2""")
        by = {}
        for r in rows:
            by.setdefault(r["name"], {})[r["state"]] = r["n"]
        for name in ("spinner-0", "spinner-1"):
            states = by[name]
            n = sum(states.values())
            # two threads that want the GIL all the time hold it half the
            # time and wait for it the other half, on a quiet machine. On a
            # busy one a good part of both halves is runnable (4): the
            # holder off its CPU, or the waiter woken and not yet given one
            # (a CI run beside another test: 43 % runnable, 14 % GIL wait).
            # A GIL wait is never taken for sleep.
            self.assertGreater(states.get(0, 0), 0.2 * n, by)
            self.assertGreater(states.get(3, 0), 0.1 * n, by)
            self.assertLess(states.get(2, 0), 0.1 * n, by)
            self.assertGreater(states.get(3, 0), 2 * states.get(2, 0), by)
        # the napper's 0.6 s of sleep is idle, and so is the main thread in
        # join(); both also wait for the GIL at times, when they start or
        # wake while the spinners take turns, the more so the busier the
        # machine is. How many ticks the sleep gets depends on the machine:
        # at 1 kHz 600, but a sampler kept off its CPU loses ticks (208 in
        # a CI run beside the browser test), so what is checked is the
        # share of its samples that are idle. Waking, it waits for the GIL
        # that the spinners hand to each other (177 ticks of 783 once); the
        # main thread takes the GIL back from them at each start() (a CI
        # run of the sanitizer build: 529 idle, 270 GIL wait of 816).
        # Neither is found running or ready to run for long.
        napper, main = by["napper"], by["MainThread"]
        self.assertGreater(sum(napper.values()), 50, by)
        for states in (napper, main):
            self.assertGreater(states.get(2, 0), 0.5 * sum(states.values()), by)
            self.assertGreater(states.get(2, 0), states.get(3, 0), by)
            self.assertLess(states.get(0, 0) + states.get(1, 0) + states.get(4, 0),
                            0.1 * sum(states.values()), by)
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

    def test_waiting_for_a_cpu_is_runnable_not_idle(self):
        # the main thread shares one CPU with a busy process: when it gets
        # none it is runnable, in no system call, not idle
        db = self.profile("crowded.py")
        states = {r["state"]: r["n"] for r in db_rows(
            db, """select s.state, sum(s.ticks) n from samples s
                   join threads t on t.id = s.thread_id
                   where t.name = 'MainThread' group by s.state""")}
        n = sum(states.values())
        self.assertGreater(n, 200, states)
        self.assertLess(states.get(2, 0), 0.1 * n, states)
        # about 40 % alone; a tick that comes late (the sampler thread kept
        # off the CPUs by other work) spans more of the thread's turns on its
        # CPU, and finds it has run: 18 % beside another test on two
        # processors
        self.assertGreater(states.get(4, 0), 0.1 * n, states)
        res = harness.run_viewer(["top", db, "--clock", "wall", "--state", "runnable", "--json"])
        self.assertEqual(res.returncode, 0, res)
        self.assertTrue(json.loads(res.stdout)["functions"], res)

    def test_line_is_exact(self):
        db = self.profile("ratio.py")
        rows = db_rows(db, """select fr.line, sum(s.ticks) n from samples s
                              join stacks st on st.id = s.stack_id
                              join frames fr on fr.id = st.frame_id
                              join functions f on f.id = fr.function_id
                              where f.qualname = 'burn' group by fr.line""")
        lines = {r["line"]: r["n"] for r in rows}
        # The loop of burn() is lines 7-8. The def line is where a call is
        # for the one instruction that starts it (RESUME, whose line is the
        # def's, as f_lineno says there): a sample lands there now and then
        # (1 in 1,629 in one run), never more than that.
        self.assertTrue(set(lines) <= {5, 6, 7, 8}, lines)
        self.assertLess(lines.get(5, 0), 0.01 * sum(lines.values()), lines)
        self.assertGreater(lines.get(7, 0) + lines.get(8, 0), 0.9 * sum(lines.values()), lines)

    def test_deep_recursion_is_truncated_and_marked(self):
        db = self.profile("deep.py")
        rows = db_rows(db, """select sum(s.ticks) n from samples s join stacks st on st.id = s.stack_id
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
        self.assertEqual(db_rows(db, "select coalesce(sum(ticks), 0) n from samples")[0]["n"], 0)
        self.assertNotRegex(harness.run_viewer(["summary", db]).stdout, rb"\n  sampling ")

    def test_idle_threads_keep_every_tick(self):
        # idle ticks go out as one record per run, held by the sampler: the
        # ones held when a thread ends and when sampling stops are sent too
        db = self.profile("napper.py")
        meta = {r["key"]: int(r["value"]) for r in db_rows(
            db, "select key, value from meta where key in ('sample_ticks', 'sample_ticks_due')")}
        taken = meta["sample_ticks"] / meta["sample_ticks_due"]
        rows = db_rows(db, """select t.name, t.started_ns, t.ended_ns, sum(s.ticks) n,
                              sum((s.state = 2) * s.ticks) idle, max(s.t_ns) last
                              from samples s join threads t on t.id = s.thread_id
                              group by t.id""")
        by = {r["name"]: r for r in rows}
        napper = by["napper"]
        lived_ms = (napper["ended_ns"] - napper["started_ns"]) / 1e6
        self.assertGreater(napper["n"], 0.85 * taken * lived_ms, (rows, meta))
        self.assertGreater(napper["idle"], 0.9 * napper["n"], rows)
        # the main thread's last 200 ms of sleep, sent when sampling stopped
        # (its run starts when the join ends, as the napper ends)
        slept = db_rows(db, """select sum(s.ticks) n from samples s
                               join threads t on t.id = s.thread_id
                               where t.name = 'MainThread' and s.t_ns >= ?""",
                        (napper["ended_ns"] - 20_000_000,))[0]["n"]
        self.assertGreater(slept, 0.85 * taken * 200, (slept, rows, meta))

    def test_summary_tells_the_ticks_taken(self):
        db = self.profile("ratio.py")
        meta = {r["key"]: int(r["value"]) for r in db_rows(
            db, "select key, value from meta where key in"
                " ('sample_ticks', 'sample_ticks_due', 'torn_samples', 'dropped_samples')")}
        # a tick for each interval the sampler ran, give or take the jitter
        # and a late tick on a busy machine; the program runs about 1.2 s
        self.assertGreater(meta["sample_ticks_due"], 600, meta)
        self.assertLessEqual(meta["sample_ticks"], 1.1 * meta["sample_ticks_due"], meta)
        self.assertGreater(meta["sample_ticks"], 0.5 * meta["sample_ticks_due"], meta)
        self.assertLessEqual(meta["torn_samples"], meta["dropped_samples"], meta)
        # every tick sampled the one thread: a sample per tick taken
        samples = db_rows(db, "select sum(ticks) n from samples")[0]["n"]
        self.assertLessEqual(abs(samples + meta["dropped_samples"] - meta["sample_ticks"]), 2,
                             (samples, meta))
        out = harness.run_viewer(["summary", db]).stdout.decode()
        self.assertRegex(out, r"\n  sampling +(\d+\.\d% of the ticks due at 1000 Hz taken "
                              r"\([\d,]+ of [\d,]+\)|every tick due at 1000 Hz taken "
                              r"\([\d,]+, with [\d,]+ due over the run\))", out)
        # The count due is the running time over the mean of a jittered
        # interval: a run can take a few more ticks than that. The summary
        # showed 100.4 %; more than every tick is every tick.
        con = sqlite3.connect(db)
        with con:
            con.execute("update meta set value = ? where key = 'sample_ticks'",
                        (str(meta["sample_ticks_due"] + 7),))
        con.close()
        out = harness.run_viewer(["summary", db]).stdout.decode()
        self.assertIn(f"  sampling     every tick due at 1000 Hz taken "
                      f"({meta['sample_ticks_due'] + 7:,}, with {meta['sample_ticks_due']:,} "
                      f"due over the run)", out)


def line_ranges(path):
    """Each function name of a source file and the lines its definitions span."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    ranges = {"<module>": [(1, max(len(tree.body) and tree.body[-1].end_lineno, 1))]}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                             ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)):
            name = {ast.Lambda: "<lambda>", ast.GeneratorExp: "<genexpr>",
                    ast.ListComp: "<listcomp>", ast.SetComp: "<setcomp>",
                    ast.DictComp: "<dictcomp>"}.get(type(node), getattr(node, "name", None))
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            ranges.setdefault(name, []).append((first, node.end_lineno))
    return ranges


class HalfBuiltFrames(E2ETestCase):
    """The walk reads only frames that exist: a C frame the interpreter has
    linked into the thread but not filled in yet names memory that is no
    live frame of the thread; no sample may come of it."""

    @unittest.skipUnless(harness.ext_dir_with("tornext"), "no tornext test extension for this version")
    def test_no_sample_from_a_half_built_c_frame(self):
        env = harness.clean_env({"PYTHONPATH": os.environ["PYSCOPE_TEST_EXT_DIR"]})
        for kind in ("garbage", "stale"):
            with self.subTest(kind=kind):
                db = self.new_db_path()
                res = harness.run_pyscope(["--rate", "10000", os.path.join(HERE, "torn.py"), kind],
                                          db, cwd=self.tmp, env=env)
                self.assertEqual(res.returncode, 0, res)
                self.assertEqual(res.stdout, b"ok\n")
                named = db_rows(db, """select coalesce(sum(s.ticks), 0) n from samples s
                                       join stacks st on st.id = s.stack_id
                                       join frames fr on fr.id = st.frame_id
                                       join functions f on f.id = fr.function_id
                                       where f.name = 'never_called'""")
                self.assertEqual(named[0]["n"], 0, kind)
                if kind == "stale":
                    # whole and linked to the real frames: the samples are
                    # the thread's own stack, without the leftover
                    spun = db_rows(db, """select count(*) n from functions
                                          where name = 'spin_under_it'""")
                    self.assertEqual(spun[0]["n"], 1, kind)


class WildCFrames(E2ETestCase):
    """A C frame the sampler read from its thread may be left while the
    walk goes on, and its stack slot written over by other calls: what the
    walk then reads from it may be no address at all. The walk refuses
    it, and the program runs on as without pyscope, faulthandler on (as
    regrtest and pytest have it)."""

    @unittest.skipUnless(harness.ext_dir_with("tornext"), "no tornext test extension for this version")
    def test_no_fault_on_a_wild_c_frame(self):
        env = harness.clean_env({"PYTHONPATH": os.environ["PYSCOPE_TEST_EXT_DIR"]})
        for which in ("previous", "current"):
            with self.subTest(which=which):
                db = self.new_db_path()
                res = harness.run_pyscope(["--rate", "10000", os.path.join(HERE, "wild.py"), which],
                                          db, cwd=self.tmp, env=env)
                self.assertEqual((res.returncode, res.stdout, res.stderr), (0, b"ok\n", b""), which)
                self.assertEqual(db_integrity(db), "ok")


class FaultsBehindTheProgramsHandler(E2ETestCase):
    """However careful the walk, a pointer it follows can lead to memory
    mapped to nothing. That fault is the walk's: it ends the walk, and the
    program's own fault handler, installed after pyscope's (faulthandler,
    as regrtest and pytest enable it), never sees it."""

    @unittest.skipUnless(harness.ext_dir_with("tornext"), "no tornext test extension for this version")
    def test_a_fault_of_the_walk_is_not_the_programs(self):
        env = harness.clean_env({"PYTHONPATH": os.environ["PYSCOPE_TEST_EXT_DIR"]})
        for mode in ([], ["--calls=python"]):
            with self.subTest(mode=mode):
                db = self.new_db_path()
                res = harness.run_pyscope(mode + ["--rate", "10000", os.path.join(HERE, "unmapped.py")],
                                          db, cwd=self.tmp, env=env)
                self.assertEqual((res.returncode, res.stdout, res.stderr), (0, b"ok\n", b""), mode)
                self.assertEqual(db_integrity(db), "ok")


class FreedUnderTheWalk(E2ETestCase):
    """The sampler reads a thread's frames while the thread runs: a
    data-stack chunk the walk is reading may be given back meanwhile; the
    program runs on as without pyscope, faulthandler on."""

    def test_chunks_given_back_while_read(self):
        for run in range(3):
            db = self.new_db_path()
            res = harness.run_pyscope(["--rate", "10000", os.path.join(HERE, "chunks.py")], db,
                                      cwd=self.tmp)
            self.assertEqual((res.returncode, res.stdout, res.stderr), (0, b"ok\n", b""),
                             f"run {run + 1} of 3")
            self.assertEqual(db_integrity(db), "ok")


class Stress(E2ETestCase):
    """Each fixture runs PYSCOPE_STRESS_RUNS times (3 by default; 100 for the
    full stress: scripts/stress.sh) sampled at 10 kHz: every run must end as
    it would without pyscope, leave a sound database, name every sampled code
    object, and put every sampled line of the fixture inside its function."""

    RUNS = int(os.environ.get("PYSCOPE_STRESS_RUNS", "3"))
    # Ticks the sampler must take at least, to show it was at work: a fixture
    # runs for 0.1 to 0.5 s at 10 kHz, 1,000 ticks or more on an idle
    # machine. A loaded one keeps the sampler thread off its CPU for most of
    # them (55 taken in a 247 ms run in CI, none dropped): what the sampler
    # takes is the machine's, that each tick taken is stored is pyscope's.
    MIN_TICKS = 20

    def stress(self, script, check=None):
        path = os.path.join(HERE, script)
        ranges = line_ranges(path)
        for run in range(self.RUNS):
            db = self.new_db_path()
            res = harness.run_pyscope(["--rate", "10000", path], db, cwd=self.tmp)
            where = f"{script}, run {run + 1} of {self.RUNS}"
            self.assertEqual(res.returncode, 0, f"{where}: {res}")
            self.assertEqual(res.stdout, b"ok\n", where)
            self.assertEqual(db_integrity(db), "ok", where)
            ends = db_rows(db, "select pid, exit_code, signal from processes")
            self.assertTrue(all(p["exit_code"] == 0 for p in ends), f"{where}: {ends}")
            unknown = db_rows(db, "select count(*) n from functions where name = '<unknown>'")
            self.assertEqual(unknown[0]["n"], 0, where)
            counts = {r["key"]: int(r["value"]) for r in db_rows(
                db, "select key, value from meta where key in ('dropped_samples', "
                    "'missed_ticks', 'duration_ns', 'sample_ticks', 'sample_ticks_due')")}
            samples = db_rows(db, "select sum(ticks) n from samples")[0]["n"]
            self.assertGreater(counts["sample_ticks"], self.MIN_TICKS, f"{where}: {counts}")
            # each tick taken gives a sample of every thread alive, the main
            # one at least, save the last tick or two of its end
            self.assertGreaterEqual(samples + counts["dropped_samples"],
                                    counts["sample_ticks"] - 2, f"{where}: {counts}")
            frames = db_rows(db, """select f.name, fr.line from frames fr
                                    join functions f on f.id = fr.function_id
                                    where f.filename = ? and fr.line is not null""", (path,))
            self.assertTrue(frames, where)
            wrong = [(fr["name"], fr["line"]) for fr in frames
                     if not any(a <= fr["line"] <= b for a, b in ranges.get(fr["name"], []))]
            self.assertEqual(wrong, [], f"{where}: lines outside their function")
            if check:
                check(db, where)

    def test_code_objects_made_and_freed(self):
        def generated(db, where):
            # compiled and exec'd code: lambdas on line 1, g<i> on lines 1-2
            # and the exec'd module that calls it on line 3
            rows = db_rows(db, """select f.name, f.filename, fr.line from frames fr
                                  join functions f on f.id = fr.function_id
                                  where f.filename like '<gen%' or f.filename = '<string>'""")
            bad = [r for r in rows if r["line"] is not None and not 1 <= r["line"] <= 3]
            self.assertEqual(bad, [], where)
        self.stress("stress_code.py", generated)

    def test_generators_and_coroutines(self):
        self.stress("stress_gen.py")

    def test_recursion_past_the_depth_limit(self):
        def truncated(db, where):
            deepest = db_rows(db, """with recursive d(id, n) as (
                                         select id, 1 from stacks where parent_id is null
                                         union all select s.id, d.n + 1 from stacks s
                                         join d on s.parent_id = d.id)
                                     select max(n) n from d""")[0]["n"]
            self.assertEqual(deepest, 513, where)  # 512 frames under [truncated]
        self.stress("deep.py", truncated)

    def test_threads_starting_and_ending(self):
        def threads(db, where):
            n = db_rows(db, "select count(*) n from threads")[0]["n"]
            self.assertEqual(n, 1 + 4 + 3 * 150 + 150, where)
        self.stress("stress_threads.py", threads)

    def test_fork_and_multiprocessing(self):
        def processes(db, where):
            n = db_rows(db, "select count(*) n from processes")[0]["n"]
            self.assertGreaterEqual(n, 1 + 20 + 2 + 2, where)
        self.stress("stress_fork.py", processes)


if __name__ == "__main__":
    unittest.main()


def line_self_ns(db, *extra):
    """Each line's self time as `pyscope hot --json` gives it, and the run's
    figures: {(function, line): self_ns}, document."""
    doc = json.loads(harness.run_viewer(["hot", db, "--json", "--limit", "0", *extra]).stdout)
    return {(r["function"], r["line"]): r["self_ns"] for r in doc["lines"]}, doc


class OwnWork(E2ETestCase):
    """Time in pyscope's own hooks is pyscope's: a [pyscope] leaf under the
    line that set the hook off, left out of the views unless asked for."""

    SCRIPT = os.path.join(HERE, "own_work.py")
    MAKE, COMPUTE = ("make", 9), ("compute", 16)

    @accuracy
    def test_the_tracers_time_is_not_the_allocating_lines(self):
        runs = []
        for _ in range(3):
            plain_db = self.new_db_path()
            res = harness.run_pyscope([self.SCRIPT], plain_db, cwd=self.tmp)
            self.assertEqual(res.returncode, 0, res)
            traced_db = self.new_db_path()
            res = harness.run_pyscope(["--memory", self.SCRIPT], traced_db, cwd=self.tmp)
            self.assertEqual(res.returncode, 0, res)
            plain, _ = line_self_ns(plain_db)
            traced, doc = line_self_ns(traced_db)
            ratio = traced.get(self.COMPUTE, 0) / max(plain.get(self.COMPUTE, 0), 1)
            runs.append((ratio, plain, traced, doc, traced_db))
        # three pairs, the median pair by the ratio below: one run that a
        # burst of load meets is not the rule (2.54 was seen in a run beside
        # other tests on two processors, 0.4-1.1 alone)
        ratio, plain, traced, doc, traced_db = sorted(runs, key=lambda r: r[0])[1]
        # The tracer's time under compute is 1.2 to 3.6 times the computing
        # line's own time without the tracer (before its hooks took no lock,
        # 3 times): were it the line's, the line would take 2.2 to 4.6 times
        # its time. The rest is the program's, as without the tracer, give or
        # take a busy machine and the sampler's reading of the hooks from
        # outside the thread, which puts some of the line's own time in them
        # (0.6 of it stays on a quiet machine, 0.25 was seen under load).
        self.assertTrue(0.15 < ratio < 2.5, [r[:3] for r in runs])
        under = db_rows(traced_db, """
            select sum(s.cpu_ns) ns from samples s join stacks st on st.id = s.stack_id
            join frames fr on fr.id = st.frame_id join functions f on f.id = fr.function_id
            join stacks ps on ps.id = st.parent_id join frames pfr on pfr.id = ps.frame_id
            join functions pf on pf.id = pfr.function_id
            where f.name = '[pyscope]' and pf.name = 'compute'""")[0]["ns"] or 0
        # The tracer's time is shown apart, as [pyscope] under compute.
        self.assertGreater(under, 0.5 * plain[self.COMPUTE], (under, plain, traced))

    def test_pyscope_under_the_program_and_left_out(self):
        db = self.new_db_path()
        res = harness.run_pyscope(["--memory", self.SCRIPT], db, cwd=self.tmp)
        self.assertEqual(res.returncode, 0, res)
        # A [pyscope] sample is a leaf under the frame whose code set the
        # hook off: here mostly make's and compute's (a few, at start-up and
        # exit, have no Python frame above them; the module's own
        # allocations and the exit snapshot are under <module>, 21 % in a
        # CI run under load, 31 % once the tracer's hooks took no lock).
        rows = db_rows(db, """
            select pf.qualname parent, sum(s.ticks) n from samples s
            join stacks st on st.id = s.stack_id
            join frames fr on fr.id = st.frame_id join functions f on f.id = fr.function_id
            left join stacks ps on ps.id = st.parent_id
            left join frames pfr on pfr.id = ps.frame_id
            left join functions pf on pf.id = pfr.function_id
            where f.name = '[pyscope]' and f.filename is null group by pf.qualname""")
        parents = {r["parent"]: r["n"] for r in rows}
        self.assertGreater(parents.get("make", 0), 0, parents)
        self.assertGreater(parents.get("make", 0) + parents.get("compute", 0),
                           0.5 * sum(parents.values()), parents)
        total = db_rows(db, "select sum(ticks) n from samples where cpu_ns > 0")[0]["n"]

        lines, doc = line_self_ns(db)
        self.assertFalse(doc["filter"]["with_pyscope"])
        self.assertGreater(doc["pyscope_samples"], 0, doc)
        self.assertEqual(doc["samples"] + doc["pyscope_samples"], total, doc)
        kept, with_doc = line_self_ns(db, "--with-pyscope")
        self.assertEqual(with_doc["samples"], total, with_doc)
        text = harness.run_viewer(["hot", db]).stdout.decode()
        self.assertRegex(text, r"note: [\d.]+% of the CPU time was pyscope's own work \(\[pyscope\]\)")
        top = harness.run_viewer(["top", db, "--with-pyscope", "--limit", "0"]).stdout.decode()
        self.assertRegex(top, r"\n +[\d.]+% .*\[pyscope\]\n")
        top = harness.run_viewer(["top", db, "--limit", "0"]).stdout.decode()
        self.assertNotRegex(top, r"\n +[\d.]+% .*\[pyscope\]\n")
        summary = harness.run_viewer(["summary", db]).stdout.decode()
        self.assertRegex(summary, r"of CPU \([\d.]+%\) in pyscope's own hooks, left out of these")

