"""The program cannot tell it is profiled (DESIGN.md): signals sent to it
keep their meaning, the sampler never cuts a system call short, and pyscope
leaves no trace in the program's process. Each test compares a fixture's
run under pyscope with a plain run of it; fixtures live in unseen/."""
import os
import platform
import resource
import re
import signal
import subprocess
import sys
import time
import unittest

import harness
from harness import E2ETestCase, assert_parity, db_integrity, db_rows

UNSEEN = os.path.join(harness.HERE, "unseen")


def unseen(name):
    return os.path.join(UNSEEN, name)


class SentSignals(E2ETestCase):
    """A SIGSEGV or SIGBUS sent to the program is not one the sampler's
    frame walk caused: the program gets it with its own disposition."""

    def parity(self, mode, died_of):
        assert_parity(self, [unseen("sent_fault.py"), mode])
        self.assertEqual(self.last_python.returncode, -died_of, self.last_python)

    def test_kill_segv(self):
        self.parity("kill-segv", signal.SIGSEGV)

    def test_kill_bus(self):
        self.parity("kill-bus", signal.SIGBUS)

    def test_raise_segv(self):
        self.parity("raise-segv", signal.SIGSEGV)

    def test_sent_from_another_thread(self):
        self.parity("thread-kill-segv", signal.SIGSEGV)

    def test_program_handler_sees_it(self):
        assert_parity(self, [unseen("sent_fault.py"), "handled"])
        self.assertIn(b"handled 11", self.last_python.stdout)

    def test_faulthandler_enabled_by_the_program(self):
        # faulthandler prints the thread's id, which differs from run to run
        db = self.new_db_path()
        args = [unseen("sent_fault.py"), "faulthandler"]
        plain = harness.run_python(args, cwd=self.tmp)
        traced = harness.run_pyscope(args, db, cwd=self.tmp)
        self.assertEqual(plain.returncode, -signal.SIGSEGV, plain)
        self.assertIn(b"Fatal Python error: Segmentation fault", plain.stderr)
        ids = re.compile(rb"0x[0-9a-f]+")
        self.assertEqual(traced.returncode, plain.returncode, traced)
        self.assertEqual(traced.stdout, plain.stdout)
        self.assertEqual(ids.sub(b"0x", traced.stderr), ids.sub(b"0x", plain.stderr))
        self.assertEqual(db_integrity(db), "ok")


class ThreadStarts(E2ETestCase):
    """pyscope's functions in the place of _thread's thread starters look
    like the originals to the program (test_inspect's signature test of
    _thread fails on 3.13 otherwise)."""

    def test_they_look_like_the_originals(self):
        for mode in ([], ["--calls"]):
            with self.subTest(mode=mode):
                assert_parity(self, [unseen("thread_builtins.py")], options=mode)
                self.assertIn(b"in a thread", self.last_python.stdout)


class SystemCalls(E2ETestCase):
    """The sampler never cuts a system call short: a thread is never sent a
    signal for a sample unless native stacks are asked for, and then only
    through its user trap, which the kernel sends only while the thread
    runs its own code (profiler/usertrap.h). Where the kernel gives none,
    the signal is sent directly, and counted (meta.direct_signals)."""

    NATIVE_MODES = (["--native"], ["--native-without-gil"])

    def traps_used(self, db):
        direct = int(db_rows(db, "select value from meta where key = 'direct_signals'")[0]["value"])
        if harness.user_traps_expected():
            self.assertEqual(direct, 0, "signalled directly, with perf events allowed")
        return direct == 0

    def test_long_calls_move_every_byte(self):
        # Signalled directly, a thread in a long pipe write or receive,
        # moving data on a CPU, returned short: under --native-without-gil
        # 4 of 4 of each, under --native up to 1 of 4 (the thread held the
        # GIL when the sampler looked, and had let it go and entered the
        # call by the time the signal came).
        for mode in ([], ["--rate", "10000"], ["--calls", "--memory"]) + self.NATIVE_MODES:
            with self.subTest(mode=mode):
                db = self.new_db_path()
                args = [unseen("syscalls.py")]
                plain = harness.run_python(args, cwd=self.tmp)
                traced = harness.run_pyscope(mode + args, db, cwd=self.tmp)
                self.assertEqual(plain.stdout, b"short pipe writes: 0\nshort exact receives: 0\n")
                self.assertEqual(traced.returncode, 0, traced)
                if mode in self.NATIVE_MODES and not self.traps_used(db):
                    if mode == ["--native"]:
                        shorts = [int(line.split(b":")[1]) for line in traced.stdout.splitlines()]
                        self.assertEqual(len(shorts), 2, traced)
                        self.assertLessEqual(max(shorts), 1, traced)
                else:
                    self.assertEqual(traced.stdout, plain.stdout, (mode, traced))
                busy = db_rows(db, """select sum(s.ticks) n from samples s
                                      join stacks st on st.id = s.stack_id
                                      join frames fr on fr.id = st.frame_id
                                      join functions f on f.id = fr.function_id
                                      where f.name in ('drain', 'send_all', '<module>')
                                      and s.cpu_ns > 0""")
                self.assertGreater(busy[0]["n"], 0, mode)

    def test_timed_waits_run_their_time(self):
        # C code's waits, which nothing retries: a signal would cut each short
        for mode in ([], ["--rate", "10000"], ["--calls", "--memory"]) + self.NATIVE_MODES:
            with self.subTest(mode=mode):
                args = [unseen("waits.py")]
                db = self.new_db_path()
                plain = harness.run_python(args, cwd=self.tmp)
                traced = harness.run_pyscope(mode + args, db, cwd=self.tmp)
                self.assertEqual(plain.stdout, b"nanosleep=0 select=0 poll=0 epoll_wait=0 "
                                               b"sigtimedwait=0\n", plain)
                self.assertEqual(traced.returncode, 0, traced)
                if mode in self.NATIVE_MODES and not self.traps_used(db):
                    # Signalled directly, after a look at the thread: only
                    # a wait entered between the look and the signal is
                    # cut, or one whose time is up but that waits for a CPU
                    # to return (the kernel shows it running). Signals sent
                    # blind cut 50-59 of each 60; with the look, 0-3 of
                    # each on a quiet machine, and up to 22 of one call at
                    # a load of 11: the bound is on all five calls together.
                    if mode == ["--native"]:
                        cut = dict(w.split(b"=") for w in traced.stdout.split())
                        self.assertEqual(len(cut), 5, traced)
                        self.assertLess(sum(int(n) for n in cut.values()), 100, traced.stdout)
                else:
                    self.assertEqual(traced.stdout, plain.stdout, mode)

    @unittest.skipUnless(platform.machine() == "x86_64", "the seccomp filter is x86-64's")
    def test_signals_sent_directly_where_perf_events_are_refused(self):
        # As in a container whose seccomp filter refuses perf_event_open:
        # the threads are signalled directly, and the run says how often.
        db = self.new_db_path()
        no_perf = [sys.executable, unseen("no_perf.py")]
        traced = harness.run_pyscope(["--native", unseen("waits.py")], db, cwd=self.tmp,
                                     through=lambda cmd: no_perf + cmd)
        self.assertEqual(traced.returncode, 0, traced)
        direct = db_rows(db, "select value from meta where key = 'direct_signals'")
        self.assertGreater(int(direct[0]["value"]), 50, traced)
        summary = harness.run_viewer(["summary", db]).stdout.decode()
        self.assertRegex(summary, r"[\d,]+ native samples signalled the thread at any point", summary)
        cut = dict(w.split(b"=") for w in traced.stdout.split())
        self.assertEqual(len(cut), 5, traced)
        self.assertLess(sum(int(n) for n in cut.values()), 100, traced.stdout)

    def test_native_samples_come_through_the_trap(self):
        # The trap's signal is the sampler's: the waits' work shows with its
        # native frames (ctypes' call into libc), under the Python line.
        if not harness.user_traps_expected():
            self.skipTest("the kernel gives no perf events here")
        db = self.new_db_path()
        traced = harness.run_pyscope(["--native", unseen("waits.py")], db, cwd=self.tmp)
        self.assertEqual(traced.returncode, 0, traced)
        self.traps_used(db)
        native = db_rows(db, """select sum(s.ticks) n from samples s
                                join stacks st on st.id = s.stack_id
                                join frames fr on fr.id = st.frame_id
                                join functions f on f.id = fr.function_id
                                where f.kind = 'native' and s.cpu_ns > 0""")
        self.assertGreater(native[0]["n"] or 0, 50, traced)


class UserSitecustomize(E2ETestCase):
    """The program's own sitecustomize runs as without pyscope: what it
    prints, how it fails, how it exits, and what the program sees of it."""

    def same_as_plain(self, site_dir):
        env = harness.clean_env({"PYTHONPATH": unseen(site_dir)} if site_dir else None)
        args = [unseen("site_seen.py")]
        plain = harness.run_python(args, cwd=self.tmp, env=env)
        traced = harness.run_pyscope(args, self.new_db_path(), cwd=self.tmp, env=env)
        self.assertEqual((traced.returncode, traced.stdout, traced.stderr),
                         (plain.returncode, plain.stdout, plain.stderr))
        return plain

    def test_exits(self):
        plain = self.same_as_plain("site_exit")
        self.assertEqual(plain.returncode, 1, plain)
        self.assertIn(b"SystemExit: 3", plain.stderr)

    def test_fails(self):
        plain = self.same_as_plain("site_error")
        self.assertIn(b"Error in sitecustomize", plain.stderr)

    def test_works(self):
        plain = self.same_as_plain("site_ok")
        self.assertIn(b"sitecustomize: site_ok/sitecustomize.py SourceFileLoader\n"
                      b"customized: True\n", plain.stdout)

    def test_the_interpreters_own(self):
        self.same_as_plain(None)

    def test_a_child_of_another_version(self):
        # it inherits PYTHONPATH, and finds no bootstrap of pyscope's there:
        # the bootstraps there are of the versions the build has
        others = [harness.pyenv_python(v) for v in ("3.13", "3.12", "3.10", "3.9")
                  if v not in harness.built_versions()]
        others = [python for python in others if python]
        if not others:
            self.skipTest("no CPython here of a version the build has no extension for")
        args = [unseen("other_python.py"), others[0]]
        plain = harness.run_python(args, cwd=self.tmp)
        traced = harness.run_pyscope(args, self.new_db_path(), cwd=self.tmp)
        self.assertEqual(plain.stdout, b"0 b'False\\n' b''\n", plain)
        self.assertEqual((traced.returncode, traced.stdout), (0, plain.stdout), traced)


class FileDescriptors(E2ETestCase):
    MODES = ([], ["--calls", "--memory"], ["--native"], ["--memory", "--native"])

    def check(self, through, below_limit_too):
        for mode in self.MODES:
            with self.subTest(mode=mode):
                db = self.new_db_path()
                args = [unseen("low_fds.py")]
                plain = harness.run_python(args, through=through, cwd=self.tmp)
                traced = harness.run_pyscope(mode + args, db, through=through, cwd=self.tmp)
                self.assertEqual(plain.returncode, 0, plain)
                self.assertIn(b"a new pipe: 3 4", plain.stdout)
                self.assertIn(b"open below the limit: [0, 1, 2]\n", plain.stdout)
                if below_limit_too:
                    self.assertEqual(traced.stdout, plain.stdout, traced)
                else:
                    self.assertEqual(traced.stdout.splitlines()[:2], plain.stdout.splitlines()[:2],
                                     traced)

    def test_out_of_a_scan_below_the_limit(self):
        """A soft limit below the hard one, as a Linux login has it: pyscope's
        descriptors are above the soft limit."""
        self.check(harness.desktop_open_files, True)

    def test_out_of_a_scan_with_hundreds_of_threads(self):
        """Two descriptors for each thread sampled with native stacks (its
        /proc syscall file, its user trap), 300 threads alive at once: all of
        them above the soft limit too."""
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and hard < 1024 + 1024:
            self.skipTest("a hard limit without room for 600 descriptors above 1024")
        args = [unseen("low_fds.py"), "300"]
        plain = harness.run_python(args, through=harness.desktop_open_files, cwd=self.tmp)
        self.assertIn(b"open below the limit: [0, 1, 2]\n", plain.stdout)
        traced = harness.run_pyscope(["--native-without-gil"] + args, self.new_db_path(),
                                     through=harness.desktop_open_files, cwd=self.tmp)
        self.assertEqual((traced.returncode, traced.stdout), (0, plain.stdout), traced)

    def test_no_low_descriptor_taken_when_the_limit_is_hard(self):
        """Soft and hard limit alike: no room above the soft limit, so
        pyscope's descriptors are at half of it (of at most 1024), out of the
        way of what a program opens."""
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        limit = 1024 if hard == resource.RLIM_INFINITY else min(hard, 1024)
        self.check(lambda cmd: harness.open_files_limited(cmd, limit, limit), False)


def stopped(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in "Tt"
    except OSError:
        return False


class Stopped(E2ETestCase):
    def run_stopped(self, cmd, at_once=False):
        """Run cmd (the fixture under python or pyscope), wait for the
        program to stop itself, continue the program alone (at_once: the
        moment it is seen stopped), and return (exit status, stdout)."""
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                cwd=self.tmp, env=harness.clean_env(),
                                start_new_session=True)
        try:
            line = proc.stdout.readline()
            self.assertTrue(line.startswith(b"pid "), line)
            pid = int(line.split()[1])
            deadline = time.monotonic() + 30
            while not stopped(pid):
                self.assertLess(time.monotonic(), deadline, "the program never stopped")
                if not at_once:
                    time.sleep(0.01)
            os.kill(pid, signal.SIGCONT)
            rest = proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            for p in (proc.pid, pid):
                if stopped(p):
                    os.kill(p, signal.SIGCONT)
            proc.kill()
            proc.communicate()
            self.fail("the run did not end once the program was continued")
        return proc.returncode, line + rest

    def test_program_continued_alone(self):
        script = os.path.join(UNSEEN, "stop_self.py")
        plain = self.run_stopped([harness.python_bin(), script])
        self.assertEqual(plain[0], 0)
        db = self.new_db_path()
        traced = self.run_stopped([harness.pyscope_bin(), "profile", "-q", "--python",
                                   harness.python_bin(), "-o", db, script])
        self.assertEqual(traced[0], 0)
        self.assertEqual(traced[1].split(b"\n")[1:], plain[1].split(b"\n")[1:])
        self.assertEqual(db_integrity(db), "ok")

    def test_program_continued_before_pyscope_stops(self):
        """Continued the moment it stops, the program may run again before
        pyscope, which follows its stop, has stopped itself: the SIGCONT
        meant to wake pyscope must not come before that stop (about 1 run
        in 20 was left stopped, in the sanitized build)."""
        script = os.path.join(UNSEEN, "stop_self.py")
        for run in range(10):
            db = self.new_db_path()
            traced = self.run_stopped([harness.pyscope_bin(), "profile", "-q", "--python",
                                       harness.python_bin(), "-o", db, script], at_once=True)
            self.assertEqual(traced[0], 0, run)
            self.assertEqual(traced[1].split(b"\n")[1:], [b"continued", b""], run)


if __name__ == "__main__":
    unittest.main()
