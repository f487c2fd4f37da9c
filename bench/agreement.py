"""pyscope's call counts against the interpreter's own cProfile, on a real
library: pygments (Debian's python3-pygments, pure Python, so any CPython
version imports it) highlighting the standard library's inspect.py.

  PYSCOPE_BENCH_PYTHON=python3.13 /usr/bin/python3.11 bench/agreement.py

The program's output must be the same under both. Compared, per function:
the number of calls of every pygments function, and of every builtin
called from pygments code (cProfile's callers tell which), so that calls
the import system makes (which differ with what cProfile itself imported
before the program) stay out of it. A builtin whose cProfile name holds an
address (`<built-in method __new__ of type object at 0x...>`) differs
between any two runs by that address alone, and is compared by its total."""
import os
import pstats
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

LIBRARY = "/usr/lib/python3/dist-packages"

PROGRAM = """import inspect
import sys
sys.path.append({library!r})
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
with open(inspect.__file__) as f:
    print(len(highlight(f.read(), PythonLexer(), HtmlFormatter())))
"""

ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def counts(stats):
    """({pygments function: calls}, {builtin called from pygments: calls})."""
    functions, builtins = {}, {}
    for key, (_, ncalls, _, _, callers) in stats.items():
        if key[0] == "~":
            n = sum(c[0] if isinstance(c, tuple) else c
                    for caller, c in callers.items() if "pygments" in caller[0])
            if n:
                name = ADDRESS.sub(" at 0x", key[2])
                builtins[name] = builtins.get(name, 0) + n
        elif "pygments" in key[0]:
            functions[key] = ncalls
    return functions, builtins


def compare(what, theirs, mine):
    same = [k for k in theirs if mine.get(k) == theirs[k]]
    print(f"  {what}: cProfile {len(theirs)} ({sum(theirs.values())} calls), "
          f"pyscope {len(mine)} ({sum(mine.values())} calls), equal counts {len(same)}")
    for k in [k for k in theirs if mine.get(k) != theirs[k]][:5]:
        print(f"    differs: {k}: cProfile {theirs[k]}, pyscope {mine.get(k)}")
    return len(same) == len(theirs) == len(mine)


def main():
    common.check_binary()
    if not os.path.isdir(os.path.join(LIBRARY, "pygments")):
        sys.exit(f"bench: no pygments in {LIBRARY} (apt-get install python3-pygments)")
    with tempfile.TemporaryDirectory() as tmp:
        prog = os.path.join(tmp, "highlight.py")
        with open(prog, "w") as f:
            f.write(PROGRAM.format(library=LIBRARY))
        ref, mine_prof, db = (os.path.join(tmp, n) for n in ("ref.prof", "mine.prof", "run.db"))
        plain = subprocess.run([common.PYTHON, "-m", "cProfile", "-o", ref, prog],
                               capture_output=True, check=True)
        traced = subprocess.run([common.PYSCOPE, "profile", "-q", "--calls", "--python",
                                 common.PYTHON, "-o", db, prog], capture_output=True, check=True)
        subprocess.run([common.PYSCOPE, "export", db, "--format", "pstats", "-o", mine_prof],
                       check=True)
        version = subprocess.run([common.PYTHON, "-c", "import platform; "
                                  "print(platform.python_version())"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        print(f"pygments on CPython {version}: output {plain.stdout.decode().strip()} bytes, "
              f"{'the same' if plain.stdout == traced.stdout else 'DIFFERENT'} under pyscope")
        theirs_fn, theirs_b = counts(pstats.Stats(ref).stats)
        mine_fn, mine_b = counts(pstats.Stats(mine_prof).stats)
        ok = compare("pygments functions", theirs_fn, mine_fn)
        ok &= compare("builtins called from pygments", theirs_b, mine_b)
        ok &= plain.stdout == traced.stdout
        print("agreement:", "every count equal" if ok else "NOT EQUAL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
