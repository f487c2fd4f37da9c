"""End-to-end tests of `pyscope profile --native`: samples carry the C
frames under the Python line that called into C, each eval-loop frame
replaced by the Python frames it ran; pyscope's own signal handler never
shows; threads and fork survive native unwinding at 10 kHz."""
import json
import os
import re
import subprocess
import unittest

import harness
from harness import E2ETestCase, db_integrity, db_rows

HERE = os.path.join(harness.HERE, "native")


def stacks(db):
    """Every sample's stack, outermost first, as (kind, name, object base name)."""
    nodes = {r["id"]: r for r in db_rows(db, """
        select s.id as id, s.parent_id as parent, fn.kind as kind, fn.name as name,
               fn.filename as file
        from stacks s join frames f on f.id = s.frame_id
        join functions fn on fn.id = f.function_id""")}
    out = []
    for r in db_rows(db, "select stack_id, ticks from samples where stack_id is not null"):
        chain, node = [], r["stack_id"]
        while node:
            n = nodes[node]
            chain.append((n["kind"], n["name"], os.path.basename(n["file"] or "")))
            node = n["parent"]
        out.extend([chain[::-1]] * r["ticks"])  # a row is a run of ticks
    return out


def interpreter_has_debug_symbols():
    """Whether the interpreter's separate debug file (python3.11-dbg) is
    installed, which names its static functions (list_sort_impl)."""
    try:
        notes = subprocess.run(["readelf", "-n", harness.python_bin()], capture_output=True,
                               text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    m = re.search(r"Build ID: ([0-9a-f]{2})([0-9a-f]+)", notes)
    return bool(m) and os.path.exists(f"/usr/lib/debug/.build-id/{m[1]}/{m[2]}.debug")


def total_shares(db, names):
    """total% of each function named, from `pyscope top --json`."""
    res = harness.run_viewer(["top", db, "--json", "--limit", "0"])
    doc = json.loads(res.stdout)
    return {f["name"]: f["sampled"]["total_pct"] for f in doc["functions"] if f["name"] in names}


class Native(E2ETestCase):

    def test_c_frames_under_their_python_caller(self):
        # zlib compresses without the GIL: its frames need the threads that
        # run without it interrupted too
        db = self.new_db_path()
        res = harness.run_pyscope(["--native-without-gil", os.path.join(HERE, "mixed.py")], db,
                                  timeout=120)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(db_integrity(db), "ok")
        all_stacks = stacks(db)
        self.assertGreater(len(all_stacks), 20)
        in_libz = [s for s in all_stacks if any(f[2] == "libz.so.1" for f in s)]
        self.assertGreater(len(in_libz), 3)
        for s in in_libz:
            names = [f[1] for f in s]
            self.assertIn("compress_all", names, s)
            first_z = next(i for i, f in enumerate(s) if f[2] == "libz.so.1")
            self.assertLess(names.index("compress_all"), first_z, s)
        self.assertTrue(any(f[1] == "deflate" for s in in_libz for f in s))
        for s in all_stacks:
            for kind, name, obj in s:
                # pyscope's handler and the signal return path never show
                self.assertFalse(obj.startswith("_pyscope"), s)
                self.assertNotEqual(name, "_PyEval_EvalFrameDefault", s)
            # nor pyscope's own work at exit (the script registers no atexit
            # function: a sample in atexit_callfuncs would be pyscope's)
            self.assertNotEqual(s[-1][1], "atexit_callfuncs", s)
            python = [f for f in s if f[0] == "python"]
            if any(f[2] == "mixed.py" for f in python):
                # Python frames keep their order: the script's <module> outermost
                self.assertEqual(python[0][1:], ("<module>", "mixed.py"), s)

    def test_threads_without_the_gil_are_not_interrupted(self):
        # A thread that released the GIL may be in a system call, which a
        # signal would cut short: it is read from outside, and C code that
        # runs without the GIL shows under its Python caller, as native.
        db = self.new_db_path()
        res = harness.run_pyscope(["--native", os.path.join(HERE, "mixed.py")], db, timeout=120)
        self.assertEqual(res.returncode, 0, res)
        folded = harness.run_viewer(["export", db, "--format", "folded"]).stdout.decode()

        def weight(needle):
            return sum(int(line.rsplit(" ", 1)[1]) for line in folded.splitlines()
                       if needle in line)
        # A thread can still be signalled holding the GIL and be in zlib by
        # the time the signal comes; before, all of compress_all's samples
        # were in zlib (as with --native-without-gil). Locally 0-3 %; a CI
        # run under load on 3.12 had 43 %, for a cause not yet found.
        self.assertLess(weight("[libz.so.1]"), 0.6 * weight("compress_all ("),
                        (weight("[libz.so.1]"), weight("compress_all (")))
        self.assertIn("[_json.", folded)  # C code that holds the GIL keeps its frames
        native = harness.run_viewer(["export", db, "--format", "folded", "--state", "native"])
        self.assertRegex(native.stdout.decode(), r"compress_all \([^)]*mixed\.py:\d+\) \d+",
                         native)

    def test_without_native(self):
        db = self.new_db_path()
        res = harness.run_pyscope([os.path.join(HERE, "mixed.py")], db, timeout=120)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(db_rows(db, "select count(*) as n from functions "
                                     "where kind = 'native'")[0]["n"], 0)

    def test_viewer_marks_native_frames(self):
        db = self.new_db_path()
        res = harness.run_pyscope(["--native-without-gil", os.path.join(HERE, "mixed.py")], db,
                                  timeout=120)
        folded = harness.run_viewer(["export", db, "--format", "folded"]).stdout.decode()
        heaviest = sorted(folded.splitlines(), key=lambda l: -int(l.rsplit(" ", 1)[1]))[:8]
        self.assertRegex(folded, r"compress_all \([^)]*mixed\.py:\d+\);([^;]*;)*deflate \[libz\.so\.1\]",
                         (res, db_rows(db, "select state, sum(ticks) n, sum(stack_id is null) nostack"
                                           " from samples group by state"), heaviest))

    # shares.py: which C function each Python caller spends its time in
    CALLERS = {"compress_it": "deflate", "dump_it": "encoder_listencode_obj",
               "substitute_it": "pattern_subx", "sort_it": "list_sort_impl"}

    @unittest.skipIf(os.environ.get("PYSCOPE_TEST_SANITIZED"), "sanitizer builds distort timing")
    def test_shares_as_without_native(self):
        # Each run's sampled shares against the CPU times the program itself
        # measured in that run: two runs of one mode differ by up to 4
        # points on a busy machine, which a comparison of runs would count
        # as an error.
        script = os.path.join(HERE, "shares.py")
        for args in ([], ["--native"], ["--native-without-gil"]):
            with self.subTest(args=args):
                db = self.new_db_path()
                measured_path = os.path.join(self.tmp, "measured.json")
                res = harness.run_pyscope(args + [script, measured_path], db, timeout=300)
                self.assertEqual((res.returncode, res.stdout), (0, b"ok\n"), res)
                with open(measured_path) as f:
                    measured = json.load(f)
                sampled = total_shares(db, self.CALLERS)
                self.assertEqual(set(sampled), set(self.CALLERS), sampled)
                got = {k: 100 * v / sum(sampled.values()) for k, v in sampled.items()}
                want = {k: 100 * v / sum(measured.values()) for k, v in measured.items()}
                for name in self.CALLERS:
                    self.assertGreater(want[name], 8, want)
                    self.assertLessEqual(abs(got[name] - want[name]), 3, (name, got, want))

    def test_c_functions_under_the_right_caller(self):
        db = self.new_db_path()
        res = harness.run_pyscope(["--native-without-gil", os.path.join(HERE, "shares.py")], db,
                                  timeout=300)
        self.assertEqual(res.returncode, 0, res)
        expected = dict(self.CALLERS)
        if not interpreter_has_debug_symbols():
            # re and sorted run in the interpreter's own static functions,
            # named only by its debug file
            del expected["substitute_it"], expected["sort_it"]
        seen = {caller: 0 for caller in expected}
        elsewhere = {caller: 0 for caller in expected}
        for s in stacks(db):
            names = [f[1] for f in s]
            for caller, c_function in expected.items():
                if c_function not in names:
                    continue
                callers = [n for n in names if n in self.CALLERS]
                if not callers:
                    # the interpreter sorts and substitutes for itself too:
                    # compiling the script before its first line, importing
                    elsewhere[caller] += 1
                    continue
                self.assertEqual(callers, [caller], s)
                self.assertLess(names.index(caller), names.index(c_function), s)
                seen[caller] += 1
        for caller, n in seen.items():
            self.assertGreater(n, 50, (caller, expected[caller], seen))
            # a stack that lost its Python frames would land here
            self.assertLess(elsewhere[caller], n / 20, (caller, expected[caller], elsewhere))

    def test_no_native_folds_into_the_caller(self):
        db = self.new_db_path()
        res = harness.run_pyscope(["--native", os.path.join(HERE, "shares.py")], db, timeout=300)
        self.assertEqual(res.returncode, 0, res)

        def top(*extra):
            out = harness.run_viewer(["top", db, "--json", "--limit", "0"] + list(extra))
            self.assertEqual(out.returncode, 0, out)
            return json.loads(out.stdout)
        native, folded = top(), top("--no-native")
        self.assertEqual(folded["samples"], native["samples"])
        self.assertEqual(folded["time_ns"], native["time_ns"])
        self.assertTrue(any(f["kind"] == "native" for f in native["functions"]))
        self.assertFalse(any(f["kind"] == "native" for f in folded["functions"]))
        # Each Python function now also holds, as its own, the time of the
        # native frames it called (until the next Python frame): its self
        # samples are the samples whose innermost Python frame it is.
        expected = {}
        for s in stacks(db):
            python = [f for f in s if f[0] == "python"]
            if python:
                expected[python[-1][1]] = expected.get(python[-1][1], 0) + 1
        got = {f["name"]: f["sampled"]["self_samples"] for f in folded["functions"]
               if f["kind"] == "python"}
        wall = top("--no-native", "--clock", "wall")
        got_wall = {f["name"]: f["sampled"]["self_samples"] for f in wall["functions"]
                    if f["kind"] == "python"}
        for name in self.CALLERS:  # one function of each name
            self.assertEqual(got_wall.get(name, 0), expected.get(name, 0), name)
        for name in self.CALLERS:  # total time is the same either way
            by_name = {f["name"]: f for f in native["functions"]}
            fold_by_name = {f["name"]: f for f in folded["functions"]}
            self.assertEqual(by_name[name]["sampled"]["total_ns"],
                             fold_by_name[name]["sampled"]["total_ns"])
        for name in ("compress_it", "sort_it"):  # they call C directly: all self now
            self.assertEqual(fold_by_name[name]["sampled"]["self_ns"],
                             fold_by_name[name]["sampled"]["total_ns"], name)
        self.assertGreater(got["compress_it"], 100)

        folded_args = ["export", db, "--format", "folded", "--clock", "wall"]  # in samples
        text = harness.run_viewer(folded_args + ["--no-native"]).stdout.decode()
        self.assertNotIn(" [libz.so.1]", text)
        self.assertIn("compress_it (", text)
        plain = harness.run_viewer(folded_args).stdout.decode()
        total = lambda t: sum(int(line.rsplit(" ", 1)[1]) for line in t.splitlines())
        self.assertEqual(total(text), total(plain))
        svg = os.path.join(self.tmp, "folded.svg")
        self.assertEqual(harness.run_viewer(["flamegraph", db, "--no-native", "-o", svg]).returncode, 0)
        with open(svg, encoding="utf-8") as f:
            self.assertNotIn("libz.so.1", f.read())
        hot = json.loads(harness.run_viewer(["hot", db, "--json", "--no-native",
                                             "--limit", "0"]).stdout)
        self.assertFalse(any(row["kind"] == "native" for row in hot["lines"]))
        compress = [row for row in hot["lines"] if row["function"] == "compress_it"]
        self.assertEqual(compress[0]["code"], "zlib.compress(blob, 9)")
        self.assertEqual(sum(row["self_ns"] for row in compress),
                         fold_by_name["compress_it"]["sampled"]["self_ns"])

    def test_memory_native(self):
        """--memory --native: a block C code allocated has the C functions
        under the Python line; lineno statistics stay tracemalloc's."""
        db = self.new_db_path()
        res = harness.run_pyscope(["--memory", "--native", "--no-sample",
                                   os.path.join(HERE, "alloc.py")], db, timeout=300)
        self.assertEqual((res.returncode, res.stdout), (0, b"ok\n"), res)
        snap = db_rows(db, "select id from snapshots where trigger = 'exit'")[0]["id"]

        def stats(*args):
            out = harness.run_viewer(["stats", db, str(snap), "--json", "--limit", "0"] + list(args))
            self.assertEqual(out.returncode, 0, out)
            return json.loads(out.stdout)["stats"]
        tracebacks = stats("--by", "traceback")
        inflate = [t for t in tracebacks if t["size"] >= 20 << 20]
        self.assertEqual(len(inflate), 1, [t["size"] for t in tracebacks[:3]])
        frames = inflate[0]["frames"]  # oldest first
        python = [i for i, f in enumerate(frames) if not f["native"]]
        self.assertEqual((frames[python[-1]]["function"], frames[python[-1]]["line"]),
                         ("inflate_them", 18), frames)
        self.assertGreater(len(frames), python[-1] + 1, frames)  # C frames under the line
        self.assertTrue(all(f["native"] for f in frames[python[-1] + 1:]), frames)
        self.assertEqual(inflate[0]["count"], 20)

        encoder = [t for t in tracebacks
                   if any(f["native"] and f["function"] == "encoder_call" for f in t["frames"])]
        strings = max(encoder, key=lambda t: t["size"])  # the 100 JSON documents
        self.assertEqual(strings["count"], 100, encoder[:2])
        self.assertGreater(strings["size"], 100 * 50000)
        for t in encoder:
            names = [f["function"] for f in t["frames"]]
            self.assertIn("dump_them", names)
            at = names.index("encoder_call")
            self.assertTrue(t["frames"][at]["filename"].endswith(
                "_json" + harness.target().ext_suffix), t["frames"][at])
            self.assertFalse(t["frames"][at - 1]["native"])  # called from Python
            self.assertEqual(t["frames"][at - 1]["function"], "JSONEncoder.iterencode")

        # by line, the most recent Python frame, as tracemalloc: the same
        # numbers as with the native frames left out
        by_line = stats()
        self.assertEqual(by_line, stats("--no-native"))
        self.assertFalse(any(f["native"] for row in by_line for f in row["frames"]))
        top = by_line[0]
        self.assertEqual((top["frames"][0]["function"], top["frames"][0]["line"]),
                         ("inflate_them", 18))
        self.assertGreaterEqual(top["size"], inflate[0]["size"])  # and the list's growth
        self.assertFalse(any(f["native"] for t in stats("--by", "traceback", "--no-native")
                             for f in t["frames"]))

        folded = harness.run_viewer(["export", db, "--memory", str(snap), "--format",
                                     "folded"]).stdout.decode()
        self.assertRegex(folded, r"JSONEncoder\.iterencode \([^)]*\);encoder_call \[_json[^]]*\]")

    @unittest.skipUnless(harness.ext_dir_with("spinext"), "no spinext test extension for this version")
    def test_source_lines_from_debug_information(self):
        """An extension built with -g: its frames carry file:line."""
        ext = os.environ["PYSCOPE_TEST_EXT_DIR"]
        source = os.path.join(HERE, "spinmod.c")
        with open(source) as f:
            text = f.read().splitlines()
        loop = {i + 1 for i, line in enumerate(text) if "/* spin: " in line}
        call = next(i + 1 for i, line in enumerate(text) if line.strip() == "burn(n);")
        self.assertEqual(len(loop), 2)
        db = self.new_db_path()
        res = harness.run_pyscope(["--native", os.path.join(HERE, "spin.py"), ext], db, timeout=300)
        self.assertEqual((res.returncode, res.stdout), (0, b"ok\n"), res)
        hot = json.loads(harness.run_viewer(["hot", db, "--json", "--limit", "0"]).stdout)
        burn = [r for r in hot["lines"] if r["function"] == "burn"]
        self.assertTrue(burn, hot["lines"][:3])
        for r in burn:
            self.assertEqual(r["kind"], "native")
            self.assertTrue(r["filename"].endswith("spinext" + harness.target().ext_suffix), r)
            self.assertEqual(r["source"], source, r)
            if r["line"] in loop:
                self.assertIn("/* spin: ", r["code"])
        # burn's few instructions around its loop (its start, its return:
        # seen once, a sample at line 17, the closing brace) are its other
        # lines, where next to no time goes
        self.assertGreater(sum(r["self_pct"] for r in burn if r["line"] in loop), 80)
        self.assertLess(sum(r["self_pct"] for r in burn if r["line"] not in loop), 2, burn)
        # spin's frame is at its call of burn; a sample that lands in spin
        # itself, the few instructions around that call, is at another line
        # of spin (seen once in a sanitized run: line 27, Py_RETURN_NONE)
        spin = {r["line"]: r for r in hot["lines"] if r["function"] == "spin"}
        self.assertIn(call, spin, spin)
        self.assertGreater(spin[call]["total_pct"], 90, spin)
        self.assertLess(sum(r["total_pct"] for line, r in spin.items() if line != call), 2, spin)
        folded = harness.run_viewer(["export", db, "--format", "folded", "--lines"]).stdout.decode()
        self.assertRegex(folded, r"spin_it \([^)]*spin\.py:10\);spin \[spinext\.[^]]*\] "
                                 rf"\([^)]*spinmod\.c:{call}\);burn \[spinext\.[^]]*\] "
                                 rf"\([^)]*spinmod\.c:({'|'.join(map(str, loop))})\) ")
        # by function, frames stay one per function
        plain = harness.run_viewer(["export", db, "--format", "folded"]).stdout.decode()
        suffix = harness.target().ext_suffix
        self.assertIn(f"spin [spinext{suffix}];burn [spinext{suffix}] ", plain)

    def test_handler_on_an_alternate_signal_stack(self):
        """A sample due while a handler of the program's runs on its
        alternate signal stack (faulthandler's: 16 KiB from the heap) would
        be taken on that stack, whose room the walk and the unwinder
        outgrow: the program's memory below it was overwritten, and the
        program crashed later in its garbage collector or in free()."""
        path = os.path.join(HERE, "altstack.py")
        plain = harness.run_python([path])
        self.assertEqual(plain.returncode, 0, plain)
        db = self.new_db_path()
        res = harness.run_pyscope(["--native", path], db, timeout=120)
        self.assertEqual((res.returncode, res.stdout, res.stderr),
                         (0, plain.stdout, b""))
        self.assertEqual(plain.stdout, b"100 handled; bytes reached below the alternate stack: 0\n")

    def test_stress(self):
        for name in ("stress_threads.py", "stress_fork.py", "stress_code.py"):
            db = self.new_db_path()
            script = os.path.join(harness.HERE, "sampling", name)
            res = harness.run_pyscope(["--native", "--rate", "10000", script], db, timeout=300)
            self.assertEqual(res.returncode, 0, (name, res))
            self.assertEqual(db_integrity(db), "ok", name)


if __name__ == "__main__":
    unittest.main()
