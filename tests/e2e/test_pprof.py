"""`pyscope export --format pprof` read by the real pprof tool: its -top,
-traces and -raw output agree with `pyscope top` and with the database on
the same run, for CPU and wall time, per thread and per state, and for a
memory snapshot's live bytes. And `pyscope push`, sending the same profiles
to a receiver here that checks each request against Pyroscope's ingest API
(POST /ingest, the application and its labels in "name", the span in "from"
and "until" in Unix seconds, format=pprof, the tenant and authentication
headers) and keeps the bodies for the pprof tool to read.

The tool is built from Debian's sources of it (golang-github-google-pprof-dev)
with Go, by the build (tests/CMakeLists.txt), and named by PYSCOPE_TEST_PPROF.
Where it is missing the tests skip, unless PYSCOPE_TEST_REQUIRE_PPROF=1
(scripts/test.sh sets it, so that CI fails rather than skips)."""
import base64
import collections
import http.server
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import harness
from harness import E2ETestCase, db_rows

PPROF = os.environ.get("PYSCOPE_TEST_PPROF")
REQUIRED = os.environ.get("PYSCOPE_TEST_REQUIRE_PPROF") == "1"

# Two threads burn CPU while the main thread waits; a third allocates and
# keeps what it made, and takes a snapshot.
PROGRAM = '''
import threading, time, pyscope

def burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

def keep(n):
    return [bytes(1000) for _ in range(n)]

def work():
    burn(0.3)

threads = [threading.Thread(target=work, name=f"burner-{i}") for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
kept = keep(2000)
print(pyscope.snapshot("kept"))
'''


def have_pprof():
    return bool(PPROF) and os.access(PPROF, os.X_OK)


class PprofTool(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not have_pprof():
            if REQUIRED:
                raise AssertionError(f"PYSCOPE_TEST_REQUIRE_PPROF=1 but no pprof tool at {PPROF!r}")
            raise unittest.SkipTest("no pprof tool (PYSCOPE_TEST_PPROF)")
        cls.dir = tempfile.mkdtemp(prefix="pyscope-e2e-pprof-")
        script = os.path.join(cls.dir, "app.py")
        with open(script, "w") as f:
            f.write(PROGRAM)
        cls.db = os.path.join(cls.dir, "run.db")
        res = harness.run_pyscope(["--memory", script], cls.db, cwd=cls.dir)
        if res.returncode != 0:
            raise AssertionError(res)
        cls.snapshot = int(res.stdout)
        cls.pb = os.path.join(cls.dir, "run.pb.gz")
        cls.heap_pb = os.path.join(cls.dir, "heap.pb.gz")
        for extra, out in (([], cls.pb), (["--memory", str(cls.snapshot)], cls.heap_pb)):
            res = harness.run_viewer(["export", cls.db, "--format", "pprof", "-o", out] + extra)
            if res.returncode != 0:
                raise AssertionError(res)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "dir") and not os.environ.get("PYSCOPE_TEST_KEEP"):
            shutil.rmtree(cls.dir, ignore_errors=True)
        super().tearDownClass()

    def pprof(self, *args, profile=None):
        env = dict(os.environ, HOME=self.tmp, PPROF_TMPDIR=self.tmp)
        res = subprocess.run([PPROF] + list(args) + [profile or self.pb], env=env,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(res.returncode, 0, res.stderr)
        return res.stdout

    def top_json(self, *args):
        res = harness.run_viewer(["top", self.db, "--json", "--limit", "0"] + list(args))
        self.assertEqual(res.returncode, 0, res)
        import json
        return json.loads(res.stdout)

    def pprof_top(self, index, *args, profile=None, unit="ns"):
        """pprof -top by function name: {name: (flat, cum)} in ns (bytes)."""
        out = self.pprof("-top", f"-unit={unit}", "-nodefraction=0", "-edgefraction=0",
                         "-nodecount=1000000", f"-sample_index={index}", *args, profile=profile)
        rows = {}
        number = rf"(\d+)(?:{unit})?\s+[\d.]+%"
        for line in out.splitlines():
            m = re.match(rf"^\s*{number}\s+[\d.]+%\s+{number}\s+(.+)$", line)
            if m:
                rows[m.group(3)] = (int(m.group(1)), int(m.group(2)))
        return rows

    def pyscope_top(self, clock, *args):
        """pyscope top by function name, as pprof names them: {name: [self,
        total, functions of that name]} in ns, and the total."""
        data = self.top_json("--clock", clock, *args)
        rows = {}
        for f in data["functions"]:
            row = rows.setdefault(f["qualname"] or f["name"], [0, 0, 0])
            row[0] += f["sampled"]["self_ns"]
            row[1] += f["sampled"]["total_ns"]
            row[2] += 1
        return rows, data["time_ns"]

    def test_top_agrees_with_pyscope_top(self):
        for clock in ("cpu", "wall"):
            ours, total = self.pyscope_top(clock)
            theirs = self.pprof_top(clock)
            self.assertEqual({name: flat for name, (flat, _) in theirs.items() if flat},
                             {name: row[0] for name, row in ours.items() if row[0]}, clock)
            # A sample counts once in a name's cumulative time, however many
            # functions of that name its stack has: compared where pyscope
            # has one function of the name.
            self.assertEqual({name: theirs[name][1] for name, row in ours.items()
                              if row[2] == 1 and row[1]},
                             {name: row[1] for name, row in ours.items()
                              if row[2] == 1 and row[1]}, clock)
            self.assertEqual(sum(flat for flat, _ in theirs.values()), total, clock)
        burn = self.pprof_top("cpu")["burn"]
        self.assertGreater(burn[0], 0.4e9)  # two threads, 0.3 s of CPU each

    def test_threads_slice_as_pyscope_selects_them(self):
        for name in ("burner-0", "burner-1", "MainThread"):
            ours, total = self.pyscope_top("cpu", "--thread", name)
            theirs = self.pprof_top("cpu", f"-tagfocus=thread={name}")
            self.assertEqual(sum(flat for flat, _ in theirs.values()), total, name)

    def test_raw_samples_and_labels(self):
        out = self.pprof("-raw")
        self.assertIn("samples/count cpu/nanoseconds[dflt] wall/nanoseconds", out)
        section = out.split("Samples:", 1)[1].split("Locations", 1)[0]
        sums = collections.Counter()
        by_state = collections.Counter()
        threads = {}
        current = None
        for line in section.splitlines():
            m = re.match(r"^\s*(\d+)\s+(\d+)\s+(\d+): [\d ]+$", line)
            if m:
                current = [int(m.group(i)) for i in (1, 2, 3)]
                sums.update(samples=current[0], cpu=current[1], wall=current[2])
                continue
            for key, value in re.findall(r"(\w+):\[([^\]]*)\]", line):
                if key == "state":
                    by_state[value] += current[0]
                elif key in ("thread", "thread_id", "pid"):
                    threads.setdefault(key, set()).add(value)
        # What top selects (without pyscope's own samples), in each clock.
        wall = self.top_json("--clock", "wall")
        self.assertEqual(sums["samples"], wall["samples"])
        self.assertEqual(sums["wall"], wall["time_ns"])
        self.assertEqual(sums["wall"], wall["samples"] * wall["interval_ns"])
        self.assertEqual(sums["cpu"], self.top_json()["time_ns"])
        expected = {}
        for state in ("running", "native", "idle", "gil", "runnable"):
            n = self.top_json("--clock", "wall", "--state", state)["samples"]
            if n:
                expected[state] = n
        self.assertEqual(dict(by_state), expected)
        self.assertGreater(expected["running"], 500)
        self.assertGreater(expected["idle"], 200)  # the main thread in join()
        db_threads = db_rows(self.db, "SELECT t.name, t.os_tid, p.pid FROM threads t "
                                      "JOIN processes p ON p.id = t.process_id "
                                      "WHERE t.id IN (SELECT DISTINCT thread_id FROM samples)")
        self.assertEqual(threads["thread"], {t["name"] for t in db_threads})
        self.assertEqual(threads["thread_id"], {str(t["os_tid"]) for t in db_threads})
        self.assertEqual(threads["pid"], {str(t["pid"]) for t in db_threads})

    def test_traces_add_up(self):
        out = self.pprof("-traces", "-unit=ns", "-sample_index=cpu")
        total = sum(int(v) for v in re.findall(r"^\s*(\d+)ns\s", out, re.M))
        self.assertEqual(total, self.top_json()["time_ns"])
        # Each trace ends in the thread's outermost frame: <module> for the
        # main thread, Thread._bootstrap for the burners.
        self.assertIn("<module>", out)
        self.assertIn("burn", out)

    def test_snapshot_live_bytes(self):
        rows = db_rows(self.db, "SELECT sum(size) bytes, sum(count) blocks FROM snapshot_traces "
                                "WHERE snapshot_id = ?", (self.snapshot,))[0]
        out = self.pprof("-raw", profile=self.heap_pb)
        self.assertIn("inuse_objects/count inuse_space/bytes[dflt]", out)
        section = out.split("Samples:", 1)[1].split("Locations", 1)[0]
        values = [tuple(map(int, m)) for m in re.findall(r"^\s*(\d+)\s+(\d+): ", section, re.M)]
        self.assertEqual(sum(v[0] for v in values), rows["blocks"])
        self.assertEqual(sum(v[1] for v in values), rows["bytes"])
        top = self.pprof_top("inuse_space", profile=self.heap_pb, unit="B")
        # 3.12 runs a comprehension in its function's frame (PEP 709)
        kept = sum(top.get(name, (0, 0))[0] for name in ("keep", "keep.<locals>.<listcomp>"))
        self.assertGreaterEqual(kept, 2000 * 1000)
        self.assertEqual(sum(flat for flat, _ in top.values()), rows["bytes"])


class Receiver:
    """An HTTP server on a free local port that keeps each request and
    answers with the statuses given, in turn (200 once they run out)."""

    def __init__(self, answers=()):
        self.requests = []
        self.answers = list(answers)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                url = urllib.parse.urlsplit(self.path)
                outer.requests.append({
                    "path": url.path,
                    "query": urllib.parse.parse_qs(url.query, keep_blank_values=True),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                })
                status, text = outer.answers.pop(0) if outer.answers else (200, b"")
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Push(PprofTool):
    """`pyscope push` against a local receiver, on PprofTool's run."""

    # PprofTool's own tests run once, there
    test_top_agrees_with_pyscope_top = None
    test_threads_slice_as_pyscope_selects_them = None
    test_raw_samples_and_labels = None
    test_traces_add_up = None
    test_snapshot_live_bytes = None

    def push(self, answers=(), *args):
        receiver = Receiver(answers)
        try:
            res = harness.run_viewer(["push", self.db, "--to", receiver.url + "/"] + list(args))
        finally:
            receiver.close()
        return res, receiver.requests

    def body_file(self, request):
        path = os.path.join(self.tmp, f"body-{len(os.listdir(self.tmp))}.pb.gz")
        with open(path, "wb") as f:
            f.write(request["body"])
        return path

    def raw_sums(self, profile):
        """pprof -raw of a body: its value types line and each value's sum."""
        out = self.pprof("-raw", profile=profile)
        types = out.split("Samples:", 1)[1].splitlines()[1].strip()
        section = out.split("Samples:", 1)[1].split("Locations", 1)[0]
        rows = [tuple(map(int, m.split())) for m in re.findall(r"^ *([\d ]+):", section, re.M)]
        return types, [sum(r[i] for r in rows) for i in range(len(rows[0]))]

    def test_each_profile_goes_as_pyroscope_takes_it(self):
        res, requests = self.push((), "--name", "shop/api", "--label", "env=test",
                                  "--label", "team.area=perf", "--tenant", "t1",
                                  "--basic-auth", "user:secret")
        self.assertEqual(res.returncode, 0, res)
        meta = {r["key"]: r["value"] for r in db_rows(self.db, "SELECT key, value FROM meta")}
        start = int(meta["start_wall_ns"])
        end = start + int(meta["duration_ns"])
        last = db_rows(self.db, "SELECT id, t_ns FROM snapshots ORDER BY t_ns DESC LIMIT 1")[0]
        self.assertEqual(len(requests), 3, res)
        auth = "Basic " + base64.b64encode(b"user:secret").decode()
        for r in requests:
            q = r["query"]
            self.assertEqual(r["path"], "/ingest")
            self.assertEqual(q["name"], ["shop/api{env=test,team.area=perf}"])
            self.assertEqual(q["format"], ["pprof"])
            self.assertEqual(q["spyName"], ["pyscope"])
            self.assertEqual(r["headers"]["x-scope-orgid"], "t1")
            self.assertEqual(r["headers"]["authorization"], auth)
            self.assertEqual(r["headers"]["content-type"], "application/octet-stream")
            self.assertEqual(r["body"][:2], b"\x1f\x8b")  # gzip
        cpu, wall, memory = requests
        for r in (cpu, wall):
            self.assertEqual(r["query"]["from"], [str(start // 10**9)])
            self.assertEqual(r["query"]["until"], [str(math.ceil(end / 10**9))])
            self.assertEqual(r["query"]["sampleRate"], [meta["sample_rate_hz"]])
        at = (start + last["t_ns"]) // 10**9
        self.assertEqual(memory["query"]["from"], [str(at)])
        self.assertNotIn("sampleRate", memory["query"])
        # the bodies, read by pprof, hold what pyscope shows
        types, sums = self.raw_sums(self.body_file(cpu))
        self.assertEqual(types, "samples/count cpu/nanoseconds[dflt]")
        self.assertEqual(sums[1], self.top_json()["time_ns"])
        types, sums = self.raw_sums(self.body_file(wall))
        self.assertEqual(types, "samples/count wall/nanoseconds[dflt]")
        wall_top = self.top_json("--clock", "wall")
        self.assertEqual(sums, [wall_top["samples"], wall_top["time_ns"]])
        types, sums = self.raw_sums(self.body_file(memory))
        self.assertEqual(types, "inuse_objects/count inuse_space/bytes[dflt]")
        live = db_rows(self.db, "SELECT sum(count) n, sum(size) bytes FROM snapshot_traces "
                                "WHERE snapshot_id = ?", (last["id"],))[0]
        self.assertEqual(sums, [live["n"], live["bytes"]])
        self.assertEqual([line.split()[0] for line in res.stdout.decode().splitlines()],
                         ["cpu", "wall", "memory"])

    def test_now_dates_the_profiles_at_the_push(self):
        before = time.time()
        res, requests = self.push((), "--now")
        self.assertEqual(res.returncode, 0, res)
        for r in requests:
            self.assertLessEqual(abs(int(r["query"]["until"][0]) - before), 5, r["query"])
        # the name is the script's without .py, without labels
        self.assertEqual(requests[0]["query"]["name"], ["app"])

    def test_what_may_come_later_is_tried_again(self):
        res, requests = self.push([(503, b"busy"), (429, b"slow down")], "--retries", "2")
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(len(requests), 5)  # the cpu profile three times, then the others
        self.assertEqual(requests[0]["body"], requests[2]["body"])

    def test_a_refusal_is_one_line_and_fails(self):
        said = json.dumps({"code": "invalid_argument",
                           "message": "profile is too old\nsee the limits"}).encode()
        res, requests = self.push([(422, said)], "--basic-auth", "user:secret")
        self.assertNotEqual(res.returncode, 0)
        self.assertEqual(len(requests), 1)  # a refusal is not tried again
        lines = res.stderr.decode().strip().splitlines()
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertIn("cpu profile", lines[0])
        self.assertIn("422", lines[0])
        self.assertIn("profile is too old", lines[0])
        self.assertNotIn("secret", lines[0])

    def test_no_server_is_one_line_and_fails(self):
        receiver = Receiver()
        url = receiver.url
        receiver.close()  # nothing listens there now
        t0 = time.monotonic()
        res = harness.run_viewer(["push", self.db, "--to", url, "--retries", "1"])
        self.assertEqual(res.returncode, 1, res)
        lines = res.stderr.decode().strip().splitlines()
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertIn("no answer from " + url + "/ingest (2 tries)", lines[0])
        self.assertLess(time.monotonic() - t0, 30)

    def test_bad_arguments_are_one_line(self):
        for args in (["--to", "ftp://x"], [], ["--to", "http://x", "--label", "a=b,c=d"],
                     ["--to", "http://x", "--label", "__name__=x"],
                     ["--to", "http://x", "--label", "pid=5"],
                     ["--to", "http://x", "--label", "state=idle"],
                     ["--to", "http://x", "--label", "k=" + "v" * 3000],
                     ["--to", "http://x", "--name", "a b"],
                     ["--to", "http://x", "--basic-auth", "nocolon"],
                     ["--to", "http://x", "--basic-auth", "u:p", "--bearer", "t"],
                     ["--to", "http://x", "--tenant", "a\r\nX-Evil: 1"],
                     ["--to", "http://user:secret@x"], ["--to", "http://x/?a=b"],
                     ["--to", "http://[zz"]):
            res = harness.run_viewer(["push", self.db] + args)
            self.assertEqual(res.returncode, 2, (args, res))
            self.assertEqual(len(res.stderr.strip().splitlines()), 1, (args, res))
            self.assertNotIn(b"secret", res.stderr)
        res = harness.run_viewer(["push", self.db, "--to", "http://x", "--bearer", "t"],
                                 env=dict(os.environ, PYSCOPE_PUSH_BASIC_AUTH="u:p"))
        self.assertEqual(res.returncode, 2, res)
        self.assertIn(b"$PYSCOPE_PUSH_BASIC_AUTH", res.stderr)

    def test_long_labels_go_whole(self):
        value = "v" * 2000
        res, requests = self.push((), "--label", "k=" + value, "--label", "k2=x")
        self.assertEqual(res.returncode, 0, res)
        for r in requests:
            self.assertEqual(r["query"]["name"], [f"app{{k={value},k2=x}}"])
            self.assertEqual(r["query"]["format"], ["pprof"])

    def test_a_module_run_is_named_by_its_module(self):
        db = os.path.join(self.tmp, "module.db")
        doc = os.path.join(self.tmp, "doc.json")
        with open(doc, "w") as f:
            json.dump(list(range(100000)), f)
        res = harness.run_pyscope(["-m", "json.tool", doc, os.devnull], db, cwd=self.tmp)
        self.assertEqual(res.returncode, 0, res)
        receiver = Receiver()
        try:
            res = harness.run_viewer(["push", db, "--to", receiver.url])
        finally:
            receiver.close()
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual({r["query"]["name"][0] for r in receiver.requests}, {"json.tool"})


if __name__ == "__main__":
    unittest.main()
