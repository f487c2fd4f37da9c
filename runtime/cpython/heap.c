/*
 * The object graph of heap.h, for every supported CPython: what differs is
 * where an instance keeps its attributes (heapattr.h).
 *
 * The tracked objects are the members of the collector's generation lists.
 * A first pass lists them (and puts their addresses in a set); a second
 * pass finds each one's references to other tracked objects: containers
 * are read directly, entry by entry, as their tp_traverse visits them (so
 * each reference gets its index or key), and any other object goes through
 * its own tp_traverse, each referent then named by looking for it in the
 * object's fields: instance attributes (the inline values or managed
 * __dict__ of heapattr.h, a classic __dict__, __slots__ and other
 * members), a function's, method's or cell's fields. References from untracked objects are left out, as the
 * collector leaves them out: for it they come from outside.
 *
 * Nothing here takes a reference or calls anything that could run Python
 * code: tp_traverse of every type is plain C, dictionaries and tuples are
 * read through their structures, and strings are encoded by hand.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_dict.h>
#include <internal/pycore_gc.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_object.h>
#include <internal/pycore_pystate.h>
#include <structmember.h>

#include "blocks.h"
#include "error.h"
#include "heap.h"
#include "heapattr.h"
#include "pyname.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_MAX 160

struct walk {
    heap_edge_fn on_edge;
    void *ctx;
    struct blocks *tracked;
    PyObject *src;
    int err;
    PyObject **refs; /* referents of one object, from its tp_traverse */
    size_t nrefs, caprefs;
};
#define REFS_FIRST 64 /* an object's referents: most have a few, a big container grows it once */
#define TRACKED_FIRST 4096 /* the gc's objects: thousands before the program's first line */

static PyObject *module_key;

/* ---- names ----------------------------------------------------------------- */

/* Append code point c as a name keeps it (pyname.h) to buf at *n (cap
 * bytes, one kept for NUL). */
static void put_cp(char *buf, size_t cap, size_t *n, Py_UCS4 c)
{
    char tmp[PYNAME_MAX_BYTES];
    size_t k = pyname_put(c, tmp);
    if (*n + k < cap) {
        memcpy(buf + *n, tmp, k);
        *n += k;
    }
}

static void put_str(char *buf, size_t cap, size_t *n, const char *s)
{
    size_t len = strlen(s);
    if (*n + len >= cap)
        len = cap - 1 - *n;
    memcpy(buf + *n, s, len);
    *n += len;
}

/* A str's text, at most max code points ("..." after), without the UTF-8
 * cache PyUnicode_AsUTF8 would add to the object. */
static void put_unicode(char *buf, size_t cap, size_t *n, PyObject *s, Py_ssize_t max)
{
    if (PyUnicode_READY(s) < 0) {
        PyErr_Clear();
        return;
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    for (Py_ssize_t i = 0; i < len && i < max; i++)
        put_cp(buf, cap, n, PyUnicode_READ(kind, data, i));
    if (len > max)
        put_str(buf, cap, n, "...");
}

size_t heap_type_name(const void *type, char *buf, size_t cap)
{
    PyTypeObject *tp = (PyTypeObject *)type;
    size_t n = 0;
    if (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        PyObject *mod =
            tp->tp_dict && module_key ? PyDict_GetItemWithError(tp->tp_dict, module_key) : NULL;
        PyErr_Clear();
        if (mod && PyUnicode_Check(mod) && PyUnicode_CompareWithASCIIString(mod, "builtins")) {
            put_unicode(buf, cap, &n, mod, 200);
            put_str(buf, cap, &n, ".");
        }
        PyObject *qual = ((PyHeapTypeObject *)tp)->ht_qualname;
        if (qual && PyUnicode_Check(qual))
            put_unicode(buf, cap, &n, qual, 200);
        else
            put_str(buf, cap, &n, tp->tp_name);
    } else {
        put_str(buf, cap, &n, tp->tp_name);
    }
    buf[n] = '\0';
    return n;
}

/* A dictionary key as a label: ['name'], [3], [(tuple)]. */
static size_t key_label(PyObject *key, char *buf)
{
    size_t n = 0;
    if (PyUnicode_Check(key)) {
        put_str(buf, LABEL_MAX, &n, "['");
        put_unicode(buf, LABEL_MAX, &n, key, 60);
        put_str(buf, LABEL_MAX, &n, "']");
    } else if (PyLong_CheckExact(key) || PyBool_Check(key)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            put_str(buf, LABEL_MAX, &n, "[int]");
        } else {
            n = (size_t)snprintf(buf, LABEL_MAX, "[%lld]", v);
        }
    } else {
        n = (size_t)snprintf(buf, LABEL_MAX, "[<%s>]", Py_TYPE(key)->tp_name);
    }
    return n < LABEL_MAX ? n : LABEL_MAX - 1;
}

/* ---- references ------------------------------------------------------------ */

static int is_tracked(struct walk *w, PyObject *o)
{
    size_t size;
    uint32_t idx;
    return o && blocks_get(w->tracked, (uintptr_t)o, &size, &idx);
}

/* A reference to dst, which the caller found tracked. */
static void edge(struct walk *w, PyObject *dst, const char *label, size_t len)
{
    if (!w->err)
        w->err = w->on_edge(w->src, dst, label, len, w->ctx);
}

static void edge_str(struct walk *w, PyObject *dst, const char *label)
{
    edge(w, dst, label, strlen(label));
}

static void index_edges(struct walk *w, PyObject *const *items, Py_ssize_t n)
{
    char label[32];
    for (Py_ssize_t i = 0; i < n && !w->err; i++)
        if (is_tracked(w, items[i]))
            edge(w, items[i], label, (size_t)snprintf(label, sizeof label, "[%zd]", i));
}

/* As dict_traverse visits: the values, and the keys of a general-keys table. */
static void dict_edges(struct walk *w, PyDictObject *d)
{
    char label[LABEL_MAX];
    PyDictKeysObject *keys = d->ma_keys;
    Py_ssize_t n = keys->dk_nentries;
    if (DK_IS_UNICODE(keys)) {
        PyDictUnicodeEntry *e = DK_UNICODE_ENTRIES(keys);
        for (Py_ssize_t i = 0; i < n && !w->err; i++) {
            PyObject *v = d->ma_values ? d->ma_values->values[i] : e[i].me_value;
            if (is_tracked(w, v) && e[i].me_key)
                edge(w, v, label, key_label(e[i].me_key, label));
        }
        return;
    }
    PyDictKeyEntry *e = DK_ENTRIES(keys);
    for (Py_ssize_t i = 0; i < n && !w->err; i++) {
        if (!e[i].me_value)
            continue;
        if (is_tracked(w, e[i].me_value))
            edge(w, e[i].me_value, label, key_label(e[i].me_key, label));
        if (is_tracked(w, e[i].me_key))
            edge_str(w, e[i].me_key, "(key)");
    }
}

static int collect_ref(PyObject *o, void *arg)
{
    struct walk *w = arg;
    if (!o)
        return 0;
    if (w->nrefs == w->caprefs && util_reserve((void **)&w->refs, &w->caprefs, w->nrefs + 1,
                                               sizeof *w->refs, REFS_FIRST) < 0) {
        w->err = PYSCOPE_ENOMEM;
        return 1;
    }
    w->refs[w->nrefs++] = o;
    return 0;
}

/* The slot of o's classic __dict__ (tp_dictoffset), or NULL. */
static PyObject **classic_dict(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    Py_ssize_t off = tp->tp_dictoffset;
    if (off == 0 || (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT))
        return NULL;
    if (off < 0) {
        Py_ssize_t n = Py_SIZE(o);
        off += (Py_ssize_t)_PyObject_VAR_SIZE(tp, n < 0 ? -n : n);
    }
    return (PyObject **)((char *)o + off);
}

/* The name of the reference from o to dst, found among o's fields. */
static size_t field_label(PyObject *o, PyObject *dst, char *buf)
{
    PyTypeObject *tp = Py_TYPE(o);
    size_t n = 0;
    if ((PyObject *)tp == dst)
        return (size_t)snprintf(buf, LABEL_MAX, ".__class__");
    if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        void *name;
        switch (heapattr_find(o, dst, &name)) {
        case HEAPATTR_VALUE:
            put_str(buf, LABEL_MAX, &n, ".");
            put_unicode(buf, LABEL_MAX, &n, name, 60);
            return n;
        case HEAPATTR_DICT:
            return (size_t)snprintf(buf, LABEL_MAX, ".__dict__");
        }
    }
    PyObject **dp = classic_dict(o);
    if (dp && *dp == dst)
        return (size_t)snprintf(buf, LABEL_MAX, ".__dict__");
    for (PyTypeObject *t = tp; t; t = t->tp_base) {
        for (PyMemberDef *m = t->tp_members; m && m->name; m++) {
            if ((m->type == T_OBJECT || m->type == T_OBJECT_EX) &&
                *(PyObject **)((char *)o + m->offset) == dst)
                return (size_t)snprintf(buf, LABEL_MAX, ".%s", m->name);
        }
    }
    if (PyCell_Check(o))
        return (size_t)snprintf(buf, LABEL_MAX, ".cell_contents");
    if (PyFunction_Check(o)) {
        PyFunctionObject *f = (PyFunctionObject *)o;
        const char *name = dst == f->func_globals       ? ".__globals__"
                           : dst == f->func_builtins    ? ".__builtins__"
                           : dst == f->func_closure     ? ".__closure__"
                           : dst == f->func_defaults    ? ".__defaults__"
                           : dst == f->func_kwdefaults  ? ".__kwdefaults__"
                           : dst == f->func_dict        ? ".__dict__"
                           : dst == f->func_annotations ? ".__annotations__"
                           : dst == f->func_module      ? ".__module__"
                           : dst == f->func_doc         ? ".__doc__"
                                                        : NULL;
        if (name)
            return (size_t)snprintf(buf, LABEL_MAX, "%s", name);
    }
    if (PyMethod_Check(o))
        return (size_t)snprintf(buf, LABEL_MAX, "%s",
                                dst == PyMethod_GET_FUNCTION(o) ? ".__func__" : ".__self__");
    if (PyAnySet_Check(o))
        return (size_t)snprintf(buf, LABEL_MAX, "(member)");
    return 0;
}

static void object_edges(struct walk *w, PyObject *o)
{
    char label[LABEL_MAX];
    w->src = o;
    if (PyList_CheckExact(o)) {
        index_edges(w, ((PyListObject *)o)->ob_item, PyList_GET_SIZE(o));
    } else if (PyTuple_CheckExact(o)) {
        index_edges(w, ((PyTupleObject *)o)->ob_item, PyTuple_GET_SIZE(o));
    } else if (PyDict_CheckExact(o)) {
        dict_edges(w, (PyDictObject *)o);
    } else if (Py_TYPE(o)->tp_traverse) {
        /* A __dict__ that shares the object's values, which the object's
         * traversal visits in its place: the values are the dict's (its
         * entries), the dict is the object's. */
        PyObject *shared = Py_TYPE(o)->tp_flags & Py_TPFLAGS_MANAGED_DICT
                               ? heapattr_shared_dict(o)
                               : NULL;
        if (shared && !is_tracked(w, shared))
            shared = NULL;
        if (shared)
            edge_str(w, shared, ".__dict__");
        w->nrefs = 0;
        Py_TYPE(o)->tp_traverse(o, collect_ref, w);
        for (size_t i = 0; i < w->nrefs && !w->err; i++) {
            void *name;
            if (!is_tracked(w, w->refs[i]) ||
                (shared && heapattr_find(o, w->refs[i], &name) == HEAPATTR_VALUE))
                continue;
            edge(w, w->refs[i], label, field_label(o, w->refs[i], label));
        }
    }
}

/* ---- the walk ---------------------------------------------------------------- */

static uint64_t object_size(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    uint64_t size = _PyType_PreHeaderSize(tp);
    if (PyList_CheckExact(o))
        return size + sizeof(PyListObject) +
               (uint64_t)((PyListObject *)o)->allocated * sizeof(void *);
    if (PyDict_CheckExact(o))
        return size + (uint64_t)_PyDict_SizeOf((PyDictObject *)o);
    size += (uint64_t)tp->tp_basicsize;
    if (tp->tp_itemsize) {
        Py_ssize_t n = Py_SIZE(o);
        size += (uint64_t)(n < 0 ? -n : n) * (uint64_t)tp->tp_itemsize;
    }
    if (PyAnySet_Check(o) && ((PySetObject *)o)->table != ((PySetObject *)o)->smalltable)
        size += (uint64_t)(((PySetObject *)o)->mask + 1) * sizeof(setentry);
    return size;
}

/* Every tracked object: each generation's list, then the permanent one. */
static int list_tracked(struct _gc_runtime_state *gcstate, struct walk *w, PyObject ***out,
                        size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    for (int gen = 0; gen <= NUM_GENERATIONS; gen++) {
        PyGC_Head *head = gen < NUM_GENERATIONS ? &gcstate->generations[gen].head
                                                : &gcstate->permanent_generation.head;
        for (PyGC_Head *g = (PyGC_Head *)head->_gc_next; g != head; g = (PyGC_Head *)g->_gc_next) {
            size_t old_size;
            uint32_t old_idx;
            if (*n == cap &&
                util_reserve((void **)out, &cap, *n + 1, sizeof **out, TRACKED_FIRST) < 0)
                return PYSCOPE_ENOMEM;
            (*out)[(*n)++] = (PyObject *)(g + 1);
            if (blocks_put(w->tracked, (uintptr_t)(g + 1), 0, 0, &old_size, &old_idx) < 0)
                return PYSCOPE_ENOMEM;
        }
    }
    return 0;
}

size_t heap_tracked_count(void)
{
    struct _gc_runtime_state *gcstate = &_PyInterpreterState_GET()->gc;
    size_t n = 0;
    for (int gen = 0; gen <= NUM_GENERATIONS; gen++) {
        PyGC_Head *head = gen < NUM_GENERATIONS ? &gcstate->generations[gen].head
                                                : &gcstate->permanent_generation.head;
        for (PyGC_Head *g = (PyGC_Head *)head->_gc_next; g != head; g = (PyGC_Head *)g->_gc_next)
            n++;
    }
    return n;
}

int heap_walk(heap_obj_fn on_obj, heap_edge_fn on_edge, void *ctx)
{
    struct _gc_runtime_state *gcstate = &_PyInterpreterState_GET()->gc;
    if (gcstate->collecting)
        return PYSCOPE_EBUSY;
    if (!module_key && !(module_key = PyUnicode_InternFromString("__module__"))) {
        PyErr_Clear();
        return PYSCOPE_ENOMEM;
    }
    struct walk w = {.on_edge = on_edge, .ctx = ctx, .tracked = blocks_new()};
    if (!w.tracked)
        return PYSCOPE_ENOMEM;
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    PyObject **objs;
    size_t n;
    w.err = list_tracked(gcstate, &w, &objs, &n);
    for (size_t i = 0; i < n && !w.err; i++) {
        PyObject *op = objs[i];
        struct heap_obj ho = {
            .obj = op,
            .type = Py_TYPE(op),
            .block = (char *)op - _PyType_PreHeaderSize(Py_TYPE(op)),
            .size = object_size(op),
            .refcnt = (int64_t)Py_REFCNT(op),
        };
        w.err = on_obj(&ho, ctx);
    }
    for (size_t i = 0; i < n && !w.err; i++)
        object_edges(&w, objs[i]);
    free(objs);
    PyErr_Restore(et, ev, etb);
    free(w.refs);
    blocks_free(w.tracked);
    return w.err;
}
