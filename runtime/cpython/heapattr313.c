/*
 * heapattr.h for CPython 3.13: a type with inline values keeps them inside
 * the object, right after its header (indexed like the type's cached keys,
 * and valid until a __dict__ takes them over); the managed slot before the
 * object holds the __dict__, which may share those values.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_dict.h>
#include <internal/pycore_object.h>

#include "heapattr.h"

int heapattr_find(void *obj, void *dst, void **name)
{
    PyObject *o = obj;
    PyTypeObject *tp = Py_TYPE(o);
    if (tp->tp_flags & Py_TPFLAGS_INLINE_VALUES) {
        PyDictValues *values = _PyObject_InlineValues(o);
        PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
        if (values->valid && keys && DK_IS_UNICODE(keys)) {
            PyDictUnicodeEntry *e = DK_UNICODE_ENTRIES(keys);
            Py_ssize_t n = keys->dk_nentries < values->capacity ? keys->dk_nentries
                                                                : values->capacity;
            for (Py_ssize_t i = 0; i < n; i++) {
                if (values->values[i] == dst && e[i].me_key) {
                    *name = e[i].me_key;
                    return HEAPATTR_VALUE;
                }
            }
        }
    }
    return (PyObject *)_PyObject_ManagedDictPointer(o)->dict == dst ? HEAPATTR_DICT
                                                                    : HEAPATTR_NONE;
}

void *heapattr_shared_dict(void *obj)
{
    PyObject *o = obj;
    if (!(Py_TYPE(o)->tp_flags & Py_TPFLAGS_INLINE_VALUES) || !_PyObject_InlineValues(o)->valid)
        return NULL;
    return _PyObject_ManagedDictPointer(o)->dict;
}
