"""The layering rule of docs/architecture.md, checked on the sources and on
the built extensions (one per CPython version the build has):

- a file includes headers of its own folder and of the folders below it in
  its program, never of one above or beside it (the build refuses most of
  this already: each layer's library sees only its own and the lower
  include directories);
- no two modules (a .c and its .h) include each other's headers, directly
  or through others: the modules form no loop;
- CPython's internal headers (Py_BUILD_CORE) only in runtime/cpython;
- Python.h never in the executable's folders;
- no extension links SQLite, nor libpython (the interpreter that loads it
  has the one it was built for; a second would be another interpreter).

Usage: layers.py SOURCE_DIR [EXTENSION.so...]
"""
import os
import re
import subprocess
import sys
import unittest

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), ".."))
EXTENSIONS = sys.argv[2:]

# Each program's folders, bottom first.
EXECUTABLE = ["runtime/common", "runtime/cli", ("runtime/recorder", "viewer"), "runtime/main"]
EXTENSION_LAYERS = ["runtime/common", "runtime/cpython", "runtime/agent", "profiler", "tracemem",
                    "runtime/session"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SYSTEM_INCLUDE = re.compile(r'^\s*#\s*include\s+<([^>]+)>', re.M)


def ranks(layers):
    out = {}
    for rank, layer in enumerate(layers):
        for folder in (layer if isinstance(layer, tuple) else (layer,)):
            out[folder] = rank
    return out


def sources():
    """{relative path: text} of every .c and .h of the two programs."""
    out = {}
    for folder in set(ranks(EXECUTABLE)) | set(ranks(EXTENSION_LAYERS)):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if name.endswith((".c", ".h")):
                path = f"{folder}/{name}"
                with open(os.path.join(ROOT, path), encoding="utf-8") as f:
                    out[path] = f.read()
    return out


def strip_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)


def needed_libraries(extension):
    """The dynamic section of an extension, as readelf shows it: the
    libraries it needs."""
    return subprocess.run(["readelf", "-d", extension], capture_output=True, text=True,
                          check=True).stdout


class Layers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files = sources()
        cls.headers = {}
        for path in cls.files:
            if path.endswith(".h"):
                cls.headers.setdefault(os.path.basename(path), []).append(path)

    def resolve(self, including, name):
        """The header a file's #include "name" finds: its own folder's, or the
        one of a folder it may see."""
        own = f"{os.path.dirname(including)}/{name}"
        if own in self.files:
            return own
        found = self.headers.get(name, [])
        return found[0] if len(found) == 1 else None

    def test_includes_go_down(self):
        wrong = []
        for program, layers in (("pyscope", EXECUTABLE), ("_pyscope", EXTENSION_LAYERS)):
            rank = ranks(layers)
            for path, text in self.files.items():
                folder = os.path.dirname(path)
                if folder not in rank:
                    continue
                for name in INCLUDE.findall(strip_comments(text)):
                    target = self.resolve(path, name)
                    if target is None:
                        wrong.append(f"{path}: \"{name}\" is no header of the project, or of more than one folder")
                        continue
                    to = os.path.dirname(target)
                    if to == folder:
                        continue
                    if to not in rank:
                        wrong.append(f"{path} ({program}) includes {target}, of the other program")
                    elif rank[to] >= rank[folder]:
                        wrong.append(f"{path} includes {target}, a layer at or above its own")
        self.assertEqual(wrong, [])

    def test_no_loops_between_modules(self):
        def module(path):
            return path[:-2]
        edges = {}
        for path, text in self.files.items():
            for name in INCLUDE.findall(strip_comments(text)):
                target = self.resolve(path, name)
                if target and module(target) != module(path):
                    edges.setdefault(module(path), set()).add(module(target))
        # Tarjan's strongly connected components
        index, low, stack, on, loops = {}, {}, [], set(), []
        counter = [0]

        def visit(v):
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on.add(v)
            for w in sorted(edges.get(v, ())):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    loops.append(sorted(component))

        for v in sorted(edges):
            if v not in index:
                visit(v)
        self.assertEqual(loops, [])

    def test_interpreter_internals_only_in_the_version_layer(self):
        wrong = [path for path, text in self.files.items()
                 if not path.startswith("runtime/cpython/") and
                 re.search(r"Py_BUILD_CORE|internal/pycore_", strip_comments(text))]
        self.assertEqual(wrong, [])

    def test_executable_never_sees_python(self):
        executable = set(ranks(EXECUTABLE))
        wrong = [path for path, text in self.files.items()
                 if os.path.dirname(path) in executable and
                 "Python.h" in SYSTEM_INCLUDE.findall(strip_comments(text))]
        self.assertEqual(wrong, [])

    @unittest.skipUnless(EXTENSIONS, "no extension given")
    def test_extension_links_no_sqlite(self):
        for extension in EXTENSIONS:
            with self.subTest(extension=os.path.basename(extension)):
                self.assertNotIn("sqlite", needed_libraries(extension))
                symbols = subprocess.run(["nm", "-D", "--undefined-only", extension],
                                         capture_output=True, text=True, check=True).stdout
                self.assertEqual([s for s in symbols.split() if s.startswith("sqlite3_")], [])

    @unittest.skipUnless(EXTENSIONS, "no extension given")
    def test_extension_links_no_libpython(self):
        for extension in EXTENSIONS:
            with self.subTest(extension=os.path.basename(extension)):
                self.assertNotIn("libpython", needed_libraries(extension))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
