"""Stress for --native: while being sampled, all at once,

* the dynamic loader maps and unmaps objects: extension modules of the
  standard library and the libraries they need (libsqlite3, libuuid,
  libncursesw...) opened with ctypes, called into (C calling back into
  Python too), and closed again (dlopen, dlclose); extension modules
  imported from fresh copies (each a dlopen that maps a new file) and
  imported again after leaving sys.modules;
* threads start and end all the time, each compressing, encoding and
  sorting (C) and summing (Python);
* the process forks: children that work and _exit, and a pool of
  multiprocessing workers (fork).

The loader checks, once, that opening maps the objects and closing unmaps
them, so the stress does what it says."""
import _ctypes
import _json
import ctypes
import importlib
import importlib.machinery
import importlib.util
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import warnings
import zlib

# It forks beside threads of its own on purpose: what 3.12 and later warn
# about that is not what is tested.
warnings.filterwarnings("ignore", r"This process .* is multi-threaded", DeprecationWarning)

DYNLOAD = os.path.dirname(_json.__file__)
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]

# Opened with ctypes and closed: nothing else here loads them (or what they
# need), so each round maps and unmaps them all. _sqlite3 and _ctypes_test
# are called into; the others are opened when the interpreter has them.
OPENED = ["_sqlite3", "_ctypes_test"] + [
    name for name in ["_uuid", "_curses", "_dbm", "_crypt", "_decimal", "_codecs_jp",
                      "audioop", "_zoneinfo", "_testbuffer"]
    if os.path.exists(os.path.join(DYNLOAD, name + SUFFIX))]
# Imported from a fresh copy each round, and again from the standard library
# (audioop is gone from 3.13 on).
IMPORTED = [name for name in ["audioop", "_zoneinfo", "_codecs_jp"]
            if os.path.exists(os.path.join(DYNLOAD, name + SUFFIX))]

BLOB = bytes(range(256)) * 64 + os.urandom(4096)
DOC = {"k%d" % i: [i, str(i), {"x": i * 0.5}] for i in range(150)}


def squeeze(n):
    return len(zlib.compress(BLOB * n, 6))


def dump(n):
    return len(json.dumps([DOC] * n))


def order(n):
    return sorted(str(i * 7919 % 10007) for i in range(n))[0]


def count(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def work(n):
    return squeeze(n) + dump(n) + len(order(300 * n)) + count(3000 * n)


ERRORS = []


def guarded(target):
    """target, with whatever it raises kept for the main thread to raise."""
    def run(*args):
        try:
            target(*args)
        except BaseException as e:
            ERRORS.append(e)
    return run


def worker(n):
    work(n)


def churn(rounds):
    for i in range(rounds):
        ts = [threading.Thread(target=guarded(worker), args=(1 + (i + k) % 2,)) for k in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def mapped(fragment):
    """Whether an object whose path holds fragment has its code mapped (the
    loader maps code executable; readers of the file map it read-only)."""
    with open("/proc/self/maps") as f:
        return any(fragment in line and line.split()[1].startswith("r-x") for line in f)


def query(lib):
    """A few milliseconds of SQLite, in a library about to be closed."""
    db = ctypes.c_void_p()
    assert lib.sqlite3_open(b":memory:", ctypes.byref(db)) == 0
    sql = (b"with recursive c(x) as (select 1 union all select x + 1 from c where x < 20000) "
           b"select sum(x) from c")
    assert lib.sqlite3_exec(db, sql, None, None, None) == 0
    lib.sqlite3_close(db)


CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)


def called_back(value):
    return count(50) + value


def call_back(lib):
    """C calling Python: _ctypes_test calls called_back for 4096, 2048, ... 1."""
    lib._testfunc_callback_i_if.argtypes = [ctypes.c_int, CALLBACK]
    return lib._testfunc_callback_i_if(4096, CALLBACK(called_back))


def open_and_close(check):
    for name in OPENED:
        lib = ctypes.CDLL(os.path.join(DYNLOAD, name + SUFFIX))
        if name == "_sqlite3":
            query(lib)
            if check:
                assert mapped("/libsqlite3.so"), "_sqlite3 did not map libsqlite3"
        elif name == "_ctypes_test":
            assert call_back(lib) > 0
        _ctypes.dlclose(lib._handle)
    if check:
        assert not mapped("/libsqlite3.so"), "closing _sqlite3 did not unmap libsqlite3"
        assert not mapped("/_ctypes_test."), "_ctypes_test was not unmapped"


def import_copy(name, where, check):
    path = os.path.join(where, name + SUFFIX)
    shutil.copyfile(os.path.join(DYNLOAD, name + SUFFIX), path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if check:
        assert mapped(path), f"{path} was not mapped"
    return module


def reimport(name):
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def load(tmp, done, least, most):
    """At least `least` rounds, and more until done (at most `most`); the
    first `least` import fresh copies."""
    i = 0
    while i < least or (i < most and not done.is_set()):
        open_and_close(i == 0)
        for name in IMPORTED:
            if i < least:
                where = os.path.join(tmp, f"{name}-{i}")
                os.mkdir(where)
                module = import_copy(name, where, i == 0)
                assert module.__name__ == name
                if name == "audioop":
                    assert module.rms(BLOB[:4096], 2) > 0
            assert reimport(name).__file__ == os.path.join(DYNLOAD, name + SUFFIX)
        i += 1


def fork_children(n):
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            work(1 + i % 2)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


def pool(tasks):
    p = multiprocessing.get_context("fork").Pool(2)
    try:
        assert p.map(work, [1] * tasks) == [work(1)] * tasks
    finally:
        p.close()
        p.join()


if __name__ == "__main__":
    tmp = tempfile.mkdtemp(prefix="stress-native-")
    try:
        done = threading.Event()
        loader = threading.Thread(target=guarded(load), args=(tmp, done, 30, 200), name="loader")
        churners = [threading.Thread(target=guarded(churn), args=(300,), name=f"churn-{k}")
                    for k in range(2)]
        loader.start()
        for t in churners:
            t.start()
        fork_children(40)
        pool(200)
        for t in churners:
            t.join()
        done.set()
        loader.join()
    finally:
        shutil.rmtree(tmp)
    if ERRORS:
        raise ERRORS[0]
    print("ok")
