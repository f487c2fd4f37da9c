"""Shared helpers for pyscope's end-to-end tests.

Every test compares a run of plain ``python3.X ARGS`` with a run of
``pyscope profile -q --python python3.X -o DB ARGS`` on the same fixture and
asserts that what the program shows the world (stdout, stderr, exit status)
is byte-for-byte the same. The tests themselves run under any Python 3;
python3.X, the interpreter they profile, is $PYSCOPE_TEST_PYTHON, one of the
versions the build has an extension for (ctest runs each module once per
version).

Environment (set by ctest, see tests/CMakeLists.txt):

  PYSCOPE_BIN            the pyscope executable (required)
  PYSCOPE_TEST_PYTHON    the CPython the tests profile (required)
  PYSCOPE_TEST_EXT_DIR   the test extensions built for it (tests that need
                         one skip without it)
  PYSCOPE_TEST_BUILT_VERSIONS  the versions the build has extensions for,
                         "3.11,3.12", and PYSCOPE_TEST_BUILT_PYTHONS their
                         interpreters, ':'-separated; PYSCOPE_TEST_LAYER_VERSIONS
                         the versions of the version layer (tests of the
                         launcher's choice of interpreter need them)
  PYSCOPE_TEST_TIMEOUT   seconds allowed for one run (default 120)
  PYSCOPE_TEST_KEEP      if set and non-empty, keep the per-test temp dirs

Only the standard library is used.
"""

import atexit
import difflib
import glob
import os
import resource
import selectors
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")

DEFAULT_TIMEOUT = float(os.environ.get("PYSCOPE_TEST_TIMEOUT") or 120)

# A crashing fixture (SIGSEGV, SIGABRT) must not litter the tree with core
# files; children inherit this limit.
try:
    import resource

    _soft, _hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, _hard))
except (ImportError, ValueError, OSError):  # pragma: no cover
    pass


class ConfigError(RuntimeError):
    pass


def _required_env(name, what):
    value = os.environ.get(name)
    if not value:
        raise ConfigError(
            f"{name} is not set: it must name {what}. "
            f"Run through ctest, or e.g.\n  cd tests/e2e && "
            f"PYSCOPE_BIN=/path/to/build/pyscope "
            f"PYSCOPE_TEST_PYTHON=/usr/bin/python3.11 "
            f"/usr/bin/python3.11 -m unittest -v test_parity")
    if not os.path.isfile(value) or not os.access(value, os.X_OK):
        raise ConfigError(f"{name}={value!r} is not an executable file ({what})")
    return value


def pyscope_bin():
    """Path of the pyscope executable, from $PYSCOPE_BIN."""
    return os.path.abspath(_required_env("PYSCOPE_BIN", "the pyscope executable"))


def python_bin():
    """Path of the CPython interpreter the tests run programs with, from
    $PYSCOPE_TEST_PYTHON.

    Not made absolute: tracebacks and error messages may contain argv[0] of
    the interpreter, and both runs must use exactly the same spelling."""
    return _required_env("PYSCOPE_TEST_PYTHON", "the CPython interpreter to test with")


class Target:
    """What $PYSCOPE_TEST_PYTHON is: version ("3.12.1"), major and minor
    (3, 12), and ext_suffix, the file suffix of its extension modules."""

    def __init__(self, version, ext_suffix):
        self.version = version
        self.major, self.minor = (int(n) for n in version.split(".")[:2])
        self.ext_suffix = ext_suffix


_TARGET = None


def target():
    """The Target of $PYSCOPE_TEST_PYTHON, which need not be the interpreter
    the tests themselves run in; asked once."""
    global _TARGET
    if _TARGET is None:
        out = subprocess.run(
            [python_bin(), "-I", "-S", "-c",
             "import sys, sysconfig; print('%d.%d.%d' % sys.version_info[:3]); "
             "print(sysconfig.get_config_var('EXT_SUFFIX'))"],
            capture_output=True, check=True, text=True).stdout.split()
        _TARGET = Target(out[0], out[1])
    return _TARGET


def target_version():
    """(major, minor) of $PYSCOPE_TEST_PYTHON."""
    return (target().major, target().minor)


def cprofile_sees_every_thread():
    """cProfile counts the calls of every thread from 3.12 on (it is built
    on sys.monitoring, whose events are the interpreter's), only those of
    the thread that enabled it before."""
    return target_version() >= (3, 12)


def user_traps_expected():
    """Whether the kernel should give pyscope's sampler a user trap for each
    thread (a perf event of the thread's CPU clock outside the kernel,
    profiler/usertrap.h): perf events allowed to this user, and no seccomp
    filter that could refuse them. Without one, --native signals threads
    directly, and a system call entered at that moment can be cut short."""
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            paranoid = int(f.read())
        with open("/proc/self/status") as f:
            seccomp = [line.split()[1] for line in f if line.startswith("Seccomp:")]
    except (OSError, ValueError, IndexError):
        return False
    return (paranoid <= 2 or os.geteuid() == 0) and seccomp in (["0"], [])


def ext_dir_with(name):
    """$PYSCOPE_TEST_EXT_DIR when it holds the test extension name (built for
    the interpreter the tests profile), else None: the build makes none
    there without the directory, or for a version tests/CMakeLists.txt does
    not build it for."""
    where = os.environ.get("PYSCOPE_TEST_EXT_DIR")
    if where and glob.glob(os.path.join(glob.escape(where), name + ".*.so")):
        return where
    return None


def _versions(name):
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"{name} is not set: it must list CPython versions, e.g. 3.11,3.12 "
                          f"(ctest sets it from the build)")
    return value.split(",")


def built_versions():
    """The CPython versions the build has extensions for: ["3.11", "3.12"]."""
    return _versions("PYSCOPE_TEST_BUILT_VERSIONS")


def built_pythons():
    """{version: interpreter} of the build's extensions, from
    $PYSCOPE_TEST_BUILT_PYTHONS (the interpreters, ':'-separated, in the
    order of PYSCOPE_TEST_BUILT_VERSIONS)."""
    pythons = os.environ.get("PYSCOPE_TEST_BUILT_PYTHONS", "").split(os.pathsep)
    versions = built_versions()
    if len(pythons) != len(versions):
        raise ConfigError(f"PYSCOPE_TEST_BUILT_PYTHONS must name one interpreter for each of "
                          f"{', '.join(versions)} (ctest sets it from the build)")
    return dict(zip(versions, pythons))


def layer_versions():
    """The CPython versions pyscope's version layer supports."""
    return _versions("PYSCOPE_TEST_LAYER_VERSIONS")


def pyenv_python(version):
    """The newest pyenv build of version ("3.10"), or None. pyenv's root is
    what `pyenv root` says, else $PYENV_ROOT, else ~/.pyenv, as the build
    looks for them."""
    roots = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        res = subprocess.run([pyenv, "root"], capture_output=True, text=True)
        if res.returncode == 0:
            roots.append(res.stdout.strip())
    roots += [os.environ.get("PYENV_ROOT") or "", os.path.expanduser("~/.pyenv")]
    for root in roots:
        versions = os.path.join(root, "versions")
        if not root or not os.path.isdir(versions):
            continue
        found = []
        for name in os.listdir(versions):
            parts = name.split(".")
            if (len(parts) == 3 and ".".join(parts[:2]) == version and parts[2].isdigit()
                    and os.access(os.path.join(versions, name, "bin", "python" + version),
                                  os.X_OK)):
                found.append((int(parts[2]), name))
        if found:
            return os.path.join(versions, max(found)[1], "bin", "python" + version)
        return None
    return None


def check_config():
    """Raise ConfigError with a clear message unless both are usable."""
    pyscope_bin()
    python_bin()


def clean_env(extra=None):
    """The caller's environment minus anything that changes how Python runs.

    Every PYTHON* variable is dropped (PYTHONPATH, PYTHONHOME,
    PYTHONUNBUFFERED, PYTHONWARNINGS, ...), as are VIRTUAL_ENV and PYSCOPE_*;
    PYTHONDONTWRITEBYTECODE=1 keeps __pycache__ out of the fixtures."""
    env = {}
    for key, value in os.environ.items():
        if key.startswith(("PYTHON", "PYSCOPE_")):
            continue
        if key in ("VIRTUAL_ENV", "__PYVENV_LAUNCHER__", "CONDA_PREFIX"):
            continue
        env[key] = value
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


class Result:
    """What one run showed: returncode (negative: killed by that signal),
    stdout and stderr as bytes (stderr is b"" when merged into stdout)."""

    def __init__(self, cmd, returncode, stdout, stderr, elapsed):
        self.cmd = cmd
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed

    def __repr__(self):
        return (f"Result(returncode={self.returncode!r}, stdout={self.stdout[:200]!r}, "
                f"stderr={self.stderr[:200]!r})")


class RunTimeout(AssertionError):
    pass


def _kill_group(pgid, sig=signal.SIGKILL):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def open_files_limited(cmd, soft, hard=None):
    """cmd run with the open-file limit soft (and hard, by default the one in
    force), through util-linux's prlimit: the limit is set in the process
    that then becomes cmd, so a program under test has no other one."""
    if hard is None:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        hard = "unlimited" if hard == resource.RLIM_INFINITY else hard
    return ["prlimit", f"--nofile={soft}:{hard}", "--"] + list(cmd)


def desktop_open_files(cmd):
    """cmd with the open-file limits of a default Linux login: a soft limit
    of 1024 below a higher hard one (systemd's is 524288). Where the hard
    limit is lower than that leaves room for, cmd as it is."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1024 + 256:
        return list(cmd)
    return open_files_limited(cmd, 1024)


def _run(cmd, stdin=None, cwd=None, env=None, timeout=None,
         merge_stderr=False, interrupt=None, ready=b"ready\n",
         interrupt_group=True):
    """Run cmd in a new session (its own process group) and collect output.

    stdin: bytes fed to the program (None: /dev/null).
    interrupt: a signal number; once `ready` has appeared on stdout, send it
        to the whole process group, as a terminal does for Ctrl-C (or, with
        interrupt_group=False, to the started process alone, as `kill PID`).
    """
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    if env is None:
        env = clean_env()
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        cwd=cwd, env=env, start_new_session=True)
    pgid = proc.pid  # session leader: pgid == pid
    head_out = b""
    head_err = b""
    try:
        if interrupt is not None:
            if stdin:
                proc.stdin.write(stdin)
            if proc.stdin:
                proc.stdin.close()
                proc.stdin = None
            stdin = None
            head_out, head_err = _read_until(proc, ready, start + timeout)
            if ready not in head_out:
                raise RunTimeout(
                    f"{cmd!r}: {ready!r} never appeared on stdout "
                    f"(returncode {proc.poll()!r})\nstdout: {head_out!r}\n"
                    f"stderr: {head_err!r}")
            if interrupt_group:
                os.killpg(pgid, interrupt)
            else:
                os.kill(proc.pid, interrupt)
        remaining = max(1.0, start + timeout - time.monotonic())
        out, err = proc.communicate(input=stdin, timeout=remaining)
    except subprocess.TimeoutExpired:
        _kill_group(pgid)
        out, err = proc.communicate()
        raise RunTimeout(
            f"{cmd!r} did not finish within {timeout:g}s (killed)\n"
            f"stdout tail: {(head_out + (out or b''))[-2000:]!r}\n"
            f"stderr tail: {(head_err + (err or b''))[-2000:]!r}") from None
    except BaseException:
        _kill_group(pgid)
        proc.communicate()
        raise
    finally:
        # Stray members of the group (a forked grandchild the program left
        # behind) must not outlive the test.
        _kill_group(pgid)
    return Result(cmd, proc.returncode, head_out + (out or b""),
                  head_err + (err or b""), time.monotonic() - start)


def _read_until(proc, marker, deadline):
    """Read stdout (and drain stderr) until marker is seen on stdout, the
    program closes stdout, or the deadline passes."""
    out = b""
    err = b""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout.fileno(), selectors.EVENT_READ, "out")
    if proc.stderr is not None:
        sel.register(proc.stderr.fileno(), selectors.EVENT_READ, "err")
    try:
        while marker not in out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, 0)
            events = sel.select(timeout=left)
            for key, _ in events:
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                    if key.data == "out":
                        return out, err
                    continue
                if key.data == "out":
                    out += chunk
                else:
                    err += chunk
    finally:
        sel.close()
    return out, err


def run_python(args, through=list, **kw):
    """Run plain `$PYSCOPE_TEST_PYTHON args...`; returns a Result. through:
    makes the command line to run of that one (desktop_open_files, ...)."""
    return _run(through([python_bin()] + list(args)), **kw)


def run_pyscope(args, db, through=list, **kw):
    """Run `$PYSCOPE_BIN profile -q --python $PYSCOPE_TEST_PYTHON -o db
    args...`; returns a Result. through: as for run_python."""
    cmd = [pyscope_bin(), "profile", "-q", "--python", python_bin(), "-o", db]
    return _run(through(cmd + list(args)), **kw)


def run_viewer(args, **kw):
    """Run `$PYSCOPE_BIN args...` (a viewer command); returns a Result."""
    return _run([pyscope_bin()] + list(args), **kw)


_EMPTY_RUN = None


def empty_run_db(path):
    """A database at path with pyscope's own schema and no rows, for tests
    that write their own run into it: a run of nothing, recorded once per
    test process and emptied, then copied."""
    global _EMPTY_RUN
    if _EMPTY_RUN is None:
        where = tempfile.mkdtemp(prefix="pyscope-empty-")
        atexit.register(shutil.rmtree, where, True)
        template = os.path.join(where, "empty.db")
        res = run_pyscope(["--no-sample", "-c", "pass"], template)
        if res.returncode != 0:
            raise RuntimeError(f"cannot record an empty run: {res}")
        db = sqlite3.connect(template)
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")\
                          .fetchall():
            db.execute(f'DELETE FROM "{table}"')
        db.commit()
        db.close()
        _EMPTY_RUN = template
    shutil.copyfile(_EMPTY_RUN, path)


def fixture(*parts):
    return os.path.join(FIXTURES, *parts)


def db_rows(db, sql, params=()):
    """Run one query on the database; rows as dicts."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


def db_integrity(db):
    """PRAGMA integrity_check on the database: "ok" when it is sound."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)
    finally:
        conn.close()


def _lines(data):
    text = data.decode("utf-8", "backslashreplace")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n\\ (no newline at end)\n"
    return lines


def render_diff(name, expected, actual, limit=200):
    diff = list(difflib.unified_diff(
        _lines(expected), _lines(actual),
        fromfile=f"{name} (python)", tofile=f"{name} (pyscope)"))
    if not diff:  # differs only in a way the line view hides
        return f"{name}: python {expected!r}\n{name}: pyscope {actual!r}\n"
    if len(diff) > limit:
        diff = diff[:limit] + [f"... {len(diff) - limit} more diff lines\n"]
    return "".join(diff)


def compare(expected, actual):
    """Differences between two Results as text, or "" when identical."""
    msgs = []
    if expected.returncode != actual.returncode:
        msgs.append(f"returncode: python {expected.returncode!r}, "
                    f"pyscope {actual.returncode!r}\n")
    if expected.stdout != actual.stdout:
        msgs.append(render_diff("stdout", expected.stdout, actual.stdout))
    if expected.stderr != actual.stderr:
        msgs.append(render_diff("stderr", expected.stderr, actual.stderr))
    return "".join(msgs)


def _listing(path):
    try:
        return set(os.listdir(path))
    except OSError:
        return set()


class E2ETestCase(unittest.TestCase):
    """Base class: checks the configuration once, gives each test its own
    temporary directory (self.tmp) and records the last two runs
    (self.last_python, self.last_pyscope)."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        check_config()

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix=f"pyscope-e2e-{self._testMethodName}-")
        if not os.environ.get("PYSCOPE_TEST_KEEP"):
            self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self._runs = 0
        self.last_python = None
        self.last_pyscope = None

    def new_db_path(self):
        self._runs += 1
        return os.path.join(self.tmp, f"run{self._runs}.db")


def assert_parity(testcase, args, stdin=None, cwd=None, *, merge_stderr=False,
                  interrupt=None, interrupt_group=True, timeout=None, env=None, options=()):
    """Run `python ARGS` and `pyscope profile ... ARGS` the same way and
    assert stdout, stderr and the exit status are byte-identical.

    args: what follows the interpreter: ["script.py", ...], ["-m", mod, ...]
        or ["-c", code, ...].
    stdin: bytes fed to both runs (None: /dev/null).
    cwd: working directory of both runs (default: the fixtures directory).
    merge_stderr: send stderr into the stdout pipe (tests the interleaving).
    interrupt: a signal sent to the run's process group once "ready" is read
        (what a terminal does for Ctrl-C); with interrupt_group=False it goes
        to the started process only (python itself, or pyscope).
    options: pyscope's own options, before ARGS in the pyscope run only.

    Returns the database path; the two Results are left in
    testcase.last_python and testcase.last_pyscope.
    """
    if not hasattr(testcase, "tmp"):
        testcase.tmp = tempfile.mkdtemp(prefix="pyscope-e2e-")
        testcase.addCleanup(shutil.rmtree, testcase.tmp, ignore_errors=True)
    if cwd is None:
        cwd = FIXTURES
    if hasattr(testcase, "new_db_path"):
        db = testcase.new_db_path()
    else:
        db = tempfile.mktemp(suffix=".db", dir=testcase.tmp)
    kw = dict(stdin=stdin, cwd=cwd, timeout=timeout, merge_stderr=merge_stderr,
              interrupt=interrupt, interrupt_group=interrupt_group, env=env)

    before = _listing(cwd)
    expected = run_python(args, **kw)
    after_python = _listing(cwd)
    actual = run_pyscope(list(options) + list(args), db, **kw)
    after_pyscope = _listing(cwd)
    testcase.last_python = expected
    testcase.last_pyscope = actual

    problems = compare(expected, actual)
    if problems:
        testcase.fail(f"pyscope run differs from plain python for {args!r} "
                      f"(cwd {cwd}):\n{problems}")
    extra = after_pyscope - after_python - {os.path.basename(db)}
    extra = {name for name in extra
             if not name.startswith(os.path.basename(db) + "-")}
    testcase.assertFalse(
        extra, f"pyscope left new files in the working directory {cwd}: "
               f"{sorted(extra)} (python alone left {sorted(after_python - before)})")
    testcase.assertTrue(os.path.isfile(db),
                        f"pyscope exited {actual.returncode} but wrote no database at {db}")
    return db
