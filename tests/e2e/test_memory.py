"""End-to-end tests of `pyscope profile --memory`: snapshots whose
statistics by line agree with tracemalloc's own on the same scripts, every
snapshot trigger, the traceback depth limit, raw allocations without the
GIL, fork, and tracemalloc still working inside the program."""
import json
import os
import unittest

import harness
from harness import E2ETestCase, db_integrity, db_rows

HERE = os.path.join(harness.HERE, "memory")
MIN_SIZE = 10 * 1024  # entries smaller than this are interpreter noise
TOLERANCE = 0.05


def lineno_stats(db, snapshot_id, filename):
    """{line: (size, count)} of one snapshot, by the most recent frame, for
    allocations made in filename: tracemalloc's 'lineno' statistics."""
    rows = db_rows(db, """
        select f.line as line, sum(t.size) as size, sum(t.count) as count
        from snapshot_traces t join stacks s on s.id = t.stack_id
        join frames f on f.id = s.frame_id join functions fn on fn.id = f.function_id
        where t.snapshot_id = ? and fn.filename = ? group by f.line""", (snapshot_id, filename))
    return {r["line"]: (r["size"], r["count"]) for r in rows}


def snapshot_ids(db):
    return {r["label"]: r["id"] for r in db_rows(
        db, "select id, label from snapshots where trigger = 'api'")}


class AgreementWithTracemalloc(E2ETestCase):
    """The same script once under tracemalloc, once under pyscope: the big
    entries by line are the same lines with sizes within 5 %."""

    def run_both(self, name):
        script = os.path.join(HERE, name)
        out = os.path.join(self.tmp, "tracemalloc.json")
        res = harness.run_python([script], env=harness.clean_env({"TM_OUT": out}), timeout=300)
        self.assertEqual(res.returncode, 0, res)
        with open(out) as f:
            expected = json.load(f)
        db = self.new_db_path()
        run = harness.run_pyscope(["--no-sample", "--memory", script], db, timeout=300)
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual(run.stdout, res.stdout)
        self.assertEqual(db_integrity(db), "ok")
        return script, expected, db

    def assert_close(self, what, expected, actual):
        self.assertLessEqual(abs(actual - expected), TOLERANCE * expected,
                             f"{what}: tracemalloc {expected}, pyscope {actual}")

    def check_snapshots(self, script, expected, db):
        ids = snapshot_ids(db)
        for snap in expected:
            mine = lineno_stats(db, ids[snap["label"]], script)
            theirs = {line: (size, count) for file, line, size, count in snap["stats"]
                      if file == script and size >= MIN_SIZE}
            big_mine = {line for line, (size, _) in mine.items() if size >= MIN_SIZE}
            # The same lines, allowing for entries at the threshold's edge.
            for line in big_mine ^ set(theirs):
                size = mine.get(line, (0, 0))[0]
                other = theirs.get(line, (0, 0))[0] or next(
                    (s for f, l, s, _ in snap["stats"] if f == script and l == line), 0)
                self.assert_close(f"{snap['label']} line {line}", other, size)
            for line, (size, count) in theirs.items():
                self.assert_close(f"{snap['label']} line {line} size", size, mine[line][0])
                self.assert_close(f"{snap['label']} line {line} count", count, mine[line][1])
            # tracemalloc's order: the top entries are the same lines.
            top_theirs = [line for line, _ in sorted(theirs.items(), key=lambda kv: -kv[1][0])]
            top_mine = sorted(big_mine, key=lambda line: -mine[line][0])
            self.assertEqual(top_mine[:1], top_theirs[:1], snap["label"])
        return ids

    def test_leak_demonstration(self):
        script, expected, db = self.run_both("leak.py")
        ids = self.check_snapshots(script, expected, db)
        # The diff from before to after the list points at the append line.
        diff = expected[1]["diff"]
        top = max((d for d in diff if d[0] == script), key=lambda d: abs(d[4]))
        self.assertEqual(top[1], 9)
        before = lineno_stats(db, ids["before"], script)
        after = lineno_stats(db, ids["after list"], script)
        growth = after[9][0] - before.get(9, (0, 0))[0]
        self.assert_close("growth at the append line", top[4], growth)
        # And so does the viewer's diff, as tracemalloc's compare_to would.
        res = harness.run_viewer(["diff", db, str(ids["before"]), str(ids["after list"]),
                                  "--json", "--limit", "1"])
        self.assertEqual(res.returncode, 0, res)
        first = json.loads(res.stdout)["stats"][0]
        self.assertEqual((first["frames"][-1]["filename"], first["frames"][-1]["line"]),
                         (script, 9))
        self.assert_close("viewer's growth at the append line", top[4], first["size_diff"])
        # The generator leaves nothing behind.
        end = lineno_stats(db, ids["after generator"], script)
        self.assertLess(sum(s for s, _ in end.values()) - sum(s for s, _ in after.values()),
                        MIN_SIZE)

    def test_mixed_allocations(self):
        script, expected, db = self.run_both("mixed.py")
        self.check_snapshots(script, expected, db)

    def test_tracemalloc_in_the_program(self):
        # The program starts tracemalloc, whose hooks chain to pyscope's:
        # each block is counted once, not also tracemalloc's record of it.
        script = os.path.join(HERE, "tracemalloc_too.py")
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "--memory", script], db, timeout=300)
        self.assertEqual(res.returncode, 0, res)
        theirs = json.loads(res.stdout)
        mine = lineno_stats(db, theirs["id"], script)
        big = [(line, size, count) for line, size, count in theirs["stats"] if size >= MIN_SIZE]
        self.assertEqual(len(big), 4, theirs)
        for line, size, count in big:
            self.assert_close(f"line {line} size", size, mine[line][0])
            self.assert_close(f"line {line} count", count, mine[line][1])

    def test_tracemalloc_started_first(self):
        # tracemalloc started with the interpreter is under pyscope's hooks:
        # the program stopping and starting it again leaves pyscope tracing.
        script = os.path.join(HERE, "tracemalloc_first.py")
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "--memory", script], db, timeout=300,
                                  env=harness.clean_env({"PYTHONTRACEMALLOC": "1"}))
        self.assertEqual(res.returncode, 0, res)
        with_tm, stopped, again = json.loads(res.stdout)
        with open(script) as f:
            lines = {name: i for i, text in enumerate(f, 1)
                     for name in ("first", "second", "third") if text.startswith(name + " =")}
        for snap, made in ((with_tm, ["first"]), (stopped, ["first", "second"]),
                           (again, ["first", "second", "third"])):
            mine = lineno_stats(db, snap["id"], script)
            for name in made:
                self.assertGreaterEqual(mine.get(lines[name], (0, 0))[1], 2000, (name, snap))
            for line, size, count in snap["stats"]:
                if size >= MIN_SIZE:
                    self.assert_close(f"line {line} size", size, mine[line][0])
                    self.assert_close(f"line {line} count", count, mine[line][1])
        self.assertEqual(stopped["stats"], [])
        self.assertEqual({line for line, size, _ in again["stats"] if size >= MIN_SIZE},
                         {lines["third"]})

    def test_free_lists(self):
        # Lists, dicts, tuples, floats, contexts, slices and async generators'
        # awaitables reuse the memory of dead ones: charged to the line that
        # made them, as tracemalloc does.
        script, expected, db = self.run_both("freelists.py")
        self.check_snapshots(script, expected, db)


class TracebacksByLine(E2ETestCase):
    """Frames are told apart by line, as tracemalloc tells them apart: a
    line that calls in two places is one frame of a traceback."""

    def test_the_tracebacks_tracemalloc_has(self):
        script = os.path.join(HERE, "paths.py")
        out = os.path.join(self.tmp, "tracemalloc.json")
        res = harness.run_python([script], env=harness.clean_env({"TM_OUT": out}))
        self.assertEqual(res.returncode, 0, res)
        with open(out) as f:
            tracebacks = [tuple(map(tuple, tb)) for tb in json.load(f)]
        # What tree() kept: its list, on line 19. (The rest differs as the
        # tracers start apart: tracemalloc after the imports, and with free
        # lists that hand out blocks it never saw.)
        theirs = {tb for tb in tracebacks if tb[-1] == (script, 19)}
        db = self.new_db_path()
        run = harness.run_pyscope(["--no-sample", "--memory", script], db)
        self.assertEqual((run.returncode, run.stdout), (0, res.stdout), run)
        snapshot = snapshot_ids(db)["tree"]
        mine = set()
        for row in db_rows(db, "select distinct stack_id from snapshot_traces "
                               "where snapshot_id = ?", (snapshot,)):
            frames, node = [], row["stack_id"]
            while node:
                r = db_rows(db, """select s.parent_id parent, fn.filename file, f.line line
                                   from stacks s join frames f on f.id = s.frame_id
                                   join functions fn on fn.id = f.function_id
                                   where s.id = ?""", (node,))[0]
                frames.append((r["file"], r["line"]))
                node = r["parent"]
            if frames and frames[0] == (script, 19):
                mine.add(tuple(f for f in reversed(frames) if f[0] == script))
        # one per depth of tree(10): 11, not the 2,047 calls' paths
        self.assertEqual(len(theirs), 11, tracebacks)
        self.assertEqual(mine, theirs)

    def test_memory_grows_with_lines_not_paths(self):
        # The recorder stores frames by line in any case; what grew was the
        # program's: a node and a traceback per call path, 27 MiB more than
        # without the tracer for these 131,071 calls.
        script = os.path.join(HERE, "paths_rss.py")
        plain = harness.run_python([script])
        self.assertEqual(plain.returncode, 0, plain)
        traced = harness.run_pyscope(["--no-sample", "--memory", script], self.new_db_path())
        self.assertEqual(traced.returncode, 0, traced)
        grown = int(traced.stdout) - int(plain.stdout)
        self.assertLess(grown, 8 * 1024, (plain.stdout, traced.stdout))

    def test_code_compiled_again_is_not_new_code(self):
        """A program that compiles the same source again and again makes a
        new code object each time; the tracer gave each its own code entry,
        nodes and tracebacks, kept after its death for their names: about
        0.8 to 1.5 KiB a round, 14 to 27 MiB more for 20,000 rounds than for
        2,000. A
        code object made from the same source as a dead one now takes its
        entry, so the tables grow with the program's distinct code."""
        script = os.path.join(HERE, "code_churn.py")
        own = {}
        for rounds in (2000, 20000):
            db = self.new_db_path()
            run = harness.run_pyscope(["--no-sample", "--memory", script, str(rounds)], db)
            self.assertEqual(run.returncode, 0, run)
            self.assertEqual(int(run.stdout.split()[0]), 49 * rounds, run)
            (row,) = db_rows(db, "select max(pyscope_bytes) b from snapshots")
            own[rounds] = row["b"]
        self.assertLess(own[20000] - own[2000], 256 * 1024, own)

    def test_own_memory_is_reported(self):
        db = self.new_db_path()
        run = harness.run_pyscope(["--no-sample", "--memory", os.path.join(HERE, "paths_rss.py")],
                                  db)
        self.assertEqual(run.returncode, 0, run)
        memory = json.loads(harness.run_viewer(["summary", "--json", db]).stdout)["memory"]
        # The tables: some 17 tracebacks and what is live at each snapshot,
        # well under the program's RSS; the recorder's RSS beside it.
        self.assertGreater(memory["pyscope_bytes"], 0, memory)
        self.assertLess(memory["pyscope_bytes"], memory["rss_max_bytes"] / 2, memory)
        self.assertGreater(memory["recorder_rss_bytes"], 1 << 20, memory)
        text = harness.run_viewer(["summary", db]).stdout.decode()
        self.assertRegex(text, r"\n  pyscope +[\d.]+ [KM]iB \(pid \d+\) in its tables in the "
                               r"program at most, [\d.]+ MiB RSS in the recorder\n")
        self.assertEqual(db_rows(db, "select count(*) n from snapshots "
                                     "where pyscope_bytes is null")[0]["n"], 0)


class Triggers(E2ETestCase):

    def test_every_trigger(self):
        db = self.new_db_path()
        script = os.path.join(HERE, "triggers.py")
        res = harness.run_pyscope(["--no-sample", "--memory", "--snapshot-interval", "0.05",
                                   script, "0.6"], db, timeout=120)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(db_integrity(db), "ok")
        snaps = db_rows(db, "select * from snapshots order by id")
        api = [s for s in snaps if s["trigger"] == "api"]
        printed = [int(x) for x in res.stdout.split()[1:]]
        self.assertEqual(printed, [s["id"] for s in api])
        self.assertEqual([s["label"] for s in api], ["first", None, "last"])
        by_trigger = {}
        for s in snaps:
            by_trigger.setdefault(s["trigger"], []).append(s)
        self.assertEqual(len(by_trigger["signal"]), 1)
        self.assertGreaterEqual(len(by_trigger["interval"]), 3)
        self.assertEqual(len(by_trigger["exit"]), 1)
        self.assertEqual(len(by_trigger["peak"]), 1)
        for s in snaps:
            self.assertGreater(s["rss_bytes"], 0)
            self.assertGreaterEqual(s["peak_bytes"], s["traced_bytes"])
            total = db_rows(db, "select sum(size) as b, sum(count) as n from snapshot_traces "
                                "where snapshot_id = ?", (s["id"],))[0]
            self.assertEqual((total["b"], total["n"]), (s["traced_bytes"], s["traced_blocks"]))
        peak = by_trigger["peak"][0]
        true_peak = max(s["peak_bytes"] for s in snaps)
        self.assertGreaterEqual(peak["traced_bytes"], 0.95 * true_peak)
        self.assertGreaterEqual(peak["traced_bytes"], 40 * 1024 * 1024)
        top = max(lineno_stats(db, peak["id"], script).items(), key=lambda kv: kv[1][0])
        self.assertEqual(top[0], 12)
        # The interval snapshots come in time order, about 50 ms apart.
        times = [s["t_ns"] for s in by_trigger["interval"]]
        self.assertEqual(times, sorted(times))

    def test_no_signal(self):
        # Without a handler, SIGUSR2 ends the program as it does without pyscope.
        code = "import os, signal; os.kill(os.getpid(), signal.SIGUSR2)"
        plain = harness.run_python(["-c", code])
        res = harness.run_pyscope(["--no-sample", "--memory", "--snapshot-signal", "none",
                                   "-c", code], self.new_db_path())
        self.assertEqual(plain.returncode, -12)
        self.assertEqual(res.returncode, plain.returncode)
        # And with the default, the signal takes a snapshot and nothing else.
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "--memory", "-c",
                                   code + "; import time; time.sleep(0.3)"], db)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(db_rows(db, "select count(*) as n from snapshots "
                                     "where trigger = 'signal'")[0]["n"], 1)


    def test_sigterm(self):
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "--memory",
                                   os.path.join(HERE, "terminated.py")], db, timeout=60)
        self.assertEqual(res.returncode, -15, res)
        snaps = {s["trigger"]: s for s in db_rows(db, "select * from snapshots")}
        self.assertEqual(set(snaps), {"exit", "peak"})
        self.assertGreaterEqual(snaps["exit"]["traced_bytes"], 2000 * 1000)


class Subinterpreters(E2ETestCase):
    def test_code_that_dies_in_a_subinterpreter(self):
        # Before: the subinterpreter printed "Error in sitecustomize ...
        # does not support loading in subinterpreters" (3.12 on), and on
        # 3.12 and 3.13 the exit snapshot named code objects that had died
        # there unseen, and the program died of SIGSEGV.
        script = os.path.join(HERE, "subinterp.py")
        plain = harness.run_python([script], cwd=self.tmp)
        self.assertEqual((plain.returncode, plain.stdout, plain.stderr), (0, b"ok\n", b""), plain)
        for mode in (["--memory"], ["--memory", "--calls"], []):
            with self.subTest(mode=mode):
                db = self.new_db_path()
                run = harness.run_pyscope(mode + [script], db, cwd=self.tmp, timeout=120)
                self.assertEqual((run.returncode, run.stdout, run.stderr), (0, b"ok\n", b""), run)
                self.assertEqual(db_integrity(db), "ok")


class Tracebacks(E2ETestCase):

    def frames_of_top(self, db, snapshot_id):
        """The frames (outermost first) of the snapshot's largest traceback."""
        row = db_rows(db, "select stack_id from snapshot_traces where snapshot_id = ? "
                          "order by size desc limit 1", (snapshot_id,))[0]
        frames = []
        node = row["stack_id"]
        while node:
            r = db_rows(db, """select s.parent_id as parent, fn.name as name, f.line as line
                               from stacks s join frames f on f.id = s.frame_id
                               join functions fn on fn.id = f.function_id
                               where s.id = ?""", (node,))[0]
            frames.append((r["name"], r["line"]))
            node = r["parent"]
        return frames[::-1]

    def test_depth_limit(self):
        script = os.path.join(HERE, "deep.py")
        for option, expected in ((["--memory"], 52), (["--memory-depth", "5"], 5)):
            db = self.new_db_path()
            res = harness.run_pyscope(["--no-sample"] + option + [script], db, timeout=120)
            self.assertEqual(res.returncode, 0, res)
            frames = self.frames_of_top(db, int(res.stdout))
            python_frames = [f for f in frames if f[0] != "[truncated]"]
            self.assertEqual(len(python_frames), expected, frames)
            self.assertEqual(python_frames[-1], ("down", 7))
            self.assertEqual(frames[0][0] == "[truncated]", expected == 5)
            if expected == 52:
                self.assertEqual(frames[0], ("<module>", 11))

    def test_raw_allocations_threads_and_fork(self):
        db = self.new_db_path()
        script = os.path.join(HERE, "threads_raw.py")
        res = harness.run_pyscope(["--no-sample", "--memory", script], db, timeout=300)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(db_integrity(db), "ok")
        snaps = db_rows(db, "select s.id, s.label, s.trigger, p.pid, p.parent_id "
                            "from snapshots s join processes p on p.id = s.process_id")
        child = [s for s in snaps if s["label"] == "child"]
        parent = [s for s in snaps if s["label"] == "parent"]
        self.assertEqual(len(child), 1)
        self.assertEqual(len(parent), 1)
        self.assertNotEqual(child[0]["pid"], parent[0]["pid"])
        self.assertIsNotNone(child[0]["parent_id"])
        with open(script) as f:
            line = next(i for i, text in enumerate(f, 1) if "child_kept =" in text)
        kept = lineno_stats(db, child[0]["id"], script)
        self.assertEqual(kept[line][1], 1002)  # the list, its array of items, 1000 blocks
        self.assertNotIn(line, lineno_stats(db, parent[0]["id"], script))
        # Both processes said goodbye with an exit snapshot.
        exits = {s["pid"] for s in snaps if s["trigger"] == "exit"}
        self.assertEqual(exits, {child[0]["pid"], parent[0]["pid"]})


    def test_raw_blocks_of_threads_without_the_gil(self):
        """Threads without the GIL queue their events for the tables: every
        block is counted once, at its line, frees and reallocs included."""
        db = self.new_db_path()
        script = os.path.join(HERE, "raw_nogil.py")
        res = harness.run_pyscope(["--no-sample", "--memory", script], db, timeout=300)
        self.assertEqual(res.returncode, 0, res)
        blocks, size, resized, resized_size = map(int, res.stdout.split())
        with open(script) as f:
            lines = {text.split("# ")[-1].strip(): i for i, text in enumerate(f, 1)
                     if text.rstrip().endswith(("# ALLOCATED", "# RESIZED"))}
        stats = lineno_stats(db, snapshot_ids(db)["raw"], script)
        self.assertEqual(stats[lines["ALLOCATED"]], (size, blocks))
        self.assertEqual(stats[lines["RESIZED"]], (resized_size, resized))


class UnderStress(E2ETestCase):
    """The sampler's stress fixtures (code objects made and freed fast,
    generators, threads coming and going, fork) with every allocation traced
    and sampling at 10 kHz."""

    def test_stress_fixtures(self):
        for name in ("stress_code.py", "stress_gen.py", "stress_threads.py", "stress_fork.py"):
            db = self.new_db_path()
            script = os.path.join(harness.HERE, "sampling", name)
            res = harness.run_pyscope(["--memory", "--rate", "10000", script], db, timeout=300)
            self.assertEqual(res.returncode, 0, (name, res))
            self.assertEqual(db_integrity(db), "ok", name)
            pids = db_rows(db, "select count(*) as n from processes")[0]["n"]
            exits = db_rows(db, "select count(*) as n from snapshots where trigger = 'exit'")
            self.assertEqual(exits[0]["n"], pids, name)
            unknown = db_rows(db, "select count(*) as n from functions where name = '?'")
            self.assertEqual(unknown[0]["n"], 0, name)


class DeepStacks(E2ETestCase):
    """Allocations 10,000 generators deep, tracebacks that share their
    innermost frames and differ further out, and code objects made one after
    another: each block under its own traceback, cut at the depth limit, with
    the native frames or without."""

    def stats(self, db, sid, by):
        res = harness.run_viewer(["stats", db, str(sid), "--by", by, "--json", "--limit", "0"])
        self.assertEqual(res.returncode, 0, res)
        return json.loads(res.stdout)["stats"]

    def check(self, options):
        script = os.path.join(HERE, "gen_chain.py")
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample"] + options + [script], db, timeout=600)
        self.assertEqual(res.returncode, 0, res)
        sid = int(res.stdout)
        with open(script) as f:
            text = f.read().splitlines()
        line = {key: next(i for i, t in enumerate(text, 1) if key in t)
                for key in ("the bottom of the chain", "made from two callers", "yield from leaf(",
                            "yield from chain(", "def via_a", "def via_b")}
        counts = {}
        for s in self.stats(db, sid, "lineno"):
            frame = s["frames"][-1]
            counts[os.path.basename(frame["filename"]), frame["line"]] = s["count"]
        # A list and its items for each of 500 values, and for 2 x 5000 calls.
        self.assertEqual(counts["gen_chain.py", line["the bottom of the chain"]], 1000)
        self.assertEqual(counts["gen_chain.py", line["made from two callers"]], 20000)
        # Each new code object's list under its own file.
        for i in range(200):
            self.assertEqual(counts.get((f"made{i}.py", 2)), 2, i)

        def python(s):
            return [(f["function"], f["line"]) for f in s["frames"] if not f["native"]]

        # Python frames, innermost last -> blocks (with --native, blocks that
        # different C functions allocated under the same Python frames).
        traces = {}
        for s in self.stats(db, sid, "traceback"):
            frames = tuple(python(s))
            traces[frames] = traces.get(frames, 0) + s["count"]
        bottom = {t: n for t, n in traces.items()
                  if t and t[-1] == ("leaf", line["the bottom of the chain"])}
        # The depth limit's 128 frames.
        self.assertEqual(list(bottom.values()), [1000], bottom)
        self.assertEqual(list(next(iter(bottom)))[:-1],
                         [("chain", line["yield from chain("])] * 126 +
                         [("chain", line["yield from leaf("])])
        make = ("make", line["made from two callers"])
        made = sorted((t[-2:], n) for t, n in traces.items() if t and t[-1] == make)
        self.assertEqual(made, [((("via_a", line["def via_a"] + 1), make), 10000),
                                ((("via_b", line["def via_b"] + 1), make), 10000)])

    def test_python_frames(self):
        self.check(["--memory"])

    def test_native_frames(self):
        self.check(["--memory", "--native"])


class Program(E2ETestCase):

    def test_with_calls_on_a_deep_call_tree(self):
        # Hundreds of thousands of tracebacks that differ only in their outer
        # frames: interning them must stay cheap (the bound is generous).
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "--calls", "--memory",
                                   os.path.join(HERE, "call_tree.py")], db, timeout=120)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(res.stdout, b"[46368, 46368]\n")
        self.assertEqual(db_rows(db, "select count(*) as n from snapshots "
                                     "where trigger = 'exit'")[0]["n"], 1)

    def test_deeply_nested_containers(self):
        # Freeing a million nested lists, dicts and tuples recurses no deeper
        # than without pyscope: the deallocators pyscope wraps (free lists)
        # keep the interpreter's trashcan.
        code = ("x = []\nfor i in range(2 * 10**5): x = [x]\ndel x\n"
                "x = {}\nfor i in range(2 * 10**5): x = {1: x}\ndel x\n"
                "x = ()\nfor i in range(2 * 10**5): x = (x,)\ndel x\n"
                "class L(list): pass\n"
                "x = L()\nfor i in range(10**5): x = L([x])\ndel x\nprint('freed')")
        res = harness.run_pyscope(["--no-sample", "--memory", "-c", code], self.new_db_path(),
                                  timeout=300)
        self.assertEqual((res.returncode, res.stdout), (0, b"freed\n"), res)

    def test_large_tuples_freed(self):
        # A tuple too large for its free list is freed by its deallocator;
        # one large enough is the C library's own mapping, unmapped at once.
        # The wrapper read the tuple's size after that, to see whether it
        # went on a free list: every such free faulted (a module's constants
        # going with its code, in a real program on 3.12).
        code = ("t = tuple(range(100000))\ndel t\n"
                "ts = [tuple(range(n)) for n in range(0, 3000, 7)]\ndel ts\n"
                "print('freed')")
        for extra in ([], ["--calls", "--gc"]):
            res = harness.run_pyscope(["--no-sample", "--memory"] + extra + ["-c", code],
                                      self.new_db_path())
            self.assertEqual((res.returncode, res.stdout), (0, b"freed\n"), res)

    def test_tracemalloc_inside(self):
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "--memory",
                                   os.path.join(HERE, "with_tracemalloc.py")], db)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(res.stdout.split(), [b"True", b"True", b"6"])

    def test_api_without_memory(self):
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "-c",
                                   "import pyscope; print(pyscope.snapshot('x'))"], db)
        self.assertEqual((res.returncode, res.stdout), (0, b"None\n"), res)
        self.assertEqual(db_rows(db, "select count(*) as n from snapshots")[0]["n"], 0)

    def test_api_label_type(self):
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "--memory", "-c",
                                   "import pyscope; pyscope.snapshot(3)"], db)
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"TypeError: snapshot() label must be str or None, not int", res.stderr)

    def test_bad_options(self):
        for args in (["--memory-depth", "0"], ["--memory-depth", "513"], ["--memory-depth=x"],
                     ["--snapshot-signal", "KILL"], ["--snapshot-signal", "BOGUS"],
                     ["--snapshot-interval", "0"], ["--snapshot-interval=abc"],
                     ["--snapshot-interval"]):
            res = harness.run_pyscope(args + ["-c", "pass"], self.new_db_path())
            self.assertEqual(res.returncode, 2, args)
            self.assertEqual(len(res.stderr.splitlines()), 1, res)
            self.assertTrue(res.stderr.startswith(b"pyscope: option '--"), res)


if __name__ == "__main__":
    unittest.main()
