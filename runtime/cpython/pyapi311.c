/*
 * pyapi.h for CPython 3.11.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <internal/pycore_frame.h>

#include "pyapi.h"

#include <string.h>

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
    Py_ssize_t index = _PyEval_RequestCodeExtraIndex(NULL);
    if (index < 0)
        PyErr_Clear();
    return (long)index;
}

void *pyapi_code_extra(void *code, long index)
{
    void *extra = NULL;
    if (_PyCode_GetExtra((PyObject *)code, index, &extra) < 0) {
        PyErr_Clear();
        return NULL;
    }
    return extra;
}

int pyapi_set_code_extra(void *code, long index, void *value)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    int rc = _PyCode_SetExtra((PyObject *)code, index, value);
    if (rc < 0)
        PyErr_Clear();
    PyErr_Restore(et, ev, tb);
    return rc < 0 ? -1 : 0;
}

int pyapi_set_profile(void *fn)
{
    /* PyEval_SetProfile would print the exception ("Cannot install a
     * profile function while another profile function is being
     * installed"): the caller decides. */
    return _PyEval_SetProfile(PyThreadState_Get(), (Py_tracefunc)fn, NULL) < 0 ? -1 : 0;
}

int pyapi_str_is(void *s, const char *ascii)
{
    return _PyUnicode_EqualToASCIIString((PyObject *)s, ascii);
}

void *pyapi_type_lookup(void *type, void *name)
{
    return _PyType_Lookup((PyTypeObject *)type, (PyObject *)name);
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

int pyapi_eval_loop(const char *name)
{
    return !strncmp(name, "_PyEval_EvalFrameDefault", 24); /* the .cold part too */
}

int pyapi_machinery(const char *name)
{
    static const char *const prefixes[] = {"_PyEval_",
                                           "PyEval_",
                                           "_PyRun_",
                                           "PyRun_",
                                           "pyrun_",
                                           "run_mod",
                                           "run_eval_code_obj",
                                           "Py_RunMain",
                                           "Py_BytesMain",
                                           "pymain_",
                                           "_PyObject_Call",
                                           "PyObject_Call",
                                           "_PyObject_MakeTpCall",
                                           "_PyObject_Vectorcall",
                                           "PyObject_Vectorcall",
                                           "_PyObject_FastCall",
                                           "object_vacall",
                                           "_PyVectorcall_",
                                           "PyVectorcall_",
                                           "_PyFunction_Vectorcall",
                                           "function_code_fastcall",
                                           "method_vectorcall",
                                           "cfunction_vectorcall",
                                           "cfunction_call",
                                           "vectorcall_",
                                           "call_unbound",
                                           "slot_tp_",
                                           "slot_nb_",
                                           "slot_sq_",
                                           "slot_mp_",
                                           "wrapper_call",
                                           "wrapperdescr_call",
                                           "type_call",
                                           "thread_run",
                                           "gen_send",
                                           "gen_iternext",
                                           "gen_throw",
                                           "_gen_throw",
                                           "pythread_wrapper",
                                           "coro_wrapper_",
                                           "_Py_Dealloc",
                                           "_PyEvalFrame",
                                           "initialize_locals",
                                           "_PyFrame_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
            return 1;
    return !strcmp(name, "main");
}
