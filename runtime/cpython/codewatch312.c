/*
 * codewatch_install (codewatch.h) for CPython 3.12 and later: a code
 * watcher, one for all the hooks (an interpreter has room for eight).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "codewatch.h"
#include "error.h"

static void (*tell_hooks)(void *);
static int watcher = -1;

/* The code watcher: told of each code object before it is freed, whole and
 * with the GIL held. The eval loop takes a frame off its thread before it
 * drops the frame's code, so no frame names a freed code object. */
static int on_code_event(PyCodeEvent event, PyCodeObject *code)
{
    if (event == PY_CODE_EVENT_DESTROY)
        tell_hooks(code);
    return 0;
}

int codewatch_install(void (*tell)(void *code))
{
    tell_hooks = tell;
    if (watcher < 0) {
        watcher = PyCode_AddWatcher(on_code_event);
        if (watcher < 0) {
            PyErr_Clear(); /* every watcher slot is taken */
            return PYSCOPE_ENOMEM;
        }
    }
    return 0;
}

