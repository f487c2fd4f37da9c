/*
 * codewatch_install (codewatch.h) for CPython 3.11: the code type's
 * tp_dealloc is wrapped.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_pystate.h>

#include "codewatch.h"

static destructor orig_code_dealloc;
static void (*tell_hooks)(void *);

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
    tell_hooks(code);
    orig_code_dealloc(code);
}

int codewatch_install(void (*tell)(void *code))
{
    tell_hooks = tell;
    if (!orig_code_dealloc) {
        orig_code_dealloc = PyCode_Type.tp_dealloc;
        PyCode_Type.tp_dealloc = code_dealloc;
    }
    return 0;
}

