/*
 * pyapi.h, the part that is the same in every version (the code-extra
 * functions keep their 3.11 names as inline wrappers from 3.12 on).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <frameobject.h>
#include <internal/pycore_ceval.h>
#include <internal/pycore_frame.h>

#include "pyapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int pyapi_replace_loaded_attr(const char *modname, const char *name, void *repl)
{
    PyObject *key = PyUnicode_FromString(modname);
    if (!key)
        return -1;
    PyObject *mod = PyImport_GetModule(key);
    Py_DECREF(key);
    if (!mod)
        return PyErr_Occurred() ? -1 : 0;
    int rc = PyObject_HasAttrString(mod, name) ? PyObject_SetAttrString(mod, name, (PyObject *)repl)
                                               : 0;
    Py_DECREF(mod);
    return rc;
}

/* The builtin's documentation as its PyMethodDef holds it: the text
 * signature, when it has one, as the first line "name(...)" and a line
 * "--", then the text. malloc'd, or NULL when it has neither. */
static char *method_doc(PyObject *orig, const char *name)
{
    PyObject *doc = PyObject_GetAttrString(orig, "__doc__");
    PyObject *sig = doc ? PyObject_GetAttrString(orig, "__text_signature__") : NULL;
    char *out = NULL;
    if (sig) {
        const char *d = PyUnicode_Check(doc) ? PyUnicode_AsUTF8(doc) : NULL;
        const char *s = PyUnicode_Check(sig) ? PyUnicode_AsUTF8(sig) : NULL;
        if (s) {
            size_t n = strlen(name) + strlen(s) + (d ? strlen(d) : 0) + 6;
            if ((out = malloc(n)))
                snprintf(out, n, "%s%s\n--\n\n%s", name, s, d ? d : "");
        } else if (d) {
            out = strdup(d);
        }
    }
    Py_XDECREF(sig);
    Py_XDECREF(doc);
    PyErr_Clear();
    return out;
}

void *pyapi_builtin_like(const char *modname, const char *name, void *def_p, void *meth, int flags)
{
    PyMethodDef *def = def_p;
    PyObject *mod = PyImport_ImportModule(modname);
    if (!mod)
        return NULL;
    PyObject *res = NULL, *modname_obj = NULL;
    PyObject *orig = PyObject_GetAttrString(mod, name);
    if (!orig)
        goto out;
    if (!def->ml_name) {
        char *doc = method_doc(orig, name), *own = strdup(name);
        if (!own) {
            free(doc);
            PyErr_NoMemory();
            goto out;
        }
        def->ml_doc = doc;
        def->ml_meth = (PyCFunction)meth;
        def->ml_flags = flags;
        def->ml_name = own;
    }
    modname_obj = PyUnicode_FromString(modname);
    if (modname_obj)
        res = PyCFunction_NewEx(def, mod, modname_obj);
out:
    Py_XDECREF(modname_obj);
    Py_XDECREF(orig);
    Py_DECREF(mod);
    return res;
}

int pyapi_str_is(void *s, const char *ascii)
{
    /* Public in every version, and raises nothing. */
    return PyUnicode_CompareWithASCIIString((PyObject *)s, ascii) == 0;
}

void *pyapi_type_lookup(void *type, void *name)
{
    return _PyType_Lookup((PyTypeObject *)type, (PyObject *)name);
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
                                           "_PyFrame_",
                                           /* 3.12's sys.monitoring and the profile
                                            * hooks it carries */
                                           "_Py_call_instrumentation",
                                           "call_instrumentation_vector",
                                           "call_one_instrument",
                                           "sys_profile_",
                                           "call_profile_func"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
            return 1;
    return !strcmp(name, "main");
}
