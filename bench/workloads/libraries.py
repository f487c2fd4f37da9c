"""Real libraries at work in four threads for a given time: pygments
highlights Python sources, docutils renders reStructuredText to HTML, and a
cache keeps part of what they made, so memory grows from snapshot to
snapshot. Needs Debian's python3-pygments and python3-docutils."""
import glob
import os
import sys
import threading
import time

import docutils.core
import pygments
import pygments.formatters
import pygments.lexers

SOURCES = sorted(glob.glob(os.path.join(os.path.dirname(os.__file__), "*.py")))[:60]
TEXT = """
Title
=====

A paragraph with *emphasis*, ``literal`` and a `link <https://example.org>`_.

* one item
* another, with **strong** text

.. note:: A note.

======  ======
column  value
======  ======
a       1
b       2
======  ======
"""
cache = []
lock = threading.Lock()


def highlight(end):
    lexer = pygments.lexers.PythonLexer()
    formatter = pygments.formatters.HtmlFormatter()
    i = 0
    while time.monotonic() < end:
        with open(SOURCES[i % len(SOURCES)]) as f:
            html = pygments.highlight(f.read()[:20000], lexer, formatter)
        if i % 4 == 0:
            with lock:
                cache.append(html)
        i += 1


def render(end):
    i = 0
    while time.monotonic() < end:
        html = docutils.core.publish_string(TEXT * 3, writer_name="html")
        if i % 8 == 0:
            with lock:
                cache.append(html)
        i += 1


def main(seconds):
    end = time.monotonic() + seconds
    threads = [threading.Thread(target=highlight, args=(end,), name="highlight-1"),
               threading.Thread(target=highlight, args=(end,), name="highlight-2"),
               threading.Thread(target=render, args=(end,), name="render")]
    for t in threads:
        t.start()
    render(end)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 10)
