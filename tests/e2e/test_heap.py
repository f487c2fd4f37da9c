"""End-to-end tests of `pyscope profile --heap`: each snapshot records every
object the collector tracks and every reference between them, named as a
person would write it."""
import os
import unittest

import harness
from harness import E2ETestCase, db_integrity, db_rows

HERE = os.path.join(harness.HERE, "heap")


def graph(db, snapshot_id):
    """Objects {address: row} and edges [(src, label, dst)] of a snapshot."""
    objs = {r["obj"]: r for r in db_rows(
        db, "select obj, type, size, refcnt, stack_id from heap_objects where snapshot_id = ?",
        (snapshot_id,))}
    edges = [(r["src"], r["label"], r["dst"]) for r in db_rows(
        db, "select src, dst, label from heap_edges where snapshot_id = ?", (snapshot_id,))]
    return objs, edges


class HeapGraph(E2ETestCase):

    def record(self, *options):
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "--heap", *options,
                                   os.path.join(HERE, "shapes.py")], db, timeout=120)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(db_integrity(db), "ok")
        return db, int(res.stdout)

    def test_edge_names(self):
        db, snap = self.record()
        objs, edges = graph(db, snap)
        out = {}
        for src, label, dst in edges:
            out.setdefault(src, []).append((label, dst))
        for src, dst in ((s, d) for s, _, d in edges):
            self.assertIn(src, objs)
            self.assertIn(dst, objs)

        def targets(src, label):
            return [d for lab, d in out.get(src, []) if lab == label]

        # The module's globals: a dict with a key per global.
        module_dicts = [o for o in objs if any(lab == "['ring']" for lab, _ in out.get(o, []))]
        self.assertEqual(len(module_dicts), 1)
        g = module_dicts[0]

        def glob(name):
            found = targets(g, f"['{name}']")
            self.assertEqual(len(found), 1, name)
            return found[0]

        ring = glob("ring")
        self.assertEqual(objs[ring]["type"], "list")
        nodes = [targets(ring, f"[{i}]")[0] for i in range(3)]
        for i, n in enumerate(nodes):
            self.assertEqual(objs[n]["type"], "__main__.Node")
            self.assertEqual(targets(n, ".next"), [nodes[(i + 1) % 3]])
            self.assertEqual(objs[targets(n, ".__class__")[0]]["type"], "type")
        wd = glob("wd")
        (d,) = targets(wd, ".__dict__")
        self.assertEqual(objs[d]["type"], "dict")
        self.assertEqual(len(targets(d, "['item']")), 1)
        table = glob("table")
        self.assertEqual(len(targets(table, "['key']")), 1)
        self.assertEqual(len(targets(table, "[7]")), 1)
        pair = glob("pair")
        self.assertEqual(objs[pair]["type"], "tuple")
        self.assertEqual(len(targets(pair, "[0]")) + len(targets(pair, "[1]")), 2)
        slot = glob("slot")
        self.assertEqual(objs[slot]["type"], "__main__.Slotted")
        self.assertEqual(objs[targets(slot, ".peer")[0]]["type"], "list")
        closure = glob("closure")
        (cells,) = targets(closure, ".__closure__")
        (cell,) = targets(cells, "[0]")
        self.assertEqual(objs[cell]["type"], "cell")
        self.assertEqual(targets(cell, ".cell_contents"), [closure])
        self.assertEqual(targets(closure, ".__globals__"), [g])
        method = glob("method")
        self.assertEqual(objs[method]["type"], "method")
        self.assertEqual(targets(method, ".__self__"), [nodes[0]])
        self.assertEqual(objs[targets(method, ".__func__")[0]]["type"], "function")
        # Sizes and reference counts as the interpreter has them.
        self.assertEqual(objs[ring]["refcnt"], 1)  # the module's global alone
        for n in nodes:
            self.assertGreaterEqual(objs[n]["size"], 48)
        self.assertIsNone(objs[ring]["stack_id"])  # allocations not traced

    def test_with_memory(self):
        db, snap = self.record("--memory")
        objs, _ = graph(db, snap)
        lines = db_rows(db, """select o.type as type, f.line as line from heap_objects o
                               join stacks s on s.id = o.stack_id
                               join frames f on f.id = s.frame_id
                               where o.snapshot_id = ? and o.type = '__main__.Node'""", (snap,))
        with open(os.path.join(HERE, "shapes.py")) as f:
            made = next(i for i, line in enumerate(f, 1) if line.startswith("ring = "))
        self.assertEqual([r["line"] for r in lines], [made] * 3)
        snaps = db_rows(db, "select traced_bytes from snapshots where id = ?", (snap,))
        self.assertGreater(snaps[0]["traced_bytes"], 0)

    def test_untraced_snapshot_totals(self):
        db, snap = self.record()
        row = db_rows(db, "select * from snapshots where id = ?", (snap,))[0]
        self.assertIsNone(row["traced_bytes"])
        self.assertIsNone(row["peak_bytes"])
        self.assertEqual(db_rows(db, "select count(*) as n from snapshot_traces")[0]["n"], 0)
        exits = db_rows(db, "select id from snapshots where trigger = 'exit'")
        self.assertEqual(len(exits), 1)
        self.assertGreater(db_rows(db, "select count(*) as n from heap_objects "
                                       "where snapshot_id = ?", (exits[0]["id"],))[0]["n"], 100)

    def test_implies_gc(self):
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "--heap", "-c", "import gc; gc.collect()"], db)
        self.assertEqual(res.returncode, 0, res)
        self.assertGreater(db_rows(db, "select count(*) as n from gc_collections")[0]["n"], 0)


class ForkChildren(E2ETestCase):
    """A fork child's exit snapshot has its graph only when the child ran at
    least as long as that graph takes to record; the snapshots a child asks
    for always have one."""

    def test_short_children_have_no_exit_graph(self):
        db = self.new_db_path()
        res = harness.run_pyscope(["--no-sample", "--heap", os.path.join(HERE, "forks.py")], db,
                                  timeout=120)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(db_integrity(db), "ok")
        quick, asked, slow = map(int, res.stdout.split())
        graphs = {(r["pid"], r["trigger"]): r["n"] for r in db_rows(
            db, """select p.pid, s.trigger, (select count(*) from heap_objects h
                   where h.snapshot_id = s.id) n
                   from snapshots s join processes p on p.id = s.process_id""")}
        main = db_rows(db, "select pid from processes where parent_id is null")[0]["pid"]
        self.assertGreater(graphs[main, "exit"], 200_000, graphs)
        self.assertEqual(graphs[quick, "exit"], 0, graphs)
        # (whether the asking child's exit has one depends on how long its
        # snapshot took: it lived that long)
        self.assertGreater(graphs[asked, "api"], 200_000, graphs)
        self.assertGreater(graphs[slow, "exit"], 200_000, graphs)


class UnderStress(E2ETestCase):
    """Graphs taken every 100 ms while code objects come and go, threads
    start and end, and processes fork: nothing breaks, every process's exit
    snapshot has its graph but that of a fork child that ended before its
    graph could be worth its time."""

    def test_stress_fixtures(self):
        for name in ("stress_code.py", "stress_threads.py", "stress_fork.py"):
            db = self.new_db_path()
            script = os.path.join(harness.HERE, "sampling", name)
            res = harness.run_pyscope(["--heap", "--memory", "--snapshot-interval", "0.1",
                                       script], db, timeout=300)
            self.assertEqual(res.returncode, 0, (name, res))
            self.assertEqual(db_integrity(db), "ok", name)
            exits = db_rows(db, """select s.id as id, p.forked, (select count(*) from heap_objects h
                                   where h.snapshot_id = s.id) as n
                                   from snapshots s join processes p on p.id = s.process_id
                                   where s.trigger = 'exit'""")
            pids = db_rows(db, "select count(*) as n from processes")[0]["n"]
            self.assertEqual(len(exits), pids, name)
            for e in exits:
                # a fork child may have ended too soon for its graph
                # (ForkChildren tests when); every other process has one
                if not (e["forked"] and e["n"] == 0):
                    self.assertGreater(e["n"], 1000, (name, e))


if __name__ == "__main__":
    unittest.main()
