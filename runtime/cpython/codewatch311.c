/*
 * codewatch.h for CPython 3.11: the code type's tp_dealloc is wrapped.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_pystate.h>

#include "codewatch.h"
#include "error.h"

static destructor orig_code_dealloc;
static void (*dealloc_hooks[4])(void *);
static int ndealloc_hooks;

/*
 * A frame drops its code object last of all when it is popped
 * (_PyFrame_Clear), while it is still the thread's current frame: a sample
 * taken in that moment would name freed memory. Nothing reads the frame's
 * f_code after that point, so it is cleared here and the walk skips it.
 */
static void forget_dying_code(PyObject *code)
{
    PyThreadState *tstate = _PyThreadState_UncheckedGet();
    if (!tstate || !tstate->cframe)
        return;
    _PyInterpreterFrame *top = tstate->cframe->current_frame;
    if (top && top->f_code == (PyCodeObject *)code)
        top->f_code = NULL;
}

static void code_dealloc(PyObject *code)
{
    forget_dying_code(code);
    for (int i = 0; i < ndealloc_hooks; i++)
        dealloc_hooks[i](code);
    orig_code_dealloc(code);
}

int codewatch_add(void (*hook)(void *code))
{
    for (int i = 0; i < ndealloc_hooks; i++)
        if (dealloc_hooks[i] == hook)
            return PYSCOPE_EEXISTS;
    if (ndealloc_hooks == (int)(sizeof dealloc_hooks / sizeof *dealloc_hooks))
        return PYSCOPE_ENOMEM;
    dealloc_hooks[ndealloc_hooks++] = hook;
    if (!orig_code_dealloc) {
        orig_code_dealloc = PyCode_Type.tp_dealloc;
        PyCode_Type.tp_dealloc = code_dealloc;
    }
    return 0;
}

