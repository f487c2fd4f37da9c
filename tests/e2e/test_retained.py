"""`pyscope retained` on a recorded object graph: each object's retained
size is checked against the definition, computed here another way (what
is reachable from the roots, less what is still reachable when the object
is taken out), and the program's cache, which holds 200 nodes with five
children each, retains them all and is shown held through its module."""
import collections
import json
import os
import shutil
import tempfile

import harness
from harness import E2ETestCase, db_rows

PROGRAM = '''
import pyscope

class Node:
    def __init__(self, kids=()):
        self.kids = list(kids)

def build():
    cache = {}
    for i in range(200):
        cache[i] = Node(Node() for _ in range(5))
    return cache

cache = build()
shared = Node()
a, b = Node([shared]), Node([shared])
print(pyscope.snapshot("built"))
'''


class Retained(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix="pyscope-e2e-retained-")
        if not os.environ.get("PYSCOPE_TEST_KEEP"):
            cls.addClassCleanup(shutil.rmtree, cls.dir, ignore_errors=True)
        cls.script = os.path.join(cls.dir, "app.py")
        with open(cls.script, "w") as f:
            f.write(PROGRAM)
        cls.db = os.path.join(cls.dir, "run.db")
        res = harness.run_pyscope(["--heap", "--memory", cls.script], cls.db, cwd=cls.dir)
        if res.returncode != 0:
            raise AssertionError(res)
        cls.snap = int(res.stdout)

    def retained(self, *args):
        res = harness.run_viewer(["retained", self.db, str(self.snap), "--json"] + list(args))
        self.assertEqual(res.returncode, 0, res)
        return json.loads(res.stdout)

    def graph(self):
        """The snapshot's objects {addr: (size, type)}, references
        {addr: [addr...]} and roots (held from outside), from the tables."""
        objects = {r["obj"]: (r["size"], r["type"], r["refcnt"]) for r in db_rows(
            self.db, "SELECT obj, size, type, refcnt FROM heap_objects WHERE snapshot_id = ?",
            (self.snap,))}
        refs = collections.defaultdict(list)
        indegree = collections.Counter()
        for r in db_rows(self.db, "SELECT src, dst FROM heap_edges WHERE snapshot_id = ?",
                         (self.snap,)):
            if r["src"] in objects and r["dst"] in objects:
                refs[r["src"]].append(r["dst"])
                indegree[r["dst"]] += 1
        roots = [a for a, (_, _, rc) in objects.items() if rc > indegree[a]]
        return objects, refs, roots

    @staticmethod
    def reach(refs, roots, without=None):
        seen = set()
        todo = [r for r in roots if r != without]
        while todo:
            v = todo.pop()
            if v in seen:
                continue
            seen.add(v)
            todo.extend(w for w in refs[v] if w != without and w not in seen)
        return seen

    def test_retained_sizes_are_what_freeing_would_free(self):
        objects, refs, roots = self.graph()
        everything = self.reach(refs, roots)
        data = self.retained("--limit", "0")
        self.assertEqual(data["objects"], len(everything))
        self.assertEqual(data["roots"], len(roots))
        self.assertEqual(data["total"], sum(objects[a][0] for a in everything))
        rows = data["rows"]
        self.assertEqual(len(rows), len(everything))
        # the largest ones, and a sample of the rest
        for row in rows[:15] + rows[15::500]:
            gone = everything - self.reach(refs, roots, without=row["address"])
            self.assertEqual(row["objects"], len(gone), row)
            self.assertEqual(row["retained"], sum(objects[a][0] for a in gone), row)
            self.assertEqual(row["shallow"], objects[row["address"]][0])

    def test_the_cache_retains_its_nodes(self):
        rows = self.retained("--limit", "0")["rows"]
        mine = [r for r in rows if r["site"] and r["site"]["file"] == self.script]
        cache = next(r for r in mine if r["type"] == "dict" and r["site"]["line"] == 9)
        # the dict, 200 nodes with their lists, and 1,000 children with theirs
        nodes = self.retained("--by", "type", "--limit", "0")["rows"]
        node = next(r for r in nodes if r["type"] == "__main__.Node")
        self.assertEqual(node["objects"], 1203)  # and shared, a and b
        self.assertGreaterEqual(cache["objects"], 1 + 2 * 1200)
        self.assertTrue(cache["held_by"].endswith("dict"), cache)  # the module's globals
        # shared is held by a and b: neither retains it
        shared_row = [r for r in mine if r["type"] == "__main__.Node" and r["objects"] == 2
                      and r["site"]["line"] == 15]
        self.assertTrue(shared_row)
        # by line: what the cache's line allocated is the cache
        lines = self.retained("--by", "line", "--limit", "0")["rows"]
        line9 = next(r for r in lines if r["line"].startswith(f"{self.script}:9 "))
        self.assertEqual((line9["retained"], line9["objects"]), (cache["retained"], 1))

    def test_names_are_shown_as_text(self):
        # a program names its types: a terminal escape in one is not sent raw
        script = os.path.join(self.tmp, "evil.py")
        with open(script, "w") as f:
            f.write('import pyscope\nT = type("Evil\\x1b[31mRED", (), {})\n'
                    'keep = [T() for _ in range(3)]\npyscope.snapshot("x")\n')
        db = os.path.join(self.tmp, "evil.db")
        res = harness.run_pyscope(["--heap", script], db, cwd=self.tmp)
        self.assertEqual(res.returncode, 0, res)
        for by in ("object", "type"):
            res = harness.run_viewer(["retained", db, "--by", by, "--limit", "0"])
            self.assertEqual(res.returncode, 0, res)
            self.assertIn(b"Evil", res.stdout)
            self.assertNotIn(b"\x1b", res.stdout)

    def test_text_and_bad_use(self):
        res = harness.run_viewer(["retained", self.db, "--limit", "3"])
        self.assertEqual(res.returncode, 0, res)
        out = res.stdout.decode()
        self.assertRegex(out, r"^retained in snapshot \d+ ")
        self.assertIn("held from outside", out)
        for args, code in ((["retained", self.db, "999"], 2), (["retained", self.db, "x"], 2),
                           (["retained", self.db, "--by", "size"], 2),
                           (["retained", os.path.join(self.dir, "none.db")], 2)):
            res = harness.run_viewer(args)
            self.assertEqual(res.returncode, code, (args, res))
            self.assertEqual(len(res.stderr.strip().splitlines()), 1, (args, res))


if __name__ == "__main__":
    import unittest
    unittest.main()
