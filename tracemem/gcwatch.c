/*
 * The GC monitor of gcwatch.h. 3.11 tells about collections only through
 * gc.callbacks, so a builtin function of pyscope's sits in that list: on
 * "start" it notes the time, on "stop" it walks the collecting thread's
 * frames (the same frames as at the start: the collector runs inside the
 * allocation that triggered it) and queues the collection in the thread's
 * ring with the code objects still raw, for the emitter to name through the
 * code registry as it names samples. The callback runs with the GIL, once
 * per collection, and only reads the collector's info dict.
 */
#define _GNU_SOURCE
#include "gcwatch.h"
#include "coderef.h"
#include "error.h"
#include "ownwork.h"
#include "pyframe.h"
#include "rawrec.h"
#include "ring.h"
#include "threads.h"
#include "util.h"
#include "wire.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <unistd.h>

#define GC_MAX_DEPTH 128

/* The GIL guards these: the collector never runs twice at once. */
static uint64_t start_ns;
static int started;
static unsigned long long dropped;
static PyObject *key_generation, *key_collected, *key_uncollectable;

static long long info_int(PyObject *info, PyObject *key)
{
    PyObject *v = PyDict_Check(info) ? PyDict_GetItemWithError(info, key) : NULL;
    long long n = v && PyLong_Check(v) ? PyLong_AsLongLong(v) : 0;
    if (PyErr_Occurred())
        PyErr_Clear();
    return n < 0 ? 0 : n;
}

static void queue_collection(PyObject *info, uint64_t end_ns)
{
    struct ring *r = threads_ring();
    if (!r) {
        dropped++; /* a thread pyscope does not know */
        return;
    }
    struct pyframe_raw frames[GC_MAX_DEPTH];
    int truncated;
    unsigned filter = coderef_enter();
    int n = pyframe_walk(pyframe_current_tstate(), 0, frames, GC_MAX_DEPTH, &truncated);
    if (n < 0)
        n = 0;
    struct rawrec_gc rec = {
        .gc = {.tid = (uint64_t)gettid(),
               .t_ns = start_ns,
               .duration_ns = end_ns - start_ns,
               .collected = (uint64_t)info_int(info, key_collected),
               .uncollectable = (uint64_t)info_int(info, key_uncollectable),
               .generation = (int32_t)info_int(info, key_generation),
               .flags = truncated ? WIRE_SAMPLE_TRUNCATED : 0},
        .epoch = coderef_epoch(),
    };
    struct wire_str s = {(const char *)frames, (uint32_t)((size_t)n * sizeof *frames)};
    for (int i = 0; i < n; i++)
        if (i == 0 || frames[i].code != frames[i - 1].code)
            coderef_mark_sampled(filter, frames[i].code);
    if (ring_put(r, RAWREC_GC, &rec, sizeof rec, &s, 1) < 0)
        dropped++;
    coderef_leave(filter);
}

static PyObject *on_gc(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[0]))
        Py_RETURN_NONE;
    int64_t own = ownwork_timed_begin();
    uint64_t now = (uint64_t)util_mono_ns();
    if (PyUnicode_CompareWithASCIIString(args[0], "start") == 0) {
        start_ns = now;
        started = 1;
    } else if (started && PyUnicode_CompareWithASCIIString(args[0], "stop") == 0) {
        started = 0;
        queue_collection(args[1], now);
    }
    ownwork_timed_end(own);
    Py_RETURN_NONE;
}

static PyMethodDef on_gc_def = {"_pyscope_gc_monitor", (PyCFunction)(void (*)(void))on_gc,
                                METH_FASTCALL,
                                "pyscope's GC monitor: records each collection (--gc)."};

int gcwatch_start(void)
{
    key_generation = PyUnicode_InternFromString("generation");
    key_collected = PyUnicode_InternFromString("collected");
    key_uncollectable = PyUnicode_InternFromString("uncollectable");
    PyObject *fn = PyCFunction_New(&on_gc_def, NULL);
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *callbacks = gc ? PyObject_GetAttrString(gc, "callbacks") : NULL;
    int rc = key_generation && key_collected && key_uncollectable && fn && callbacks &&
                     PyList_Check(callbacks) && PyList_Append(callbacks, fn) == 0
                 ? 0
                 : PYSCOPE_ENOMEM;
    if (rc < 0)
        PyErr_Clear();
    Py_XDECREF(callbacks);
    Py_XDECREF(gc);
    Py_XDECREF(fn);
    return rc;
}

unsigned long long gcwatch_dropped(void)
{
    return dropped;
}
