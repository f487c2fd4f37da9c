"""End-to-end tests of the runtime: what `pyscope profile` records about
processes and threads, how it survives crashes and signals, and how it
refuses bad input. Fixtures live in rt/."""
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import tempfile
import time
import unittest

import harness
from harness import E2ETestCase, db_integrity, db_rows

RT = os.path.join(harness.HERE, "rt")


def rt(name):
    return os.path.join(RT, name)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def versions_said():
    """How pyscope says which versions it supports and the build has."""
    minors = [int(v.split(".")[1]) for v in harness.layer_versions()]
    if len(minors) > 2 and minors == list(range(minors[0], minors[-1] + 1)):
        supported = f"3.{minors[0]}\u20133.{minors[-1]}"
    else:
        supported = ", ".join(f"3.{m}" for m in minors)
    return (f"pyscope supports CPython {supported}, and this build has "
            f"{', '.join(harness.built_versions())}")


class Recording(E2ETestCase):
    def test_a_child_of_another_version_the_build_has(self):
        """Every version finds its own bootstrap on the one PYTHONPATH: a
        child of another version the build has joins the recording."""
        target = "%d.%d" % harness.target_version()
        others = {v: p for v, p in harness.built_pythons().items() if v != target}
        if not others:
            self.skipTest("the build has no other CPython version")
        code = ("import subprocess, sys; subprocess.run([sys.argv[1], '-c', "
                "'import sys; print(*sys.version_info[:2])'], check=True)")
        for version, python in sorted(others.items()):
            with self.subTest(version=version):
                db = self.new_db_path()
                res = harness.run_pyscope(["-c", code, python], db, cwd=self.tmp)
                self.assertEqual((res.returncode, res.stdout.decode()),
                                 (0, version.replace(".", " ") + "\n"), res)
                procs = db_rows(db, """select id, parent_id, python_version, exit_code
                                       from processes order by id""")
                self.assertEqual(len(procs), 2, procs)
                self.assertEqual(procs[0]["python_version"], harness.target().version)
                self.assertEqual(procs[1]["parent_id"], procs[0]["id"], procs)
                self.assertTrue(procs[1]["python_version"].startswith(version + "."), procs)
                self.assertEqual(procs[1]["exit_code"], 0, procs)

    def test_process_tree_and_threads(self):
        db = self.new_db_path()
        res = harness.run_pyscope([rt("family.py")], db, cwd=self.tmp)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(res.stdout, b"done\n")
        self.assertEqual(db_integrity(db), "ok")

        procs = db_rows(db, "select * from processes order by id")
        main = procs[0]
        self.assertIsNone(main["parent_id"])
        self.assertEqual(main["exit_code"], 0)
        self.assertIsNotNone(main["ended_ns"])
        children = procs[1:]
        # fork child, spawn child (+ its resource tracker is not used for a
        # plain Process), fork-context child, subprocess child.
        by_kind = {}
        for p in children:
            self.assertEqual(p["parent_id"], main["id"], p)
            self.assertIsNotNone(p["ended_ns"], p)
            if "spawn_main" in p["argv"]:
                by_kind["spawn"] = p
            elif "sys.exit(6)" in p["argv"]:
                by_kind["subprocess"] = p
            elif p["forked"] and p["exit_code"] == 4:
                by_kind["fork"] = p
            elif p["forked"]:
                by_kind["mp-fork"] = p
        self.assertEqual(set(by_kind), {"spawn", "subprocess", "fork", "mp-fork"}, procs)
        self.assertEqual(by_kind["spawn"]["exit_code"], 0)
        self.assertEqual(by_kind["mp-fork"]["exit_code"], 0)
        self.assertEqual(by_kind["subprocess"]["exit_code"], 6)
        self.assertFalse(by_kind["subprocess"]["forked"])

        threads = db_rows(db, "select * from threads where process_id = ? order by started_ns",
                          (main["id"],))
        names = [t["name"] for t in threads]
        self.assertEqual(names[0], "MainThread")
        self.assertTrue(threads[0]["is_main"])
        self.assertIn("alpha", names)
        self.assertIn("after-rename", names)
        self.assertNotIn("before-rename", names)
        self.assertIn(None, names)  # the raw _thread thread has no name
        for t in threads:
            self.assertIsNotNone(t["ended_ns"], t)
            self.assertGreaterEqual(t["ended_ns"], t["started_ns"])
        for p in children:
            rows = db_rows(db, "select name, is_main from threads where process_id = ?",
                           (p["id"],))
            self.assertEqual(rows, [{"name": "MainThread", "is_main": 1}], p)

    def test_meta_and_default_output_name(self):
        script = os.path.join(self.tmp, "my app.py")
        with open(script, "w") as f:
            f.write("print('hi')\n")
        res = harness._run([harness.pyscope_bin(), "profile", "-q", "--python",
                            harness.python_bin(), script, "arg one"], cwd=self.tmp)
        self.assertEqual(res.returncode, 0, res)
        dbs = [n for n in os.listdir(self.tmp) if n.endswith(".db")]
        self.assertEqual(len(dbs), 1, dbs)
        db = os.path.join(self.tmp, dbs[0])
        pid = db_rows(db, "select pid from processes")[0]["pid"]
        self.assertEqual(dbs[0], f"pyscope-my_app-{pid}.db")
        meta = {r["key"]: r["value"] for r in db_rows(db, "select * from meta")}
        for key in ("pyscope_version", "python_version", "python_executable", "argv", "cwd",
                    "started_at", "ended_at", "duration_ns", "host", "exit_status", "options"):
            self.assertIn(key, meta)
        self.assertEqual(meta["exit_status"], "exit 0")
        self.assertEqual(meta["python_version"], harness.target().version)
        self.assertEqual(meta["argv"], f"'{script}' 'arg one'")
        self.assertEqual(db_rows(db, "pragma user_version")[0]["user_version"], 2)
        self.assertEqual(db_rows(db, "pragma journal_mode")[0]["journal_mode"], "delete")

    def test_summary_after_run(self):
        db = self.new_db_path()
        res = harness._run([harness.pyscope_bin(), "profile", "--python", harness.python_bin(),
                            "-o", db, rt("family.py")], cwd=self.tmp)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(res.stdout, b"done\n")  # the summary goes to stderr
        self.assertIn(b"processes", res.stderr)
        self.assertIn(b"MainThread", res.stderr)

    def test_commits_while_running(self):
        """Rows reach the file within the commit period, not at the end."""
        db = self.new_db_path()
        proc = subprocess.Popen(
            [harness.pyscope_bin(), "profile", "-q", "--python", harness.python_bin(), "-o", db,
             rt("linger.py")], stdout=subprocess.PIPE, cwd=self.tmp, start_new_session=True,
            env=harness.clean_env())
        try:
            self.assertEqual(proc.stdout.readline(), b"ready\n")
            deadline = time.monotonic() + 5
            names = []
            while time.monotonic() < deadline and "early" not in names:
                time.sleep(0.1)
                try:
                    names = [r["name"] for r in db_rows(db, "select name from threads")]
                except sqlite3.OperationalError:
                    pass
            self.assertIn("early", names)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        self.assertEqual(db_integrity(db), "ok")


    def test_threads_run_at_their_plain_stack_offset(self):
        # pyscope's frames under each thread's function are padded so
        # that the thread's code sits at the same offset within a page as
        # under plain Python (the offset changes how fast a loop runs).
        pydir = os.path.join(os.path.dirname(harness.pyscope_bin()), "python")
        plain = harness.run_python([rt("stack_offset.py")], cwd=self.tmp,
                                   env=harness.clean_env({"PYTHONPATH": pydir}))
        self.assertEqual(plain.returncode, 0, plain)
        *offsets, pad = plain.stdout.split()
        self.assertEqual(pad, b"0")
        for rate in ("--no-sample", "--rate=1000"):
            db = self.new_db_path()
            res = harness.run_pyscope([rate, rt("stack_offset.py")], db, cwd=self.tmp)
            self.assertEqual(res.returncode, 0, res)
            *traced, pad = res.stdout.split()
            self.assertGreater(int(pad), 0, res)
            self.assertLess(int(pad), 4096, res)
            # threading and _thread: the same offsets as plain Python.
            self.assertEqual(traced[:2], offsets[:2], (rate, res.stdout, plain.stdout))
            # A stack the program made small gets no pad, so its offset moves.
            self.assertNotEqual(traced[2], offsets[2], (rate, res.stdout, plain.stdout))


class CrashSafety(E2ETestCase):
    def crash(self, how):
        db = self.new_db_path()
        res = harness.run_pyscope([rt("crash.py"), how], db, cwd=self.tmp)
        self.assertEqual(db_integrity(db), "ok")
        return res, db, db_rows(db, "select * from processes order by id")

    def test_interpreter_that_cannot_start(self):
        """A program that ends before pyscope's bootstrap runs in it (here
        the interpreter cannot find its standard library) keeps its exit
        status, its end is recorded, and pyscope says that nothing else is."""
        db = self.new_db_path()
        env = harness.clean_env({"PYTHONHOME": os.path.join(self.tmp, "no-such-home")})
        res = harness.run_pyscope([rt("crash.py"), "os_exit"], db, cwd=self.tmp, env=env)
        self.assertEqual(res.returncode, 1, res)
        self.assertIn(b"Fatal Python error", res.stderr)
        last = res.stderr.decode().splitlines()[-1]
        self.assertEqual(last, "pyscope: the program ended before pyscope could start "
                               f"recording in it: only its end is in '{db}'")
        self.assertEqual(db_integrity(db), "ok")
        procs = db_rows(db, "select exit_code from processes")
        self.assertEqual([p["exit_code"] for p in procs], [1])

    def test_sigkill(self):
        res, db, procs = self.crash("sigkill")
        self.assertEqual(res.returncode, -signal.SIGKILL)
        self.assertEqual(procs[0]["signal"], signal.SIGKILL)
        self.assertIsNone(procs[0]["exit_code"])
        self.assertIsNotNone(procs[0]["ended_ns"])
        self.assertEqual(db_rows(db, "select count(*) n from threads")[0]["n"], 1)

    def test_segfault(self):
        res, db, procs = self.crash("segv")
        self.assertEqual(res.returncode, -signal.SIGSEGV)
        self.assertEqual(procs[0]["signal"], signal.SIGSEGV)

    def test_os_exit(self):
        res, db, procs = self.crash("os_exit")
        self.assertEqual(res.returncode, 7)
        self.assertEqual(procs[0]["exit_code"], 7)

    def test_child_killed(self):
        res, db, procs = self.crash("child_sigkill")
        self.assertEqual(res.returncode, 0)
        self.assertEqual(len(procs), 2)
        self.assertEqual(procs[1]["signal"], signal.SIGKILL)
        self.assertEqual(procs[1]["parent_id"], procs[0]["id"])

    def test_child_segfault(self):
        res, db, procs = self.crash("child_segv")
        self.assertEqual(res.returncode, 0)
        self.assertEqual(procs[1]["signal"], signal.SIGSEGV)

    def test_children_terminated_as_they_start(self):
        """A SIGTERM that reaches a child before pyscope has set itself up
        again in it ends the child as it would without pyscope, and the
        child's end is recorded as that signal."""
        res, db, procs = self.crash("children_sigterm")
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(res.stdout, b"ready\n" + str([-signal.SIGTERM] * 10).encode() + b"\n")
        self.assertEqual([p["signal"] for p in procs[1:]], [signal.SIGTERM] * 10)


class LostRecording(E2ETestCase):
    """A run whose database cannot be finished says so and fails; the program
    itself runs as it would, and what was committed stays readable."""

    def profile(self, db, *args):
        return harness._run([harness.pyscope_bin(), "profile", "-q", "--python",
                             harness.python_bin(), "-o", db, *args], cwd=self.tmp)

    def assert_lost(self, res, db, why, status):
        lines = res.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertTrue(lines[0].startswith(f"pyscope: cannot finish '{db}': {why}"), lines[0])
        self.assertTrue(lines[0].endswith(f"; the program exited with status {status}"),
                        lines[0])

    def small_disk(self, size):
        """A directory on a tmpfs of size bytes, unmounted at the end."""
        where = os.path.join(self.tmp, "small")
        os.mkdir(where)
        if os.geteuid() != 0:
            self.skipTest("mounting a small tmpfs to fill needs root")
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", where],
                             capture_output=True, text=True)
        if res.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here: {res.stderr.strip()}")
        self.addCleanup(subprocess.run, ["umount", where], check=True)
        return where

    def test_disk_full(self):
        small = self.small_disk(1 << 20)
        for status, exit_status in ((0, 1), (3, 3)):
            with self.subTest(status=status):
                for name in os.listdir(small):  # room again for the next run
                    os.remove(os.path.join(small, name))
                db = os.path.join(small, f"run{status}.db")
                res = self.profile(db, "--memory", rt("fill.py"), str(status))
                self.assertEqual(res.stdout, b"done 2200\n", res)
                self.assertEqual(res.returncode, exit_status, res)
                self.assert_lost(res, db, "database or disk is full", status)
                # What was committed is sound and readable, the disk still full.
                self.assertEqual(db_integrity(db), "ok")
                self.assertGreater(db_rows(db, "select count(*) n from snapshots")[0]["n"], 0)
                for sql in (
                        "select count(*) n from snapshot_traces t"
                        " where t.snapshot_id not in (select id from snapshots)"
                        " or t.stack_id not in (select id from stacks)",
                        "select count(*) n from stacks s where s.frame_id not in"
                        " (select id from frames) or (s.parent_id is not null and"
                        " s.parent_id not in (select id from stacks))",
                        "select count(*) n from frames where function_id not in"
                        " (select id from functions)",
                        "select count(*) n from snapshots where process_id not in"
                        " (select id from processes)"):
                    self.assertEqual(db_rows(db, sql)[0]["n"], 0, sql)
                summary = harness.run_viewer(["summary", db])
                self.assertEqual(summary.returncode, 0, summary)

    def test_output_removed_or_replaced(self):
        for how in ("remove", "replace"):
            with self.subTest(how):
                db = os.path.join(self.tmp, f"{how}.db")
                res = self.profile(db, rt("replace_output.py"), how, db)
                self.assertEqual(res.stdout, f"{how} done\n".encode(), res)
                self.assertEqual(res.returncode, 1, res)
                self.assert_lost(res, db, "it was removed or replaced during the run", 0)
                if how == "remove":
                    self.assertFalse([n for n in os.listdir(self.tmp) if n.startswith(how)])
                    continue
                # another run's files are left as they are
                self.assertEqual(sorted(n for n in os.listdir(self.tmp) if n.startswith(how)),
                                 [f"{how}.db", f"{how}.db-wal"])
                with open(db) as f:
                    self.assertEqual(f.read(), "another run's database")
                with open(db + "-wal") as f:
                    self.assertEqual(f.read(), "another run's journal")


class Signals(E2ETestCase):
    def start(self, *args):
        db = self.new_db_path()
        proc = subprocess.Popen(
            [harness.pyscope_bin(), "profile", "-q", "--python", harness.python_bin(), "-o", db,
             rt("linger.py"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=self.tmp, start_new_session=True, env=harness.clean_env())
        self.addCleanup(lambda: proc.poll() is None and os.killpg(proc.pid, signal.SIGKILL))
        line = proc.stdout.readline()
        if line != b"ready\n":
            try:
                err = proc.communicate(timeout=10)[1]
            except subprocess.TimeoutExpired:
                err = b"(pyscope still running)"
            self.fail(f"no ready line but {line!r}; pyscope exited {proc.returncode}; "
                      f"stderr: {err.decode(errors='replace')}")
        rows = []
        deadline = time.monotonic() + 5
        while not rows and time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                rows = db_rows(db, "select pid from processes")
            except sqlite3.OperationalError:
                pass
        self.assertTrue(rows)
        return proc, db, rows[0]["pid"]

    def finish(self, proc):
        out, err = proc.communicate(timeout=30)
        return proc.returncode, out, err

    def test_sigterm_to_pyscope_reaches_program(self):
        proc, db, pid = self.start("handle-term")
        proc.send_signal(signal.SIGTERM)
        rc, out, err = self.finish(proc)
        self.assertEqual(out, b"got SIGTERM\n")
        self.assertEqual(rc, 0, err)
        self.assertFalse(pid_alive(pid))
        self.assertEqual(db_rows(db, "select exit_code from processes")[0]["exit_code"], 0)

    def test_sigterm_default_action(self):
        proc, db, pid = self.start()
        proc.send_signal(signal.SIGTERM)
        rc, out, err = self.finish(proc)
        self.assertEqual(rc, -signal.SIGTERM, err)
        self.assertFalse(pid_alive(pid))
        self.assertEqual(db_rows(db, "select signal from processes")[0]["signal"], signal.SIGTERM)

    def test_ctrl_c_to_the_group(self):
        proc, db, pid = self.start()
        os.killpg(proc.pid, signal.SIGINT)
        rc, out, err = self.finish(proc)
        self.assertEqual(rc, -signal.SIGINT)
        self.assertIn(b"KeyboardInterrupt", err)
        self.assertEqual(err.count(b"KeyboardInterrupt"), 1, err)  # delivered once
        self.assertEqual(db_integrity(db), "ok")

    def test_pyscope_killed_leaves_no_orphan(self):
        proc, db, pid = self.start()
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(pid_alive(pid))
        self.assertEqual(db_integrity(db), "ok")


class BadInput(E2ETestCase):
    def pyscope(self, *args, cwd=None, env=None):
        return harness._run([harness.pyscope_bin(), *args], cwd=cwd or self.tmp, env=env)

    def assert_refused(self, res, message):
        self.assertEqual(res.returncode, 2, res)
        lines = res.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertIn(message, lines[0])
        self.assertEqual(res.stdout, b"")

    def assert_no_db(self):
        self.assertEqual([n for n in os.listdir(self.tmp) if ".db" in n], [])

    @unittest.skipUnless(harness.ext_dir_with("tornext"), "no tornext test extension for this version")
    def test_layout_it_does_not_know(self):
        if harness.target_version() < (3, 13):
            self.skipTest("CPython describes its layout from 3.13 on")
        # A .pth file runs before pyscope's bootstrap: it makes the
        # interpreter say its frames are laid out as no build knows them.
        base = os.path.join(self.tmp, "userbase")
        site = os.path.join(base, "lib", "python%d.%d" % harness.target_version(), "site-packages")
        os.makedirs(site)
        with open(os.path.join(site, "shift.pth"), "w") as f:
            f.write("import sys; sys.path.insert(0, %r); import tornext; tornext.shift_layout()\n"
                    % os.environ["PYSCOPE_TEST_EXT_DIR"])
        with open(os.path.join(self.tmp, "s.py"), "w") as f:
            f.write("print('the program ran')\n")
        env = harness.clean_env({"PYTHONUSERBASE": base})
        # Without -q: the refusal is all that is said, and no database of
        # a run that never was stays.
        res = self.pyscope("profile", "--python", harness.python_bin(), "-o", "x.db", "s.py",
                           env=env)
        self.assert_refused(res, "keeps interpreter_frame.instr_ptr at offset")
        self.assertTrue(res.stderr.decode().rstrip().endswith("; the program was not run"), res)
        self.assert_no_db()

    def test_missing_script(self):
        res = self.pyscope("profile", "-q", "nope.py")
        self.assert_refused(res, "cannot open script 'nope.py': No such file or directory")
        self.assert_no_db()

    def test_directory_as_script(self):
        os.mkdir(os.path.join(self.tmp, "pkg"))
        res = self.pyscope("profile", "-q", "pkg")
        self.assert_refused(res, "'pkg' is a directory without a __main__.py")
        self.assert_no_db()
        with open(os.path.join(self.tmp, "pkg", "__main__.py"), "w") as f:
            f.write("print('main of a directory')\n")
        res = self.pyscope("profile", "-q", "--python", harness.python_bin(), "-o", "x.db", "pkg")
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(res.stdout, b"main of a directory\n")

    def test_unknown_option(self):
        res = self.pyscope("profile", "--frobnicate", "x.py")
        self.assert_refused(res, "unknown option '--frobnicate'")
        self.assert_no_db()

    def test_output_in_missing_directory(self):
        script = os.path.join(self.tmp, "s.py")
        open(script, "w").close()
        res = self.pyscope("profile", "-q", "-o", "no/such/dir/x.db", script)
        self.assert_refused(res, "cannot create 'no/such/dir/x.db': No such file or directory")
        self.assert_no_db()

    def test_output_in_read_only_place(self):
        script = os.path.join(self.tmp, "s.py")
        open(script, "w").close()
        # Root ignores permission bits; /proc refuses new files to anyone.
        res = self.pyscope("profile", "-q", "-o", "/proc/pyscope-test.db", script)
        self.assert_refused(res, "cannot create '/proc/pyscope-test.db'")
        self.assert_no_db()

    def test_existing_output_needs_force(self):
        script = os.path.join(self.tmp, "s.py")
        with open(script, "w") as f:
            f.write("print(1)\n")
        with open(os.path.join(self.tmp, "keep.db"), "w") as f:
            f.write("precious")
        res = self.pyscope("profile", "-q", "-o", "keep.db", script)
        self.assert_refused(res, "'keep.db' already exists; use --force to overwrite it")
        with open(os.path.join(self.tmp, "keep.db")) as f:
            self.assertEqual(f.read(), "precious")
        res = self.pyscope("profile", "-q", "--force", "--python", harness.python_bin(),
                           "-o", "keep.db", script)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(db_integrity(os.path.join(self.tmp, "keep.db")), "ok")

    def marker_script(self):
        """A script that leaves ran.txt behind: it shows whether the program ran."""
        script = os.path.join(self.tmp, "s.py")
        with open(script, "w") as f:
            f.write("open('ran.txt', 'w').close()\n")
        return script

    def assert_not_run(self):
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "ran.txt")),
                         "the program ran")

    def test_force_refuses_what_is_not_a_file(self):
        script = self.marker_script()

        def make_socket(path):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            self.addCleanup(s.close)

        kinds = [("a fifo", os.mkfifo, stat.S_ISFIFO),
                 ("a directory", os.mkdir, stat.S_ISDIR),
                 ("a socket", make_socket, stat.S_ISSOCK)]
        if os.geteuid() == 0:  # only root makes device nodes
            kinds.append(("a character device",
                          lambda p: os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(1, 3)),
                          stat.S_ISCHR))
        for what, make, is_kind in kinds:
            with self.subTest(what):
                name = what.split()[-1] + ".db"
                path = os.path.join(self.tmp, name)
                make(path)
                before = os.lstat(path)
                res = self.pyscope("profile", "-q", "--force", "--python",
                                   harness.python_bin(), "-o", name, script)
                self.assert_refused(res, f"cannot replace '{name}': it is {what}; "
                                         "--force replaces only a regular file or a symbolic link")
                after = os.lstat(path)
                self.assertTrue(is_kind(after.st_mode), what)
                self.assertEqual((after.st_ino, after.st_rdev), (before.st_ino, before.st_rdev))
                self.assert_not_run()

    def test_force_checks_every_file_before_removing_any(self):
        script = self.marker_script()
        with open(os.path.join(self.tmp, "keep.db"), "w") as f:
            f.write("precious")
        os.mkdir(os.path.join(self.tmp, "keep.db-wal"))
        res = self.pyscope("profile", "-q", "--force", "--python", harness.python_bin(),
                           "-o", "keep.db", script)
        self.assert_refused(res, "cannot replace 'keep.db-wal': it is a directory")
        with open(os.path.join(self.tmp, "keep.db")) as f:
            self.assertEqual(f.read(), "precious")
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, "keep.db-wal")))
        self.assert_not_run()

    def test_force_replaces_a_symlink_not_its_target(self):
        script = self.marker_script()
        outside = tempfile.mkdtemp(prefix="pyscope-e2e-outside-")
        self.addCleanup(shutil.rmtree, outside, ignore_errors=True)
        target = os.path.join(outside, "target.db")
        with open(target, "w") as f:
            f.write("precious")
        link = os.path.join(self.tmp, "link.db")
        os.symlink(target, link)
        res = self.pyscope("profile", "-q", "--python", harness.python_bin(), "-o", "link.db",
                           script)
        self.assert_refused(res, "'link.db' already exists; use --force to overwrite it")
        res = self.pyscope("profile", "-q", "--force", "--python", harness.python_bin(),
                           "-o", "link.db", script)
        self.assertEqual(res.returncode, 0, res)
        self.assertTrue(stat.S_ISREG(os.lstat(link).st_mode), "the link is still a link")
        self.assertEqual(db_integrity(link), "ok")
        with open(target) as f:
            self.assertEqual(f.read(), "precious")
        self.assertEqual(sorted(os.listdir(outside)), ["target.db"])
        # a dangling link is a link too
        os.remove(target)
        os.remove(link)
        os.symlink(target, link)
        res = self.pyscope("profile", "-q", "--force", "--python", harness.python_bin(),
                           "-o", "link.db", script)
        self.assertEqual(res.returncode, 0, res)
        self.assertTrue(stat.S_ISREG(os.lstat(link).st_mode))
        self.assertEqual(os.listdir(outside), [])

    def test_refused_run_keeps_the_journal_beside_the_output(self):
        script = self.marker_script()
        for suffix in ("-wal", "-shm", "-journal"):
            with self.subTest(suffix):
                journal = os.path.join(self.tmp, "x.db" + suffix)
                with open(journal, "w") as f:
                    f.write("not pyscope's")
                res = self.pyscope("profile", "-q", "--python", harness.python_bin(),
                                   "-o", "x.db", script)
                self.assert_refused(res, f"'x.db{suffix}' exists beside 'x.db'; "
                                         "use --force to overwrite it")
                with open(journal) as f:
                    self.assertEqual(f.read(), "not pyscope's")
                self.assertEqual(sorted(os.listdir(self.tmp)), ["s.py", "x.db" + suffix])
                self.assert_not_run()
                # --force replaces a journal that is a plain file, as the database itself
                res = self.pyscope("profile", "-q", "--force", "--python", harness.python_bin(),
                                   "-o", "x.db", script)
                self.assertEqual(res.returncode, 0, res)
                self.assertEqual(db_integrity(os.path.join(self.tmp, "x.db")), "ok")
                self.assertEqual(sorted(os.listdir(self.tmp)), ["ran.txt", "s.py", "x.db"])
                os.remove(os.path.join(self.tmp, "x.db"))
                os.remove(os.path.join(self.tmp, "ran.txt"))

    def fake_python(self, body):
        path = os.path.join(self.tmp, "fakepython")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
        return path

    def test_wrong_python_version(self):
        fake = self.fake_python("printf 'cpython\\n3.10.13\\n/usr/bin/python3.10\\n\\n'\n")
        open(os.path.join(self.tmp, "s.py"), "w").close()
        res = self.pyscope("profile", "-q", "--python", fake, "s.py")
        self.assert_refused(res, f"'{fake}' is CPython 3.10.13; {versions_said()}")
        self.assert_no_db()

    def test_free_threaded_python(self):
        # 3.13t: a version the build has, built without the GIL (sys.abiflags
        # "t"), whose objects and extensions are not the default build's
        fake = self.fake_python("printf 'cpython\\n3.13.0\\n/usr/bin/python3.13t\\nt\\n'\n")
        open(os.path.join(self.tmp, "s.py"), "w").close()
        res = self.pyscope("profile", "-q", "--python", fake, "s.py")
        supported = versions_said().replace("supports CPython", "supports the default build of CPython")
        self.assert_refused(res, f"'{fake}' is CPython 3.13.0 built free-threaded (without the GIL); "
                                 f"{supported}")
        self.assert_no_db()

    def test_unsupported_python_is_refused_before_it_runs(self):
        for version in ("3.10", "3.9"):
            with self.subTest(version=version):
                python = harness.pyenv_python(version)
                if not python:
                    self.skipTest(f"no pyenv build of CPython {version} here")
                script = self.marker_script()
                full = subprocess.run([python, "-c", "import platform; "
                                       "print(platform.python_version())"],
                                      capture_output=True, text=True, check=True).stdout.strip()
                res = self.pyscope("profile", "--python", python, "-o", "x.db", script)
                self.assertEqual(res.stderr.decode(),
                                 f"pyscope: '{python}' is CPython {full}; {versions_said()}\n")
                self.assertEqual((res.returncode, res.stdout), (2, b""), res)
                self.assert_not_run()
                self.assert_no_db()
                os.remove(script)

    def test_python3_on_path_only_when_the_build_has_it(self):
        script = os.path.join(self.tmp, "s.py")
        with open(script, "w") as f:
            f.write("import sys; print(sys.executable)\n")
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)
        python3 = os.path.join(bindir, "python3")
        env = harness.clean_env({"PATH": bindir + os.pathsep + os.environ["PATH"]})
        # a version the build has: it runs the program
        os.symlink(os.path.realpath(harness.python_bin()), python3)
        res = self.pyscope("profile", "-q", "-o", "a.db", script, env=env)
        self.assertEqual((res.returncode, res.stdout.decode()), (0, python3 + "\n"), res)
        meta = dict((r["key"], r["value"]) for r in
                    db_rows(os.path.join(self.tmp, "a.db"), "select key, value from meta"))
        self.assertEqual(meta["python_version"], harness.target().version)
        # one it has not: passed over for the interpreter pyscope was built for
        os.remove(python3)
        with open(python3, "w") as f:
            f.write("#!/bin/sh\nprintf 'cpython\\n3.10.13\\n%s\\n\\n' \"$0\"\n")
        os.chmod(python3, 0o755)
        res = self.pyscope("profile", "-q", "-o", "b.db", script, env=env)
        self.assertEqual(res.returncode, 0, res)
        ran = res.stdout.decode().strip()
        self.assertNotEqual(ran, python3)
        meta = dict((r["key"], r["value"]) for r in
                    db_rows(os.path.join(self.tmp, "b.db"), "select key, value from meta"))
        self.assertIn(".".join(meta["python_version"].split(".")[:2]), harness.built_versions())

    def test_missing_extension_is_refused(self):
        # a pyscope whose python/ beside it lost the extension of the version
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(os.path.join(bindir, "python"))
        shutil.copy2(harness.pyscope_bin(), bindir)
        built = os.path.join(os.path.dirname(harness.pyscope_bin()), "python")
        shutil.copy2(os.path.join(built, "pyscope.py"), os.path.join(bindir, "python"))
        script = self.marker_script()
        res = harness._run([os.path.join(bindir, "pyscope"), "profile", "-q", "--python",
                            harness.python_bin(), "-o", "x.db", script], cwd=self.tmp)
        boot = os.path.join(bindir, "python", "sitecustomize" + harness.target().ext_suffix)
        self.assertEqual(res.stderr.decode(),
                         f"pyscope: '{harness.python_bin()}' is CPython {harness.target().version}, "
                         f"and pyscope's extension for it is missing: no '{boot}'\n")
        self.assertEqual((res.returncode, res.stdout), (1, b""), res)
        self.assert_not_run()
        self.assert_no_db()

    def test_not_a_python(self):
        fake = self.fake_python("exit 0\n")
        open(os.path.join(self.tmp, "s.py"), "w").close()
        res = self.pyscope("profile", "-q", "--python", fake, "s.py")
        self.assert_refused(res, f"'{fake}' is not a Python interpreter pyscope can use")
        res = self.pyscope("profile", "-q", "--python", "/no/such/python", "s.py")
        self.assert_refused(res, "cannot find the interpreter '/no/such/python'")
        self.assert_no_db()

    def test_virtualenv_is_preferred(self):
        venv = os.path.join(self.tmp, "venv")
        subprocess.run([harness.python_bin(), "-m", "venv", "--without-pip", venv], check=True)
        script = os.path.join(self.tmp, "s.py")
        with open(script, "w") as f:
            f.write("import sys; print(sys.prefix)\n")
        env = harness.clean_env({"VIRTUAL_ENV": venv})
        res = self.pyscope("profile", "-q", "-o", "v.db", script, env=env)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(res.stdout.decode().strip(), venv)
        exe = db_rows(os.path.join(self.tmp, "v.db"), "select executable from processes")
        self.assertEqual(exe[0]["executable"], os.path.join(venv, "bin", "python"))

    def test_viewer_refuses_bad_files(self):
        with open(os.path.join(self.tmp, "text.db"), "w") as f:
            f.write("this is not a database at all, just some text\n" * 20)
        self.assert_refused(self.pyscope("summary", "text.db"), "'text.db' is not a pyscope database")
        conn = sqlite3.connect(os.path.join(self.tmp, "other.db"))
        conn.execute("create table t(x)")
        conn.commit()
        conn.close()
        self.assert_refused(self.pyscope("summary", "other.db"),
                            "'other.db' is not a pyscope database")
        db = self.new_db_path()
        harness.run_pyscope(["-c", "pass"], db, cwd=self.tmp)
        conn = sqlite3.connect(db)
        conn.execute("pragma user_version = 99")
        conn.commit()
        conn.close()
        self.assert_refused(self.pyscope("summary", db), "schema version 99")
        self.assert_refused(self.pyscope("summary", "missing.db"), "cannot open 'missing.db'")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "missing.db")))


class Help(E2ETestCase):
    def pyscope(self, *args):
        return harness._run([harness.pyscope_bin(), *args], cwd=self.tmp)

    def test_help_and_version(self):
        res = self.pyscope("--help")
        self.assertEqual(res.returncode, 0)
        for cmd in (b"profile", b"summary", b"help"):
            self.assertIn(cmd, res.stdout)
        res = self.pyscope("--version")
        self.assertEqual(res.returncode, 0)
        self.assertRegex(res.stdout.decode(), r"^pyscope \d+\.\d+\.\d+ \(CPython [^)]*\)\n$")
        self.assertEqual(res.stdout.decode().split(" (CPython ")[1],
                         ", ".join(harness.built_versions()) + ")\n")
        for args in (("help", "profile"), ("profile", "--help"), ("help", "summary"),
                     ("summary", "--help")):
            res = self.pyscope(*args)
            self.assertEqual(res.returncode, 0, args)
            self.assertTrue(res.stdout.startswith(b"usage: pyscope " + args[-1 if args[0] == "help" else 0].encode()), res)

    def test_unknown_command(self):
        res = self.pyscope("frobnicate")
        self.assertEqual(res.returncode, 2)
        self.assertIn(b"'frobnicate' is not a pyscope command", res.stderr)
        self.assertIn(b"usage: pyscope", res.stderr)
        res = self.pyscope()
        self.assertEqual(res.returncode, 2)

    def test_program_help_is_the_programs(self):
        script = os.path.join(self.tmp, "s.py")
        with open(script, "w") as f:
            f.write("import sys; print(sys.argv[1:])\n")
        db = self.new_db_path()
        res = harness.run_pyscope([script, "--help", "-q"], db, cwd=self.tmp)
        self.assertEqual(res.stdout, b"['--help', '-q']\n")


if __name__ == "__main__":
    unittest.main()
