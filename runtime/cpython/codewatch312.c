/*
 * codewatch.h for CPython 3.12 and later: a code watcher, one for all the
 * hooks (an interpreter has room for eight).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "codewatch.h"
#include "error.h"

static void (*dealloc_hooks[4])(void *);
static int ndealloc_hooks;
static int watcher = -1;

/* The code watcher: told of each code object before it is freed, whole and
 * with the GIL held. The eval loop takes a frame off its thread before it
 * drops the frame's code, so no frame names a freed code object. */
static int on_code_event(PyCodeEvent event, PyCodeObject *code)
{
    if (event == PY_CODE_EVENT_DESTROY)
        for (int i = 0; i < ndealloc_hooks; i++)
            dealloc_hooks[i](code);
    return 0;
}

int codewatch_add(void (*hook)(void *code))
{
    for (int i = 0; i < ndealloc_hooks; i++)
        if (dealloc_hooks[i] == hook)
            return PYSCOPE_EEXISTS;
    if (ndealloc_hooks == (int)(sizeof dealloc_hooks / sizeof *dealloc_hooks))
        return PYSCOPE_ENOMEM;
    if (watcher < 0) {
        watcher = PyCode_AddWatcher(on_code_event);
        if (watcher < 0) {
            PyErr_Clear(); /* every watcher slot is taken */
            return PYSCOPE_ENOMEM;
        }
    }
    dealloc_hooks[ndealloc_hooks++] = hook;
    return 0;
}

