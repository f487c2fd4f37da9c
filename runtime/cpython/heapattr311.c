/*
 * heapattr.h for CPython 3.11: two slots before the object, one for the
 * values (indexed like the type's cached keys), one for a __dict__.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_dict.h>
#include <internal/pycore_object.h>

#include "heapattr.h"

int heapattr_find(void *obj, void *dst, void **name)
{
    PyObject *o = obj;
    PyDictValues *values = *_PyObject_ValuesPointer(o);
    PyDictKeysObject *keys = ((PyHeapTypeObject *)Py_TYPE(o))->ht_cached_keys;
    if (values && keys && DK_IS_UNICODE(keys)) {
        PyDictUnicodeEntry *e = DK_UNICODE_ENTRIES(keys);
        for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
            if (values->values[i] == dst && e[i].me_key) {
                *name = e[i].me_key;
                return HEAPATTR_VALUE;
            }
        }
    }
    return *_PyObject_ManagedDictPointer(o) == dst ? HEAPATTR_DICT : HEAPATTR_NONE;
}

void *heapattr_shared_dict(void *o)
{
    (void)o;
    return NULL;
}
