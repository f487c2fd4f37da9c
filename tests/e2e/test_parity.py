"""Exact parity with plain python (DESIGN.md).

Each test runs one fixture twice, as `python3.11 ARGS` and as
`pyscope profile -q --python python3.11 -o DB ARGS`, and requires stdout,
stderr and the exit status to be byte-identical. A few extra assertions check
that the fixture did what it is meant to (so a parity pass is not vacuous) and
that the database is there, and sound after a crash.

Run: cd tests/e2e && PYSCOPE_BIN=... PYSCOPE_TEST_PYTHON=/usr/bin/python3.11 \
     /usr/bin/python3.11 -m unittest -v test_parity
"""

import os
import signal
import unittest

import harness
from harness import (FIXTURES, E2ETestCase, assert_parity, db_integrity,
                     fixture)


class ParityTest(E2ETestCase):

    def parity(self, args, **kw):
        return assert_parity(self, args, **kw)

    def assert_db_sound(self, db):
        self.assertTrue(os.path.isfile(db), f"no database at {db}")
        self.assertEqual(db_integrity(db), "ok", f"integrity_check of {db}")

    def assert_python(self, returncode=None, stdout=None, stderr_has=None,
                      stdout_has=None):
        """Sanity checks on the plain python run."""
        r = self.last_python
        if returncode is not None:
            self.assertEqual(r.returncode, returncode, r)
        if stdout is not None:
            self.assertEqual(r.stdout, stdout, r)
        if stdout_has is not None:
            self.assertIn(stdout_has, r.stdout, r)
        if stderr_has is not None:
            self.assertIn(stderr_has, r.stderr, r)

    # -- output streams -----------------------------------------------------

    def test_stdout_stderr(self):
        self.parity(["output_streams.py"])
        self.assert_python(returncode=0, stdout_has="中文 😀".encode(),
                           stderr_has=b"UserWarning: careful")

    def test_stdout_stderr_merged(self):
        # stderr into the stdout pipe: the interleaving must be the same too.
        self.parity(["output_streams.py"], merge_stderr=True)
        self.assert_python(returncode=0, stdout_has=b"out 0\nerr 0\nout 1\n")

    # -- stdin ----------------------------------------------------------------

    def test_stdin_lines(self):
        data = "hello world\nsecond line\nünïcode ✓\n\nMiXeD\nlast, no newline".encode()
        self.parity(["stdin_echo.py"], stdin=data)
        self.assert_python(returncode=0, stdout_has=b"first reversed: dlrow olleh")

    def test_stdin_empty_eoferror(self):
        # /dev/null on stdin: input() raises EOFError, uncaught.
        self.parity(["stdin_echo.py"])
        self.assert_python(returncode=1, stderr_has=b"EOFError: EOF when reading a line")

    def test_stdin_binary_large(self):
        data = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(3 * 1024 * 1024 + 17))
        self.parity(["stdin_binary.py"], stdin=data)
        self.assert_python(returncode=0, stdout_has=b"bytes read: 3145745")

    # -- how the script is started --------------------------------------------

    ARGS = ["plain", "with space", "", "ünï", "-c", "--flag=1", "-m", "x"]

    def test_script_argv_relative_path(self):
        self.parity(["pkgdir/show_main.py"] + self.ARGS, cwd=FIXTURES)
        self.assert_python(returncode=0, stdout_has=b"helper value 42")

    def test_script_argv_absolute_path(self):
        self.parity([fixture("pkgdir", "show_main.py"), "a", "b"], cwd=self.tmp)
        self.assert_python(returncode=0, stdout_has=b"helper value 42")

    def test_script_in_cwd(self):
        self.parity(["show_main.py", "x"], cwd=fixture("pkgdir"))
        self.assert_python(returncode=0, stdout_has=b"helper value 42")

    def test_script_via_symlink(self):
        # sys.path[0] is the directory of the real file, so helper_mod is found.
        link = os.path.join(self.tmp, "linked_main.py")
        os.symlink(fixture("pkgdir", "show_main.py"), link)
        self.parity([link, "via-link"], cwd=self.tmp)
        self.assert_python(returncode=0, stdout_has=b"helper value 42")

    def test_main_module_details(self):
        self.parity(["pkgdir/main_details.py", "arg"])
        self.assert_python(returncode=0, stdout_has=b"__spec__: None")

    def test_module_package_main(self):
        self.parity(["-m", "mypkg"] + self.ARGS, cwd=FIXTURES)
        self.assert_python(returncode=0, stdout_has=b"__name__: __main__\n__package__: mypkg")

    def test_module_submodule(self):
        self.parity(["-m", "mypkg.mod", "one", "two"], cwd=FIXTURES)
        self.assert_python(returncode=0, stdout_has=b"mod __spec__.name: mypkg.mod")

    def test_module_uncaught_exception(self):
        # The traceback of a -m run includes the interpreter's runpy frames.
        self.parity(["-m", "mypkg.boom"], cwd=FIXTURES)
        self.assert_python(returncode=1, stderr_has=b"LookupError: boom from mypkg.boom")

    def test_command_with_args(self):
        code = ("import sys\n"
                "print(sys.argv)\n"
                "print(repr(sys.path[0]), __name__, '__file__' in globals(), __spec__)\n"
                "print('stdin:', sys.stdin.read())\n")
        self.parity(["-c", code] + self.ARGS, stdin=b"via stdin\n")
        self.assert_python(returncode=0, stdout_has=b"['-c', 'plain', 'with space'")

    def test_command_uncaught_exception(self):
        code = "def f():\n    1/0\nprint('before', flush=True)\nf()\n"
        self.parity(["-c", code, "arg"])
        self.assert_python(returncode=1, stderr_has=b"ZeroDivisionError")

    # -- exceptions and exit --------------------------------------------------

    def test_uncaught_chained_exception(self):
        self.parity(["exc_chained.py"])
        self.assert_python(returncode=1,
                           stderr_has=b"During handling of the above exception")
        self.assertIn(b"The above exception was the direct cause",
                      self.last_python.stderr)

    def test_syntax_error(self):
        self.parity(["syntax_error.notpy"])
        self.assert_python(returncode=1, stderr_has=b"SyntaxError")

    def test_sys_exit_3(self):
        self.parity(["exit_with.py", "int"])
        self.assert_python(returncode=3, stdout_has=b"atexit handler ran")

    def test_sys_exit_message(self):
        self.parity(["exit_with.py", "msg"])
        self.assert_python(returncode=1, stderr_has=b"fatal: something went wrong\n")

    def test_sys_exit_other_forms(self):
        for mode, code in [("none", 0), ("big", 4), ("object", 1),
                           ("finally", 4), ("normal", 0)]:
            with self.subTest(mode=mode):
                self.parity(["exit_with.py", mode])
                self.assert_python(returncode=code)

    # -- signals ----------------------------------------------------------------

    def test_sigint_keyboard_interrupt(self):
        # What Ctrl-C in a terminal does: SIGINT to the foreground group.
        db = self.parity(["sigint_loop.py"], interrupt=signal.SIGINT, timeout=60)
        self.assert_python(returncode=-signal.SIGINT,
                           stderr_has=b"KeyboardInterrupt\n")
        self.assert_db_sound(db)

    def test_sigint_caught(self):
        db = self.parity(["sigint_loop.py", "catch"], interrupt=signal.SIGINT, timeout=60)
        self.assert_python(returncode=0, stdout_has=b"caught KeyboardInterrupt")
        self.assert_db_sound(db)

    def test_sigint_to_process_only(self):
        # `kill -INT PID`: plain python gets it directly; under pyscope it is
        # sent to pyscope, which passes it on to the program.
        db = self.parity(["sigint_loop.py"], interrupt=signal.SIGINT, timeout=60,
                         interrupt_group=False)
        self.assert_python(returncode=-signal.SIGINT,
                           stderr_has=b"KeyboardInterrupt\n")
        self.assert_db_sound(db)

    def test_sigterm_to_group(self):
        db = self.parity(["sigint_loop.py"], interrupt=signal.SIGTERM, timeout=60)
        self.assert_python(returncode=-signal.SIGTERM, stdout=b"ready\n")
        self.assert_db_sound(db)

    def test_sigterm_to_process_only(self):
        db = self.parity(["sigint_loop.py"], interrupt=signal.SIGTERM, timeout=60,
                         interrupt_group=False)
        self.assert_python(returncode=-signal.SIGTERM, stdout=b"ready\n")
        self.assert_db_sound(db)

    def test_os_exit_flushed(self):
        db = self.parity(["os_exit.py", "flush"])
        self.assert_python(returncode=7, stdout=b"visible: flushed before os._exit\n")
        self.assert_db_sound(db)

    def test_os_exit_unflushed(self):
        db = self.parity(["os_exit.py", "noflush"])
        self.assert_python(returncode=7, stdout=b"")
        self.assert_db_sound(db)

    def test_segfault(self):
        db = self.parity(["segfault.py"])
        self.assert_python(returncode=-signal.SIGSEGV,
                           stdout=b"before crash (flushed)\n")
        self.assert_db_sound(db)

    def test_killed_by_sigterm(self):
        db = self.parity(["self_signal.py", "term"])
        self.assert_python(returncode=-signal.SIGTERM)
        self.assert_db_sound(db)

    def test_killed_by_sigkill(self):
        db = self.parity(["self_signal.py", "kill"])
        self.assert_python(returncode=-signal.SIGKILL)
        self.assert_db_sound(db)

    def test_abort(self):
        db = self.parity(["self_signal.py", "abort"])
        self.assert_python(returncode=-signal.SIGABRT)
        self.assert_db_sound(db)

    # -- threads ----------------------------------------------------------------

    def test_threads_ordered_output(self):
        self.parity(["threads_order.py"])
        self.assert_python(returncode=0, stdout_has=b"worker 0 in 'Thread-1 (work)'")

    def test_thread_exception_excepthook(self):
        self.parity(["threads_excepthook.py"])
        self.assert_python(returncode=0,
                           stderr_has=b"Exception in thread Thread-1 (fail):\n")

    def test_raw_thread_exception(self):
        self.parity(["thread_raw.py"])
        # worded otherwise from 3.13 on
        said = (b"Exception ignored in thread started by <Job 2>:\n"
                if harness.target_version() >= (3, 13)
                else b"Exception ignored in thread started by: <Job 2>\n")
        self.assert_python(returncode=0, stderr_has=said)

    # -- processes ----------------------------------------------------------------

    def test_fork_child_os_exit(self):
        self.parity(["fork_child.py", "os_exit"])
        self.assert_python(returncode=0, stdout_has=b"child exit code: 5\n")

    def test_fork_child_sys_exit(self):
        self.parity(["fork_child.py", "sys_exit"])
        self.assert_python(returncode=0, stdout_has=b"atexit in child\nchild exit code: 0\n")

    def test_fork_child_sys_exit_code(self):
        self.parity(["fork_child.py", "sys_exit_code"])
        self.assert_python(returncode=0, stdout_has=b"child exit code: 6\n")

    def test_fork_child_raises(self):
        self.parity(["fork_child.py", "raise"])
        self.assert_python(returncode=0, stdout_has=b"child exit code: 1\n",
                           stderr_has=b"RuntimeError: child failed")

    def test_fork_warns_only_for_the_programs_threads(self):
        self.parity(["fork_warns.py"])
        self.assert_python(returncode=0, stdout_has=b"audited forks: 3\n")

    def test_fork_warning_that_lets_the_gil_go(self):
        for option in ("--calls", "--memory"):
            self.parity(["fork_warns.py", "slow"], timeout=60, options=[option])

    def test_multiprocessing_fork(self):
        self.parity(["mp_demo.py", "fork"])
        self.assert_python(returncode=0, stdout_has=b"failing exitcode: 3\n")

    def test_multiprocessing_spawn(self):
        self.parity(["mp_demo.py", "spawn"])
        self.assert_python(returncode=0, stdout_has=b"failing exitcode: 3\n",
                           stderr_has=b"re-imported as __mp_main__")

    def test_subprocess_python_child(self):
        self.parity(["subproc_parent.py"])
        self.assert_python(returncode=0, stdout_has=b"returncode: 2\n")


if __name__ == "__main__":
    unittest.main()
