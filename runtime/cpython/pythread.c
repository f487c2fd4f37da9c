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

static PyMethodDef start_def = {
    "start_new_thread", start_new_thread, METH_VARARGS,
    "start_new_thread(function, args[, kwargs])\n--\n\n"
    "Start a new thread (traced by pyscope) and return its identifier."};

int pythread_hook(void *self, pythread_wrap wrap)
{
    wrap_fn = wrap;
    PyObject *fn = PyCFunction_NewEx(&start_def, (PyObject *)self, NULL);
    if (!fn)
        return -1;
    int rc = pyapi_replace_attr("_thread", "start_new_thread", fn, (void **)&orig_start) < 0 ||
                     pyapi_replace_attr("_thread", "start_new", fn, NULL) < 0 ||
                     pythread_hook_version(self, fn, wrap) < 0
                 ? -1
                 : 0;
    Py_DECREF(fn);
    return rc;
}
