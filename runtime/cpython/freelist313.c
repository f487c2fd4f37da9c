/*
 * The free lists of freelist.h for CPython 3.13: what and why as for 3.11
 * (freelist311.c), on 3.13's layout. The lists live in one structure of
 * the interpreter's (_Py_object_freelists), each with its items and count;
 * a count below zero means the list is off, but a collection that is not
 * the last sets some counts back to zero, so the float list is refused as
 * in 3.11 (full count, no head) and checked again. The async generators'
 * wrapped values have no exported type to wrap the deallocator of: their
 * list is turned off by its count (-1 refuses both push and pop) and
 * checked again likewise. The trashcan's
 * functions are no longer exported: the wrappers use its macros, which
 * test tp_dealloc against the wrapper just as the originals test it
 * against themselves.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_context.h>
#include <internal/pycore_freelist.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_pystate.h>

#include "error.h"
#include "freelist.h"
#include "ownwork.h"

static int on; /* the GIL guards everything here */

enum { K_LIST, K_DICT, K_TUPLE, K_CONTEXT, K_SLICE, K_ASEND, K_FLOAT, NKINDS };
static destructor orig[NKINDS];

/* Float: numfree at the maximum and no head refuse both push and pop. */
static void float_refuse(struct _Py_object_freelists *fl)
{
    struct _Py_float_freelist *s = &fl->floats;
    if (s->numfree == PyFloat_MAXFREELIST && !s->items)
        return;
    PyFloatObject *f = s->items;
    s->items = NULL;
    s->numfree = PyFloat_MAXFREELIST;
    while (f) {
        PyFloatObject *next = (PyFloatObject *)Py_TYPE(f);
        PyObject_Free(f);
        f = next;
    }
}

/* Async generators' wrapped values: a count of -1 refuses push and pop. */
static void wrapped_refuse(struct _Py_object_freelists *fl)
{
    struct _Py_async_gen_freelist *s = &fl->async_gens;
    while (s->numfree > 0)
        PyObject_GC_Del(s->items[--s->numfree]);
    s->numfree = -1;
}

/* Whether the free lists hold what 3.13's stock layout says they can. */
static int looks_right(struct _Py_object_freelists *fl)
{
    const struct _Py_float_freelist *f = &fl->floats;
    int ok = f->numfree >= 0 && f->numfree <= PyFloat_MAXFREELIST && !f->numfree == !f->items;
    for (int i = 0; i < PyTuple_NFREELISTS; i++) {
        const struct _Py_tuple_freelist *t = &fl->tuples;
        ok &= t->numfree[i] >= 0 && t->numfree[i] <= PyTuple_MAXFREELIST &&
              !t->numfree[i] == !t->items[i];
    }
    const struct _Py_context_freelist *c = &fl->contexts;
    ok &= c->numfree >= 0 && c->numfree <= PyContext_MAXFREELIST && !c->numfree == !c->items;
    ok &= fl->lists.numfree >= 0 && fl->lists.numfree <= PyList_MAXFREELIST;
    ok &= fl->dicts.numfree >= 0 && fl->dicts.numfree <= PyDict_MAXFREELIST;
    ok &= fl->async_gens.numfree >= -1 && fl->async_gens.numfree <= _PyAsyncGen_MAXFREELIST &&
          fl->async_gen_asends.numfree >= 0 &&
          fl->async_gen_asends.numfree <= _PyAsyncGen_MAXFREELIST;
    return ok;
}

/* Free every object on the free lists (as clearing them does) and arm
 * the float counter. */
static void drain(struct _Py_object_freelists *fl)
{
    struct _Py_list_freelist *l = &fl->lists;
    while (l->numfree > 0)
        PyObject_GC_Del(l->items[--l->numfree]);
    struct _Py_dict_freelist *d = &fl->dicts;
    while (d->numfree > 0)
        PyObject_GC_Del(d->items[--d->numfree]);
    struct _Py_tuple_freelist *t = &fl->tuples;
    for (int i = 0; i < PyTuple_NFREELISTS; i++) {
        PyTupleObject *p = t->items[i];
        t->items[i] = NULL;
        t->numfree[i] = 0;
        while (p) {
            PyTupleObject *next = (PyTupleObject *)p->ob_item[0];
            PyObject_GC_Del(p);
            p = next;
        }
    }
    struct _Py_context_freelist *c = &fl->contexts;
    while (c->numfree > 0 && c->items) {
        PyContext *ctx = c->items;
        c->items = (PyContext *)ctx->ctx_weakreflist;
        c->numfree--;
        PyObject_GC_Del(ctx);
    }
    while (fl->async_gen_asends.numfree > 0)
        PyObject_GC_Del(fl->async_gen_asends.items[--fl->async_gen_asends.numfree]);
    if (fl->slices.slice_cache) {
        PySliceObject *s = fl->slices.slice_cache;
        fl->slices.slice_cache = NULL;
        PyObject_GC_Del(s);
    }
    float_refuse(fl);
    wrapped_refuse(fl);
}

/* What the original deallocator put on a free list comes back off it and is
 * freed as the original frees an object when its list is full. op may be
 * freed memory: nothing of it is read before it is found on a free list
 * (a tuple's size, size, was read before the deallocator ran). */
static void take_back(int kind, PyObject *op, Py_ssize_t size)
{
    struct _Py_object_freelists *fl = _Py_object_freelists_GET();
    switch (kind) {
    case K_LIST: {
        struct _Py_list_freelist *s = &fl->lists;
        if (s->numfree > 0 && (PyObject *)s->items[s->numfree - 1] == op) {
            s->numfree--;
            Py_TYPE(op)->tp_free(op);
        }
        break;
    }
    case K_DICT: {
        struct _Py_dict_freelist *s = &fl->dicts;
        if (s->numfree > 0 && (PyObject *)s->items[s->numfree - 1] == op) {
            s->numfree--;
            Py_TYPE(op)->tp_free(op);
        }
        break;
    }
    case K_TUPLE: {
        struct _Py_tuple_freelist *s = &fl->tuples;
        Py_ssize_t i = size - 1;
        if (i >= 0 && i < PyTuple_NFREELISTS && (PyObject *)s->items[i] == op) {
            s->items[i] = (PyTupleObject *)((PyTupleObject *)op)->ob_item[0];
            s->numfree[i]--;
            Py_TYPE(op)->tp_free(op);
        }
        break;
    }
    case K_CONTEXT: {
        struct _Py_context_freelist *s = &fl->contexts;
        if (s->numfree > 0 && (PyObject *)s->items == op) {
            s->items = (PyContext *)((PyContext *)op)->ctx_weakreflist;
            s->numfree--;
            Py_TYPE(op)->tp_free(op);
        }
        break;
    }
    case K_SLICE:
        if ((PyObject *)fl->slices.slice_cache == op) {
            fl->slices.slice_cache = NULL;
            PyObject_GC_Del(op);
        }
        break;
    case K_ASEND: {
        struct _Py_async_gen_asend_freelist *s = &fl->async_gen_asends;
        if (s->numfree > 0 && (PyObject *)s->items[s->numfree - 1] == op) {
            s->numfree--;
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
        float_refuse(_Py_object_freelists_GET());
    orig[kind](op);
    if (on) {
        /* pyscope's work, not the program's: without it the object would
         * wait on its free list */
        int64_t own = ownwork_timed_begin();
        take_back(kind, op, size);
        ownwork_timed_end(own);
    }
}

/* With the trashcan, in place of the original's own (see the top), with
 * self as the test. The original untracks first too; untracking twice is
 * harmless. */
static void trashcan_dealloc(int kind, PyObject *op, destructor self)
{
    PyObject_GC_UnTrack(op);
    Py_TRASHCAN_BEGIN(op, self)
    plain_dealloc(kind, op);
    Py_TRASHCAN_END
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

static void float_dealloc(PyObject *op)
{
    if (on)
        float_refuse(_Py_object_freelists_GET());
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
        [K_FLOAT] = &PyFloat_Type,
    };
    static const destructor wrappers[NKINDS] = {
        [K_LIST] = list_dealloc,       [K_DICT] = dict_dealloc,   [K_TUPLE] = tuple_dealloc,
        [K_CONTEXT] = context_dealloc, [K_SLICE] = slice_dealloc, [K_ASEND] = asend_dealloc,
        [K_FLOAT] = float_dealloc,
    };
    if (!looks_right(_Py_object_freelists_GET()))
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
    drain(_Py_object_freelists_GET());
    return 0;
}

void freelist_restore(void)
{
    if (!on)
        return;
    on = 0;
    /* The wrappers stay (subtypes may have copied them) and pass through. */
    struct _Py_object_freelists *fl = _Py_object_freelists_GET();
    struct _Py_float_freelist *s = &fl->floats;
    if (s->numfree == PyFloat_MAXFREELIST && !s->items)
        s->numfree = 0;
    if (fl->async_gens.numfree < 0)
        fl->async_gens.numfree = 0;
}

void freelist_check(void)
{
    if (!on)
        return;
    PyThreadState *ts = _PyThreadState_GET();
    if (ts && ts->interp) {
        float_refuse(&ts->interp->object_state.freelists);
        if (ts->interp->object_state.freelists.async_gens.numfree >= 0)
            wrapped_refuse(&ts->interp->object_state.freelists);
    }
}
