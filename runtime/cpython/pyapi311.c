/*
 * pyapi.h for CPython 3.11: what changes from one version to the next (pyapi.c
 * has the rest).
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

void pyapi_import_lock(void)
{
    _PyImport_AcquireLock();
}

void pyapi_import_unlock(void)
{
    _PyImport_ReleaseLock();
}

void pyapi_write_unraisable(const char *msg, void *obj)
{
    _PyErr_WriteUnraisableMsg(msg, (PyObject *)obj);
}

