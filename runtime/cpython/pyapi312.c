/*
 * pyapi.h for CPython 3.12: the code-extra functions have their unstable
 * public names, and the import lock is the interpreter's own.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <internal/pycore_frame.h>

#include "pyapi.h"

void *pyapi_frame_code(void *frame)
{
    return ((PyFrameObject *)frame)->f_frame->f_code;
}

void *pyapi_frame_globals(void *frame)
{
    return ((PyFrameObject *)frame)->f_frame->f_globals;
}

long pyapi_code_extra_index(void)
{
    Py_ssize_t index = PyUnstable_Eval_RequestCodeExtraIndex(NULL);
    if (index < 0)
        PyErr_Clear();
    return (long)index;
}

void *pyapi_code_extra(void *code, long index)
{
    void *extra = NULL;
    if (PyUnstable_Code_GetExtra((PyObject *)code, index, &extra) < 0) {
        PyErr_Clear();
        return NULL;
    }
    return extra;
}

int pyapi_set_code_extra(void *code, long index, void *value)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    int rc = PyUnstable_Code_SetExtra((PyObject *)code, index, value);
    if (rc < 0)
        PyErr_Clear();
    PyErr_Restore(et, ev, tb);
    return rc < 0 ? -1 : 0;
}

int pyapi_set_profile(void *fn)
{
    /* As in 3.11: the caller decides what an error means. */
    return _PyEval_SetProfile(PyThreadState_Get(), (Py_tracefunc)fn, NULL) < 0 ? -1 : 0;
}

void pyapi_import_lock(void)
{
    _PyImport_AcquireLock(PyInterpreterState_Get());
}

void pyapi_import_unlock(void)
{
    _PyImport_ReleaseLock(PyInterpreterState_Get());
}

void pyapi_write_unraisable(const char *msg, void *obj)
{
    _PyErr_WriteUnraisableMsg(msg, (PyObject *)obj);
}
