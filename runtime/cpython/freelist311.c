/*
 * The free lists of freelist.h for CPython 3.11.
 *
 * Why: 3.11 keeps dead lists, dicts, tuples, floats, contexts, slices and
 * async generators' awaitables on per-interpreter free lists and hands
 * their memory out again without calling an allocator. tracemalloc moves
 * such a reused block to the traceback of the line that reuses it:
 * _Py_NewReference calls _PyTraceMalloc_NewReference when
 * _Py_tracemalloc_config.tracing is set. That is not a door pyscope can use.
 * In Debian's LTO build of python3.11 the out-of-line _Py_NewReference is
 * bypassed: it is inlined at some 216 call sites, each of which loads that
 * flag and only then calls the (local) tracemalloc function. The flag is
 * tracemalloc's public state: tracemalloc.is_tracing() returns it,
 * tracemalloc.start() does nothing while it is set, PyTraceMalloc_Track()
 * and the warnings module read it. Setting it would show in the program, and
 * patching 216 inlined sites in the interpreter's code is not robust.
 *
 * What: while allocations are traced, no object is reused. Every object is
 * then a new block that the allocator hooks see when it is made, with the
 * traceback of the line that made it: where tracemalloc charges it. Each
 * free list is kept empty with the least intrusive lever that holds:
 *
 *  - lists, dicts, tuples, contexts, slices and the two async-generator
 *    types: the type's tp_dealloc is wrapped; the original runs as always,
 *    and when it put the object on its free list the wrapper takes it back
 *    off and frees it the way the original would have with a full list.
 *    (Their free lists are arrays or counters read by both the push and the
 *    pop, so no setting of the counters can make one refuse objects while
 *    handing none out.) The deallocators that use the trashcan (list, dict,
 *    tuple) test tp_dealloc against themselves to use it, so the wrapper
 *    uses the trashcan in their place, with itself as the test: deep
 *    nesting is freed iteratively exactly as without pyscope.
 *  - floats: the eval loop's specialized arithmetic frees floats without
 *    tp_dealloc, so the wrapper alone would miss them. The float free list
 *    is refused by its counter instead: the push wants numfree below the
 *    maximum, the pop wants a non-NULL head; numfree at the maximum and an
 *    empty head refuse both. A full collection resets numfree to 0
 *    (clear_freelists), so freelist_check, called by the allocation hooks
 *    and the wrappers, sets it again and frees what was pushed meanwhile.
 *    It runs in allocation hooks and deallocators only, never in a free
 *    hook: a free hook may be inside the collector's own loop over that
 *    list.
 *
 * What stays different from tracemalloc: the dead objects tracemalloc still
 * counts while they wait on a free list (at most each list's capacity,
 * charged to the line that made them) are freed here, so pyscope does not
 * count them; sys._debugmallocstats() shows the float free list as full.
 * Left alone: dict keys' free list (keys are not objects: tracemalloc too
 * leaves reused keys at the line that first allocated them), MemoryError's
 * reserve (made before tracing, kept for when memory runs out), and the
 * private free lists of extension modules (asyncio's future iterators).
 *
 * Cost: a reuse becomes a free and an allocation through pymalloc that the
 * hooks trace; a reuse that tracemalloc moves walks the stack just the
 * same.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_context.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_pystate.h>

#include "error.h"
#include "freelist.h"
#include "ownwork.h"

static int on; /* the GIL guards everything here */

enum { K_LIST, K_DICT, K_TUPLE, K_CONTEXT, K_SLICE, K_ASEND, K_AVALUE, K_FLOAT, NKINDS };
static destructor orig[NKINDS];

/* Float: numfree at the maximum and no head refuse both push and pop. */
static void float_refuse(PyInterpreterState *interp)
{
    struct _Py_float_state *s = &interp->float_state;
    if (s->numfree == PyFloat_MAXFREELIST && !s->free_list)
        return;
    PyFloatObject *f = s->free_list;
    s->free_list = NULL;
    s->numfree = PyFloat_MAXFREELIST;
    while (f) {
        PyFloatObject *next = (PyFloatObject *)Py_TYPE(f);
        PyObject_Free(f);
        f = next;
    }
}

/* Whether interp's free lists hold what 3.11's stock layout says they can:
 * a build without free lists (--without-freelists) lays the interpreter's
 * state out otherwise, and it is then left alone. */
static int looks_right(PyInterpreterState *interp)
{
    const struct _Py_float_state *f = &interp->float_state;
    int ok = f->numfree >= 0 && f->numfree <= PyFloat_MAXFREELIST && !f->numfree == !f->free_list;
    for (int i = 0; i < PyTuple_NFREELISTS; i++) {
        const struct _Py_tuple_state *t = &interp->tuple;
        ok &= t->numfree[i] >= 0 && t->numfree[i] <= PyTuple_MAXFREELIST &&
              !t->numfree[i] == !t->free_list[i];
    }
    const struct _Py_context_state *c = &interp->context;
    ok &= c->numfree >= 0 && c->numfree <= PyContext_MAXFREELIST && !c->numfree == !c->freelist;
    ok &= interp->list.numfree >= 0 && interp->list.numfree <= PyList_MAXFREELIST;
    ok &= interp->dict_state.numfree >= 0 && interp->dict_state.numfree <= PyDict_MAXFREELIST;
    ok &= interp->async_gen.value_numfree >= 0 &&
          interp->async_gen.value_numfree <= _PyAsyncGen_MAXFREELIST &&
          interp->async_gen.asend_numfree >= 0 &&
          interp->async_gen.asend_numfree <= _PyAsyncGen_MAXFREELIST;
    return ok;
}

/* Free every object on interp's free lists (as clear_freelists does) and
 * arm the float counter. */
static void drain(PyInterpreterState *interp)
{
    struct _Py_list_state *l = &interp->list;
    while (l->numfree > 0)
        PyObject_GC_Del(l->free_list[--l->numfree]);
    struct _Py_dict_state *d = &interp->dict_state;
    while (d->numfree > 0)
        PyObject_GC_Del(d->free_list[--d->numfree]);
    struct _Py_tuple_state *t = &interp->tuple;
    for (int i = 0; i < PyTuple_NFREELISTS; i++) {
        PyTupleObject *p = t->free_list[i];
        t->free_list[i] = NULL;
        t->numfree[i] = 0;
        while (p) {
            PyTupleObject *next = (PyTupleObject *)p->ob_item[0];
            PyObject_GC_Del(p);
            p = next;
        }
    }
    struct _Py_context_state *c = &interp->context;
    while (c->numfree > 0 && c->freelist) {
        PyContext *ctx = c->freelist;
        c->freelist = (PyContext *)ctx->ctx_weakreflist;
        c->numfree--;
        PyObject_GC_Del(ctx);
    }
    struct _Py_async_gen_state *a = &interp->async_gen;
    while (a->value_numfree > 0)
        PyObject_GC_Del(a->value_freelist[--a->value_numfree]);
    while (a->asend_numfree > 0)
        PyObject_GC_Del(a->asend_freelist[--a->asend_numfree]);
    if (interp->slice_cache) {
        PySliceObject *s = interp->slice_cache;
        interp->slice_cache = NULL;
        PyObject_GC_Del(s);
    }
    float_refuse(interp);
}

/* What the original deallocator put on a free list comes back off it and is
 * freed as the original frees an object when its list is full. op may be
 * freed memory: nothing of it is read before it is found on a free list
 * (a tuple's size, size, was read before the deallocator ran). */
static void take_back(int kind, PyObject *op, Py_ssize_t size)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    switch (kind) {
    case K_LIST: {
        struct _Py_list_state *s = &interp->list;
        if (s->numfree > 0 && (PyObject *)s->free_list[s->numfree - 1] == op) {
            s->numfree--;
            Py_TYPE(op)->tp_free(op);
        }
        break;
    }
    case K_DICT: {
        struct _Py_dict_state *s = &interp->dict_state;
        if (s->numfree > 0 && (PyObject *)s->free_list[s->numfree - 1] == op) {
            s->numfree--;
            Py_TYPE(op)->tp_free(op);
        }
        break;
    }
    case K_TUPLE: {
        struct _Py_tuple_state *s = &interp->tuple;
        Py_ssize_t i = size - 1;
        if (i >= 0 && i < PyTuple_NFREELISTS && (PyObject *)s->free_list[i] == op) {
            s->free_list[i] = (PyTupleObject *)((PyTupleObject *)op)->ob_item[0];
            s->numfree[i]--;
            Py_TYPE(op)->tp_free(op);
        }
        break;
    }
    case K_CONTEXT: {
        struct _Py_context_state *s = &interp->context;
        if (s->numfree > 0 && (PyObject *)s->freelist == op) {
            s->freelist = (PyContext *)((PyContext *)op)->ctx_weakreflist;
            s->numfree--;
            Py_TYPE(op)->tp_free(op);
        }
        break;
    }
    case K_SLICE:
        if ((PyObject *)interp->slice_cache == op) {
            interp->slice_cache = NULL;
            PyObject_GC_Del(op);
        }
        break;
    case K_ASEND: {
        struct _Py_async_gen_state *s = &interp->async_gen;
        if (s->asend_numfree > 0 && (PyObject *)s->asend_freelist[s->asend_numfree - 1] == op) {
            s->asend_numfree--;
            PyObject_GC_Del(op);
        }
        break;
    }
    case K_AVALUE: {
        struct _Py_async_gen_state *s = &interp->async_gen;
        if (s->value_numfree > 0 && (PyObject *)s->value_freelist[s->value_numfree - 1] == op) {
            s->value_numfree--;
            PyObject_GC_Del(op);
        }
        break;
    }
    }
}

/* Without the trashcan: the original deallocators of these do not use it. */
static void plain_dealloc(int kind, PyObject *op)
{
    /* read now: once the deallocator has freed the object, its memory may
     * be unmapped (a large tuple is the C library's own mapping) */
    Py_ssize_t size = kind == K_TUPLE ? Py_SIZE(op) : 0;
    if (on)
        float_refuse(_PyInterpreterState_GET());
    orig[kind](op);
    if (on) {
        /* pyscope's work, not the program's: without it the object would
         * wait on its free list */
        int64_t own = ownwork_timed_begin();
        take_back(kind, op, size);
        ownwork_timed_end(own);
    }
}

/* With the trashcan, in place of the original's own (see the top), as
 * Py_TRASHCAN_BEGIN and Py_TRASHCAN_END do it with self as the test. The
 * original untracks first too; untracking twice is harmless. */
static void trashcan_dealloc(int kind, PyObject *op, destructor self)
{
    PyObject_GC_UnTrack(op);
    PyThreadState *ts = NULL;
    if (_PyTrash_cond(op, self)) {
        ts = PyThreadState_Get();
        if (_PyTrash_begin(ts, op))
            return; /* too deep: freed later, through self again */
    }
    plain_dealloc(kind, op);
    if (ts)
        _PyTrash_end(ts);
}

static void list_dealloc(PyObject *op)
{
    trashcan_dealloc(K_LIST, op, list_dealloc);
}

static void dict_dealloc(PyObject *op)
{
    trashcan_dealloc(K_DICT, op, dict_dealloc);
}

static void tuple_dealloc(PyObject *op)
{
    /* The empty tuple has no free list and is not the trashcan's to keep. */
    if (Py_SIZE(op) == 0)
        orig[K_TUPLE](op);
    else
        trashcan_dealloc(K_TUPLE, op, tuple_dealloc);
}

static void context_dealloc(PyObject *op)
{
    plain_dealloc(K_CONTEXT, op);
}

static void slice_dealloc(PyObject *op)
{
    plain_dealloc(K_SLICE, op);
}

static void asend_dealloc(PyObject *op)
{
    plain_dealloc(K_ASEND, op);
}

static void avalue_dealloc(PyObject *op)
{
    plain_dealloc(K_AVALUE, op);
}

static void float_dealloc(PyObject *op)
{
    if (on)
        float_refuse(_PyInterpreterState_GET());
    orig[K_FLOAT](op);
}

int freelist_bypass(void)
{
    static PyTypeObject *const types[NKINDS] = {
        [K_LIST] = &PyList_Type,
        [K_DICT] = &PyDict_Type,
        [K_TUPLE] = &PyTuple_Type,
        [K_CONTEXT] = &PyContext_Type,
        [K_SLICE] = &PySlice_Type,
        [K_ASEND] = &_PyAsyncGenASend_Type,
        [K_AVALUE] = &_PyAsyncGenWrappedValue_Type,
        [K_FLOAT] = &PyFloat_Type,
    };
    static const destructor wrappers[NKINDS] = {
        [K_LIST] = list_dealloc,       [K_DICT] = dict_dealloc,   [K_TUPLE] = tuple_dealloc,
        [K_CONTEXT] = context_dealloc, [K_SLICE] = slice_dealloc, [K_ASEND] = asend_dealloc,
        [K_AVALUE] = avalue_dealloc,   [K_FLOAT] = float_dealloc,
    };
    if (!looks_right(_PyInterpreterState_GET()))
        return PYSCOPE_EINVAL;
    if (!orig[0]) {
        for (int k = 0; k < NKINDS; k++) {
            if (!types[k]->tp_dealloc)
                return PYSCOPE_EINVAL;
            orig[k] = types[k]->tp_dealloc;
        }
        /* Static types: subtypes made from now on inherit the wrapper, which
         * passes anything but the exact type straight through, as the
         * originals do. */
        for (int k = 0; k < NKINDS; k++)
            types[k]->tp_dealloc = wrappers[k];
    }
    on = 1;
    drain(_PyInterpreterState_GET());
    return 0;
}

void freelist_restore(void)
{
    if (!on)
        return;
    on = 0;
    /* The wrappers stay (subtypes may have copied them) and pass through. */
    struct _Py_float_state *s = &_PyInterpreterState_GET()->float_state;
    if (s->numfree == PyFloat_MAXFREELIST && !s->free_list)
        s->numfree = 0;
}

void freelist_check(void)
{
    if (!on)
        return;
    PyThreadState *ts = _PyThreadState_GET();
    if (ts && ts->interp)
        float_refuse(ts->interp);
}
