/*
 * pyapi.h for CPython 3.13: a frame names its code in f_executable; the
 * import lock's functions are no longer exported, so it is taken as
 * _imp.acquire_lock takes it; the unraisable report has its 3.13 wording.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <internal/pycore_ceval.h>
#include <internal/pycore_frame.h>

#include "pyapi.h"

void *pyapi_frame_code(void *frame)
{
    return ((PyFrameObject *)frame)->f_frame->f_executable;
}

/* _imp.acquire_lock and release_lock, looked up once (os.fork calls the
 * before-fork hooks with the GIL, and they may not import). */
static PyObject *lock_fn, *unlock_fn;

static void call_imp(const char *name, PyObject **fn)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    if (!*fn) {
        PyObject *imp = PyImport_ImportModule("_imp");
        *fn = imp ? PyObject_GetAttrString(imp, name) : NULL;
        Py_XDECREF(imp);
    }
    PyObject *r = *fn ? PyObject_CallNoArgs(*fn) : NULL;
    Py_XDECREF(r);
    PyErr_Clear();
    PyErr_Restore(et, ev, tb);
}

void pyapi_import_lock(void)
{
    call_imp("acquire_lock", &lock_fn);
}

void pyapi_import_unlock(void)
{
    call_imp("release_lock", &unlock_fn);
}

void pyapi_write_unraisable(const char *msg, void *obj)
{
    PyErr_FormatUnraisable("Exception ignored %s %R", msg, (PyObject *)obj);
}
