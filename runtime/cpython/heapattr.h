/*
 * Where an instance whose type manages its __dict__ keeps its attributes,
 * which changes with every CPython version: 3.11 keeps their values in an
 * array beside the object, named by the type's shared keys, until a
 * __dict__ is made; 3.12 keeps one tagged slot for either; 3.13 stores the
 * values inside the object itself. One implementation per version
 * (heapattr311.c, heapattr312.c, ...). Objects are PyObject *; the GIL is
 * held.
 */
#ifndef PYSCOPE_HEAPATTR_H
#define PYSCOPE_HEAPATTR_H

enum {
    HEAPATTR_NONE,  /* o holds dst some other way, if at all */
    HEAPATTR_VALUE, /* as the value of attribute *name */
    HEAPATTR_DICT,  /* dst is o's __dict__ */
};

/*
 * How instance o, of a type with Py_TPFLAGS_MANAGED_DICT, refers to dst:
 * one of the values above; for HEAPATTR_VALUE, *name is the attribute's
 * name (a str, borrowed). Reads only.
 */
int heapattr_find(void *o, void *dst, void **name);

/*
 * The __dict__ of instance o (as above) whose values are o's own attribute
 * values, shared, which o's traversal visits in its place (from 3.13 on, a
 * __dict__ made while the values are stored inside the object); NULL when
 * there is none (before 3.13, a __dict__ is always what is visited).
 */
void *heapattr_shared_dict(void *o);

#endif
