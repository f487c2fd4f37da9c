/*
 * evalhook.h for CPython 3.11.
 *
 * 3.11 pushes a Python callee's frame inside the running evaluation, past
 * the frame-evaluation hook, in four places of its eval loop: a plain CALL
 * of a Python function, CALL_PY_EXACT_ARGS and CALL_PY_WITH_DEFAULTS (and
 * the bound-method forms that end in them), and BINARY_SUBSCR_GETITEM, a
 * subscript specialized for a heap type whose __getitem__ is a Python
 * function. Every frame run otherwise (functions called from C, class
 * bodies, modules, generators at each resumption) is evaluated through
 * _PyEval_EvalFrame, which calls the hook. The three calls check for a hook
 * before they inline (and the specializer makes no CALL_PY_* while one is
 * set), but before 3.11.4 BINARY_SUBSCR_GETITEM did not: a subscript
 * specialized that way calls __getitem__ unseen.
 *
 * That specialization is only made when the function has a version that
 * fits in 16 bits (the specializer's _PyFunction_GetVersionForCurrentState,
 * whose counter, next_func_version, is private to funcobject.c and starts
 * at 1), and a specialized subscript is only taken while the function still
 * has the version it was specialized with. So: the counter is moved past
 * 0xffff, which leaves every other use of versions as it was (CALL_PY_*
 * keep 32 bits), and every function that already has a small version
 * (given during start-up) loses it, which makes the subscripts specialized
 * with it miss, and be specialized again, without success.
 *
 * The counter has no exported symbol. It is found by watching it: code of
 * our own makes the specializer give versions to fresh functions, k at a
 * time with k varying, and the one 32-bit word of the interpreter's
 * writable data that always holds the next version, and moves by exactly
 * k, is the counter. It is written only after it has been told apart from
 * every other word, and the write is checked by giving one more version.
 * Whether any of this is needed, and whether it worked, is found out the
 * same way: a loop of subscripts under a hook of our own, counting the
 * __getitem__ frames the hook saw.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_gc.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_pystate.h>

#include "error.h"
#include "evalhook.h"
#include "util.h"

#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Versions below this fit the subscript specialization's 16-bit cache. */
#define SMALL_VERSIONS 0x10000u
#define PROBE_SUBSCRIPTS 256

/* ---- seeing calls ------------------------------------------------------- */

static PyCodeObject *probe_code; /* the frames the probe hook counts */
static long probe_seen;

static PyObject *probe_frame(PyThreadState *ts, _PyInterpreterFrame *frame, int throwflag)
{
    if (frame->f_code == probe_code)
        probe_seen++;
    return _PyEval_EvalFrameDefault(ts, frame, throwflag);
}

static const char probe_src[] = "class K:\n"
                                "    def __getitem__(self, i):\n"
                                "        return i\n"
                                "def loop(o, n):\n"
                                "    for i in range(n):\n"
                                "        o[i]\n";

/* Run source src in a fresh namespace; a new reference to it, NULL on error. */
static PyObject *run_fresh(const char *src)
{
    PyObject *ns = PyDict_New();
    if (!ns)
        return NULL;
    if (PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()) < 0) {
        Py_DECREF(ns);
        return NULL;
    }
    PyObject *res = PyRun_String(src, Py_file_input, ns, ns);
    if (!res) {
        Py_DECREF(ns);
        return NULL;
    }
    Py_DECREF(res);
    return ns;
}

/*
 * How many of PROBE_SUBSCRIPTS subscripts calling a Python __getitem__ a
 * frame-evaluation hook sees: all of them unless the interpreter pushes
 * such frames past the hook. Fresh code and a fresh class each time, so
 * nothing is specialized yet. -1 on error.
 */
static long probe_subscripts(void)
{
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    long seen = -1;
    PyObject *ns = run_fresh(probe_src);
    PyObject *cls = ns ? PyDict_GetItemString(ns, "K") : NULL;
    PyObject *loop = ns ? PyDict_GetItemString(ns, "loop") : NULL;
    PyObject *getitem = cls && PyType_Check(cls)
                            ? PyDict_GetItemString(((PyTypeObject *)cls)->tp_dict, "__getitem__")
                            : NULL;
    PyObject *obj = getitem && PyFunction_Check(getitem) ? PyObject_CallNoArgs(cls) : NULL;
    if (obj && loop) {
        _PyFrameEvalFunction prev = _PyInterpreterState_GetEvalFrameFunc(interp);
        probe_code = (PyCodeObject *)PyFunction_GET_CODE(getitem);
        probe_seen = 0;
        _PyInterpreterState_SetEvalFrameFunc(interp, probe_frame);
        PyObject *res = PyObject_CallFunction(loop, "Oi", obj, PROBE_SUBSCRIPTS);
        _PyInterpreterState_SetEvalFrameFunc(interp, prev);
        probe_code = NULL;
        if (res)
            seen = probe_seen;
        Py_XDECREF(res);
    }
    Py_XDECREF(obj);
    Py_XDECREF(ns);
    return seen;
}

/* ---- function versions -------------------------------------------------- */

/*
 * Fresh functions, and callers that call 1, 2 or 3 of them: once a caller
 * is quickened (its eighth run), the specializer versions each function it
 * calls, in the order of the calls. Only local names, so that nothing else
 * is specialized with a counter of its own (globals have one).
 */
static const char versions_src[] = "def make():\n"
                                   "    def f():\n"
                                   "        pass\n"
                                   "    return f\n"
                                   "def g1(a):\n"
                                   "    a()\n"
                                   "def g2(a, b):\n"
                                   "    a()\n"
                                   "    b()\n"
                                   "def g3(a, b, c):\n"
                                   "    a()\n"
                                   "    b()\n"
                                   "    c()\n";

/*
 * Have the specializer version k (1 to 3) fresh functions, with no hook set
 * (it versions none while one is); *first is the first version given.
 * 0 when they got k consecutive versions, PYSCOPE_ENOTFOUND when not (the
 * counter ran out, or something else took versions between), or
 * PYSCOPE_ENOMEM.
 */
static int give_versions(int k, uint32_t *first)
{
    static const char *callers[] = {"g1", "g2", "g3"};
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    PyObject *fs[3] = {NULL, NULL, NULL};
    int err = PYSCOPE_ENOMEM;
    PyObject *ns = run_fresh(versions_src);
    PyObject *make = ns ? PyDict_GetItemString(ns, "make") : NULL;
    PyObject *caller = ns ? PyDict_GetItemString(ns, callers[k - 1]) : NULL;
    if (!make || !caller)
        goto out;
    for (int i = 0; i < k; i++)
        if (!(fs[i] = PyObject_CallNoArgs(make)) || !PyFunction_Check(fs[i]))
            goto out;
    _PyFrameEvalFunction prev = _PyInterpreterState_GetEvalFrameFunc(interp);
    _PyInterpreterState_SetEvalFrameFunc(interp, _PyEval_EvalFrameDefault);
    int done = 0;
    for (int run = 0; run < 32 && !done; run++) {
        PyObject *res = PyObject_Vectorcall(caller, fs, (size_t)k, NULL);
        if (!res)
            break;
        Py_DECREF(res);
        done = 1;
        for (int i = 0; i < k; i++)
            done &= ((PyFunctionObject *)fs[i])->func_version != 0;
    }
    _PyInterpreterState_SetEvalFrameFunc(interp, prev);
    if (PyErr_Occurred())
        goto out;
    err = PYSCOPE_ENOTFOUND;
    if (!done)
        goto out;
    uint32_t v = ((PyFunctionObject *)fs[0])->func_version;
    for (int i = 1; i < k; i++)
        if (((PyFunctionObject *)fs[i])->func_version != v + (uint32_t)i)
            goto out;
    *first = v;
    err = 0;
out:
    for (int i = 0; i < 3; i++)
        Py_XDECREF(fs[i]);
    Py_XDECREF(ns);
    return err;
}

/* The writable segments of the object (executable or libpython) that holds
 * the function type, and with it funcobject.c's own variables. */
struct segments {
    uintptr_t inside;
    struct {
        uintptr_t lo, hi;
    } seg[8];
    int n;
};

static int find_segments(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct segments *s = arg;
    int holds = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && s->inside >= lo && s->inside < lo + ph->p_memsz)
            holds = 1;
    }
    if (!holds)
        return 0;
    for (int i = 0; i < info->dlpi_phnum && s->n < 8; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        s->seg[s->n].lo = (lo + 3) & ~(uintptr_t)3;
        s->seg[s->n].hi = (lo + ph->p_memsz) & ~(uintptr_t)3;
        s->n++;
    }
    return 1;
}

/* Every aligned word of the segments that holds want, into a new array. */
#define WORDS_FIRST 256 /* words equal to one small version number: not many; grown when more */
static int words_holding(const struct segments *s, uint32_t want, uint32_t ***out, size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    for (int i = 0; i < s->n; i++)
        for (uintptr_t a = s->seg[i].lo; a < s->seg[i].hi; a += 4) {
            if (*(volatile uint32_t *)a != want)
                continue;
            if (util_reserve((void **)out, &cap, *n + 1, sizeof **out, WORDS_FIRST) < 0) {
                free(*out);
                *out = NULL;
                return PYSCOPE_ENOMEM;
            }
            (*out)[(*n)++] = (uint32_t *)a;
        }
    return 0;
}

/*
 * Find the version counter and move it to SMALL_VERSIONS, unless it is
 * there already. 0, PYSCOPE_ENOTFOUND or PYSCOPE_ENOMEM.
 */
static int move_version_counter(void)
{
    /* Versions given per round: varying, so that no other counter that
     * moves with each round (code objects quickened, one a round) can
     * keep step. */
    static const int steps[] = {1, 3, 2, 3, 1, 2, 3, 1};
    struct segments s = {.inside = (uintptr_t)&PyFunction_Type};
    dl_iterate_phdr(find_segments, &s);
    if (!s.n)
        return PYSCOPE_ENOTFOUND;
    uint32_t first, next, **cand = NULL;
    size_t ncand = 0;
    int err = give_versions(1, &first);
    next = first + 1;
    if (err == 0)
        err = words_holding(&s, next, &cand, &ncand);
    for (size_t r = 0; err == 0 && ncand > 0 && r < sizeof steps / sizeof *steps; r++) {
        if (ncand == 1 && r >= 3)
            break;
        if ((err = give_versions(steps[r], &first)) < 0)
            break;
        if (first != next) { /* a version was given elsewhere meanwhile */
            err = PYSCOPE_ENOTFOUND;
            break;
        }
        next = first + (uint32_t)steps[r];
        size_t keep = 0;
        for (size_t i = 0; i < ncand; i++)
            if (*(volatile uint32_t *)cand[i] == next)
                cand[keep++] = cand[i];
        ncand = keep;
    }
    if (err == 0 && ncand != 1)
        err = PYSCOPE_ENOTFOUND;
    if (err < 0) {
        free(cand);
        return err;
    }
    volatile uint32_t *counter = cand[0];
    free(cand);
    uint32_t was = *counter, want = was < SMALL_VERSIONS ? SMALL_VERSIONS : was;
    *counter = want;
    if (give_versions(1, &first) < 0 || first != want) {
        if (*counter == want)
            *counter = was; /* not the counter after all: leave it as it was */
        return PYSCOPE_ENOTFOUND;
    }
    return 0;
}

/*
 * Take their small versions from all functions: subscripts specialized
 * with one miss from now on, and their functions are versioned again, from
 * the moved counter, when next asked. A function whose code, defaults or
 * closure changes loses its version the same way.
 */
static void forget_small_versions(void)
{
    struct _gc_runtime_state *gc = &PyThreadState_Get()->interp->gc;
    for (int gen = 0; gen <= NUM_GENERATIONS; gen++) {
        PyGC_Head *head =
            gen < NUM_GENERATIONS ? &gc->generations[gen].head : &gc->permanent_generation.head;
        for (PyGC_Head *g = (PyGC_Head *)head->_gc_next; g != head; g = (PyGC_Head *)g->_gc_next) {
            PyObject *op = (PyObject *)(g + 1);
            if (Py_TYPE(op) != &PyFunction_Type)
                continue;
            PyFunctionObject *f = (PyFunctionObject *)op;
            if (f->func_version < SMALL_VERSIONS)
                f->func_version = 0;
        }
    }
}

int evalhook_see_every_call(void)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    int err = PYSCOPE_ENOMEM;
    long seen = probe_subscripts();
    if (seen == PROBE_SUBSCRIPTS) {
        err = 0;
        goto out;
    }
    if (seen < 0 || (err = move_version_counter()) < 0)
        goto out;
    forget_small_versions();
    seen = probe_subscripts();
    err = seen == PROBE_SUBSCRIPTS ? 0 : seen < 0 ? PYSCOPE_ENOMEM : PYSCOPE_ENOTFOUND;
out:
    if (PyErr_Occurred())
        PyErr_Clear();
    PyErr_Restore(et, ev, tb);
    return err;
}

/* ---- the hook ------------------------------------------------------------ */

static evalhook_before hook_before;
static evalhook_after hook_after;

static PyObject *on_frame(PyThreadState *ts, _PyInterpreterFrame *frame, int throwflag)
{
    struct evalhook_frame f = {
        .code = frame->f_code,
        .globals = frame->f_globals,
        .makes_generator =
            frame->owner != FRAME_OWNED_BY_GENERATOR &&
            (frame->f_code->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR)),
    };
    void *ctx = hook_before(&f);
    if (!ctx)
        return _PyEval_EvalFrameDefault(ts, frame, throwflag);
    PyObject *res = _PyEval_EvalFrameDefault(ts, frame, throwflag);
    hook_after(ctx);
    return res;
}

void evalhook_set(evalhook_before before, evalhook_after after)
{
    hook_before = before;
    hook_after = after;
    _PyInterpreterState_SetEvalFrameFunc(PyThreadState_Get()->interp, on_frame);
}

void evalhook_clear(void)
{
    _PyInterpreterState_SetEvalFrameFunc(PyThreadState_Get()->interp, _PyEval_EvalFrameDefault);
}
