"""Snapshots for the memory fixtures, taken by pyscope when they run under
`pyscope profile --memory` and by tracemalloc under plain python. Under
tracemalloc, each snapshot's statistics by line (and the differences from
the one before) are written as JSON to the file $TM_OUT names at exit, for
the test to compare with what pyscope recorded."""
import atexit
import json
import os

try:
    import pyscope
except ImportError:
    pyscope = None

_snaps = []
if pyscope is None:
    import tracemalloc

    tracemalloc.start(1)


def take(label):
    """A snapshot called label: pyscope's id, or the index under tracemalloc."""
    if pyscope is not None:
        return pyscope.snapshot(label)
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)])
    _snaps.append((label, snap))
    return len(_snaps)


def _entry(stat):
    frame = stat.traceback[0]
    return [frame.filename, frame.lineno, stat.size, stat.count]


def _dump():
    out = os.environ.get("TM_OUT")
    if pyscope is not None or not out:
        return
    result = []
    for i, (label, snap) in enumerate(_snaps):
        item = {"label": label, "stats": [_entry(s) for s in snap.statistics("lineno")]}
        if i:
            item["diff"] = [
                _entry(d) + [d.size_diff, d.count_diff]
                for d in snap.compare_to(_snaps[i - 1][1], "lineno")]
        result.append(item)
    with open(out, "w") as f:
        json.dump(result, f)


atexit.register(_dump)
