/*
 * pyapi.h, the part that is the same in every version.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pyapi.h"

int pyapi_replace_attr(const char *modname, const char *name, void *repl, void **orig)
{
    PyObject *mod = PyImport_ImportModule(modname);
    if (!mod)
        return -1;
    int rc = 0;
    if (orig && !*orig) {
        *orig = PyObject_GetAttrString(mod, name);
        if (!*orig)
            rc = -1;
    }
    if (rc == 0 && PyObject_HasAttrString(mod, name))
        rc = PyObject_SetAttrString(mod, name, (PyObject *)repl);
    Py_DECREF(mod);
    return rc;
}
