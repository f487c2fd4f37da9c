"""CPython's own regression tests, run plain and under `pyscope profile` in
every recording mode: a test module must give under pyscope the results it
gives without it.

The modules, the modes each runs in, and the documented exceptions are in
cpython_suite.txt, beside this file. Each module is run once with plain
`python3.11 -m test MODULE` and once per mode with `pyscope profile -q
[mode] --python python3.11 -m test MODULE`, each in its own temporary
directory, several runs at a time. regrtest writes every test case's
outcome to a JUnit XML file; the comparison is per test case. A test case
that passes plain and, under pyscope, fails, errs, is skipped or is not run
at all is a difference; so is a module that under pyscope changes its
environment (regrtest's --fail-env-changed: threads, files, signal handlers
left behind), a run killed by a signal (a crash at exit leaves the results
whole), a line of pyscope's own on the output, a file of the
harness's in the run's directory (its output, regrtest's TMPDIR) that is
gone when the run ends, and a database that is not sound or does not end
with the program's exit status. A test case that
fails plain too says nothing and is left out.

A difference matched by an entry of cpython_suite.txt is expected: a
`permanent` entry is a test that checks something the profiler itself
changes (it differs under cProfile or tracemalloc in the same way), a
`defect` entry is a pyscope defect awaiting its fix. Any other difference is
run again twice, alone, under pyscope: a test the load of the parallel runs
made fail passes then; one that fails again fails this test. Entries that
matched nothing are listed at the end: a `defect` entry that no longer
matches may have been fixed and should go.

Each module runs in the recorded program itself, not in regrtest's worker
processes (-j): one database per module and mode, and the module's own
children (subprocess, multiprocessing, fork) are recorded in it; workers
would add only regrtest's own pipe between them.

Needs CPython's test package for the interpreter (Debian's
libpython3.11-testsuite; scripts/deps.sh installs it); skipped without it,
unless PYSCOPE_TEST_REQUIRE_CPYTHON_SUITE=1 (scripts/test.sh sets it).

Environment, besides harness.py's:

  PYSCOPE_TEST_CPYTHON_MODULES  comma-separated modules to run (default: all);
                                MODULE:MODE+MODE runs that module in those of
                                its modes only
  PYSCOPE_TEST_CPYTHON_MODES    comma-separated modes to run (default: all)
  PYSCOPE_TEST_CPYTHON_JOBS     runs at a time (default: three per CPU)
  PYSCOPE_TEST_CPYTHON_STRICT   if 1, `defect` entries excuse nothing (the
                                report still says which ones matched): shows
                                whether a defect is fixed
"""
import concurrent.futures
import fnmatch
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

import harness

CONFIG = os.path.join(harness.HERE, "cpython_suite.txt")

# The recording modes: pyscope's options for each.
MODES = {
    "default": [],
    "calls": ["--calls"],
    "calls-python": ["--calls=python"],
    "memory": ["--memory"],
    "heap": ["--heap"],
    "gc": ["--gc"],
    "native": ["--native"],
}
KINDS = ("permanent", "defect")

# regrtest's own limit for one module (it dumps every thread's traceback and
# exits), and the harness's, a little later, for a run that hangs anyway.
REGRTEST_TIMEOUT = 360
RUN_TIMEOUT = REGRTEST_TIMEOUT + 60
RERUNS = 2

REQUIRED = os.environ.get("PYSCOPE_TEST_REQUIRE_CPYTHON_SUITE") == "1"
STRICT = os.environ.get("PYSCOPE_TEST_CPYTHON_STRICT") == "1"
KEEP = bool(os.environ.get("PYSCOPE_TEST_KEEP"))


class ConfigFileError(ValueError):
    pass


class Module:
    """One `run` line: a test module (or a package's submodule) with
    regrtest options, and the modes it runs in."""

    def __init__(self, name, modes, options, lineno):
        self.name = name
        self.modes = modes
        self.options = options
        self.lineno = lineno

    @property
    def label(self):
        return " ".join([self.name] + self.options)


def _versions(word, lineno):
    """The CPython versions a `3.X` or `3.X+` word names: a test of
    (major, minor)."""
    m = re.fullmatch(r"3\.(\d+)(\+?)", word)
    if not m:
        raise ConfigFileError(f"cpython_suite.txt:{lineno}: a version is 3.X or 3.X+, "
                              f"not {word!r}")
    minor, on = int(m.group(1)), bool(m.group(2))
    return lambda v: v[0] == 3 and (v[1] >= minor if on else v[1] == minor)


class Entry:
    def __init__(self, kind, modes, modes_text, pattern, lineno, versions_text=""):
        self.kind = kind
        self.modes = modes
        self.modes_text = modes_text
        self.pattern = pattern
        self.lineno = lineno
        self.versions_text = versions_text
        self.on_version = _versions(versions_text, lineno) if versions_text else (lambda v: True)
        self.why = []
        self.matched = []

    def matches(self, mode, test_id, version=None):
        return (mode in self.modes and fnmatch.fnmatchcase(test_id, self.pattern)
                and self.on_version(version or harness.target_version()))

    def concerns(self, module):
        """Whether the entry names tests of this module."""
        name = self.pattern[len("test."):] if self.pattern.startswith("test.") else self.pattern
        return name.startswith(module.name + ".") or module.name.startswith(name.split(".")[0])

    def __str__(self):
        return (f"cpython_suite.txt:{self.lineno}: {self.kind} "
                f"{self.modes_text} {self.pattern}"
                + (f" {self.versions_text}" if self.versions_text else ""))


def _modes(word, lineno):
    if word == "all":
        return list(MODES)
    modes = word.split(",")
    for mode in modes:
        if mode not in MODES:
            raise ConfigFileError(f"cpython_suite.txt:{lineno}: unknown mode {mode!r} "
                                  f"(modes: all, {', '.join(MODES)})")
    return modes


def read_config(path=CONFIG):
    """The modules to run and the expected differences, from the file.

    `run MODULE MODES [regrtest options...]` runs a module;
    `expect KIND MODES TEST-ID [VERSIONS]` expects a difference, with the
    reason on the indented lines that follow. MODES is `all` or modes joined
    by commas; TEST-ID is a test case's id as unittest names it, `*` and `?`
    allowed, or `MODULE.<env-changed>` for the whole module changing its
    environment; VERSIONS, `3.X` or `3.X+`, the CPython versions it is
    expected on (every one without it)."""
    modules, entries = [], []
    last = None
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0].isspace():
                if last is None:
                    raise ConfigFileError(f"cpython_suite.txt:{lineno}: an indented line "
                                          f"belongs under an `expect` line")
                last.why.append(line.strip())
                continue
            words = line.split()
            last = None
            if words[0] == "run" and len(words) >= 3:
                modules.append(Module(words[1], _modes(words[2], lineno), words[3:], lineno))
            elif words[0] == "expect" and len(words) in (4, 5):
                if words[1] not in KINDS:
                    raise ConfigFileError(f"cpython_suite.txt:{lineno}: kind must be one of "
                                          f"{', '.join(KINDS)}, not {words[1]!r}")
                last = Entry(words[1], _modes(words[2], lineno), words[2], words[3], lineno,
                             words[4] if len(words) == 5 else "")
                entries.append(last)
            else:
                raise ConfigFileError(f"cpython_suite.txt:{lineno}: expected `run MODULE MODES "
                                      f"[options]` or `expect KIND MODES TEST-ID [VERSIONS]`")
    for entry in entries:
        if not entry.why:
            raise ConfigFileError(f"{entry}: says not why (indented lines below it)")
    seen = {}
    for module in modules:
        for mode in module.modes:
            if (module.label, mode) in seen:
                raise ConfigFileError(f"cpython_suite.txt:{module.lineno}: {module.label} runs in "
                                      f"{mode} already (line {seen[module.label, mode]})")
            seen[module.label, mode] = module.lineno
    return modules, entries


def _suite_missing():
    """Why the interpreter's test package cannot run, or ""."""
    try:
        python = harness.python_bin()
    except harness.ConfigError:
        return ""  # the test itself reports it
    probe = subprocess.run(
        [python, "-c", "import test.libregrtest, test.test_gc"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=harness.clean_env())
    if probe.returncode != 0:
        return (f"CPython's test package for {python} "
                f"(apt-get install libpython3.11-testsuite)")
    return ""


MISSING = _suite_missing()


def _test_dir():
    """The directory of the interpreter's test package."""
    return subprocess.run(
        [harness.python_bin(), "-c", "import os, test; print(os.path.dirname(test.__file__))"],
        capture_output=True, text=True, env=harness.clean_env(), check=True).stdout.strip()


def in_test_package(name, test_dir):
    """Whether the interpreter's test package has the module (a file or a
    package; test_asyncio.test_events a module of a package): an
    installation may leave one out (pyenv's 3.12.1 has no
    test_concurrent_futures)."""
    path = os.path.join(test_dir, *name.split("."))
    return os.path.isfile(path + ".py") or os.path.isfile(os.path.join(path, "__init__.py"))


class Outcome:
    """One test case's result: status is pass, skipped, failure or error."""

    def __init__(self, status, text=""):
        self.status = status
        self.text = text


def read_junit(path):
    """{test id: Outcome} from regrtest's --junit-xml file, or None."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    outcomes = {}
    for case in root.iter("testcase"):
        outcome = Outcome("pass")
        for status in ("failure", "error", "skipped"):
            node = case.find(status)
            if node is not None:
                outcome = Outcome(status, (node.text or node.get("message") or "").strip())
                break
        outcomes[case.get("name")] = outcome
    return outcomes


class Run:
    """One run of `python -m test MODULE`, plain (mode None) or under pyscope."""

    def __init__(self, module, mode, match=None):
        self.module = module
        self.mode = mode
        self.match = match
        self.returncode = None
        self.timed_out = False
        self.wall = self.cpu = 0.0
        self.output = ""
        self.outcomes = None
        self.db_problem = ""
        self.removed = []  # the harness's files in the run's directory that went

    @property
    def label(self):
        return f"{self.module.label} [{self.mode or 'plain'}]"

    def command(self, where):
        args = ["-m", "test", "--fail-env-changed", "--timeout", str(REGRTEST_TIMEOUT),
                "--junit-xml", os.path.join(where, "junit.xml")]
        options = self.module.options
        if self.match:
            matchfile = os.path.join(where, "match.txt")
            with open(matchfile, "w") as f:
                f.write("".join(test_id + "\n" for test_id in self.match))
            args += ["--matchfile", matchfile]
            options = without_match(options)
        args += options + [self.module.name]
        python = harness.python_bin()
        if self.mode is None:
            return harness.desktop_open_files([python] + args)
        return harness.desktop_open_files(
            [harness.pyscope_bin(), "profile", "-q", "-o", os.path.join(where, "run.db")]
            + MODES[self.mode] + ["--python", python] + args)

    def execute(self):
        where = tempfile.mkdtemp(prefix=f"pyscope-cpython-{self.module.name}-"
                                        f"{self.mode or 'plain'}-")
        try:
            self._execute(where)
        finally:
            if KEEP:
                sys.stderr.write(f"kept {where}\n")
            else:
                shutil.rmtree(where, ignore_errors=True)
        return self

    def _execute(self, where):
        tmp = os.path.join(where, "tmp")
        os.mkdir(tmp)
        # regrtest works in a directory of its own under TMPDIR: kept apart
        # per run, and removed with it.
        env = harness.clean_env({"TMPDIR": tmp})
        out_path = os.path.join(where, "output.txt")
        start = time.monotonic()
        # The output is read back through the descriptor the run wrote to:
        # a run that removes the file still has its output read, and the
        # removal is a difference of its own.
        out = open(out_path, "w+b")
        try:
            proc = subprocess.Popen(self.command(where), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, cwd=where, env=env,
                                    start_new_session=True)
        except BaseException:
            out.close()
            raise

        def kill():
            self.timed_out = True
            kill_session(proc.pid)

        timer = threading.Timer(RUN_TIMEOUT, kill)
        timer.start()
        try:
            # wait4 for the CPU time of the run and all it waited for.
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            kill_session(proc.pid)  # what the run left behind
        proc.returncode = self.returncode = os.waitstatus_to_exitcode(status)
        self.wall = time.monotonic() - start
        self.cpu = usage.ru_utime + usage.ru_stime
        with out:
            out.seek(0)
            self.output = out.read().decode("utf-8", "backslashreplace")
        self.removed = [name for name in ("output.txt", "tmp")
                        if not os.path.exists(os.path.join(where, name))]
        self.outcomes = read_junit(os.path.join(where, "junit.xml"))
        if self.mode is not None:
            self.db_problem = check_db(os.path.join(where, "run.db"), self.returncode)

    def env_changed(self):
        """regrtest's own warnings when the module changed its environment."""
        if self.returncode != 3:
            return ""
        return "\n".join(line for line in self.output.splitlines()
                         if "Warning --" in line or "env changed" in line)

    def pyscope_lines(self):
        return [line for line in self.output.splitlines() if line.startswith("pyscope: ")]

    def tail(self, n=40):
        return "\n".join(self.output.splitlines()[-n:])


def without_match(options):
    """regrtest options without their -m patterns, which would add their
    tests to a --matchfile's."""
    kept, skip = [], False
    for option in options:
        if skip:
            skip = False
        elif option in ("-m", "--match"):
            skip = True
        else:
            kept.append(option)
    return kept


def kill_session(sid):
    """SIGKILL every process of the session: the run's own process group,
    and the groups made in it (pyscope runs the program in a group of its
    own; a test may start more). Again until none is left, as one may fork
    while the others are killed."""
    for _ in range(10):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
                # pid (comm) state ppid pgrp session ...; comm may hold anything
                if int(stat[stat.rindex(b")") + 2:].split()[3]) == sid:
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
            except (OSError, ValueError, IndexError):
                pass
        if not found:
            return
        time.sleep(0.05)


def check_db(db, returncode):
    """What is wrong with a run's database, or "" when it is sound and ends
    as the program ended."""
    if not os.path.isfile(db):
        return "no database was written"
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            check = conn.execute("PRAGMA quick_check").fetchall()
            meta = dict(conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('exit_status', 'protocol_errors')"))
        finally:
            conn.close()
    except sqlite3.Error as e:
        return f"the database cannot be read: {e}"
    if check != [("ok",)]:
        return f"the database is not sound: {check[:5]}"
    want = f"exit {returncode}" if returncode >= 0 else f"signal {-returncode}"
    if meta.get("exit_status") != want:
        return f"the database says the program ended by {meta.get('exit_status')!r}, not {want!r}"
    if meta.get("protocol_errors") not in (None, "0"):
        return f"the recorder dropped {meta['protocol_errors']} malformed records"
    return ""


class Difference:
    def __init__(self, test_id, what, text="", lines=12):
        self.test_id = test_id
        self.what = what
        self.text = text
        self.lines = lines

    def __str__(self):
        text = "\n".join("    " + line for line in self.text.splitlines()[-self.lines:])
        return f"  {self.test_id}: {self.what}" + (f"\n{text}" if text else "")


def crash_report(run):
    """The part of a run's output that says how it ended: faulthandler's
    report of a fatal error from its first line (the crashing thread's
    innermost frames come first), else the output's last lines."""
    lines = run.output.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Fatal Python error")]
    return "\n".join(lines[starts[-1]:starts[-1] + 40]) if starts else run.tail()


def differences(plain, run):
    """How a run under pyscope differs from the plain run of its module."""
    found = []
    name = run.module.name
    if run.removed and not plain.removed:
        found.append(Difference(f"{name}.<files-removed>",
                                "removed under pyscope only: " + ", ".join(run.removed)))
    if run.outcomes is None:
        why = "killed after {}s".format(RUN_TIMEOUT) if run.timed_out else \
            f"exit status {run.returncode}"
        return found + [Difference(f"{name}.<run>", f"no results ({why})", crash_report(run),
                                   lines=40)]
    for test_id, before in plain.outcomes.items():
        if before.status != "pass":
            continue
        after = run.outcomes.get(test_id)
        if after is None:
            found.append(Difference(test_id, "passes plain, not run under pyscope"))
        elif after.status != "pass":
            found.append(Difference(test_id, f"passes plain, {after.status} under pyscope",
                                    after.text))
    for test_id, after in run.outcomes.items():
        if test_id not in plain.outcomes and after.status in ("failure", "error"):
            found.append(Difference(test_id, f"{after.status} under pyscope, absent plain",
                                    after.text))
    if run.returncode < 0 and plain.returncode >= 0:
        # killed by a signal after its results were written (a crash at
        # exit): the results alone would not show it
        found.append(Difference(f"{name}.<exit>",
                                f"killed by signal {-run.returncode} under pyscope only",
                                crash_report(run), lines=40))
    if run.match is None:
        if run.returncode == 3 and plain.returncode != 3:
            found.append(Difference(f"{name}.<env-changed>",
                                    "changes its environment under pyscope only",
                                    run.env_changed()))
        lines = run.pyscope_lines()
        if lines:
            found.append(Difference(f"{name}.<pyscope-output>", "pyscope printed",
                                    "\n".join(lines)))
        if run.db_problem:
            found.append(Difference(f"{name}.<database>", run.db_problem))
    return found


def _module_modes(value):
    """{module: [modes]} for the MODULE:MODE+MODE items of a module list."""
    found = {}
    for item in (value or "").split(","):
        name, colon, modes = item.partition(":")
        if colon:
            unknown = [m for m in modes.split("+") if m not in MODES]
            if unknown:
                raise harness.ConfigError(f"{item}: unknown modes {unknown}")
            found[name] = modes.split("+")
    return found


def _selected(env, known, what):
    value = os.environ.get(env)
    if not value:
        return None
    chosen = [item.partition(":")[0] for item in value.split(",")]
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise harness.ConfigError(f"{env}: unknown {what} {unknown} (known: {sorted(known)})")
    return set(chosen)


def _format_seconds(s):
    return f"{s:.0f}" if s >= 10 else f"{s:.1f}"


@unittest.skipIf(MISSING and not REQUIRED, f"needs {MISSING}")
class CPythonSuite(harness.E2ETestCase):
    """Every listed module, under every listed mode, against its plain run."""

    def test_regrtest_modules_as_plain(self):
        if MISSING:
            raise AssertionError(f"PYSCOPE_TEST_REQUIRE_CPYTHON_SUITE=1 but no {MISSING}")
        modules, entries = read_config()
        module_modes = _module_modes(os.environ.get("PYSCOPE_TEST_CPYTHON_MODULES"))
        only_modules = _selected("PYSCOPE_TEST_CPYTHON_MODULES", {m.name for m in modules},
                                 "modules")
        only_modes = _selected("PYSCOPE_TEST_CPYTHON_MODES", MODES, "modes")
        if only_modules:
            modules = [m for m in modules if m.name in only_modules]
        test_dir = _test_dir()
        absent = sorted({m.name for m in modules if not in_test_package(m.name, test_dir)})
        modules = [m for m in modules if m.name not in absent]
        # Three per CPU: most of a run's time is the tests' own waiting
        # (timeouts, sleeps, children), a third of it CPU.
        jobs = int(os.environ.get("PYSCOPE_TEST_CPYTHON_JOBS") or 3 * (os.cpu_count() or 1))

        # A background shell leaves SIGINT ignored, and an ignored signal
        # stays ignored across exec: regrtest's tests of KeyboardInterrupt
        # need it at its default, as in a terminal.
        for sig in (signal.SIGINT, signal.SIGQUIT):
            if signal.getsignal(sig) == signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)

        # Modules in the file's order (the longest first), each one's plain
        # run ahead of its runs under pyscope, so the longest start first.
        runs = []
        for module in modules:
            runs.append(Run(module, None))
            runs += [Run(module, mode) for mode in module.modes
                     if (only_modes is None or mode in only_modes) and
                     mode in module_modes.get(module.name, module.modes)]
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            list(pool.map(Run.execute, runs))
        elapsed = time.monotonic() - start

        plain = {run.module: run for run in runs if run.mode is None}
        broken = [run for run in plain.values() if run.outcomes is None]
        if broken:
            self.fail("the plain run of a module gave no results:\n" + "\n\n".join(
                f"{run.label}: exit status {run.returncode}\n{run.tail()}" for run in broken))

        unexpected = {}  # run -> [Difference]
        for run in runs:
            if run.mode is None:
                continue
            for diff in differences(plain[run.module], run):
                entry = next((e for e in entries if e.matches(run.mode, diff.test_id)), None)
                if entry:
                    entry.matched.append(run)
                if not entry or (STRICT and entry.kind == "defect"):
                    unexpected.setdefault(run, []).append(diff)

        # Run the unexpected failures of single test cases again, alone.
        flaky = []
        for run, diffs in list(unexpected.items()):
            ids = [d.test_id for d in diffs if not d.test_id.startswith(run.module.name + ".<")]
            if not ids or len(ids) != len(diffs):
                continue
            again = []
            for _ in range(RERUNS):
                rerun = Run(run.module, run.mode, match=ids).execute()
                again = [d for d in differences(plain[run.module], rerun)
                         if d.test_id in ids]
                if again:
                    break
            if not again:
                flaky.append((run, diffs))
                del unexpected[run]

        self._report(runs, plain, entries, flaky, elapsed, jobs, absent)
        if unexpected:
            self.fail("CPython's regression tests differ under pyscope from plain python "
                      "(not expected by cpython_suite.txt):\n" + "\n".join(
                          f"{run.label}:\n" + "\n".join(str(d) for d in diffs)
                          for run, diffs in unexpected.items()))

    def _report(self, runs, plain, entries, flaky, elapsed, jobs, absent):
        """Times and what was expected, on stderr for the test's log."""
        w = sys.stderr.write
        if absent:
            w(f"\nnot in {harness.python_bin()}'s test package, left out: {', '.join(absent)}")
        modes = [m for m in MODES if any(run.mode == m for run in runs)]
        w(f"\nCPython regression tests: {len(plain)} modules, {len(runs)} runs, "
          f"{jobs} at a time, {elapsed:.0f}s\n")
        w("seconds (wall/cpu) per module, plain and under pyscope:\n")
        w(f"{'module':40}{'plain':>10}" + "".join(f"{m:>13}" for m in modes) + "\n")
        table = {(run.module, run.mode): run for run in runs}
        for module, base in plain.items():
            cells = [f"{_format_seconds(base.wall)}/{_format_seconds(base.cpu)}"]
            for mode in modes:
                run = table.get((module, mode))
                cells.append(f"{_format_seconds(run.wall)}/{_format_seconds(run.cpu)}"
                             if run else "-")
            w(f"{module.label[:40]:40}{cells[0]:>10}" + "".join(f"{c:>13}" for c in cells[1:])
              + "\n")
        for entry in entries:
            if entry.matched:
                excused = "" if entry.kind == "permanent" or not STRICT else ", not excused (strict)"
                w(f"expected ({entry.kind}{excused}): {entry.pattern} in "
                  f"{', '.join(sorted({run.label for run in entry.matched}))}\n")
        for run, diffs in flaky:
            w(f"passed when run again (a failure under load, not counted): {run.label}: "
              f"{', '.join(d.test_id for d in diffs)}\n")
        for entry in entries:
            if entry.matched or not entry.on_version(harness.target_version()) or not any(
                    run.mode in entry.modes and entry.concerns(run.module) for run in runs):
                continue
            w(f"matched nothing in this run: {entry}"
              + (" (fixed? then remove it)\n" if entry.kind == "defect" else "\n"))


class Comparison(unittest.TestCase):
    """The comparison itself, on made-up results: what counts as a
    difference, and that the file of modules and expectations is sound."""

    def run_of(self, outcomes, mode="default", returncode=0, output=""):
        run = Run(Module("test_x", ["default"], [], 1), mode)
        run.outcomes = outcomes
        run.returncode = returncode
        run.output = output
        return run

    def test_a_test_failing_only_under_pyscope_is_a_difference(self):
        plain = self.run_of({"t.a": Outcome("pass"), "t.b": Outcome("failure", "x"),
                             "t.c": Outcome("pass"), "t.d": Outcome("pass"),
                             "t.e": Outcome("skipped", "no")}, None)
        run = self.run_of({"t.a": Outcome("error", "boom"), "t.b": Outcome("failure", "x"),
                           "t.d": Outcome("skipped", "no fds"), "t.e": Outcome("skipped", "no"),
                           "t.f": Outcome("failure", "new")})
        found = {d.test_id: d.what for d in differences(plain, run)}
        self.assertEqual(found, {
            "t.a": "passes plain, error under pyscope",
            "t.c": "passes plain, not run under pyscope",
            "t.d": "passes plain, skipped under pyscope",
            "t.f": "failure under pyscope, absent plain",
        })

    def test_same_results_are_no_difference(self):
        outcomes = {"t.a": Outcome("pass"), "t.b": Outcome("skipped", "why")}
        self.assertEqual(differences(self.run_of(outcomes, None), self.run_of(dict(outcomes))),
                         [])

    def test_a_run_without_results_an_env_change_and_pyscope_lines_are_differences(self):
        plain = self.run_of({"t.a": Outcome("pass")}, None)
        self.assertEqual([d.test_id for d in differences(plain, self.run_of(None, returncode=1))],
                         ["test_x.<run>"])
        run = self.run_of({"t.a": Outcome("pass")}, returncode=3,
                          output="Warning -- Dangling thread\npyscope: lost\n")
        self.assertEqual([d.test_id for d in differences(plain, run)],
                         ["test_x.<env-changed>", "test_x.<pyscope-output>"])

    def test_a_crash_after_the_results_is_a_difference(self):
        plain = self.run_of({"t.a": Outcome("pass")}, None)
        run = self.run_of({"t.a": Outcome("pass")}, returncode=-11,
                          output="Fatal Python error: Segmentation fault\n")
        self.assertEqual([d.test_id for d in differences(plain, run)], ["test_x.<exit>"])

    def test_a_file_of_the_harness_removed_under_pyscope_is_a_difference(self):
        plain = self.run_of({"t.a": Outcome("pass")}, None)
        run = self.run_of({"t.a": Outcome("pass")})
        run.removed = ["output.txt"]
        found = differences(plain, run)
        self.assertEqual([(d.test_id, d.what) for d in found],
                         [("test_x.<files-removed>", "removed under pyscope only: output.txt")])

    def test_an_entry_matches_by_mode_and_pattern(self):
        entry = Entry("defect", ["calls"], "calls", "test.test_x.*.test_y*", 1)
        self.assertTrue(entry.matches("calls", "test.test_x.C.test_y2"))
        self.assertFalse(entry.matches("default", "test.test_x.C.test_y2"))
        self.assertFalse(entry.matches("calls", "test.test_x.C.test_z"))

    def test_an_entry_of_some_versions(self):
        later = Entry("permanent", ["calls"], "calls", "test.test_x.*", 1, "3.12+")
        one = Entry("permanent", ["calls"], "calls", "test.test_x.*", 1, "3.13")
        for version, on_later, on_one in (((3, 11), False, False), ((3, 12), True, False),
                                          ((3, 13), True, True), ((3, 14), True, False)):
            self.assertEqual(later.matches("calls", "test.test_x.a", version), on_later, version)
            self.assertEqual(one.matches("calls", "test.test_x.a", version), on_one, version)
        for bad in ("3", "3.12-", "312", "4.1"):
            with self.assertRaises(ConfigFileError):
                Entry("permanent", ["calls"], "calls", "test.test_x.*", 1, bad)

    def test_a_module_the_installation_left_out(self):
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "test_pkg"))
            open(os.path.join(d, "test_pkg", "__init__.py"), "w").close()
            open(os.path.join(d, "test_pkg", "test_sub.py"), "w").close()
            open(os.path.join(d, "test_mod.py"), "w").close()
            os.mkdir(os.path.join(d, "test_empty"))
            for name, there in (("test_mod", True), ("test_pkg", True),
                                ("test_pkg.test_sub", True), ("test_pkg.test_no", False),
                                ("test_empty", False), ("test_gone", False)):
                self.assertEqual(in_test_package(name, d), there, name)

    def test_a_module_list_may_name_modes(self):
        self.assertEqual(_module_modes("test_a,test_b:default+calls,test_c"),
                         {"test_b": ["default", "calls"]})
        self.assertEqual(_module_modes(None), {})
        with self.assertRaises(harness.ConfigError):
            _module_modes("test_b:default+sideways")

    def test_the_file_is_sound(self):
        modules, entries = read_config()
        self.assertTrue(modules)
        for entry in entries:
            self.assertTrue(any(entry.concerns(m) and set(entry.modes) & set(m.modes)
                                for m in modules),
                            f"{entry}: names no module that runs in its modes")


if __name__ == "__main__":
    unittest.main()
