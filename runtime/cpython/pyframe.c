/*
 * What pyframe.h asks of a code object, a str or the GIL that every
 * supported CPython answers alike: names and line tables read from the
 * public layout of code objects and strs, and the helper thread's thread
 * state. The frame walks, the GIL's own state and the code watcher differ
 * by version and live in pyframe3XY.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_code.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "pyframe.h"
#include "pyname.h"
#include "util.h"

void *pyframe_own_tstate(void)
{
    return PyGILState_GetThisThreadState();
}

int pyframe_in_profile_call(void *tstate_p, const struct pyframe_raw *frame, void *fn)
{
    PyThreadState *tstate = tstate_p;
    if (!tstate || !fn || *(Py_tracefunc volatile *)&tstate->c_profilefunc != (Py_tracefunc)fn)
        return 0;
    PyCodeObject *code = frame->code;
    return frame->lasti ==
           *(volatile int *)&code->_co_firsttraceable * (int32_t)sizeof(_Py_CODEUNIT);
}

int pyframe_code_line(void *code, int32_t lasti)
{
    return PyCode_Addr2Line((PyCodeObject *)code, lasti);
}

/* Two FNV-1a hashes at once, of different seeds and primes. */
static void id_add(struct pyframe_code_id *id, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        id->a = (id->a ^ s[i]) * 0x100000001b3ull;
        id->b = (id->b ^ s[i]) * 0x9e3779b97f4a7c15ull;
    }
}

static void id_add_str(struct pyframe_code_id *id, PyObject *s)
{
    if (!s || !PyUnicode_Check(s)) {
        id_add(id, "", 1);
        return;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    id_add(id, &n, sizeof n);
    id_add(id, PyUnicode_DATA(s), (size_t)n * PyUnicode_KIND(s));
}

struct pyframe_code_id pyframe_code_identity(void *p)
{
    PyCodeObject *co = p;
    struct pyframe_code_id id = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull};
    int64_t fixed[2] = {co->co_firstlineno, (int64_t)Py_SIZE(co)};
    id_add(&id, fixed, sizeof fixed);
    id_add_str(&id, co->co_filename);
    id_add_str(&id, co->co_name);
    id_add_str(&id, co->co_qualname);
    PyObject *table = co->co_linetable;
    if (table && PyBytes_Check(table))
        id_add(&id, PyBytes_AS_STRING(table), (size_t)PyBytes_GET_SIZE(table));
    return id;
}

int pyframe_holds_gil(void)
{
    return PyGILState_Check();
}

int pyframe_in_main_interpreter(const void *tstate)
{
    /* Asked on every traced allocation: the main interpreter is made once,
     * before pyscope, and stays (a fork child keeps its address). */
    static PyInterpreterState *_Atomic main_interp;
    PyInterpreterState *m = atomic_load_explicit(&main_interp, memory_order_relaxed);
    if (!m)
        atomic_store_explicit(&main_interp, m = PyInterpreterState_Main(), memory_order_relaxed);
    return ((const PyThreadState *)tstate)->interp == m;
}

/*
 * The helper thread's thread state. Made by a thread that holds the GIL,
 * because making one takes the interpreter's list lock, and a fork
 * child takes that lock before it renews it: a thread that made its own
 * thread state while another forked (as PyGILState_Ensure does on a thread
 * without one) would leave the child waiting on the lock forever.
 *
 * From 3.12 on, a thread state that becomes current is also made the
 * thread's own for the PyGILState functions unless it says it is bound to
 * them already, and deleting one that is unbinds the deleting thread's. The
 * helper is lent, never the emitter's own: it says it is bound while it is
 * lent, and is not when it is deleted (by another thread, at exit).
 */
static PyThreadState *helper;

#if PY_VERSION_HEX >= 0x030D0000
/* Exported still, no longer declared. */
PyThreadState *_PyThreadState_Prealloc(PyInterpreterState *interp);
#endif

static void helper_bound(int bound)
{
#if PY_VERSION_HEX >= 0x030C0000
    helper->_status.bound_gilstate = bound ? 1 : 0;
#else
    (void)bound;
#endif
}

void pyframe_helper_make(void)
{
    if (!helper)
        helper = _PyThreadState_Prealloc(PyThreadState_Get()->interp);
}

void pyframe_helper_release(void)
{
    if (!helper)
        return;
    helper_bound(0);
    PyThreadState_Clear(helper);
    PyThreadState_Delete(helper);
    helper = NULL;
}

static _Atomic uint64_t helper_takes; /* the GIL taken with the helper: pyframe_gil_takes */

void pyframe_fork_child(void)
{
    helper = NULL; /* the fork child's interpreter deleted it with the other threads' */
    atomic_store_explicit(&helper_takes, 0, memory_order_relaxed);
}

uint64_t pyframe_gil_takes(void)
{
    return atomic_load_explicit(&helper_takes, memory_order_relaxed);
}

int pyframe_gil_take(void)
{
    if (PyGILState_GetThisThreadState())
        return (int)PyGILState_Ensure();
    if (!helper)
        return -1;
    if (helper->thread_id != PyThread_get_thread_ident()) {
        helper->thread_id = PyThread_get_thread_ident();
        helper->native_thread_id = PyThread_get_thread_native_id();
    }
    helper_bound(1);
    PyEval_RestoreThread(helper);
    atomic_fetch_add_explicit(&helper_takes, 1, memory_order_relaxed);
    return 2;
}

void pyframe_gil_drop(int token)
{
    if (token == 2)
        PyEval_SaveThread();
    else if (token >= 0)
        PyGILState_Release((PyGILState_STATE)token);
}

char *pyframe_str_dup(void *obj)
{
    PyObject *s = obj;
    if (!s || !PyUnicode_Check(s))
        return NULL;
    if (PyUnicode_READY(s) < 0) {
        PyErr_Clear();
        return NULL;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    if (PyUnicode_IS_ASCII(s) && !memchr(PyUnicode_DATA(s), 0, (size_t)len))
        return strndup(PyUnicode_DATA(s), (size_t)len);
    /* Read the code points rather than ask for UTF-8: PyUnicode_AsUTF8
     * fails on a lone surrogate (a file name that is not UTF-8) and keeps a
     * UTF-8 copy in the str for the rest of its life. */
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    char *out = malloc((size_t)len * PYNAME_MAX_BYTES + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (Py_ssize_t i = 0; i < len; i++)
        n += pyname_put(PyUnicode_READ(kind, data, i), out + n);
    out[n] = '\0';
    return out;
}

/* A name of a code object: its bytes (pyname.h), "?" when it is not a str. */
static char *name_copy(PyObject *s)
{
    return s && PyUnicode_Check(s) ? pyframe_str_dup(s) : strdup("?");
}

/*
 * The line table as (start, end, line) ranges, read straight from
 * co_linetable with the interpreter's own decoder: no Python code runs and
 * no reference is taken, so this also works on a code object that is being
 * deallocated. The range walker is set up as _PyLineTable_InitAddressRange
 * does (that function is not exported).
 */
static int read_ranges(PyCodeObject *code, struct pyframe_code *out)
{
    PyObject *table = code->co_linetable;
    if (!table || !PyBytes_Check(table))
        return 0;
    PyCodeAddressRange b;
    b.opaque.lo_next = (const uint8_t *)PyBytes_AS_STRING(table);
    b.opaque.limit = b.opaque.lo_next + PyBytes_GET_SIZE(table);
    b.opaque.computed_line = code->co_firstlineno;
    b.ar_start = -1;
    b.ar_end = 0;
    b.ar_line = -1;
    int len = (int)(Py_SIZE(code) * (Py_ssize_t)sizeof(_Py_CODEUNIT));
    size_t cap = 0;
    for (int lasti = 0; lasti < len;) {
        int line = _PyCode_CheckLineNumber(lasti, &b);
        if (b.ar_end <= lasti)
            break; /* the table ended early */
        if (util_grow((void **)&out->ranges, &cap, out->nranges, sizeof *out->ranges) < 0)
            return PYSCOPE_ENOMEM;
        out->ranges[out->nranges++] = (struct pyframe_range){lasti, b.ar_end, line};
        lasti = b.ar_end;
    }
    return 0;
}

/* The names of code (a code object) into out; with ranges, its line table too. */
static int describe(void *p, int ranges, struct pyframe_code *out)
{
    memset(out, 0, sizeof *out);
    PyObject *obj = p;
    if (!obj || Py_TYPE(obj) != &PyCode_Type)
        return PYSCOPE_EINVAL;
    PyCodeObject *code = (PyCodeObject *)obj;
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb); /* never disturb the program's exception */
    out->filename = name_copy(code->co_filename);
    out->name = name_copy(code->co_name);
    out->qualname = name_copy(code->co_qualname);
    out->firstlineno = code->co_firstlineno;
    int err = !out->filename || !out->name || !out->qualname ? PYSCOPE_ENOMEM
              : ranges                                       ? read_ranges(code, out)
                                                             : 0;
    if (err < 0)
        pyframe_code_release(out);
    PyErr_Restore(et, ev, tb);
    return err;
}

int pyframe_describe(void *p, struct pyframe_code *out)
{
    return describe(p, 1, out);
}

int pyframe_names(void *p, struct pyframe_code *out)
{
    return describe(p, 0, out);
}

void pyframe_code_release(struct pyframe_code *c)
{
    free(c->filename);
    free(c->name);
    free(c->qualname);
    free(c->ranges);
    memset(c, 0, sizeof *c);
}

int pyframe_line(const struct pyframe_code *c, int32_t lasti)
{
    size_t lo = 0, hi = c->nranges;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (lasti < c->ranges[mid].start)
            hi = mid;
        else if (lasti >= c->ranges[mid].end)
            lo = mid + 1;
        else
            return c->ranges[mid].line > 0 ? c->ranges[mid].line : -1;
    }
    return -1;
}

int pyframe_layout_common(char *why, size_t len)
{
    unsigned long have = Py_Version >> 16, want = PY_VERSION_HEX >> 16;
    if (have != want) {
        snprintf(why, len, "this is CPython %lu.%lu, and pyscope's extension was built for %lu.%lu",
                 have >> 8, have & 0xff, want >> 8, want & 0xff);
        return PYSCOPE_EINVAL;
    }
    /* The bootstrap runs inside the site module's import of it: there are
     * frames to read, each naming a code object at an instruction inside
     * its code. */
    struct pyframe_raw frames[64];
    int truncated;
    int n = pyframe_walk_own(pyframe_own_tstate(), frames, 64, &truncated, 1);
    int sound = n > 0;
    for (int i = 0; i < n && sound; i++) {
        PyCodeObject *code = frames[i].code;
        sound = Py_TYPE(code) == &PyCode_Type && frames[i].lasti >= 0 &&
                frames[i].lasti < Py_SIZE(code) * (Py_ssize_t)sizeof(_Py_CODEUNIT);
    }
    if (!sound) {
        snprintf(why, len, "CPython %lu.%lu.%lu does not lay out its frames as pyscope expects",
                 (Py_Version >> 24) & 0xff, (Py_Version >> 16) & 0xff, (Py_Version >> 8) & 0xff);
        return PYSCOPE_EINVAL;
    }
    return 0;
}
