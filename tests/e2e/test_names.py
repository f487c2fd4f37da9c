"""End-to-end tests of names that are not valid UTF-8: a script whose file
name has a byte that is not UTF-8 (`bad\\xff.py`), a module beside it with
another (`bad\\xfe.py`, imported and run with -m), functions whose co_name
holds lone surrogates (set with code.replace, one of them a surrogate that
surrogateescape cannot encode) or U+0000, a code object compiled under such
a file name, a thread and a snapshot label named the same way.

The database keeps each name as bytes: UTF-8, a lone surrogate U+DC80..U+DCFF
as the byte it stands for (so a file name is the file system's own bytes),
any other lone surrogate as its three-byte form, U+0000 as C0 80; text that
is not UTF-8 is a BLOB. Every viewer output shows such bytes escaped as
\\xNN, as Python's backslashreplace does (U+0000 as \\x00, \\u0000 in
JSON), and every export stays readable by what reads it: pstats.Stats (with
the names cProfile itself records), json.loads, one line per stack in folded
form. The programs are written into a temporary directory at test time."""
import json
import os
import pstats
import shutil
import sqlite3
import tempfile
import unittest
import xml.etree.ElementTree as ET

import harness
from harness import E2ETestCase, db_integrity

SCRIPT = b"bad\xff.py"
MODULE = b"bad\xfe.py"

PROGRAM = '''\
import gc
import importlib
import threading
import time

try:
    import pyscope
except ImportError:
    pyscope = None

other = importlib.import_module("bad\\udcfe")
N, ROUNDS = 40000, 8


def spin(n):
    total = 0
    for i in range(n):
        total += i * i  # the hot line of bad\\xff.py
    return total


def renamed(name):
    def call(n):
        return spin(n)
    call.__code__ = call.__code__.replace(co_name=name, co_qualname="q" + name)
    return call


class Node:
    pass


def keep_cycles():
    for _ in range(50):
        a, b = Node(), Node()
        a.peer, b.peer = b, a


ff = renamed("\\udcff")
fe = renamed("\\udcfe")
hi = renamed("\\ud800")
nul = renamed("be\\x00fore")
space = {"spin": spin}
exec(compile("def gen(n):\\n    return spin(n)\\n", "gen\\udcfd.py", "exec"), space)

def work(n):
    ff(n)
    time.sleep(0.1)  # alive for 100 ticks: sampled, however loaded the machine


worker = threading.Thread(target=work, args=(N,), name="w\\udcff")
worker.start()
worker.join()
for _ in range(ROUNDS):
    ff(N)
    fe(N)
    hi(N)
    nul(N)
    space["gen"](N)
    other.spin_other(2 * N)
other.collect()
if pyscope:
    pyscope.snapshot("after \\udcff")
gc.disable()
keep_cycles()
print(spin.__code__.co_filename.encode("utf-8", "surrogateescape"))
print(other.spin_other.__code__.co_filename.encode("utf-8", "surrogateescape"))
'''

OTHER = '''\
import gc


def spin_other(n):
    total = 0
    for i in range(n):
        total += i ^ 3  # the hot line of bad\\xfe.py
    return total


def collect():
    return gc.collect()


if __name__ == "__main__":
    print(spin_other(1000))
'''

def line_of(text, marker):
    """The number of the first line of text that holds marker."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if marker in line)


HOT = line_of(PROGRAM, "the hot line")
SPIN = line_of(PROGRAM, "def spin(")
CALL = line_of(PROGRAM, "def call(")
HOT_OTHER = line_of(OTHER, "the hot line")


def stored(s):
    """The bytes the database keeps for the str s."""
    out = b""
    for c in s:
        if c == "\x00":
            out += b"\xc0\x80"
        elif 0xD800 <= ord(c) <= 0xDFFF and not 0xDC80 <= ord(c) <= 0xDCFF:
            out += c.encode("utf-8", "surrogatepass")
        else:
            out += c.encode("utf-8", "surrogateescape")
    return out


def shown(b):
    """The bytes b as the viewer shows them."""
    return "\\x00".join(part.decode("utf-8", "backslashreplace") for part in b.split(b"\xc0\x80"))


def is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def as_bytes(v):
    """A name column's value as bytes: a BLOB as it is, TEXT as UTF-8."""
    return v if isinstance(v, bytes) else v.encode("utf-8") if v is not None else None


class Names(E2ETestCase):
    """One run of the program under pyscope with everything on, then the
    commands on its database."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix="pyscope-e2e-names-")
        if not os.environ.get("PYSCOPE_TEST_KEEP"):
            cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.bdir = os.fsencode(cls.dir)
        with open(os.path.join(cls.bdir, SCRIPT), "w") as f:
            f.write(PROGRAM)
        with open(os.path.join(cls.bdir, MODULE), "w") as f:
            f.write(OTHER)
        cls.script = os.path.join(cls.bdir, SCRIPT)
        cls.module = os.path.join(cls.bdir, MODULE)
        cls.db = os.path.join(cls.dir, "run.db")
        cls.res = harness.run_pyscope(["--calls", "--memory", "--heap", cls.script], cls.db,
                                      cwd=cls.dir)

    def setUp(self):
        super().setUp()
        self.assertEqual(self.res.returncode, 0, self.res)

    def view(self, *args):
        res = harness.run_viewer(args, cwd=self.dir)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(res.stderr, b"")
        return res.stdout

    def text(self, *args):
        """A command's output, which must be UTF-8 with no raw bytes of the names."""
        out = self.view(*args)
        text = out.decode("utf-8")  # strict: raises on a raw \xff
        self.assertNotIn("\ufffd", text)
        return text

    def rows(self, sql):
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    # ---- the database --------------------------------------------------

    def test_record_keeps_the_bytes(self):
        self.assertEqual(db_integrity(self.db), "ok")
        fns = {}
        for fid, file, name, qual, *types in self.rows(
                "SELECT id, filename, name, qualname, typeof(filename), typeof(name),"
                " typeof(qualname) FROM functions WHERE kind = 'python'"):
            fns.setdefault((as_bytes(file), as_bytes(name)), []).append((fid, as_bytes(qual)))
            # TEXT when it is UTF-8, a BLOB when it is not, never both (NULL:
            # a marker's file and qualname, [pyscope]'s or [truncated]'s)
            for value, typ in zip((file, name, qual), types):
                if value is None and name in ("[pyscope]", "[truncated]"):
                    continue
                self.assertEqual(typ, "text" if is_utf8(as_bytes(value)) else "blob", value)
        script, module = self.script, self.module
        for key, qual in [((script, b"spin"), b"spin"),
                          ((script, stored("\udcff")), stored("q\udcff")),
                          ((script, stored("\udcfe")), stored("q\udcfe")),
                          ((script, stored("\ud800")), stored("q\ud800")),
                          ((script, stored("be\x00fore")), stored("qbe\x00fore")),
                          ((stored("gen\udcfd.py"), b"gen"), b"gen"),
                          ((module, b"spin_other"), b"spin_other")]:
            self.assertIn(key, fns, sorted(fns, key=repr))
            self.assertEqual([q for _, q in fns[key]], [qual], key)
        self.assertNotIn(b"?", {name for _, name in fns})
        # each of them was sampled and called, under its own row
        sampled = {r[0] for r in self.rows(
            "SELECT DISTINCT f.function_id FROM samples s JOIN stacks k ON k.id = s.stack_id"
            " JOIN frames f ON f.id = k.frame_id")}
        called = {r[0] for r in self.rows("SELECT function_id FROM call_stats")}
        for key in [(script, stored("\udcff")), (script, stored("\udcfe")),
                    (script, stored("\ud800")), (script, stored("be\x00fore")), (script, b"spin"),
                    (module, b"spin_other")]:
            self.assertIn(fns[key][0][0], called, key)
        self.assertIn(fns[(script, b"spin")][0][0], sampled)
        self.assertIn(fns[(module, b"spin_other")][0][0], sampled)
        threads = {as_bytes(r[0]) for r in self.rows("SELECT name FROM threads")}
        self.assertIn(stored("w\udcff"), threads)
        labels = {as_bytes(r[0]) for r in self.rows("SELECT label FROM snapshots")}
        self.assertIn(stored("after \udcff"), labels)
        argv = as_bytes(self.rows("SELECT value FROM meta WHERE key = 'argv'")[0][0])
        self.assertIn(SCRIPT, argv)

    def test_program_sees_its_own_names(self):
        lines = self.res.stdout.decode().splitlines()
        self.assertEqual(lines, [repr(self.script), repr(self.module)])

    # ---- the viewer's text ----------------------------------------------

    def test_hot_shows_the_source(self):
        out = self.text("hot", self.db, "--limit", "0")
        self.assertIn(f"{shown(SCRIPT)}:{HOT}", out)
        self.assertIn("total += i * i  # the hot line of bad\\xff.py", out)
        self.assertIn(f"{shown(MODULE)}:{HOT_OTHER}", out)
        self.assertIn("total += i ^ 3  # the hot line of bad\\xfe.py", out)
        doc = json.loads(self.text("hot", self.db, "--json", "--limit", "0"))
        self.assertIn("total += i * i  # the hot line of bad\\xff.py",
                      [row.get("code") for row in doc["lines"]])

    def test_top_keeps_names_apart(self):
        out = self.text("top", self.db, "--limit", "0")
        for q in ("q\\xff", "q\\xfe", "q\\xed\\xa0\\x80", "qbe\\x00fore"):
            self.assertEqual(sum(line.endswith(f"{shown(SCRIPT)}:{CALL} ({q})")
                                 for line in out.splitlines()), 1, (q, out))
        self.assertIn(f"gen\\xfd.py:1 (gen)", out)
        doc = json.loads(self.text("top", self.db, "--json", "--limit", "0"))
        quals = [f["qualname"] for f in doc["functions"]]
        for q in ("q\\xff", "q\\xfe", "q\\xed\\xa0\\x80", "qbe\x00fore"):
            self.assertEqual(quals.count(q), 1, quals)
        files = {f["filename"] for f in doc["functions"]}
        self.assertIn(shown(self.script), files)
        self.assertIn(shown(self.module), files)
        # the thread named "w\udcff", chosen by its name as the shell passes it
        out = self.text("top", self.db, "--thread", stored("w\udcff"), "--limit", "3")
        self.assertIn("thread 'w\\xff'", out)
        self.assertIn(f"{shown(SCRIPT)}:{SPIN} (spin)", out)

    def test_callers_and_summary(self):
        out = self.text("callers", self.db, "q*")
        self.assertIn("q\\xff", out)
        self.assertIn("q\\xed\\xa0\\x80", out)
        self.assertIn(f"{shown(SCRIPT)}", out)
        out = self.text("callees", self.db, "q*")
        self.assertIn("spin", out)
        out = self.text("summary", self.db)
        self.assertIn(shown(SCRIPT), out)
        self.assertIn("w\\xff", out)
        json.loads(self.text("summary", self.db, "--json"))

    def test_memory_commands(self):
        out = self.text("snapshots", self.db)
        self.assertIn("after \\xff", out)
        doc = json.loads(self.text("snapshots", self.db, "--json"))
        ids = [s["id"] for s in doc["snapshots"]]
        self.assertIn("after \\xff", [s["label"] for s in doc["snapshots"]])
        last = str(ids[-1])
        out = self.text("stats", self.db, last, "--by", "lineno", "--limit", "0")
        self.assertIn(f"{shown(SCRIPT)}:", out)
        self.text("stats", self.db, last, "--by", "traceback", "--limit", "0")
        out = self.text("diff", self.db, str(ids[0]), last, "--limit", "0")
        self.assertIn(f"{shown(SCRIPT)}:", out)
        json.loads(self.text("stats", self.db, last, "--json", "--limit", "0"))

    def test_cycles_and_gc(self):
        out = self.text("cycles", self.db)
        self.assertIn(f"{shown(SCRIPT)}:", out)
        json.loads(self.text("cycles", self.db, "--json"))
        out = self.text("gc", self.db)
        self.assertIn(f"{shown(MODULE)}:", out)
        json.loads(self.text("gc", self.db, "--json"))

    def test_flamegraph_svg(self):
        svg = self.text("flamegraph", self.db)
        root = ET.fromstring(svg)
        titles = "".join(root.itertext())
        self.assertIn("q\\xff", titles)
        self.assertIn("qbe\\x00fore", titles)
        self.assertIn(shown(SCRIPT), titles)

    # ---- the exports, read by what reads them ---------------------------

    def test_pstats_loads_with_cprofiles_names(self):
        prof = os.path.join(self.dir, "run.prof")
        self.view("export", self.db, "--format", "pstats", "-o", prof)
        ours = pstats.Stats(prof).stats
        ref = os.path.join(self.dir, "ref.prof")
        res = harness.run_python(["-m", "cProfile", "-o", ref, self.script], cwd=self.dir)
        self.assertEqual(res.returncode, 0, res)
        theirs = pstats.Stats(ref).stats

        def odd(key):
            return any(not s.isascii() or "\x00" in s for s in (key[0], key[2]))

        self.assertTrue({k for k in theirs if odd(k)})
        self.assertIn("be\x00fore", {k[2] for k in theirs if odd(k)})
        # work() runs on the worker alone, which 3.11's cProfile does not see
        worker_only = set() if harness.cprofile_sees_every_thread() else {"work"}
        self.assertEqual({k for k in ours if odd(k) and k[2] not in worker_only},
                         {k for k in theirs if odd(k)})
        for key in (k for k in theirs if odd(k)):
            # Before 3.12 cProfile sees the main thread only; the worker
            # calls ff, and so spin, once more
            extra = key[2] in ("spin", "\udcff") and not harness.cprofile_sees_every_thread()
            self.assertEqual(ours[key][1], theirs[key][1] + extra, key)  # ncalls

    def test_speedscope_is_json(self):
        # --with-pyscope: the worker's few samples may all have found it in
        # the memory tracer's hooks, which the views leave out by default.
        # --clock wall: its samples while it sleeps count too; its spin is
        # a few milliseconds, and on a loaded machine (a CI run under the
        # sanitizers) none of its samples carried CPU time
        raw = self.view("export", self.db, "--format", "speedscope", "--with-pyscope",
                        "--clock", "wall")
        doc = json.loads(raw.decode("utf-8"))
        names = {f["name"] for f in doc["shared"]["frames"]}
        files = {f.get("file") for f in doc["shared"]["frames"]}
        self.assertTrue({"q\\xff", "q\\xfe", "q\\xed\\xa0\\x80", "qbe\x00fore"} <= names, names)
        self.assertIn(shown(self.script), files)
        self.assertIn("w\\xff", {p["name"].split(" (")[0] for p in doc["profiles"]})

    def test_folded_one_line_per_stack(self):
        (api,), = self.rows("SELECT id FROM snapshots WHERE trigger = 'api'")
        for args in ((), ("--by-thread", "--lines"), ("--memory", str(api))):
            out = self.text("export", self.db, "--format", "folded", *args)
            lines = out.split("\n")
            self.assertEqual(lines[-1], "")
            stacks = set()
            for line in lines[:-1]:
                stack, _, value = line.rpartition(" ")
                self.assertGreater(int(value), 0, line)
                self.assertNotIn(stack, stacks)
                stacks.add(stack)
            self.assertIn(f"({shown(SCRIPT)}:", out)
            if not args or args[0] != "--memory":
                self.assertIn(f"q\\xff ({shown(SCRIPT)}:", out)
                self.assertIn(f"qbe\\x00fore ({shown(SCRIPT)}:", out)


class ModuleAndPath(E2ETestCase):
    def test_m_and_path_as_python_runs_them(self):
        bdir = os.fsencode(self.tmp)
        with open(os.path.join(bdir, MODULE), "w") as f:
            f.write(OTHER)
        for args in (["-m", MODULE[:-3]], [MODULE]):
            db = self.new_db_path()
            py = harness.run_python(args, cwd=self.tmp)
            res = harness.run_pyscope(["--calls"] + args, db, cwd=self.tmp)
            self.assertEqual((res.returncode, res.stdout, res.stderr),
                             (py.returncode, py.stdout, py.stderr))
            conn = sqlite3.connect(db)
            try:
                files = {as_bytes(r[0]) for r in conn.execute(
                    "SELECT filename FROM functions WHERE name = 'spin_other'")}
            finally:
                conn.close()
            self.assertEqual(files, {os.path.join(bdir, MODULE)}, args)
            out = harness.run_viewer(["summary", db], cwd=self.tmp).stdout.decode("utf-8")
            self.assertIn("bad\\xfe", out)


if __name__ == "__main__":
    unittest.main()
