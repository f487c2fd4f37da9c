/*
 * pythread.h, what every version shares: _thread.start_new_thread(function,
 * args[, kwargs]), also known as _thread.start_new, is replaced in every
 * version; where threading itself starts its threads is the version's own
 * (pythread_hook_version).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pyapi.h"
#include "pythread.h"

static pythread_wrap wrap_fn;
static PyObject *orig_start; /* the original, a strong reference, set once */

/* _thread.start_new_thread's replacement: same checks, same messages. */
static PyObject *start_new_thread(PyObject *self, PyObject *fargs)
{
    PyObject *func, *args, *kwargs = NULL;
    if (!PyArg_UnpackTuple(fargs, "start_new_thread", 2, 3, &func, &args, &kwargs))
        return NULL;
    if (!PyCallable_Check(func)) {
        PyErr_SetString(PyExc_TypeError, "first arg must be callable");
        return NULL;
    }
    if (!PyTuple_Check(args)) {
        PyErr_SetString(PyExc_TypeError, "2nd arg must be a tuple");
        return NULL;
    }
    if (kwargs != NULL && !PyDict_Check(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "optional 3rd arg must be a dictionary");
        return NULL;
    }
    PyObject *run = wrap_fn(func, args, kwargs);
    if (!run)
        return NULL;
    PyObject *res = PyObject_CallFunction(orig_start, "O()", run);
    Py_DECREF(run);
    return res;
}

/* Filled from the originals: the replacements look like them. */
static PyMethodDef start_def, start_new_def;

int pythread_hook(pythread_wrap wrap)
{
    wrap_fn = wrap;
    PyObject *fn = pyapi_builtin_like("_thread", "start_new_thread", &start_def,
                                      (void *)start_new_thread, METH_VARARGS);
    PyObject *alias = fn ? pyapi_builtin_like("_thread", "start_new", &start_new_def,
                                              (void *)start_new_thread, METH_VARARGS)
                         : NULL;
    int rc = !alias ||
                     pyapi_replace_attr("_thread", "start_new_thread", fn, (void **)&orig_start) < 0 ||
                     pyapi_replace_attr("_thread", "start_new", alias, NULL) < 0 ||
                     pythread_hook_version(fn, wrap) < 0
                 ? -1
                 : 0;
    Py_XDECREF(alias);
    Py_XDECREF(fn);
    return rc;
}
